package engine

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"pipeline/engine/stage"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.every = 10 * time.Millisecond
	var c stage.Counter
	c.Add(12345)
	stop := p.watch("validate", &c)
	time.Sleep(50 * time.Millisecond)
	stop()
	if !strings.Contains(buf.String(), "stage validate: 12,345 records so far") {
		t.Errorf("progress output %q", buf.String())
	}
}
