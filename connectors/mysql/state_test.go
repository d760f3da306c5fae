package mysql

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Tests of what keeps concurrent writers apart: table versions, writes of
// some columns, serializable batch txs and named locks (docs/ARCHITECTURE.md).

// version returns the version of table.
func version(t *testing.T, c *Connector, table string) int64 {
	t.Helper()
	v, err := c.Versions(context.Background(), []string{table})
	if err != nil {
		t.Fatal(err)
	}
	return v[table]
}

// TestVersionsMoveOnWrites: every write through a Table moves its version
// on (once per tx), a stream Commit does not, and reads do not.
func TestVersionsMoveOnWrites(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	v := version(t, c, "items")
	if v != 0 {
		t.Fatalf("a new table is at version %d, want 0", v)
	}
	steps := []struct {
		name  string
		do    func() error
		moves int64
	}{
		{"upsert", func() error { return items.Upsert(ctx, []schema.Row{item(1, "a", "1")}) }, 1},
		{"update where", func() error {
			_, err := items.UpdateWhere(ctx, []port.ColumnValue{{Column: "label", Value: "b"}}, port.ColumnValue{Column: "id", Value: 1})
			return err
		}, 1},
		{"truncate (before and after)", func() error { return items.Truncate(ctx) }, 2},
		{"tx of three writes", func() error {
			return c.InTx(ctx, nil, func(ctx context.Context) error {
				for i := range 3 {
					if err := items.Upsert(ctx, []schema.Row{item(i, "tx", "1")}); err != nil {
						return err
					}
				}
				return items.Truncate(ctx)
			})
		}, 1},
		{"tx declaring the table, writing it", func() error {
			return c.InTx(ctx, []string{"items"}, func(ctx context.Context) error {
				return items.Upsert(ctx, []schema.Row{item(5, "declared", "1")})
			})
		}, 1},
		{"tx declaring the table, rolled back", func() error {
			err := c.InTx(ctx, []string{"items"}, func(ctx context.Context) error { return errors.New("no") })
			if err == nil {
				return errors.New("InTx succeeded")
			}
			return nil
		}, 0},
		{"commit of a stream batch", func() error {
			return c.Commit(ctx, port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{item(6, "stream", "1")}}},
				Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}})
		}, 0},
		{"reads", func() error {
			_, err := items.Get(ctx, []any{1, 5})
			if err == nil {
				err = items.Scan(ctx, func(schema.Row) error { return nil })
			}
			return err
		}, 0},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := version(t, c, "items")
		if got != v+s.moves {
			t.Errorf("%s: version %d, want %d", s.name, got, v+s.moves)
		}
		v = got
	}
}

// TestCommitConflict: a batch that read a table at a version another
// writer has moved on since is not applied (port.ErrConflict), and applies
// once it names the version it reads now.
func TestCommitConflict(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	limits := openTable(t, c, itemSchema("limits"))
	upsert(t, ctx, limits, item(1, "limit", "100"))
	read := version(t, c, "limits")
	upsert(t, ctx, limits, item(1, "limit", "50")) // another writer, after the batch read the limits
	b := port.Batch{Group: "g",
		Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "decided on a limit of 100", "1")}}},
		Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}},
		Reads:   []port.TableRead{{Table: "limits", Version: read}},
	}
	err := c.Commit(ctx, b)
	if !errors.Is(err, port.ErrConflict) || !strings.Contains(err.Error(), "table limits is at version") {
		t.Fatalf("Commit: %v, want ErrConflict naming the table", err)
	}
	checkRows(t, "items after the conflict", scanAll(t, ctx, items), nil)
	if offs, err := c.Offsets(ctx, "g", "t"); err != nil || len(offs) != 0 {
		t.Fatalf("offsets after the conflict: %v %v, want none", offs, err)
	}
	b.Reads[0].Version = version(t, c, "limits")
	b.Writes[0].Rows[0] = item(1, "decided on a limit of 50", "1")
	if err := c.Commit(ctx, b); err != nil {
		t.Fatalf("Commit at the current version: %v", err)
	}
	checkRows(t, "items", scanAll(t, ctx, items), []schema.Row{item(1, "decided on a limit of 50", "1")})
}

// TestCommitColumns: a write that names columns changes only those of an
// existing row; the others keep what another writer put there.
func TestCommitColumns(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, items, item(1, "cached", "10"), item(2, "cached", "20"))
	// Another stage changes the labels; the stream still holds the old rows.
	upsert(t, ctx, items, item(1, "posted", "10"), item(2, "posted", "20"))
	err := c.Commit(ctx, port.Batch{Group: "g",
		Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "cached", "11"), item(2, "cached", "22")}, Columns: []string{"amount"}}},
		Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "items", scanAll(t, ctx, items), []schema.Row{item(1, "posted", "11"), item(2, "posted", "22")})

	for _, cols := range [][]string{{"nope"}, {"id"}} {
		err := c.Commit(ctx, port.Batch{Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "x", "1")}, Columns: cols}}})
		if err == nil || !strings.Contains(err.Error(), "is not a column the write may change") {
			t.Errorf("write of columns %v: %v, want an error", cols, err)
		}
	}
}

