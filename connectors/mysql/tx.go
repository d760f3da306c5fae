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

// txOf returns the tx of c that ctx carries, or nil.
func (c *Connector) txOf(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{c}).(*sql.Tx)
	return tx
}

// InTx runs fn with a context that carries one database tx: every
// operation of this connector's tables (and Commit) made with that context
// joins it. InTx commits when fn returns nil and rolls back otherwise.
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
func (c *Connector) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if c.txOf(ctx) != nil {
		return fn(ctx)
	}
	err := c.inNewTx(ctx, false, func(ctx context.Context, _ *sql.Tx) error { return fn(ctx) })
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
func (c *Connector) inNewTx(ctx context.Context, retryCommit bool, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return retry(ctx, retryBudget, func(ctx context.Context) error {
		tx, err := c.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(context.WithValue(ctx, txKey{c}, tx), tx); err != nil {
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
	return c.inNewTx(ctx, true, func(ctx context.Context, tx *sql.Tx) error {
		return markTransient(fn(ctx, tx))
	})
}
