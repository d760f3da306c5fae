package stage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pipeline/connectors/csv"
	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// The stream stage's commit pipeline (docs/ARCHITECTURE.md, "State and
// concurrency"), run on memory connectors behind a committer that fails,
// meets records decided before, meets changed tables, or is slow: the
// shop's orders (engine/testdata/shop) are decided in chunks of 100, so
// eleven commits, and must end as a plain run does, none lost or doubled.

// faulty is a memory connector whose Commit goes through commit, which
// calls next to commit for real. n counts the commits.
type faulty struct {
	*memory.Connector
	mu     sync.Mutex
	n      int
	met    map[error]int // how many commits failed with port.ErrConflict and port.ErrExists
	tables map[string]*memory.Table
	commit func(ctx context.Context, n int, b port.Batch, next func() error) error
}

// Table opens a table of the memory connector, and keeps it by name.
func (f *faulty) Table(ctx context.Context, s *schema.Schema) (port.Table, error) {
	tb, err := f.Connector.Table(ctx, s)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tables == nil {
		f.tables = map[string]*memory.Table{}
	}
	f.tables[s.Name] = tb.(*memory.Table)
	return tb, nil
}

// Commit numbers the commit and hands it to f.commit.
func (f *faulty) Commit(ctx context.Context, b port.Batch) error {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	next := func() error {
		err := f.Connector.Commit(ctx, b)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, e := range []error{port.ErrConflict, port.ErrExists} {
			if errors.Is(err, e) {
				if f.met == nil {
					f.met = map[error]int{}
				}
				f.met[e]++
			}
		}
		return err
	}
	if f.commit == nil {
		return next()
	}
	return f.commit(ctx, n, b, next)
}

// shopRun is a run of the shop spec with chunks of 100 records on conn.
type shopRun struct {
	t    *testing.T
	conn *faulty
	out  string
	p    *engine.Pipeline
}

