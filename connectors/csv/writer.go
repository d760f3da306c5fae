package csv

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// writeBufferSize is the size of the buffer between the writer and its file.
const writeBufferSize = 256 << 10

// Writer writes typed rows as csv text: a header row of column names, then
// one row per record, lines ended with CRLF (RFC 4180, and what the
// Python csv module writes) unless LF is asked for. It implements port.RowWriter.
type Writer struct {
	name  string
	eol   string // line ending
	out   *asyncOut
	types []schema.Type
	names []string
	text  []bool // the column holds strings, which may need quotes
	line  int    // lines written so far
	buf   []byte // the row being written
	tmp   []byte // a field being quoted

	err      error // the first error; every later Write returns it
	closed   bool
	closeErr error             // what Close returned
	end      func(error) error // finishes the output on Close; nil when the caller owns it
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// LF ends lines with LF alone instead of CRLF.
func LF() WriterOption { return func(w *Writer) { w.eol = "\n" } }

// NewWriter returns a writer of rows of s to w and writes the header row of
// column names. name is the file name used in errors. Close flushes the
// rows but does not close w.
func NewWriter(w io.Writer, name string, s *schema.Schema, opts ...WriterOption) (*Writer, error) {
	if err := checkSchema(s, name); err != nil {
		return nil, err
	}
	wr := &Writer{
		name:  name,
		out:   newAsyncOut(w, writeBufferSize),
		types: make([]schema.Type, len(s.Columns)),
		names: s.Names(),
		text:  make([]bool, len(s.Columns)),
		eol:   "\r\n",
	}
	for _, o := range opts {
		o(wr)
	}
	for i, c := range s.Columns {
		wr.types[i] = c.Type
		wr.text[i] = c.Type.Kind == schema.String
	}
	b := wr.buf[:0]
	for i, n := range wr.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, n)
	}
	if len(wr.names) == 1 && len(b) == 0 {
		b = append(b, `""`...)
	}
	wr.buf = append(b, wr.eol...)
	wr.line = 1 + strings.Count(string(wr.buf[:len(wr.buf)-len(wr.eol)]), "\n")
	if err := wr.out.write(wr.buf); err != nil {
		wr.err = fmt.Errorf("write %s: %w", name, err)
	}
	return wr, nil
}

// Write writes row as one csv record. It fails when the row does not have
// one value per column or a value does not fit its column's type; the writer
// then keeps failing, and Close reports the error.
func (w *Writer) Write(row schema.Row) error {
	if w.err != nil {
		return w.err
	}
	line := w.line + 1
	if len(row) != len(w.types) {
		w.err = fmt.Errorf("%s:%d: row has %d values, schema has %d columns (%s)",
			w.name, line, len(row), len(w.types), strings.Join(w.names, ", "))
		return w.err
	}
	b := w.buf[:0]
	lines := 1
	for i, v := range row {
		t := w.types[i]
		if !fits(t, v) {
			w.err = fmt.Errorf("%s:%d: column %s: %s", w.name, line, w.names[i], misfit(t, v))
			return w.err
		}
		if i > 0 {
			b = append(b, ',')
		}
		start := len(b)
		b = t.Append(b, v)
		if w.text[i] && needsQuotes(b[start:]) {
			w.tmp = append(w.tmp[:0], b[start:]...)
			var n int
			b, n = appendQuoted(b[:start], w.tmp)
			lines += n
		}
	}
	if len(row) == 1 && len(b) == 0 {
		b = append(b, `""`...) // an empty line would be skipped on reading
	}
	b = append(b, w.eol...)
	w.buf = b
	if err := w.out.write(b); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.name, err)
		return w.err
	}
	w.line += lines
	return nil
}

// fits reports whether v is a value of a column of type t.
func fits(t schema.Type, v any) bool {
	switch v.(type) {
	case nil:
		return t.Nullable
	case int:
		return t.Kind == schema.Int || t.Kind == schema.Decimal
	case decimal.Decimal:
		return t.Kind == schema.Decimal
	case string:
		return t.Kind == schema.String
	case time.Time:
		return t.Kind == schema.Date || t.Kind == schema.DateTime
	case bool:
		return t.Kind == schema.Bool
	}
	return false
}

// misfit says why v does not fit a column of type t.
func misfit(t schema.Type, v any) string {
	if v == nil {
		return "null in a column that is not nullable"
	}
	return fmt.Sprintf("a %T value does not fit column type %s", v, t)
}

// Close flushes the rows and finishes the file. It returns the first error
// of any Write or of its own; a file made by Connector.Create is then not
// written. Close after Close returns the same result.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	err := w.err
	if e := w.out.flush(err != nil); e != nil && err == nil {
		err = fmt.Errorf("write %s: %w", w.name, e)
	}
	if w.end != nil {
		err = w.end(err)
	}
	w.closeErr = err
	if w.err == nil {
		w.err = fmt.Errorf("write %s: writer is closed", w.name)
	}
	return err
}
