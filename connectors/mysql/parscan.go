package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"

	"pipeline/engine/schema"
)

// A parallel scan (see scanParallel) reads an int-keyed table in slices of
// sliceKeys key values, sliceReaders connections at once; tables whose keys
// spread over more than maxSlices slices are read by scanPaged instead.
const (
	sliceKeys        = 16 << 10
	maxSlices        = 1 << 16
	sliceReaders     = 2
	snapshotLockWait = 5 // seconds LOCK TABLES ... READ waits for writers before giving up
)

// errNoParallel says that a parallel scan cannot be used; scanPaged is.
var errNoParallel = errors.New("no parallel scan")

// scanParallel hands fn the rows of a table keyed by an int column, in key
// order a slice of keys at a time, read by sliceReaders connections at
// once. Every connection reads in a REPEATABLE READ tx, and the txs see
// one snapshot: they take their read views while another connection holds
// LOCK TABLES ... READ on the table, which waits for the txs that wrote to
// it to end and keeps new ones from writing until every view is taken.
// It returns errNoParallel, having handed fn nothing, when the lock cannot be
// had (no LOCK TABLES privilege, or a writer holding on for
// snapshotLockWait seconds), or the keys spread too far apart.
func (t *Table) scanParallel(ctx context.Context, fn func([]schema.Row) error) error {
	if runtime.GOMAXPROCS(0) < 2 {
		return errNoParallel
	}
	txs, lo, hi, err := t.snapshots(ctx, sliceReaders)
	for _, tx := range txs {
		defer tx.Rollback() // read only: nothing to keep
	}
	if err != nil || !lo.Valid {
		return err // an empty table, or an error
	}
	if (hi.Int64-lo.Int64)/sliceKeys >= maxSlices || hi.Int64-lo.Int64 < 0 {
		return errNoParallel
	}
	slices := int((hi.Int64-lo.Int64)/sliceKeys) + 1
	key := quote(t.schema.KeyName())
	query := t.selectSQL + " WHERE " + key + " >= ? AND " + key + " <= ? ORDER BY " + key
	stop := make(chan struct{})
	chans := make([]chan []schema.Row, len(txs))
	errs := make([]error, len(txs))
	for r, tx := range txs {
		chans[r] = make(chan []schema.Row, 1)
		go func() {
			defer close(chans[r])
			errs[r] = t.readSlices(ctx, tx, query, lo.Int64, hi.Int64, r, len(txs), slices, chans[r], stop)
		}()
	}
	var fnErr error
	for s := 0; s < slices && fnErr == nil; s++ {
		page, ok := <-chans[s%len(chans)]
		if !ok {
			break // that reader failed: its error is below
		}
		if len(page) > 0 {
			fnErr = fn(page)
		}
	}
	close(stop)
	for _, ch := range chans {
		for range ch { // let the readers end
		}
	}
	if fnErr != nil {
		return fnErr
	}
	return errors.Join(errs...)
}

// readSlices reads slices r, r+n, r+2n... of the key range lo..hi on tx and
// sends each one's rows, possibly none, to out, until stop is closed.
func (t *Table) readSlices(ctx context.Context, tx *sql.Tx, query string, lo, hi int64, r, n, slices int, out chan<- []schema.Row, stop <-chan struct{}) error {
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	for s := r; s < slices; s += n {
		from := lo + int64(s)*sliceKeys
		to := min(from+sliceKeys-1, hi)
		page := make([]schema.Row, 0, 1024)
		err := t.query(ctx, stmt, []any{from, to}, func(row schema.Row) error {
			page = append(page, row)
			return nil
		})
		if err != nil {
			return err
		}
		select {
		case out <- page:
		case <-stop:
			return nil
		}
	}
	return nil
}

// snapshots begins n read-only REPEATABLE READ txs that see the same
// snapshot of the table (see scanParallel), and returns them with the
// table's least and greatest key in it. The caller rolls the txs back,
// also when snapshots fails.
func (t *Table) snapshots(ctx context.Context, n int) (txs []*sql.Tx, lo, hi sql.NullInt64, err error) {
	lock, err := t.c.db.Conn(ctx)
	if err != nil {
		return nil, lo, hi, err
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "SET SESSION lock_wait_timeout = ?", snapshotLockWait); err != nil {
		return nil, lo, hi, err
	}
	defer lock.ExecContext(context.WithoutCancel(ctx), "SET SESSION lock_wait_timeout = DEFAULT") //nolint:errcheck // the pool's next user sets what it needs
	if _, err := lock.ExecContext(ctx, "LOCK TABLES "+quote(t.schema.Name)+" READ"); err != nil {
		return nil, lo, hi, errNoParallel
	}
	defer lock.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES") //nolint:errcheck // closing the connection unlocks too
	minMax := "SELECT MIN(" + quote(t.schema.KeyName()) + "), MAX(" + quote(t.schema.KeyName()) + ") FROM " + quote(t.schema.Name)
	for range n {
		tx, err := t.c.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return txs, lo, hi, fmt.Errorf("begin: %w", err)
		}
		txs = append(txs, tx)
		// The first read takes the tx's read view, while the lock holds.
		if err := tx.QueryRowContext(ctx, minMax).Scan(&lo, &hi); err != nil {
			return txs, lo, hi, fmt.Errorf("key range: %w", err)
		}
	}
	return txs, lo, hi, nil
}
