package porttest

import (
	"context"
	"errors"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// offs returns the offsets of one batch of topic "t" partition 0.
func offs(from, next int64) []port.Offset {
	return []port.Offset{{Topic: "t", Partition: 0, From: from, Next: next}}
}

// commit commits b on c and returns the error.
func commit(c port.Committer, b port.Batch) error {
	return c.Commit(context.Background(), b)
}

// wantErr fails the test unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want an error wrapping %q", what, err, want)
	}
}

// wantOffsets fails the test unless group's committed offsets of topic "t" are want.
func wantOffsets(t *testing.T, c port.Committer, group string, want map[int32]int64) {
	t.Helper()
	got, err := c.Offsets(context.Background(), group, "t")
	if err != nil {
		t.Fatalf("Offsets: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("offsets of %s = %v, want %v", group, got, want)
		return
	}
	for p, o := range want {
		if got[p] != o {
			t.Errorf("offsets of %s = %v, want %v", group, got, want)
		}
	}
}

// version returns the version of Items on c.
func version(t *testing.T, c port.Committer) int64 {
	t.Helper()
	v, err := c.Versions(context.Background(), []string{Items.Name})
	if err != nil {
		t.Fatalf("Versions: %v", err)
	}
	return v[Items.Name]
}

// Committer runs the contract tests of port.Committer (and of
// port.OffsetOrigins and port.Outbox) on connectors open returns, a fresh
// one for each test, with Items open.
func Committer(t *testing.T, open func(t *testing.T) port.Committer) {
	tests := []struct {
		name string
		run  func(t *testing.T, c port.Committer, tb port.Table)
	}{
		{"ApplyThenRetry", applyThenRetry},
		{"Stale", stale},
		{"Conflict", conflict},
		{"Exists", exists},
		{"Columns", columns},
		{"Reset", reset},
		{"Outbox", outbox},
		{"OffsetOrigins", offsetOrigins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t)
			tt.run(t, c, openTable(t, c, Items))
		})
	}
}

