package csv

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"

	stdcsv "encoding/csv"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Parallel reading. A big file is cut into chunks that end where a record
// ends, and each chunk is parsed by a reader of its own on another CPU;
// Read hands out the rows chunk after chunk, in file order, with the same
// lines, rows and row errors as reading the file in one go.
//
// A newline ends a record unless it is inside a quoted field, and in valid
// csv every quote opens, closes or doubles inside a quoted field, so a
// newline is outside quotes when an even number of quotes come before it in
// its chunk (each chunk starts outside quotes). Invalid csv (a bare quote)
// can fool that count; but then the chunk holding it fails to parse, so from
// that chunk on, whose start is right, the file is read in one go as before.
var (
	// parallelMin is the size from which a file is read in parallel.
	parallelMin int64 = 4 << 20
	// chunkSize is the size of the blocks a file is cut into.
	chunkSize = 1 << 20
)

// chunk is a piece of the file made of whole records, and what parsing it gave.
type chunk struct {
	off   int64  // file offset of data
	line  int    // line number of its first line
	data  []byte // nil once parsed
	lines int    // newlines in data
	rows  []schema.Row
	srcs  []int         // line of each row or error, in order
	errs  map[int]error // by index in srcs: row errors
	bad   bool          // the csv did not parse: read on from off in one go
	done  chan struct{} // closed when parsed
}

// parallel is the state of a Reader that reads chunks in parallel.
type parallel struct {
	at    io.ReaderAt
	end   int64 // size of the input
	order chan *chunk
	free  chan []byte // buffers of parsed chunks, to read more into
	stop  chan struct{}
	wg    sync.WaitGroup

	cur  *chunk
	next int // index in cur.srcs of the next result
	row  int // index in cur.rows of the next row
	seq  *Reader
}

// startParallel switches r, whose header is read, to parallel reading from
// file offset off, line line, when the input is big enough and there is
// more than one CPU.
func (r *Reader) startParallel(at io.ReaderAt, size, off int64, line int) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || size-off < parallelMin {
		return
	}
	p := &parallel{at: at, end: size, order: make(chan *chunk, 2*workers), stop: make(chan struct{}),
		free: make(chan []byte, 3*workers)}
	work := make(chan *chunk, 2*workers)
	p.wg.Add(1 + workers)
	go p.split(work, off, line)
	for range workers {
		go func() {
			defer p.wg.Done()
			for c := range work {
				buf := c.data
				r.parseChunk(c)
				select {
				case p.free <- buf: // the rows hold copies of what they need
				default:
				}
			}
		}()
	}
	r.par = p
}

// split cuts the input into chunks, handing each to the workers and to Read in order.
func (p *parallel) split(work chan<- *chunk, off int64, line int) {
	defer p.wg.Done()
	defer close(work)
	defer close(p.order)
	buf := p.buffer()
	for off < p.end {
		more := chunkSize
		var cut int
		for {
			n := int(min(int64(more), p.end-off-int64(len(buf))))
			start := len(buf)
			buf = slices.Grow(buf, n)[:start+n]
			if m, _ := p.at.ReadAt(buf[start:], off+int64(start)); m < n {
				// Let Read go on in one go from here, and meet the error.
				p.send(work, &chunk{off: off, line: line, bad: true, done: closed}, false)
				return
			}
			if off+int64(len(buf)) >= p.end {
				cut = len(buf) // the last chunk ends with the input
				break
			}
			if cut = recordsEnd(buf); cut > 0 {
				break
			}
			more = len(buf) // no record ends in buf yet: read as much again
		}
		c := &chunk{off: off, line: line, data: buf[:cut], done: make(chan struct{})}
		c.lines = bytes.Count(c.data, []byte{'\n'})
		// What follows the last record starts the next buffer, before a
		// worker can reuse this one.
		next := append(p.buffer(), buf[cut:]...)
		line += c.lines
		off += int64(cut)
		if !p.send(work, c, true) {
			return
		}
		buf = next
	}
}

// buffer returns an empty buffer for a chunk, one parsed before when there is one.
func (p *parallel) buffer() []byte {
	select {
	case b := <-p.free:
		return b[:0]
	default:
		return make([]byte, 0, chunkSize+chunkSize/8)
	}
}

