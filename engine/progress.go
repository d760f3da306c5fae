package engine

import (
	"fmt"
	"io"
	"os"
	"time"

	"pipeline/engine/stage"
)

// progress shows a running stage's count and rate: redrawn in place on a
// terminal, or as a plain line every 10 seconds otherwise (logs, CI).
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
}

// newProgress returns a display writing to w. A nil w shows nothing.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

// watch displays c for the named stage until the returned stop is called.
func (p *progress) watch(name string, c *stage.Counter) (stop func()) {
	if p == nil || p.w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if p.tty {
					fmt.Fprint(p.w, "\r\033[K")
				}
				return
			case <-t.C:
				n := c.Load()
				rate := float64(n) / time.Since(start).Seconds()
				if p.tty {
					fmt.Fprintf(p.w, "\r\033[K%s %s %s records  %s/s  %s", spinner(time.Since(start)), name, thousands(n), thousands(int64(rate)), time.Since(start).Truncate(time.Second))
				} else {
					fmt.Fprintf(p.w, "stage %s: %s records so far, %s/s\n", name, thousands(n), thousands(int64(rate)))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func spinner(d time.Duration) string {
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	return frames[int(d/(100*time.Millisecond))%len(frames)]
}

// thousands formats n with thousands separators: 1234567 -> 1,234,567.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