// newShopRun opens the shop spec with a stream stage of batch_size 100,
// every memory connector served by conn, its exports in a new folder.
func newShopRun(t *testing.T, conn *faulty) *shopRun {
	t.Helper()
	dir, out := t.TempDir(), t.TempDir()
	spec, err := os.ReadFile("../testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chunked := strings.Replace(string(spec), "    kind: stream\n", "    kind: stream\n    batch_size: 100\n", 1)
	rules, err := os.ReadFile("../testdata/shop/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"spec.yaml": chunked, "rules.yaml": string(rules)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := filepath.Abs("../testdata/shop/in")
	if err != nil {
		t.Fatal(err)
	}
	var reg port.Registry
	reg.Register(csv.Kind())
	reg.Register(port.Kind{Name: "memory", Commits: true, New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	plan, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(map[string]string{"OUT": out, "IN": in}), &reg)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: &reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &shopRun{t: t, conn: conn, out: out, p: p}
}

// run runs stages and returns the decide stage's figures as in/out/dead/dup.
func (r *shopRun) run(stages ...string) (string, error) {
	sum, err := r.p.Run(context.Background(), stages)
	for _, s := range sum.Stages {
		if s.Name == "decide" {
			return fmt.Sprintf("%d/%d/%d/%d", s.Stats.In, s.Stats.Out, s.Stats.Dead, s.Stats.Dup), err
		}
	}
	return "", err
}

// exported returns the files the export stage wrote.
func (r *shopRun) exported() map[string]string {
	r.t.Helper()
	if _, err := r.run("export"); err != nil {
		r.t.Fatalf("export: %v", err)
	}
	out := map[string]string{}
	for _, f := range []string{"orders.csv", "accounts.csv"} {
		b, err := os.ReadFile(filepath.Join(r.out, f))
		if err != nil {
			r.t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

// table returns the memory table called name, which the run opened.
func (r *shopRun) table(name string) *memory.Table {
	r.t.Helper()
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	tb, ok := r.conn.tables[name]
	if !ok {
		r.t.Fatalf("no table %s was opened", name)
	}
	return tb
}

// committed returns how many records the decide stage has committed offsets for.
func (r *shopRun) committed() int64 {
	r.t.Helper()
	groups, err := r.conn.CommittedGroups(context.Background(), "orders")
	if err != nil {
		r.t.Fatal(err)
	}
	var n int64
	for _, o := range groups {
		n += o
	}
	return n
}

// deadLetters returns how many dead letters of the decide stage the dead-letter table holds.
func (r *shopRun) deadLetters() int64 {
	r.t.Helper()
	var n int64
	err := r.table("dead_letters").Scan(context.Background(), func(row schema.Row) error {
		if row[1] == "decide" {
			n++
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// firstColumn keeps the first column of each line of a CSV file, its key.
func firstColumn(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.IndexByte(l, ','); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// firstInsert returns the first row b inserts into table, or nil.
func firstInsert(b port.Batch, table string) schema.Row {
	for _, w := range b.Writes {
		if w.Table == table && w.Insert && len(w.Rows) > 0 {
			return w.Rows[0]
		}
	}
	return nil
}

var errLost = errors.New("connection lost")

func TestCommitPipeline(t *testing.T) {
	base := newShopRun(t, &faulty{Connector: memory.New()})
	figures, err := base.run("reset", "load", "publish", "decide")
	if err != nil || figures != "1003/1000/3/0" {
		t.Fatalf("plain run: decide %s, %v; want 1003/1000/3/0", figures, err)
	}
	want := base.exported()
	if n := base.conn.n; n < 11 {
		t.Fatalf("plain run: %d commits, want one a chunk of 100 of each partition", n)
	}
	tests := []struct {
		name   string
		commit func(r *shopRun) func(ctx context.Context, n int, b port.Batch, next func() error) error
		// first is the figures of the decide stage, "fails" when it is
		// to fail and a second run to finish the work.
		first string
		// permanent says that the commits fail in the second run too.
		permanent bool
		// met is the error the commits met how many times, if any.
		met   error
		times int
		// same says whether the output files end as in the plain run.
		// When a record counts as decided before, the amounts its account
		// used stay short of it, and later decisions of that account may
		// differ: only the same orders are decided.
		same bool
	}{
		{name: "slow", first: "1003/1000/3/0", same: true,
			commit: func(*shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(_ context.Context, _ int, _ port.Batch, next func() error) error {
					time.Sleep(5 * time.Millisecond)
					return next()
				}
			}},
		{name: "transient failure", first: "fails", same: true,
			commit: func(*shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(_ context.Context, n int, _ port.Batch, next func() error) error {
					if n == 4 {
						return errLost
					}
					return next()
				}
			}},
		{name: "permanent failure", first: "fails", permanent: true, same: true,
			commit: func(*shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(_ context.Context, n int, _ port.Batch, next func() error) error {
					if n >= 3 {
						return errLost
					}
					return next()
				}
			}},
		{name: "lost after applying", first: "fails", same: true,
			commit: func(*shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(_ context.Context, n int, _ port.Batch, next func() error) error {
					err := next()
					if n == 4 {
						return errors.Join(err, errLost)
					}
					return err
				}
			}},
		{name: "decided before", first: "1003/999/3/1", met: port.ErrExists, times: 1,
			commit: func(r *shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(ctx context.Context, n int, b port.Batch, next func() error) error {
					if n == 2 {
						// Another run decided the chunk's first record meanwhile.
						if err := r.table("orders").Upsert(ctx, []schema.Row{firstInsert(b, "orders").Clone()}); err != nil {
							return err
						}
					}
					return next()
				}
			}},
		{name: "conflict", first: "1003/1000/3/0", same: true, met: port.ErrConflict, times: 2,
			commit: func(r *shopRun) func(context.Context, int, port.Batch, func() error) error {
				return func(ctx context.Context, n int, b port.Batch, next func() error) error {
					if n == 3 || n == 6 {
						// Another stage writes the accounts the chunk read (the same rows).
						accounts := r.table("accounts")
						var rows []schema.Row
						if err := accounts.Scan(ctx, func(row schema.Row) error { rows = append(rows, row); return nil }); err != nil {
							return err
						}
						if err := accounts.Upsert(ctx, rows); err != nil {
							return err
						}
					}
					return next()
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := &faulty{Connector: memory.New()}
			r := newShopRun(t, conn)
			if _, err := r.run("reset", "load", "publish"); err != nil {
				t.Fatal(err)
			}
			conn.commit = tt.commit(r)
			figures, err := r.run("decide")
			if tt.first == "fails" {
				if !errors.Is(err, errLost) {
					t.Fatalf("decide: %s, %v; want it to fail with %v", figures, err, errLost)
				}
				// Every record committed is a row or a dead letter; the
				// second run decides the others, and only them.
				k, rows, dead := r.committed(), int64(r.table("orders").Len()), r.deadLetters()
				if k == 0 || k == 1003 || rows+dead != k {
					t.Errorf("the failed run committed %d records, %d rows and %d dead letters; want some, each once", k, rows, dead)
				}
				if tt.permanent {
					if _, err := r.run("decide"); !errors.Is(err, errLost) || r.committed() != k {
						t.Errorf("decide again, failing: %v, %d records committed; want %v and %d", err, r.committed(), errLost, k)
					}
				}
				conn.commit = nil
				again := fmt.Sprintf("%d/%d/%d/0", 1003-k, 1000-rows, 3-dead)
				if figures, err = r.run("decide"); err != nil || figures != again {
					t.Errorf("decide again: %s, %v; want %s", figures, err, again)
				}
			} else if err != nil || figures != tt.first {
				t.Errorf("decide: %s, %v; want %s", figures, err, tt.first)
			}
			if tt.met != nil && conn.met[tt.met] != tt.times {
				t.Errorf("commits met %q %d times, want %d", tt.met, conn.met[tt.met], tt.times)
			}
			if c := r.committed(); c != 1003 {
				t.Errorf("%d records committed, want 1003", c)
			}
			got := r.exported()
			g, w := got["orders.csv"], want["orders.csv"]
			if !tt.same {
				g, w = firstColumn(g), firstColumn(w)
			}
			if g != w {
				t.Errorf("orders.csv differs from a plain run's:\n%s", firstDiff(g, w))
			}
			if tt.same && got["accounts.csv"] != want["accounts.csv"] {
				t.Errorf("accounts.csv differs from a plain run's:\n%s", firstDiff(got["accounts.csv"], want["accounts.csv"]))
			}
		})
	}
}

// TestDecidedBeforeAsDeadLetter: a record that the output table holds
// already but that would go to the dead letters now (its account is
// missing) is found by the check after speculating, and counted as a
// duplicate, not a dead letter.
func TestDecidedBeforeAsDeadLetter(t *testing.T) {
	conn := &faulty{Connector: memory.New()}
	r := newShopRun(t, conn)
	if _, err := r.run("reset", "load", "publish"); err != nil {
		t.Fatal(err)
	}
	orders := r.table("orders")
	amount, err := orders.Schema().Columns[2].Type.Parse("1.00")
	if err != nil {
		t.Fatal(err)
	}
	at, err := orders.Schema().Columns[3].Type.Parse("2025-01-01 10:00:00")
	if err != nil {
		t.Fatal(err)
	}
	before := schema.Row{1004, 99, amount, at, "accepted", "before", nil}
	if err := orders.Upsert(context.Background(), []schema.Row{before}); err != nil {
		t.Fatal(err)
	}
	figures, err := r.run("decide")
	if err != nil || figures != "1003/1000/2/1" {
		t.Errorf("decide: %s, %v; want 1003/1000/2/1", figures, err)
	}
	if n := orders.Len(); n != 1001 {
		t.Errorf("orders holds %d rows, want the 1,000 decided and the one decided before", n)
	}
	got, err := orders.Get(context.Background(), []any{1004})
	if err != nil || got[0] == nil || got[0][4] != "accepted" {
		t.Errorf("order 1004 = %v, %v; want the row decided before, as it was", got, err)
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d: %q, want %q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d (%v)", len(la), len(lb), bytes.Equal([]byte(a), []byte(b)))
}
