package stage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// listTable is a table whose Scan gives each call's rows from a script:
// a list of values, or an error.
type listTable struct {
	port.Table
	s     *schema.Schema
	mu    sync.Mutex
	reads []any // per Scan: []string, or an error; the last repeats
	n     int
}

func (t *listTable) Scan(_ context.Context, fn func(schema.Row) error) error {
	t.mu.Lock()
	r := t.reads[min(t.n, len(t.reads)-1)]
	t.n++
	t.mu.Unlock()
	if err, ok := r.(error); ok {
		return err
	}
	for _, v := range r.([]string) {
		if err := fn(schema.Row{v}); err != nil {
			return err
		}
	}
	return nil
}

// syncBuffer is a log sink safe for the refresh goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestListRefresh: a following stage's list is read again at each refresh;
// a read that fails keeps the set read before (and says so in the log),
// and the next read that works replaces it. Reads that give the same set
// change nothing.
func TestListRefresh(t *testing.T) {
	sc := schema.MustNew("listed", []schema.Column{{Name: "name", Type: schema.StringType}}, "name")
	table := &listTable{s: sc, reads: []any{
		[]string{"a"},
		errors.New("server gone"), errors.New("server gone"),
		[]string{"a"},
		[]string{"a", "b"},
	}}
	s := &streamStage{name: "decide", lists: []streamList{{name: "names", schema: sc, elem: schema.StringType, v: 0, refresh: time.Millisecond}}}
	var log syncBuffer
	rt := &Runtime{Log: slog.New(slog.NewTextHandler(&log, nil)), Follow: true}
	ls := &listSets{s: s, sets: make([]atomic.Pointer[any], 1)}
	first, err := s.lists[0].read(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	ls.sets[0].Store(&first)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ls.follow(ctx, rt, 0, s.lists[0], table)
	}()
	vars := [][]any{make([]any, 1)}
	deadline := time.Now().Add(time.Minute)
	for {
		ls.bind(vars)
		if set := vars[0][0].(map[string]struct{}); len(set) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list was not read again within a minute; log:\n%s", log.String())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	out := log.String()
	for want, n := range map[string]int{
		"reading a list failed: deciding with the set read before": 1, // logged once per failing stretch, not per read
		"cause=\"reading list names from":                          1,
		"reading a list works again":                               1,
		"list changed":                                             1, // a then a again: unchanged
		"entries=2 before=1":                                       1,
	} {
		if got := strings.Count(out, want); got != n {
			t.Errorf("the log says %q %d times, want %d:\n%s", want, got, n, out)
		}
	}
}
