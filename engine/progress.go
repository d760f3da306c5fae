package engine

import (
	"fmt"
	"io"
	"os"
	"strings"
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
					fmt.Fprint(p.w, "\r\033[K"+liveLine(name, c, time.Since(start)))
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

// liveLine is the terminal's live line for the named stage, elapsed after
// its start: its count and rate and, when the stage says how far it goes
// (stage.Counter.SetTotal), the total, the share done and the time left at
// the rate so far; a stage of steps shows the step it is at.
func liveLine(name string, c *stage.Counter, elapsed time.Duration) string {
	n := c.Load()
	secs := elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(n) / secs
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", spinner(elapsed), name)
	if st, ok := c.Step(); ok {
		fmt.Fprintf(&b, " step %d/%d %s,", st.Index, st.Of, st.Name)
	}
	done, total, records := c.Progress()
	switch {
	case total > 0 && records:
		fmt.Fprintf(&b, " %s of %s records (%s)", thousands(n), thousands(total), percent(done, total))
	case total > 0: // bytes of a file
		fmt.Fprintf(&b, " %s records, %s of %s", thousands(n), percent(done, total), bytesText(total))
	default:
		fmt.Fprintf(&b, " %s records", thousands(n))
	}
	fmt.Fprintf(&b, "  %s/s  %s", thousands(int64(rate)), elapsed.Truncate(time.Second))
	if total > 0 && done > 0 && done < total {
		if left := time.Duration(float64(elapsed) * float64(total-done) / float64(done)).Round(time.Second); left > 0 {
			fmt.Fprintf(&b, ", about %s left", left)
		}
	}
	return b.String()
}

// percent formats done/total as a whole percentage, at most 100%.
func percent(done, total int64) string {
	return fmt.Sprintf("%d%%", min(done*100/total, 100))
}

// bytesText formats a size in bytes, kB, MB or GB (powers of 1000), with
// one decimal past kB.
func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}
