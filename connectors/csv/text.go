package csv

// needsQuotes reports whether field must be quoted to be read back as one
// field: it holds a comma, a quote, a CR or an LF.
func needsQuotes[T string | []byte](field T) bool {
	for i := 0; i < len(field); i++ {
		switch field[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// appendQuoted appends field to b in quotes, doubling the quotes inside it.
// It returns the new b and the number of LFs in field.
func appendQuoted[T string | []byte](b []byte, field T) ([]byte, int) {
	lines := 0
	b = append(b, '"')
	last := 0
	for i := 0; i < len(field); i++ {
		switch field[i] {
		case '"':
			b = append(b, field[last:i+1]...)
			b = append(b, '"')
			last = i + 1
		case '\n':
			lines++
		}
	}
	b = append(b, field[last:]...)
	return append(b, '"'), lines
}

// appendField appends field to b, quoted when it needs to be.
func appendField(b []byte, field string) []byte {
	if needsQuotes(field) {
		b, _ = appendQuoted(b, field)
		return b
	}
	return append(b, field...)
}

// joinRecord returns fields as one line of csv text, without a line ending.
func joinRecord(fields []string) string {
	if len(fields) == 1 && fields[0] == "" {
		return `""`
	}
	var b []byte
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, f)
	}
	return string(b)
}