// closed is a closed channel: the done of a chunk that needs no parsing.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// send hands c to Read and, when parse is set, to the workers. It reports
// false when reading stopped.
func (p *parallel) send(work chan<- *chunk, c *chunk, parse bool) bool {
	select {
	case p.order <- c:
	case <-p.stop:
		return false
	}
	if !parse {
		return true
	}
	select {
	case work <- c:
		return true
	case <-p.stop:
		return false
	}
}

// recordsEnd returns the length of the longest prefix of b made of whole
// records: up to the last newline outside quotes, counting from the start
// of b outside quotes. It returns 0 when there is no such newline.
func recordsEnd(b []byte) int {
	end, pos := 0, 0
	for {
		q := bytes.IndexByte(b[pos:], '"')
		seg := b[pos:]
		if q >= 0 {
			seg = b[pos : pos+q]
		}
		if nl := bytes.LastIndexByte(seg, '\n'); nl >= 0 {
			end = pos + nl + 1
		}
		if q < 0 {
			return end
		}
		// Skip the quoted part: to the closing quote (a doubled quote
		// closes and opens again, which comes to the same).
		pos += q + 1
		c := bytes.IndexByte(b[pos:], '"')
		if c < 0 {
			return end
		}
		pos += c + 1
	}
}

// parseChunk reads the rows of c with a reader of its own that shares r's header mapping.
func (r *Reader) parseChunk(c *chunk) {
	defer close(c.done)
	sub := &Reader{name: r.name, cr: stdcsv.NewReader(bytes.NewReader(c.data)), at: r.at, base: c.off,
		width: r.width, cols: r.cols, types: r.types, names: r.names, lineOff: c.line - 1}
	sub.cr.ReuseRecord = true
	sub.cr.FieldsPerRecord = -1
	c.data = nil
	// Every record ends a line: room for as many as there are newlines.
	c.rows = make([]schema.Row, 0, c.lines+1)
	c.srcs = make([]int, 0, c.lines+1)
	// The rows of the chunk in one block: a chunk's rows live and die together.
	sub.block = make([]any, c.lines*r.width)
	for {
		row, src, err := sub.Read()
		if err == io.EOF {
			return
		}
		var re *port.RowError
		switch {
		case sub.err != nil || sub.badCSV || (err != nil && !errors.As(err, &re)):
			// Not csv, or an error that ends reading: the boundaries after
			// this one may be wrong, so the file is read in one go from here.
			c.bad = true
			return
		case err != nil:
			if c.errs == nil {
				c.errs = map[int]error{}
			}
			c.errs[len(c.srcs)] = err
		default:
			c.rows = append(c.rows, row)
		}
		c.srcs = append(c.srcs, src.Line)
	}
}

// readParallel is Read in parallel mode.
func (r *Reader) readParallel() (schema.Row, port.Source, error) {
	p := r.par
	for {
		if p.seq != nil {
			row, src, err := p.seq.Read()
			r.read.Store(p.seq.read.Load())
			return row, src, err
		}
		if p.cur == nil {
			c, ok := <-p.order
			if !ok {
				return nil, port.Source{}, io.EOF
			}
			<-c.done
			if c.bad {
				r.sequential(c)
				continue
			}
			p.cur, p.next, p.row = c, 0, 0
			r.read.Store(c.off)
		}
		c := p.cur
		if p.next == len(c.srcs) {
			p.cur = nil
			continue
		}
		i := p.next
		p.next++
		if err := c.errs[i]; err != nil {
			return nil, port.Source{File: r.name, Line: c.srcs[i]}, err
		}
		row := c.rows[p.row]
		c.rows[p.row] = nil
		p.row++
		return row, port.Source{File: r.name, Line: c.srcs[i]}, nil
	}
}

// sequential stops the parallel readers and reads on in one go from the start of c.
func (r *Reader) sequential(c *chunk) {
	p := r.par
	p.halt()
	sub := &Reader{name: r.name, at: r.at, base: c.off, width: r.width, cols: r.cols, types: r.types,
		names: r.names, lineOff: c.line - 1}
	sub.cr = stdcsv.NewReader(newSectionBuffer(p.at, c.off, p.end))
	sub.cr.ReuseRecord = true
	sub.cr.FieldsPerRecord = -1
	p.seq = sub
}

// halt stops the splitter and the workers and waits for them.
func (p *parallel) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// newSectionBuffer reads the input from off to end through a buffer.
func newSectionBuffer(at io.ReaderAt, off, end int64) io.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(at, off, end-off), readBufferSize)
}
