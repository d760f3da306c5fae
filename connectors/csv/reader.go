package csv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync/atomic"

	stdcsv "encoding/csv"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// bom is the UTF-8 byte order mark some programs write at the start of a file.
var bom = []byte{0xEF, 0xBB, 0xBF}

// readBufferSize is the size of the buffer between the input and the csv parser.
const readBufferSize = 64 << 10

// Reader reads typed rows from csv text that starts with a header row.
// It implements port.RowReader.
type Reader struct {
	name   string
	cr     *stdcsv.Reader
	closer io.Closer   // closed by Close; nil when the caller owns the input
	at     io.ReaderAt // the input again, to quote malformed records as written; nil when unavailable
	base   int64       // offset in at of the first byte the csv parser sees
	// lineOff is added to the parser's line numbers: the lines of the
	// file before the part this reader parses.
	lineOff int
	par     *parallel // set when chunks of the file are parsed in parallel
	badCSV  bool      // a record was not valid csv

	width int // columns in the schema
	// block, when not nil, is where new rows are cut from, many rows to
	// one allocation (set for the readers of parallel chunks).
	block []any
	cols  []int         // schema column of each header field
	types []schema.Type // type of each header field
	names []string      // name of each header field

	err error // the error that ended reading

	// size is the file's size, 0 when unknown (not a regular file); read
	// is how far reading has got, in bytes (see ReadProgress).
	size int64
	read atomic.Int64
}

var _ port.RowReader = (*Reader)(nil)

// NewReader reads the header row from r and maps its fields by name to the
// columns of s. Every header field must name a column of s, and every column
// of s that is not nullable must be in the header; nullable columns missing
// from it read as null. A UTF-8 byte order mark at the start is skipped, and
// lines may end in LF or CRLF. name is the file name used in sources and
// errors. Close does not close r.
//
// When r is a regular file (an *os.File) of at least 4 MiB, the rows are
// parsed in chunks on every CPU, and handed out in file order with the same
// lines, rows and errors as one parser would give. Close stops the parsers.
func NewReader(r io.Reader, name string, s *schema.Schema) (*Reader, error) {
	if err := checkSchema(s, name); err != nil {
		return nil, err
	}
	rd := &Reader{name: name, width: len(s.Columns)}
	if ra, ok := r.(io.ReaderAt); ok {
		if sk, ok := r.(io.Seeker); ok {
			if off, err := sk.Seek(0, io.SeekCurrent); err == nil {
				rd.at, rd.base = ra, off
			}
		}
	}
	br := bufio.NewReaderSize(r, readBufferSize)
	if b, _ := br.Peek(len(bom)); bytes.Equal(b, bom) {
		var skip [3]byte
		_, _ = io.ReadFull(br, skip[:])
		rd.base += int64(len(bom))
	}
	rd.cr = stdcsv.NewReader(br) // uses br as is: it is a big enough *bufio.Reader
	rd.cr.ReuseRecord = true
	rd.cr.FieldsPerRecord = -1
	if err := rd.readHeader(s); err != nil {
		return nil, err
	}
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			rd.size = fi.Size()
			if rd.at != nil {
				rd.goParallel(fi.Size())
			}
		}
	}
	return rd, nil
}

// goParallel switches to reading the rows after the header in parallel
// chunks when the file of size bytes is big enough (see startParallel).
func (r *Reader) goParallel(size int64) {
	off := r.base + r.cr.InputOffset()
	if size-off < parallelMin {
		return
	}
	head := make([]byte, off-r.base)
	if n, err := r.at.ReadAt(head, r.base); n < len(head) || (err != nil && !errors.Is(err, io.EOF)) {
		return // read on through the parser
	}
	r.startParallel(r.at, size, off, 1+bytes.Count(head, []byte{'\n'}))
}

// readHeader reads the header row and maps its fields to the columns of s.
func (r *Reader) readHeader(s *schema.Schema) error {
	head, err := r.cr.Read()
	switch {
	case err == io.EOF:
		return fmt.Errorf("file %s is empty: want a header row", r.name)
	case errors.As(err, new(*stdcsv.ParseError)):
		return fmt.Errorf("%s: header row: %w", r.name, err)
	case err != nil:
		return fmt.Errorf("read %s: %w", r.name, err)
	}
	line := 1
	if len(head) > 0 {
		line, _ = r.cr.FieldPos(0)
	}
	r.cols = make([]int, len(head))
	r.types = make([]schema.Type, len(head))
	r.names = make([]string, len(head))
	seen := make([]bool, len(s.Columns))
	var unknown, twice []string
	for i, h := range head {
		c := s.Index(h)
		switch {
		case c < 0:
			unknown = append(unknown, strconv.Quote(h))
			continue
		case seen[c]:
			twice = append(twice, h)
			continue
		}
		seen[c] = true
		r.cols[i], r.types[i], r.names[i] = c, s.Columns[c].Type, h
	}
	var missing []string
	for c, col := range s.Columns {
		if !seen[c] && !col.Type.Nullable {
			missing = append(missing, col.Name)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing columns "+strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		problems = append(problems, "unknown columns "+strings.Join(unknown, ", "))
	}
	if len(twice) > 0 {
		problems = append(problems, "columns named twice "+strings.Join(twice, ", "))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s:%d: header: %s (schema %s has columns %s)",
			r.name, line, strings.Join(problems, "; "), s.Name, strings.Join(s.Names(), ", "))
	}
	return nil
}

