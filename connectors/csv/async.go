package csv

import (
	"io"
	"sync/atomic"
)

// asyncOut buffers what a Writer writes and hands each full buffer to a
// goroutine that writes it to the output, so that formatting the next rows
// and the write system calls overlap (on two CPUs, writing a file costs
// about as much as formatting it). The goroutine starts with the first full
// buffer, so small files are written by the caller alone, at flush.
type asyncOut struct {
	w    io.Writer
	size int
	buf  []byte // being filled

	started bool
	full    chan []byte // buffers to write, in order
	free    chan []byte // written buffers, to fill again
	done    chan struct{}
	failed  atomic.Bool // set once err is
	err     error       // the first write error; read after failed or done
}

func newAsyncOut(w io.Writer, size int) *asyncOut {
	return &asyncOut{w: w, size: size, buf: make([]byte, 0, size)}
}

// write appends b, handing the buffer over when it is full. It returns the
// first error of an earlier write, if any.
func (a *asyncOut) write(b []byte) error {
	if a.failed.Load() {
		return a.err
	}
	a.buf = append(a.buf, b...)
	if len(a.buf) < a.size {
		return nil
	}
	if !a.started {
		a.started = true
		a.full, a.free, a.done = make(chan []byte, 1), make(chan []byte, 2), make(chan struct{})
		a.free <- make([]byte, 0, a.size)
		go a.run()
	}
	a.full <- a.buf
	a.buf = <-a.free
	return nil
}

// run writes the buffers it is handed, in order, until full is closed.
// After a failed write it drops the rest.
func (a *asyncOut) run() {
	defer close(a.done)
	for b := range a.full {
		if !a.failed.Load() {
			if _, err := a.w.Write(b); err != nil {
				a.err = err
				a.failed.Store(true)
			}
		}
		a.free <- b[:0]
	}
}

// flush writes what is buffered and waits for every write; with drop it
// drops the buffered bytes instead. It returns the first write error. The
// asyncOut must not be used afterwards.
func (a *asyncOut) flush(drop bool) error {
	if a.started {
		if !drop && len(a.buf) > 0 {
			a.full <- a.buf
		}
		close(a.full)
		<-a.done
		a.started = false
	} else if !drop && len(a.buf) > 0 && !a.failed.Load() {
		if _, err := a.w.Write(a.buf); err != nil {
			a.err = err
			a.failed.Store(true)
		}
	}
	a.buf = nil
	if a.failed.Load() {
		return a.err
	}
	return nil
}
