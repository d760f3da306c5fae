package mysql

import (
	"context"
	"database/sql"
	"fmt"
)

// The connector keeps the statements it runs most (a full chunk of an
// upsert, a bucket of keys of a Get) prepared: preparing a statement of a
// thousand rows costs the server about as much as running it, and a
// statement prepared per call costs an extra round trip. database/sql
// prepares a cached statement again on each connection that runs it.

// prepared returns the statement query, prepared once per connector. Only
// statements from a small fixed set per table may be cached this way.
func (c *Connector) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	stmt, ok := c.stmts[query]
	c.mu.Unlock()
	if ok {
		return stmt, nil
	}
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[query]; ok { // prepared meanwhile by another goroutine
		stmt.Close()
		return old, nil
	}
	c.stmts[query] = stmt
	return stmt, nil
}

// bind returns the cached statement query for use on q (the pool or a
// tx) and a function that releases it after use.
func (c *Connector) bind(ctx context.Context, q querier, query string) (*sql.Stmt, func(), error) {
	stmt, err := c.prepared(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if tx, ok := q.(*sql.Tx); ok {
		ts := tx.StmtContext(ctx, stmt)
		return ts, func() { ts.Close() }, nil
	}
	return stmt, func() {}, nil
}

// execCached runs the cached statement query on q.
func (c *Connector) execCached(ctx context.Context, q querier, query string, args []any) error {
	stmt, release, err := c.bind(ctx, q, query)
	if err != nil {
		return err
	}
	defer release()
	_, err = stmt.ExecContext(ctx, args...)
	return err
}

// closeStmts closes the cached statements.
func (c *Connector) closeStmts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
}