// TestCommitWaitsForBatchTx: a stream commit that reads a table a batch
// tx is changing waits for that tx, then finds the table changed.
func TestCommitWaitsForBatchTx(t *testing.T) {
	c, dsn := openTest(t)
	other := openDSN(t, dsn) // the batch stage, as another process
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	limits := openTable(t, c, itemSchema("limits"))
	otherLimits := openTable(t, other, itemSchema("limits"))
	upsert(t, ctx, limits, item(1, "limit", "100"))
	read := version(t, c, "limits")

	inTx, release := make(chan struct{}), make(chan struct{})
	var committedAt, txEndedAt atomic.Int64
	txDone := make(chan error, 1)
	go func() {
		txDone <- other.InTx(ctx, []string{"limits"}, func(ctx context.Context) error {
			close(inTx)
			<-release
			if err := otherLimits.Upsert(ctx, []schema.Row{item(1, "limit", "50")}); err != nil {
				return err
			}
			txEndedAt.Store(time.Now().UnixNano())
			return nil
		})
	}()
	<-inTx
	commitDone := make(chan error, 1)
	go func() {
		err := c.Commit(ctx, port.Batch{Group: "g",
			Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "decided", "1")}}},
			Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}},
			Reads:   []port.TableRead{{Table: "limits", Version: read}}})
		committedAt.Store(time.Now().UnixNano()) // before the send: the test reads it after
		commitDone <- err
	}()
	select {
	case err := <-commitDone:
		t.Fatalf("the commit ended (%v) while the batch tx that changes what it read was open", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	err := <-commitDone
	if !errors.Is(err, port.ErrConflict) {
		t.Fatalf("commit after the batch tx: %v, want ErrConflict", err)
	}
	if committedAt.Load() < txEndedAt.Load() {
		t.Errorf("the commit ended before the batch tx")
	}
	checkRows(t, "items", scanAll(t, ctx, items), nil)
}

// TestInTxIsSerializable: what a batch tx read cannot change under it: an
// insert into the range it scanned waits for the tx to end.
func TestInTxIsSerializable(t *testing.T) {
	c, dsn := openTest(t)
	other := openDSN(t, dsn)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, items, item(1, "a", "1"))
	inTx, release := make(chan struct{}), make(chan struct{})
	var sum atomic.Int64
	txDone := make(chan error, 1)
	go func() {
		txDone <- c.InTx(ctx, nil, func(ctx context.Context) error {
			sum.Store(0)
			err := items.Scan(ctx, func(r schema.Row) error {
				sum.Add(int64(r[0].(int)))
				return nil
			})
			if err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	inserted := make(chan error, 1)
	go func() {
		_, err := other.db.ExecContext(ctx, "INSERT INTO items (id, label, amount) VALUES (2, 'b', 1)")
		inserted <- err
	}()
	select {
	case err := <-inserted:
		t.Fatalf("an insert into the range the tx read ended (%v) while the tx was open", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	if err := <-inserted; err != nil {
		t.Fatal(err)
	}
	if sum.Load() != 1 {
		t.Errorf("the tx read ids summing to %d, want 1", sum.Load())
	}
}

// TestLock: a second holder of a named lock waits, told who holds it,
// until the first releases it; another database's lock of the same name is
// another lock; a wait ends with its context.
func TestLock(t *testing.T) {
	c, dsn := openTest(t)
	other := openDSN(t, dsn) // another process
	elsewhere, _ := openTest(t)
	ctx := context.Background()
	release, err := c.Lock(ctx, "stage settle", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	var holder atomic.Value
	go func() {
		r, err := other.Lock(ctx, "stage settle", func(h string) { holder.Store(h) })
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	r2, err := elsewhere.Lock(ctx, "stage settle", func(string) { t.Error("the lock of another database waited") })
	if err != nil {
		t.Fatal(err)
	}
	r2()
	deadline := time.Now().Add(10 * time.Second)
	for holder.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h, _ := holder.Load().(string); !strings.Contains(h, "connection ") {
		t.Fatalf("waiting told holder %q, want the holding connection", h)
	}
	select {
	case <-got:
		t.Fatal("the second Lock returned while the first held the lock")
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case r := <-got:
		if r == nil {
			t.Fatal("second Lock failed")
		}
		defer r()
	case <-time.After(10 * time.Second):
		t.Fatal("the second Lock did not get the lock after the first released it")
	}

	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Lock(cctx, "stage settle", nil); err == nil {
		t.Fatal("Lock got a held lock")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Lock waited %v after its context ended", d)
	}
	if n := lockName(strings.Repeat("d", 64), "stage"); len(n) > maxLockName {
		t.Errorf("lockName gives %d bytes, the server takes %d", len(n), maxLockName)
	}
}
