package rules

// MaxNesting bounds how deeply one expression nests: open brackets ( [ {
// plus the unary operators (! - + not) still waiting for their operand.
// expr's parser recurses once per level before it creates (and counts) a
// node, so MaxNodes cannot stop `!!!!...x` or `((((...x` from overflowing
// its stack; this limit is checked on the text, before anything parses it.
const MaxNesting = 100

// nestingOffset scans the text of an expression and returns the byte offset
// at which its nesting first exceeds MaxNesting, or -1 when it never does.
// It is a conservative tokenizer: strings and comments are skipped, a
// binary - or + counts as unary until the operand after it.
func nestingOffset(src string) int {
	var held []int // per open bracket: the unary operators waiting before it
	sum := 0       // sum of held
	pending := 0   // unary operators waiting since the last operand
	deeper := func() bool { return len(held)+sum+pending > MaxNesting }
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '\'':
			i = skipQuoted(src, i)
			pending = 0
			continue
		case c == '`':
			i = skipUntil(src, i+1, "`")
			pending = 0
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			i = skipUntil(src, i+2, "\n")
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i = skipUntil(src, i+2, "*/")
			continue
		case c == '(' || c == '[' || c == '{':
			held = append(held, pending)
			sum += pending
			pending = 0
			if deeper() {
				return i
			}
		case c == ')' || c == ']' || c == '}':
			if n := len(held); n > 0 {
				sum -= held[n-1]
				held = held[:n-1]
			}
			pending = 0
		case c == '!' && (i+1 == len(src) || src[i+1] != '='), c == '-', c == '+':
			pending++
			if deeper() {
				return i
			}
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			if src[i:j] == "not" {
				pending++
				if deeper() {
					return i
				}
			} else {
				pending = 0
			}
			i = j
			continue
		}
		i++
	}
	return -1
}

// isWordByte reports whether c may be part of an identifier, keyword or
// number (any byte of a multi-byte character counts).
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c >= 0x80
}

// skipQuoted returns the offset just past the string literal starting at
// src[i], or len(src) when it is not closed.
func skipQuoted(src string, i int) int {
	q := src[i]
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return len(src)
}

// skipUntil returns the offset just past the first end at or after src[i],
// or len(src).
func skipUntil(src string, i int, end string) int {
	for ; i+len(end) <= len(src); i++ {
		if src[i:i+len(end)] == end {
			return i + len(end)
		}
	}
	return len(src)
}

// lineCol returns the line (from 1) and column (from 0) of a byte offset.
func lineCol(src string, off int) (line, col int) {
	line, start := 1, 0
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line++
			start = i + 1
		}
	}
	return line, off - start
}
