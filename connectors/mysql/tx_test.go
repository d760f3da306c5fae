package mysql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestInTx(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, tb, item(1, "one", "1"), item(2, "two", "2"))

	// Commit: writes of several operations land together.
	err := c.InTx(ctx, nil, func(ctx context.Context) error {
		if err := tb.Truncate(ctx); err != nil {
			return err
		}
		upsert(t, ctx, tb, item(3, "three", "3"))
		// Reads inside the transaction see its writes; Scan's fn may write.
		return tb.Scan(ctx, func(r schema.Row) error {
			return tb.Upsert(ctx, []schema.Row{item(r[0].(int)+1, "next", "4")})
		})
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	checkRows(t, "after commit", scanAll(t, ctx, tb), []schema.Row{item(3, "three", "3"), item(4, "next", "4")})

	// Rollback: nothing fn did remains, and fn's error comes back as it was.
	boom := errors.New("boom")
	runs := 0
	err = c.InTx(ctx, nil, func(ctx context.Context) error {
		runs++
		if err := tb.Truncate(ctx); err != nil {
			return err
		}
		upsert(t, ctx, tb, item(5, "five", "5"))
		if got, err := tb.Get(ctx, []any{5, 3}); err != nil || got[0] == nil || got[1] != nil {
			t.Errorf("Get inside the transaction: %v %v", got, err)
		}
		// Outside the transaction its writes are not visible.
		if got, err := tb.Get(context.Background(), []any{5, 3}); err != nil || got[0] != nil || got[1] == nil {
			t.Errorf("Get outside the transaction: %v %v", got, err)
		}
		return boom
	})
	if !errors.Is(err, boom) || runs != 1 {
		t.Fatalf("InTx: %v after %d runs, want boom after 1", err, runs)
	}
	checkRows(t, "after rollback", scanAll(t, ctx, tb), []schema.Row{item(3, "three", "3"), item(4, "next", "4")})

	// An error that merely reads like a connection failure, from fn's own
	// logic, is not retried.
	runs = 0
	err = c.InTx(ctx, nil, func(ctx context.Context) error {
		runs++
		return errors.New("upstream: connection refused")
	})
	if err == nil || runs != 1 {
		t.Fatalf("InTx: %v after %d runs, want one run", err, runs)
	}

	// Commit joins the transaction and rolls back with it.
	err = c.InTx(ctx, nil, func(ctx context.Context) error {
		if err := c.Commit(ctx, port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{item(6, "six", "6")}}},
			Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got, _ := c.Offsets(ctx, "g", "t"); len(got) != 0 {
		t.Fatalf("offsets after rollback: %v", got)
	}
	checkRows(t, "after rolled back commit", scanAll(t, ctx, tb), []schema.Row{item(3, "three", "3"), item(4, "next", "4")})
}

func TestInTxRetriesDatabaseFailures(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	runs := 0
	err := c.InTx(ctx, nil, func(ctx context.Context) error {
		runs++
		if runs < 3 {
			return markTransient(&mysql.MySQLError{Number: errLockDeadlock, Message: "Deadlock found"})
		}
		return nil
	})
	if err != nil || runs != 3 {
		t.Fatalf("InTx: %v after %d runs, want success after 3", err, runs)
	}
}

// TestInTxDeadlock makes two transactions write two tables in opposite
// orders (a write locks the table's version row first): the server rolls
// one back (error 1213) and InTx runs it again.
func TestInTxDeadlock(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tables := []*Table{openTable(t, c, itemSchema("items")), openTable(t, c, itemSchema("others"))}
	var runs atomic.Int32
	both := make(chan struct{}, 2)
	var once [2]sync.Once
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w, order := range [][2]int{{0, 1}, {1, 0}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = c.InTx(ctx, nil, func(ctx context.Context) error {
				runs.Add(1)
				if err := tables[order[0]].Upsert(ctx, []schema.Row{item(1, "first", "1")}); err != nil {
					return err
				}
				once[w].Do(func() {
					both <- struct{}{}
					deadline := time.Now().Add(10 * time.Second)
					for len(both) < 2 && time.Now().Before(deadline) { // wait until both hold their first lock
						time.Sleep(time.Millisecond)
					}
				})
				return tables[order[1]].Upsert(ctx, []schema.Row{item(2, "second", "2")})
			})
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("transaction %d: %v", w, err)
		}
	}
	if n := runs.Load(); n < 3 {
		t.Errorf("%d runs of fn, want at least 3 (one deadlock victim run again)", n)
	}
	for _, tb := range tables {
		if got := scanAll(t, ctx, tb); len(got) != 2 {
			t.Errorf("table %s: rows %v, want both transactions' rows", tb.Schema().Name, got)
		}
	}
}

// TestInTxRetriesLostConnection kills the connection of a running tx:
// the next statement fails, and InTx runs fn again on a new connection.
func TestInTxRetriesLostConnection(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, itemSchema("items"))
	runs := 0
	err := c.InTx(ctx, nil, func(ctx context.Context) error {
		runs++
		if err := tb.Upsert(ctx, []schema.Row{item(1, "one", "1")}); err != nil {
			return err
		}
		if runs == 1 {
			var id int64
			if err := c.txOf(ctx).QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
				return err
			}
			if _, err := c.db.ExecContext(context.Background(), fmt.Sprintf("KILL %d", id)); err != nil {
				t.Errorf("KILL: %v", err)
			}
		}
		return tb.Upsert(ctx, []schema.Row{item(2, "two", "2")})
	})
	if err != nil || runs != 2 {
		t.Fatalf("InTx: %v after %d runs, want success after 2", err, runs)
	}
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{item(1, "one", "1"), item(2, "two", "2")})

	// Operations outside a tx get over killed connections too.
	rows, err := c.db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		c.db.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
	}
	upsert(t, ctx, tb, item(3, "three", "3"))
	if got, err := tb.Get(ctx, []any{3}); err != nil || got[0] == nil {
		t.Fatalf("Get after KILL: %v %v", got, err)
	}
}
