package csv

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
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
	text  []bool  // the column holds strings, which may need quotes
	line  int     // lines written so far
	buf   []byte  // the row being written
	tmp   []byte  // a field being quoted
	parts []*part // WriteRows' work, one per CPU

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
	b, lines, err := w.appendRow(w.buf[:0], &w.tmp, row, w.line+1)
	w.buf = b
	if err != nil {
		w.err = err
		return w.err
	}
	if err := w.out.write(b); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.name, err)
		return w.err
	}
	w.line += lines
	return nil
}

// appendRow appends row as one csv record, line ending included, to b, and
// returns b and the number of lines the record takes. line is the line it
// starts on, for errors; tmp is scratch space for quoting.
func (w *Writer) appendRow(b []byte, tmp *[]byte, row schema.Row, line int) ([]byte, int, error) {
	if len(row) != len(w.types) {
		return b, 0, fmt.Errorf("%s:%d: row has %d values, schema has %d columns (%s)",
			w.name, line, len(row), len(w.types), strings.Join(w.names, ", "))
	}
	start := len(b)
	lines := 1
	for i, v := range row {
		t := w.types[i]
		if !fits(t, v) {
			return b[:start], 0, fmt.Errorf("%s:%d: column %s: %s", w.name, line, w.names[i], misfit(t, v))
		}
		if i > 0 {
			b = append(b, ',')
		}
		at := len(b)
		b = t.Append(b, v)
		if w.text[i] && needsQuotes(b[at:]) {
			*tmp = append((*tmp)[:0], b[at:]...)
			var n int
			b, n = appendQuoted(b[:at], *tmp)
			lines += n
		}
	}
	if len(row) == 1 && len(b) == start {
		b = append(b, `""`...) // an empty line would be skipped on reading
	}
	return append(b, w.eol...), lines, nil
}

// minParallelRows is the fewest rows WriteRows formats on several CPUs.
const minParallelRows = 512

// part is the text of a run of rows that WriteRows formatted on one CPU.
type part struct {
	buf   []byte
	tmp   []byte
	lines []int // lines of each row formatted
	err   error // what stopped it, at row len(lines)
}

// WriteRows writes rows in order, as many calls of Write would, but formats
// them on every CPU. The rows are only read during the call. On an error
// the rows before the failing one are written, and the writer keeps failing.
func (w *Writer) WriteRows(rows []schema.Row) error {
	n := runtime.GOMAXPROCS(0)
	if n < 2 || len(rows) < minParallelRows {
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				return err
			}
		}
		return nil
	}
	if w.err != nil {
		return w.err
	}
	for len(w.parts) < n {
		w.parts = append(w.parts, &part{})
	}
	size := (len(rows) + n - 1) / n
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		lo, hi := min(i*size, len(rows)), min((i+1)*size, len(rows))
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.format(w.parts[i], rows[lo:hi])
		}()
	}
	w.format(w.parts[0], rows[:min(size, len(rows))])
	wg.Wait()
	for i, p := range w.parts[:n] {
		if err := w.out.write(p.buf); err != nil {
			w.err = fmt.Errorf("write %s: %w", w.name, err)
			return w.err
		}
		for _, l := range p.lines {
			w.line += l
		}
		if p.err != nil {
			// Format the failing row again for the error with its line number.
			_, _, w.err = w.appendRow(nil, &p.tmp, rows[i*size+len(p.lines)], w.line+1)
			return w.err
		}
	}
	return nil
}

// format formats rows into p, stopping at the first row that fails.
func (w *Writer) format(p *part, rows []schema.Row) {
	p.buf, p.lines, p.err = p.buf[:0], p.lines[:0], nil
	for _, r := range rows {
		var lines int
		if p.buf, lines, p.err = w.appendRow(p.buf, &p.tmp, r, 0); p.err != nil {
			return
		}
		p.lines = append(p.lines, lines)
	}
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