// Read returns the next row and where it starts. It returns io.EOF after the
// last row, and *port.RowError for a row that is not valid csv, has the wrong
// number of fields or has a field that does not parse; reading then goes on
// with the next row. Any other error ends reading.
// ReadProgress returns how many bytes of the file reading has got past,
// and the file's size (0 when it is not a regular file). It is safe to
// call while another goroutine reads. It implements port.ReadProgress.
func (r *Reader) ReadProgress() (read, size int64) {
	return r.read.Load(), r.size
}

var _ port.ReadProgress = (*Reader)(nil)

func (r *Reader) Read() (schema.Row, port.Source, error) {
	if r.err != nil {
		return nil, port.Source{File: r.name}, r.err
	}
	if r.par != nil {
		return r.readParallel()
	}
	start := r.cr.InputOffset()
	r.read.Store(r.base + start)
	rec, err := r.cr.Read()
	if err != nil {
		return r.fail(err, start, rec)
	}
	src := port.Source{File: r.name}
	if len(rec) > 0 {
		src.Line, _ = r.cr.FieldPos(0)
		src.Line += r.lineOff
	}
	if len(rec) != len(r.cols) {
		return nil, src, &port.RowError{Source: src, Payload: joinRecord(rec),
			Err: fmt.Errorf("has %d fields, header has %d", len(rec), len(r.cols))}
	}
	row := r.newRow()
	for i, field := range rec {
		v, err := r.types[i].Parse(field)
		if err != nil {
			return nil, src, &port.RowError{Source: src, Payload: joinRecord(rec),
				Err: fmt.Errorf("column %s: %w", r.names[i], err)}
		}
		row[r.cols[i]] = v
	}
	return row, src, nil
}

// newRow returns an empty row, cut from r.block when there is room.
func (r *Reader) newRow() schema.Row {
	if len(r.block) < r.width {
		return make(schema.Row, r.width)
	}
	row := schema.Row(r.block[:r.width:r.width])
	r.block = r.block[r.width:]
	return row
}

// fail is Read for an error of the csv parser for the record that starts at
// offset start: a *port.RowError when reading can go on past the record, and
// otherwise the error that ends reading.
func (r *Reader) fail(err error, start int64, rec []string) (schema.Row, port.Source, error) {
	if err == io.EOF {
		return nil, port.Source{}, io.EOF
	}
	var pe *stdcsv.ParseError
	end := r.cr.InputOffset()
	if !errors.As(err, &pe) || end <= start {
		r.err = fmt.Errorf("read %s: %w", r.name, err)
		return nil, port.Source{File: r.name}, r.err
	}
	what := "field " + strconv.Itoa(len(rec)+1)
	if len(rec) < len(r.names) {
		what = "column " + r.names[len(rec)]
	}
	r.badCSV = true
	src := port.Source{File: r.name, Line: pe.StartLine + r.lineOff}
	return nil, src, &port.RowError{Source: src, Payload: r.raw(start, end, rec),
		Err: fmt.Errorf("%s: %w at line %d, byte %d", what, pe.Err, pe.Line+r.lineOff, pe.Column)}
}

// raw returns the text of the input from offset start to end without blank
// lines before it and without the line ending after it. It falls back to the
// fields read so far when the input cannot be read again.
func (r *Reader) raw(start, end int64, rec []string) string {
	if r.at == nil {
		return joinRecord(rec)
	}
	b := make([]byte, end-start)
	if n, _ := r.at.ReadAt(b, r.base+start); n < len(b) {
		return joinRecord(rec)
	}
	for {
		switch {
		case bytes.HasPrefix(b, []byte("\n")):
			b = b[1:]
			continue
		case bytes.HasPrefix(b, []byte("\r\n")):
			b = b[2:]
			continue
		}
		break
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return string(b)
}

// Close ends reading and closes the file the reader was opened on.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = fmt.Errorf("read %s: reader is closed", r.name)
	}
	if r.par != nil {
		r.par.halt()
	}
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	if err := c.Close(); err != nil {
		return fmt.Errorf("close %s: %w", r.name, err)
	}
	return nil
}
