package engine

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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

var update = flag.Bool("update", false, "rewrite golden files")

// TestLiveLine: the terminal's live line, for a count alone, a total of
// records (a topic's end offsets), a file's bytes, and a batch stage's step.
func TestLiveLine(t *testing.T) {
	var b strings.Builder
	for _, tc := range []struct {
		name  string
		count int64
		total int64
		bytes int64 // read so far, with total a file's size
		step  *stage.Step
		after time.Duration
	}{
		{name: "validate, total unknown (following)", count: 12345, after: 3 * time.Second},
		{name: "validate, a quarter of the topic", count: 250000, total: 1000000, after: 10 * time.Second},
		{name: "validate, all of it", count: 402, total: 402, after: 200 * time.Millisecond},
		{name: "validate, nothing yet", count: 0, total: 402, after: 200 * time.Millisecond},
		{name: "publish, a third of a file", count: 333000, total: 52400000, bytes: 17466000, after: 2500 * time.Millisecond},
		{name: "load, a small file", count: 30, total: 2200, bytes: 1100, after: 300 * time.Millisecond},
		{name: "settle, second step", count: 1980, step: &stage.Step{Index: 2, Of: 4, Name: "approve"}, after: 9 * time.Second},
	} {
		c := &stage.Counter{}
		c.Add(tc.count)
		switch {
		case tc.bytes > 0:
			c.SetTotal(tc.total, func() int64 { return tc.bytes })
		case tc.total > 0:
			c.SetTotal(tc.total, nil)
		}
		if tc.step != nil {
			c.SetStep(tc.step.Index, tc.step.Of, tc.step.Name)
		}
		fmt.Fprintf(&b, "%s:\n  %s\n", tc.name, liveLine(strings.TrimSuffix(strings.Fields(tc.name)[0], ","), c, tc.after))
	}
	path := filepath.Join("testdata", "progress.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("live lines:\n%s\nwant (%s, -update rewrites it):\n%s", b.String(), path, want)
	}
}
