package stage

import "sync/atomic"

// Counter counts the records a running stage has handled so far. It is
// safe for concurrent use: the stage adds, a progress display reads.
type Counter struct{ n atomic.Int64 }

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
