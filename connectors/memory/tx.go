package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"pipeline/engine/schema"
)

// gate keeps a table's writers apart: a plain write (Upsert, Truncate,
// UpdateWhere) holds it while it writes, Commit while it checks and writes
// the batch, a tx (InTx) from its start to its end. version is the table's
// version (port.Committer.Versions): every write but Commit's moves it on.
type gate struct {
	mu      sync.Mutex
	version atomic.Int64
}

// memTx is a tx of InTx: the tables it holds the gates of, and the rows
// each held before its first write in the tx, to roll back to.
type memTx struct {
	c     *Connector
	mu    sync.Mutex
	owned map[*Table]bool
	saved map[*Table][]schema.Row
}

// txKey is the context key of the memTx a context carries.
type txKey struct{}

// txOf returns the tx ctx carries, or nil.
func txOf(ctx context.Context) *memTx {
	tx, _ := ctx.Value(txKey{}).(*memTx)
	return tx
}

// writing is called by every write of t before it writes, and the function
// it returns once the write is done. A plain write waits for the table's
// gate (a commit or a tx holding it) and moves the version on when it has
// written. Commit's own writes hold the gate already and leave the version
// as it is. A write in a tx that holds the table saves the table's rows
// first, once, for a rollback; a write in a tx to a table it was not
// given (InTx's writes) only moves the version on, and is not rolled back.
func (t *Table) writing(ctx context.Context) func() {
	if ctx.Value(commitKey{}) != nil {
		return func() {}
	}
	if tx := txOf(ctx); tx != nil {
		if tx.hold(t) {
			return func() {}
		}
		return func() { t.gate.version.Add(1) }
	}
	t.gate.mu.Lock()
	return func() {
		t.gate.version.Add(1)
		t.gate.mu.Unlock()
	}
}

// hold reports whether tx holds t, saving t's rows first if it does and
// has not yet.
func (tx *memTx) hold(t *Table) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.owned[t] {
		return false
	}
	if _, ok := tx.saved[t]; !ok {
		// The rows as stored, in no order: a rollback puts them back with
		// Upsert. Stored rows never change (writes replace them).
		t.mu.RLock()
		tx.saved[t] = slices.Clone(t.rows)
		t.mu.RUnlock()
	}
	return true
}

// tablesNamed returns the open tables among names, in name order, each once.
func (c *Connector) tablesNamed(names []string) []*Table {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Table, 0, len(names))
	for _, n := range names {
		if t, ok := c.tables[n]; ok {
			out = append(out, t)
		}
	}
	return out
}

// lockGates takes the gates of the named tables in name order (a fixed
// order, so that commits and txs never deadlock), except those the tx of
// ctx holds, and returns what releases them.
func (c *Connector) lockGates(ctx context.Context, names []string) (func(), error) {
	tx := txOf(ctx)
	var held []*Table
	for _, t := range c.tablesNamed(names) {
		if tx != nil && tx.c == c && tx.owned[t] {
			continue
		}
		t.gate.mu.Lock()
		held = append(held, t)
	}
	return func() {
		for _, t := range held {
			t.gate.mu.Unlock()
		}
	}, nil
}

// version returns the version of the table called name, 0 when none is open.
func (c *Connector) version(name string) int64 {
	c.mu.Lock()
	t, ok := c.tables[name]
	c.mu.Unlock()
	if !ok {
		return 0
	}
	return t.gate.version.Load()
}

// Versions returns the version of each of tables (0 for a table never
// written). It implements port.Committer.
func (c *Connector) Versions(ctx context.Context, tables []string) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory versions: %w", err)
	}
	out := make(map[string]int64, len(tables))
	for _, n := range tables {
		out[n] = c.version(n)
	}
	return out, nil
}

// InTx runs fn with a context whose writes to the tables named in writes
// form one tx, as port.Transactor says: it holds those tables' gates until
// fn returns, so that other writers (plain writes, Commit, other txs) wait
// for it; it moves their versions on at its start and at its end, so that
// a stream stage that read one meanwhile decides again; and when fn fails
// it puts back the rows each table held before fn first wrote it. Writes
// to other tables are not rolled back. Inside a tx of ctx, InTx joins it.
// fn runs once.
func (c *Connector) InTx(ctx context.Context, writes []string, fn func(ctx context.Context) error) error {
	if tx := txOf(ctx); tx != nil && tx.c == c {
		return fn(ctx)
	}
	tx := &memTx{c: c, owned: map[*Table]bool{}, saved: map[*Table][]schema.Row{}}
	tables := c.tablesNamed(writes)
	for _, t := range tables {
		t.gate.mu.Lock()
		t.gate.version.Add(1)
		tx.owned[t] = true
	}
	defer func() {
		for _, t := range tables {
			t.gate.version.Add(1)
			t.gate.mu.Unlock()
		}
	}()
	tctx := context.WithValue(ctx, txKey{}, tx)
	err := fn(tctx)
	if err == nil {
		return nil
	}
	rctx := context.WithoutCancel(tctx)
	for _, t := range tables {
		rows, ok := tx.saved[t]
		if !ok {
			continue
		}
		if rerr := t.Truncate(rctx); rerr != nil {
			err = errors.Join(err, rerr)
		} else if rerr := t.Upsert(rctx, rows); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return fmt.Errorf("memory tx: %w", err)
}

// locks are the connector's named locks (port.Locker): a channel per held
// name, closed when it is released.
type locks struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// Lock takes the lock called name, waiting while another caller in this
// process holds it; waiting is called once if it has to wait. It
// implements port.Locker: memory data lives in one process, so no other
// process can share it.
func (c *Connector) Lock(ctx context.Context, name string, waiting func(holder string)) (func(), error) {
	told := false
	for {
		c.locks.mu.Lock()
		ch, busy := c.locks.held[name]
		if !busy {
			if c.locks.held == nil {
				c.locks.held = map[string]chan struct{}{}
			}
			ch = make(chan struct{})
			c.locks.held[name] = ch
			c.locks.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					c.locks.mu.Lock()
					delete(c.locks.held, name)
					c.locks.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		c.locks.mu.Unlock()
		if !told && waiting != nil {
			told = true
			waiting("another run in this process")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("memory lock %q: %w", name, ctx.Err())
		}
	}
}