// applyThenRetry: a batch applies its writes, state and offsets; the same
// batch again (a retry after an unknown outcome) returns nil and writes
// nothing; the next batch follows on.
func applyThenRetry(t *testing.T, c port.Committer, tb port.Table) {
	ctx := context.Background()
	b := port.Batch{Group: "g", Offsets: offs(0, 10),
		Writes: []port.TableWrite{{Table: Items.Name, Rows: []schema.Row{item(1, "a", 100)}}},
		State:  []port.StateEntry{{Topic: "t", Key: "k", Value: "v1"}}}
	if err := commit(c, b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// A retry after an unknown outcome: applied before, so nothing is written.
	b.Writes[0].Rows = []schema.Row{item(1, "changed", 1)}
	b.State[0].Value = "v2"
	if err := commit(c, b); err != nil {
		t.Fatalf("Commit again: %v", err)
	}
	wantRows(t, tb, item(1, "a", 100))
	wantOffsets(t, c, "g", map[int32]int64{0: 10})
	wantOffsets(t, c, "other", nil)
	st, err := c.State(ctx, "g", "t", []string{"k", "none"})
	if err != nil || len(st) != 1 || st["k"] != "v1" {
		t.Errorf("State = %v, %v; want k: v1", st, err)
	}
	// The next batch follows on.
	if err := commit(c, port.Batch{Group: "g", Offsets: offs(10, 12)}); err != nil {
		t.Fatalf("Commit of the next batch: %v", err)
	}
	wantOffsets(t, c, "g", map[int32]int64{0: 12})
}

// stale: a batch whose From is neither the stored offset nor its Next fails
// with ErrStale, writing nothing.
func stale(t *testing.T, c port.Committer, tb port.Table) {
	if err := commit(c, port.Batch{Group: "g", Offsets: offs(0, 10)}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	err := commit(c, port.Batch{Group: "g", Offsets: offs(5, 15),
		Writes: []port.TableWrite{{Table: Items.Name, Rows: []schema.Row{item(1, "a", 100)}}}})
	wantErr(t, "Commit from 5 at 10", err, port.ErrStale)
	wantRows(t, tb)
	wantOffsets(t, c, "g", map[int32]int64{0: 10})
}

// conflict: a batch that read a table another writer changed since fails
// with ErrConflict, writing nothing; read again, it commits, and a commit
// leaves the versions of the tables it writes as they are.
func conflict(t *testing.T, c port.Committer, tb port.Table) {
	v := version(t, c)
	upsert(t, tb, item(1, "a", 100)) // another writer
	if version(t, c) == v {
		t.Fatal("Upsert left the table's version as it was")
	}
	err := commit(c, port.Batch{Group: "g", Offsets: offs(0, 1), Reads: []port.TableRead{{Table: Items.Name, Version: v}},
		Writes: []port.TableWrite{{Table: Items.Name, Rows: []schema.Row{item(2, "b", 200)}}}})
	wantErr(t, "Commit after the table read changed", err, port.ErrConflict)
	wantRows(t, tb, item(1, "a", 100))
	wantOffsets(t, c, "g", nil)
	// Read again, decided again: it commits, and leaves the version as it is.
	v = version(t, c)
	err = commit(c, port.Batch{Group: "g", Offsets: offs(0, 1), Reads: []port.TableRead{{Table: Items.Name, Version: v}},
		Writes: []port.TableWrite{{Table: Items.Name, Rows: []schema.Row{item(2, "b", 200)}}}})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if version(t, c) != v {
		t.Error("Commit moved the version of a table it wrote on")
	}
}

// exists: an insert of a key the table holds fails with ErrExists, writing
// nothing.
func exists(t *testing.T, c port.Committer, tb port.Table) {
	upsert(t, tb, item(2, "b", 200))
	err := commit(c, port.Batch{Group: "g", Offsets: offs(0, 2), Writes: []port.TableWrite{
		{Table: Items.Name, Rows: []schema.Row{item(1, "a", 100), item(2, "new", 1)}, Insert: true}}})
	wantErr(t, "Commit of an insert of a key the table holds", err, port.ErrExists)
	wantRows(t, tb, item(2, "b", 200))
	wantOffsets(t, c, "g", nil)
	err = commit(c, port.Batch{Group: "g", Offsets: offs(0, 2), Writes: []port.TableWrite{
		{Table: Items.Name, Rows: []schema.Row{item(1, "a", 100), item(3, "c", 300)}, Insert: true}}})
	if err != nil {
		t.Fatalf("Commit of new keys: %v", err)
	}
	wantRows(t, tb, item(1, "a", 100), item(2, "b", 200), item(3, "c", 300))
}

// columns: a write with Columns changes only those columns of rows that
// exist, and inserts new rows whole.
func columns(t *testing.T, c port.Committer, tb port.Table) {
	upsert(t, tb, item(1, "a", 100))
	err := commit(c, port.Batch{Group: "g", Writes: []port.TableWrite{{Table: Items.Name,
		Rows: []schema.Row{item(1, "ignored", 150), item(2, "b", 200)}, Columns: []string{"amount"}}}})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantRows(t, tb, item(1, "a", 150), item(2, "b", 200))
}

// reset: ResetOffsets forgets the offsets and state of one topic, and only
// them.
func reset(t *testing.T, c port.Committer, _ port.Table) {
	ctx := context.Background()
	b := port.Batch{Group: "g", Offsets: []port.Offset{{Topic: "t", From: 0, Next: 3}, {Topic: "u", From: 0, Next: 4}},
		State: []port.StateEntry{{Topic: "t", Key: "k", Value: "v"}, {Topic: "u", Key: "k", Value: "w"}}}
	if err := commit(c, b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := c.ResetOffsets(ctx, "t"); err != nil {
		t.Fatalf("ResetOffsets: %v", err)
	}
	wantOffsets(t, c, "g", nil)
	if u, err := c.Offsets(ctx, "g", "u"); err != nil || u[0] != 4 {
		t.Errorf("offsets of topic u = %v, %v; want 0: 4", u, err)
	}
	st, err := c.State(ctx, "g", "t", []string{"k"})
	if err != nil || len(st) != 0 {
		t.Errorf("state of t after the reset = %v, %v; want none", st, err)
	}
	if st, err := c.State(ctx, "g", "u", []string{"k"}); err != nil || st["k"] != "w" {
		t.Errorf("state of u = %v, %v; want k: w", st, err)
	}
	// A batch from the start applies again.
	if err := commit(c, port.Batch{Group: "g", Offsets: offs(0, 2)}); err != nil {
		t.Errorf("Commit from 0 after the reset: %v", err)
	}
}

// outbox: the outbox entries of a batch are stored in its commit, and those
// of a batch refused are not.
func outbox(t *testing.T, c port.Committer, _ port.Table) {
	ctx := context.Background()
	box, ok := c.(port.Outbox)
	if !ok {
		t.Fatalf("%T keeps no outbox (port.Outbox)", c)
	}
	entry := port.OutboxEntry{Group: "g", From: "t", Topic: "out", Key: "k", Value: "v"}
	if err := commit(c, port.Batch{Group: "g", Offsets: offs(0, 1), Outbox: []port.OutboxEntry{entry}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantErr(t, "Commit of a stale batch", commit(c, port.Batch{Group: "g", Offsets: offs(5, 6), Outbox: []port.OutboxEntry{entry}}), port.ErrStale)
	var got []port.OutboxEntry
	n, err := box.Relay(ctx, "g", 10, func(_ context.Context, es []port.OutboxEntry) error {
		got = append(got, es...)
		return nil
	})
	if err != nil || n != 1 || len(got) != 1 || got[0].Key != "k" || got[0].Value != "v" || got[0].Topic != "out" {
		t.Errorf("Relay = %d, %v, handing out %+v; want the one entry committed", n, err, got)
	}
}

// offsetOrigins: offsets are stored with the ID of their topic, and a batch
// from a topic of another ID fails with ErrOtherTopic.
func offsetOrigins(t *testing.T, c port.Committer, _ port.Table) {
	ctx := context.Background()
	origins, ok := c.(port.OffsetOrigins)
	if !ok {
		t.Fatalf("%T does not keep offset origins (port.OffsetOrigins)", c)
	}
	o := offs(0, 5)
	o[0].TopicID = "id-1"
	if err := commit(c, port.Batch{Group: "g", Offsets: o}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := origins.StoredOffsets(ctx, "g", "t")
	if err != nil || got[0] != (port.StoredOffset{Next: 5, TopicID: "id-1"}) {
		t.Errorf("StoredOffsets = %v, %v; want 0: 5 on id-1", got, err)
	}
	o = offs(5, 6)
	o[0].TopicID = "id-2"
	wantErr(t, "Commit of a batch of another topic", commit(c, port.Batch{Group: "g", Offsets: o}), port.ErrOtherTopic)
	wantOffsets(t, c, "g", map[int32]int64{0: 5})
}

// Transactor runs the contract tests of port.Transactor on connectors open
// returns, a fresh one for each test. A Transactor that is a Committer
// has its versions checked too.
func Transactor(t *testing.T, open func(t *testing.T) port.Transactor) {
	ctx := context.Background()
	t.Run("Commits", func(t *testing.T) {
		c := open(t)
		tb := openTable(t, c, Items)
		upsert(t, tb, item(1, "a", 100))
		var v int64
		if cm, ok := c.(port.Committer); ok {
			v = version(t, cm)
		}
		err := c.InTx(ctx, []string{Items.Name}, func(ctx context.Context) error {
			if err := tb.Truncate(ctx); err != nil {
				return err
			}
			return tb.Upsert(ctx, []schema.Row{item(2, "b", 200)})
		})
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		wantRows(t, tb, item(2, "b", 200))
		if cm, ok := c.(port.Committer); ok && version(t, cm) == v {
			t.Error("a tx that wrote the table left its version as it was")
		}
	})
	t.Run("RollsBack", func(t *testing.T) {
		c := open(t)
		tb := openTable(t, c, Items)
		upsert(t, tb, item(1, "a", 100), item(2, "b", 200))
		fail := errors.New("the step fails")
		err := c.InTx(ctx, []string{Items.Name}, func(ctx context.Context) error {
			if err := tb.Upsert(ctx, []schema.Row{item(1, "changed", 1), item(3, "c", 300)}); err != nil {
				return err
			}
			if err := tb.Truncate(ctx); err != nil {
				return err
			}
			if err := tb.Upsert(ctx, []schema.Row{item(9, "z", 900)}); err != nil {
				return err
			}
			return fail
		})
		wantErr(t, "InTx", err, fail)
		wantRows(t, tb, item(1, "a", 100), item(2, "b", 200))
	})
	t.Run("VersionsMoveOn", func(t *testing.T) {
		c := open(t)
		cm, ok := c.(port.Committer)
		if !ok {
			t.Fatalf("%T is no port.Committer: it has no versions to move on", c)
		}
		openTable(t, c, Items)
		v := version(t, cm)
		err := c.InTx(ctx, []string{Items.Name}, func(ctx context.Context) error { return nil })
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		if version(t, cm) == v {
			t.Error("a tx naming the table in writes left its version as it was")
		}
	})
}
