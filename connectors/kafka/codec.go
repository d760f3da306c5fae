package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// MaxPayload is the largest record value, in bytes, that Consume decodes
// (1 MiB) unless Options.MaxRecordBytes says otherwise; a larger one
// becomes a message with an error.
const MaxPayload = 1 << 20

// codec turns rows of one schema into record keys and JSON values and back.
//
// A value is a JSON object of column name to value: every non-null value is
// a JSON string holding the column type's text form (schema.Type.Append),
// and null is JSON null. Decoding also accepts what the legacy producer
// writes (every value a string, "" for empty) and JSON numbers and booleans.
type codec struct {
	schema  *schema.Schema
	key     int            // index of the column whose text is the record key, -1 for no key
	names   [][]byte       // per column, its name as a JSON string and a colon, after a comma but for the first
	columns map[string]int // column index by name, for decoding
	// maxValue is the largest value decode takes, in bytes (MaxPayload
	// unless the connector says otherwise).
	maxValue int
}

// newCodec returns a codec for rows of s keyed by the column named key ("" for none).
func newCodec(s *schema.Schema, key string) (*codec, error) {
	c := &codec{schema: s, key: -1, names: make([][]byte, len(s.Columns)), columns: make(map[string]int, len(s.Columns)), maxValue: MaxPayload}
	if key != "" {
		c.key = s.Index(key)
		if c.key < 0 {
			return nil, fmt.Errorf("key column %q is not one of its columns (%s)", key, strings.Join(s.Names(), ", "))
		}
	}
	for i, col := range s.Columns {
		c.columns[col.Name] = i
		var b []byte
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, col.Name)
		c.names[i] = append(b, ':')
	}
	return c, nil
}

// check reports why r cannot be encoded: a wrong number of values, a null in
// a column that is not nullable, or a value of another Go type than its
// column holds (an int may go in a decimal column).
func (c *codec) check(r schema.Row) error {
	if len(r) != len(c.schema.Columns) {
		return fmt.Errorf("has %d values, want %d (%s)", len(r), len(c.schema.Columns), strings.Join(c.schema.Names(), ", "))
	}
	for i, v := range r {
		t := c.schema.Columns[i].Type
		if v == nil {
			if !t.Nullable {
				return fmt.Errorf("column %s is null but not nullable", c.schema.Columns[i].Name)
			}
			continue
		}
		if !fits(t.Kind, v) {
			return fmt.Errorf("column %s holds a %T, want a %s", c.schema.Columns[i].Name, v, t)
		}
	}
	return nil
}

// fits reports whether v, not nil, is a Go value a column of kind k holds.
func fits(k schema.Kind, v any) bool {
	switch v.(type) {
	case int:
		return k == schema.Int || k == schema.Decimal
	case decimal.Decimal:
		return k == schema.Decimal
	case string:
		return k == schema.String
	case time.Time:
		return k == schema.Date || k == schema.DateTime
	case bool:
		return k == schema.Bool
	}
	return k == schema.Invalid
}

// appendValue appends the JSON object for r to dst; scratch is a buffer for
// the text of one value, returned for reuse. r must have passed check.
func (c *codec) appendValue(dst, scratch []byte, r schema.Row) (out, buf []byte) {
	dst = append(dst, '{')
	for i, col := range c.schema.Columns {
		dst = append(dst, c.names[i]...)
		if r[i] == nil {
			dst = append(dst, "null"...)
			continue
		}
		scratch = col.Type.Append(scratch[:0], r[i])
		dst = appendJSONBytes(dst, scratch)
	}
	return append(dst, '}'), scratch
}

// appendKey appends the record key of r, the text of its key column, to dst.
// It reports false when the codec has no key column or r's key is null: the
// record then has no key.
func (c *codec) appendKey(dst []byte, r schema.Row) ([]byte, bool) {
	if c.key < 0 || r[c.key] == nil {
		return dst, false
	}
	return c.schema.Columns[c.key].Type.Append(dst, r[c.key]), true
}

// decode parses a record value into a row. The error says what is wrong,
// naming each field at fault; the row is nil then.
func (c *codec) decode(b []byte) (schema.Row, error) {
	if len(b) > c.maxValue {
		return nil, fmt.Errorf("payload of %d bytes is over the limit of %d bytes", len(b), c.maxValue)
	}
	if row, ok := c.decodeFlat(b); ok {
		return row, nil
	}
	return c.decodeJSON(b)
}

// decodeJSON is decode's general path, through encoding/json.
func (c *codec) decodeJSON(b []byte) (schema.Row, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("payload is empty, want a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errors.New("payload is not JSON: it ends in the middle of a value")
		}
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("payload is not JSON: data after the top-level value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("payload is %s, want a JSON object", describeJSON(v))
	}
	row := make(schema.Row, len(c.schema.Columns))
	var errs fieldErrors
	for i, col := range c.schema.Columns {
		x, present := obj[col.Name]
		if !present {
			if col.Type.Nullable {
				continue
			}
			errs = append(errs, fmt.Errorf("field %q is missing", col.Name))
			continue
		}
		val, err := parseField(col.Type, x)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %q: %w", col.Name, err))
			continue
		}
		row[i] = val
	}
	if errs != nil {
		return nil, errs
	}
	return row, nil
}

// parseField converts x, a value decoded with json.Decoder.UseNumber, to a value of type t.
func parseField(t schema.Type, x any) (any, error) {
	switch v := x.(type) {
	case nil:
		if t.Nullable {
			return nil, nil
		}
		return nil, errNullField
	case string:
		return t.Parse(v)
	case json.Number:
		return t.Parse(v.String())
	case bool:
		if v {
			return t.Parse("true")
		}
		return t.Parse("false")
	}
	return nil, fmt.Errorf("%s is not a value of a %s column (want a string, number or boolean)", describeJSON(x), t)
}

// errNullField is the error of a JSON null in a column that is not nullable.
var errNullField = errors.New("null in a column that is not nullable")

// describeJSON names the kind of a value decoded from JSON, for errors.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "JSON null"
	case map[string]any:
		return "a JSON object"
	case []any:
		return "a JSON array"
	case string:
		return "a JSON string"
	case json.Number:
		return "a JSON number"
	case bool:
		return "a JSON boolean"
	}
	return fmt.Sprintf("a %T", v)
}

// fieldErrors are the problems with the fields of one payload, in column order.
type fieldErrors []error

// Error lists the problems separated by semicolons.
func (e fieldErrors) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e fieldErrors) Unwrap() []error { return e }

// appendJSONString appends s as a JSON string to dst.
func appendJSONString(dst []byte, s string) []byte {
	return appendJSONBytes(dst, []byte(s))
}

const hexDigits = "0123456789abcdef"

// appendJSONBytes appends the text s as a JSON string to dst, escaping what
// JSON requires; bytes that are not UTF-8 become U+FFFD, as encoding/json does.
func appendJSONBytes(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript; encoding/json escapes them too.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
