package stage

import (
	"sync/atomic"

	"pipeline/engine/port"
)

// Counter counts the records a running stage has handled so far. It is
// safe for concurrent use: the stage adds, a progress display reads.
type Counter struct {
	n     atomic.Int64
	total atomic.Int64 // what Done reaches at the end, 0 when unknown
	done  atomic.Pointer[func() int64]
	step  atomic.Pointer[Step]
}

// Step is the step a stage of several steps is at (a batch stage's).
type Step struct {
	Index, Of int // 1-based
	Name      string
}

// SetTotal says how far the stage's progress goes: total records, or
// with done, which then gives the progress so far, total units of done
// (the bytes of a file read). 0 means unknown.
func (c *Counter) SetTotal(total int64, done func() int64) {
	if c == nil {
		return
	}
	if done != nil {
		c.done.Store(&done)
	}
	c.total.Store(total)
}

// Progress returns how far the stage is and how far it goes (0 when
// unknown): in records when records is true, else in the units SetTotal
// was given with its done.
func (c *Counter) Progress() (done, total int64, records bool) {
	if c == nil {
		return 0, 0, true
	}
	total = c.total.Load()
	if f := c.done.Load(); f != nil {
		return (*f)(), total, false
	}
	return c.n.Load(), total, true
}

// SetStep says which step the stage is at.
func (c *Counter) SetStep(index, of int, name string) {
	if c != nil {
		c.step.Store(&Step{Index: index, Of: of, Name: name})
	}
}

// Step returns the step the stage is at, if it said.
func (c *Counter) Step() (Step, bool) {
	if c == nil {
		return Step{}, false
	}
	if s := c.step.Load(); s != nil {
		return *s, true
	}
	return Step{}, false
}

// Add counts n more records.
func (c *Counter) Add(n int64) {
	if c != nil {
		c.n.Add(n)
	}
}

// Load returns the count.
func (c *Counter) Load() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// fileProgress makes c's progress the bytes r has read of its file, when
// r can tell (port.ReadProgress) and the file's size is known.
func fileProgress(c *Counter, r port.RowReader) {
	rp, ok := r.(port.ReadProgress)
	if !ok {
		return
	}
	if _, size := rp.ReadProgress(); size > 0 {
		c.SetTotal(size, func() int64 {
			n, _ := rp.ReadProgress()
			return n
		})
	}
}
