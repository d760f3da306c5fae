package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// txKey is the context key under which InTx stores the tx of one
// connector; keying by connector lets txs of several connectors
// travel in one context.
type txKey struct{ c *Connector }

// txState is a tx that a context carries, and the tables whose version it
// has moved on (see touch).
type txState struct {
	tx      *sql.Tx
	touched map[string]bool
}

// txStateOf returns the tx of c that ctx carries, or nil.
func (c *Connector) txStateOf(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{c}).(*txState)
	return st
}

// txOf returns the tx of c that ctx carries, or nil.
func (c *Connector) txOf(ctx context.Context) *sql.Tx {
	if st := c.txStateOf(ctx); st != nil {
		return st.tx
	}
	return nil
}

// InTx runs fn with a context that carries one database tx: every
// operation of this connector's tables (and Commit) made with that context
// joins it. InTx commits when fn returns nil and rolls back otherwise.
//
// The tx is SERIALIZABLE: InnoDB makes every plain read in it a locking
// read, so what fn read cannot change under it (a stream stage's commit
// inserting a row fn's scan covered waits for the tx to end). Before fn
// runs, the versions of the tables in writes move on (see Versions), which
// takes an exclusive lock on their version rows: stream commits that read
// or write those tables wait for the tx, and fail with port.ErrConflict
// afterwards if they decided on rows read before it.
//
// When the tx fails for a reason a retry may cure (a deadlock, a
// lock wait timeout, a lost connection) InTx rolls back and runs fn again,
// with backoff from 50 ms doubling, for up to about 30 seconds, while ctx
// lasts; so fn must be safe to run more than once. Errors of fn's own
// making are returned as they are, never retried. A failed COMMIT whose
// outcome is unknown (the connection broke while committing) is not retried.
// Inside a tx of this connector already, InTx simply runs fn in it.
//
// fn must not use its context from several goroutines at once: a
// tx runs one statement at a time.
func (c *Connector) InTx(ctx context.Context, writes []string, fn func(ctx context.Context) error) error {
	if st := c.txStateOf(ctx); st != nil {
		for _, t := range writes {
			if err := c.touch(ctx, st.tx, t); err != nil {
				return fmt.Errorf("mysql tx on %s: %w", c.where, markTransient(err))
			}
		}
		return fn(ctx)
	}
	if len(writes) > 0 {
		if err := c.ensureVersions(ctx); err != nil {
			return fmt.Errorf("mysql tx on %s: %w", c.where, err)
		}
	}
	opts := &sql.TxOptions{Isolation: sql.LevelSerializable}
	err := c.inNewTx(ctx, opts, false, func(ctx context.Context, tx *sql.Tx) error {
		if err := bumpVersions(ctx, tx, writes); err != nil {
			return markTransient(err)
		}
		st := c.txStateOf(ctx)
		for _, t := range writes {
			st.touched[t] = true
		}
		return fn(ctx)
	})
	if err != nil {
		return fmt.Errorf("mysql tx on %s: %w", c.where, err)
	}
	return nil
}

// inNewTx runs fn in a new tx, carried by the context fn gets, and
// commits it; it rolls back when fn fails. It retries the whole tx
// when fn's error is marked transient (see markTransient), and when COMMIT
// fails with an error that says the tx was rolled back, or with any
// transient error if retryCommit (for work that is safe to repeat).
func (c *Connector) inNewTx(ctx context.Context, opts *sql.TxOptions, retryCommit bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return retry(ctx, retryBudget, func(ctx context.Context) error {
		tx, err := c.db.BeginTx(ctx, opts)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		st := &txState{tx: tx, touched: map[string]bool{}}
		if err := fn(context.WithValue(ctx, txKey{c}, st), tx); err != nil {
			_ = tx.Rollback() // the error that matters is fn's
			if isMarked(err) {
				return err
			}
			return &stopRetry{err}
		}
		if err := tx.Commit(); err != nil {
			err = fmt.Errorf("commit: %w", err)
			if retryCommit || errors.Is(err, driver.ErrBadConn) || mysqlErrNo(err) == errLockDeadlock {
				return err
			}
			return &stopRetry{err}
		}
		return nil
	})
}

// readMap reads a map from what query selects, with run's retries: a
// key and a value from each row, as scan reads them.
func readMap[K comparable, V any](ctx context.Context, c *Connector, query string, args []any, scan func(*sql.Rows) (K, V, error)) (map[K]V, error) {
	out := map[K]V{}
	err := c.run(ctx, func(ctx context.Context, q querier) error {
		clear(out)
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, v, err := scan(rows)
			if err != nil {
				return err
			}
			out[k] = v
		}
		return rows.Err()
	})
	return out, err
}

// run runs fn with the tx of ctx when there is one (marking its
// error for the tx's owner to retry), and otherwise with the pool,
// retrying transient failures.
func (c *Connector) run(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if tx := c.txOf(ctx); tx != nil {
		return markTransient(fn(ctx, tx))
	}
	return retry(ctx, retryBudget, func(ctx context.Context) error { return fn(ctx, c.db) })
}

// runTx runs fn, work that is safe to repeat, in the tx of ctx when
// there is one (marking its error for the tx's owner to retry), and
// otherwise in a tx of its own, retried whole on transient failures.
func (c *Connector) runTx(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if tx := c.txOf(ctx); tx != nil {
		return markTransient(fn(ctx, tx))
	}
	return c.inNewTx(ctx, nil, true, func(ctx context.Context, tx *sql.Tx) error {
		return markTransient(fn(ctx, tx))
	})
}
