package kafka

import (
	"unicode/utf8"

	"pipeline/engine/schema"
)

// decodeFlat is the fast path of decode for the payloads producers send: a
// flat JSON object whose values are strings without escapes, numbers,
// booleans or null. It returns ok=false for anything else (and for any
// value that does not parse), and decode then takes the general path, which
// gives the same rows and says what is wrong. It does not allocate beyond
// the row and the strings it keeps.
func (c *codec) decodeFlat(b []byte) (row schema.Row, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	found := make([]bool, len(c.schema.Columns))
	row = make(schema.Row, len(c.schema.Columns))
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			var key []byte
			if key, i, ok = flatString(b, i); !ok {
				return nil, false
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return nil, false
			}
			i = skipSpace(b, i+1)
			var text []byte
			var isNull bool
			if text, isNull, i, ok = flatValue(b, i); !ok {
				return nil, false
			}
			if col, known := c.columns[string(key)]; known {
				t := c.schema.Columns[col].Type
				switch {
				case isNull && !t.Nullable:
					return nil, false
				case isNull:
					row[col] = nil
				default:
					v, err := t.Parse(string(text))
					if err != nil {
						return nil, false
					}
					row[col] = v
				}
				found[col] = true
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			return nil, false
		}
	}
	if skipSpace(b, i) != len(b) {
		return nil, false
	}
	for col, f := range found {
		if !f && !c.schema.Columns[col].Type.Nullable {
			return nil, false
		}
	}
	return row, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// flatString reads a JSON string without escapes or control characters,
// holding valid UTF-8, at b[i]; it returns its content and the index after it.
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:j]) {
				return nil, i, false
			}
			return b[start:j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, i, false
}

// flatValue reads a string, number, true, false or null at b[i] and returns
// its text (a number's digits, true or false) and whether it is null.
func flatValue(b []byte, i int) (text []byte, isNull bool, next int, ok bool) {
	if i >= len(b) {
		return nil, false, i, false
	}
	switch b[i] {
	case '"':
		s, j, ok := flatString(b, i)
		return s, false, j, ok
	case 't':
		return literalWord(b, i, "true")
	case 'f':
		return literalWord(b, i, "false")
	case 'n':
		t, _, j, ok := literalWord(b, i, "null")
		return t, true, j, ok
	}
	j, ok := jsonNumber(b, i)
	return b[i:j], false, j, ok
}

func literalWord(b []byte, i int, w string) ([]byte, bool, int, bool) {
	if len(b)-i < len(w) || string(b[i:i+len(w)]) != w {
		return nil, false, i, false
	}
	return b[i : i+len(w)], false, i + len(w), true
}

// jsonNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func jsonNumber(b []byte, i int) (int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	default:
		return j, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || !isDigit(b[j]) {
			return j, false
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || !isDigit(b[j]) {
			return j, false
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	return j, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
