package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// maxKeysPerGet is the most keys one SELECT ... IN (...) asks for.
const maxKeysPerGet = 1000

// Table is a MySQL table of one schema, keyed by the schema's key column. It
// implements port.Table and is safe for concurrent use.
//
// Operations outside a tx retry transient failures (see InTx);
// inside one they join it and leave retrying to the tx's owner.
type Table struct {
	c      *Connector
	schema *schema.Schema
	places []int // decimal places of each column in the table (0 for non-decimal columns)

	selectSQL string // SELECT <columns> FROM <table>
	scanSQL   string // selectSQL ORDER BY <key>
	insert    insertSQL
	plain     insertSQL // INSERT without ON DUPLICATE KEY UPDATE, for port.TableWrite.Insert

	mu      sync.Mutex
	partial map[string]insertSQL // upserts of some columns (port.TableWrite.Columns), by the columns joined with ","
}

// upsertColumns returns the upsert statements that change only the columns
// cols of existing rows, made once per set of columns.
func (t *Table) upsertColumns(cols []string) (insertSQL, error) {
	for _, c := range cols {
		if i := t.schema.Index(c); i < 0 || i == t.schema.Key {
			return insertSQL{}, t.errorf("write of columns %s: %q is not a column the write may change (columns: %s)",
				strings.Join(cols, ", "), c, strings.Join(t.schema.Names(), ", "))
		}
	}
	id := strings.Join(cols, ",")
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.partial[id]; ok {
		return s, nil
	}
	if t.partial == nil {
		t.partial = map[string]insertSQL{}
	}
	s := newUpsertColumnsSQL(t.schema.Name, t.schema.Names(), cols)
	t.partial[id] = s
	return s, nil
}

var _ port.Table = (*Table)(nil)

func newTable(c *Connector, s *schema.Schema, places []int) *Table {
	cols := make([]string, len(s.Columns))
	for i, col := range s.Columns {
		cols[i] = quote(col.Name)
	}
	sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + quote(s.Name)
	return &Table{
		c:         c,
		schema:    s,
		places:    places,
		selectSQL: sel,
		scanSQL:   sel + " ORDER BY " + quote(s.KeyName()),
		insert:    newInsertSQL(s.Name, s.Names(), []string{s.KeyName()}),
		plain:     newPlainInsertSQL(s.Name, s.Names()),
	}
}

// Schema returns the table's schema.
func (t *Table) Schema() *schema.Schema { return t.schema }

// errorf returns an error naming the table and the server, then what failed.
func (t *Table) errorf(format string, args ...any) error {
	return fmt.Errorf("mysql table %s on %s: "+format, append([]any{t.schema.Name, t.c.where}, args...)...)
}

// Get looks keys up with SELECT ... WHERE key IN (...), at most 1000 keys a
// statement (each distinct key is asked for once). The result has one row
// per key, nil where no row has that key, including a nil key and a key that
// does not fit the key column. Keys match as the database compares them:
// decimals by value (1.5 finds 1.50), strings ignoring trailing spaces.
func (t *Table) Get(ctx context.Context, keys []any) ([]schema.Row, error) {
	out := make([]schema.Row, len(keys))
	kt := t.schema.Columns[t.schema.Key].Type
	norm := make([]string, len(keys)) // normalised key of keys[i]; "" for keys that cannot match
	var args []any                    // distinct keys as driver values
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if k == nil {
			continue
		}
		dv, err := toDriver(kt, t.places[t.schema.Key], k)
		if err != nil {
			continue
		}
		n := normKey(kt.Kind, dv)
		norm[i] = n
		if !seen[n] {
			seen[n] = true
			args = append(args, dv)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	found := make(map[string]schema.Row, len(args))
	err := t.c.run(ctx, func(ctx context.Context, q querier) error {
		clear(found)
		for start := 0; start < len(args); start += maxKeysPerGet {
			chunk := args[start:min(start+maxKeysPerGet, len(args))]
			// Chunks are padded with their last key to one of a few sizes,
			// whose statements stay prepared; a repeated key is harmless.
			n := keyBucket(len(chunk))
			if n > len(chunk) {
				padded := make([]any, n)
				copy(padded, chunk)
				for i := len(chunk); i < n; i++ {
					padded[i] = chunk[len(chunk)-1]
				}
				chunk = padded
			}
			query := t.selectSQL + " WHERE " + quote(t.schema.KeyName()) + " IN (" + placeholders(n) + ")"
			stmt, release, err := t.c.bind(ctx, q, query)
			if err != nil {
				return err
			}
			err = t.query(ctx, stmt, chunk, func(r schema.Row) error {
				dv, err := toDriver(kt, t.places[t.schema.Key], r[t.schema.Key])
				if err != nil {
					return err
				}
				found[normKey(kt.Kind, dv)] = r
				return nil
			})
			release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, t.errorf("get %d keys: %w", len(keys), err)
	}
	for i, n := range norm {
		if n != "" {
			out[i] = found[n]
		}
	}
	return out, nil
}

// normKey returns the text that identifies dv, a key as a driver value, the
// way the database compares keys of kind k.
func normKey(k schema.Kind, dv any) string {
	switch x := dv.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		switch k {
		case schema.Decimal:
			if d, err := decimal.Parse(x); err == nil {
				return d.Trim(0).String()
			}
		case schema.String:
			// PAD SPACE collations ignore trailing spaces; a leading
			// character keeps the empty string apart from "no key".
			return "s" + strings.TrimRight(x, " ")
		}
		return x
	case time.Time:
		return x.Format(schema.DateTimeLayout)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(dv)
}

// placeholders returns n question marks separated by commas.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// keyBucket returns the number of keys a Get statement for n keys asks for:
// the next power of two, or maxKeysPerGet.
func keyBucket(n int) int {
	b := 1
	for b < n {
		b *= 2
	}
	return min(b, maxKeysPerGet)
}

// rowQuerier runs a query: a querier, or a prepared *sql.Stmt.
type rowQuerier interface {
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
}

// text is a query given by its SQL text, run on a querier.
type text struct {
	q     querier
	query string
}

func (x text) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return x.q.QueryContext(ctx, x.query, args...)
}

// query runs a SELECT of the table's columns and calls fn with each row,
// converted to the schema's Go types.
func (t *Table) query(ctx context.Context, q rowQuerier, args []any, fn func(schema.Row) error) error {
	rows, err := q.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := len(t.schema.Columns)
	cols := make([]column, n)
	ptrs := make([]any, n)
	for i := range cols {
		cols[i].t = t.schema.Columns[i].Type
		ptrs[i] = &cols[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		r := make(schema.Row, n)
		for i := range cols {
			r[i] = cols[i].v
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// column converts one value of a result row to the Go type of its schema
// column as rows.Scan hands it over: it is an sql.Scanner, so the driver's
// bytes reach it without the copy that scanning into an any makes.
type column struct {
	t schema.Type
	v any
}

// Scan implements sql.Scanner.
func (c *column) Scan(src any) error {
	v, err := fromDriver(c.t, src)
	if err != nil {
		return err
	}
	c.v = v
	return nil
}

// Pages of a paged Scan: the first asks for firstScanPage rows, each next
// one for twice as many as the one before, up to maxScanPage. A scan that
// stops early (a guard looking for one matching row) thus reads little.
const (
	firstScanPage = 1000
	maxScanPage   = 64 << 10
)

// Scan calls fn for every row in key order, and stops at the first error fn
// returns, which it returns wrapped.
//
// Outside a tx, for a table keyed by an int or string column, it reads
// the rows in pages (SELECT ... WHERE key > last ORDER BY key LIMIT n) in one
// read-only REPEATABLE READ tx, so every page sees the same snapshot,
// and reads the next page while fn handles the rows of the one before;
// other tables are read in one streaming SELECT. Either way it holds one
// connection while fn runs (fn may use the table and the connector),
// and a failure is retried only until the first row has been handed to fn.
//
// Inside a tx it reads every row first, since the tx's connection
// cannot run fn's statements while a result is streaming.
func (t *Table) Scan(ctx context.Context, fn func(schema.Row) error) error {
	return t.scanPages(ctx, false, func(page []schema.Row) error {
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ port.BatchScanner = (*Table)(nil)

// ScanBatches is Scan a batch of at most size rows at a time (1024 when
// size is not positive), which lets an export format many rows at once.
// Outside a tx, a table keyed by an int column is read by two
// connections at once, in slices of keys, within one snapshot (see
// scanParallel); when that cannot be had, as Scan reads it.
// It implements port.BatchScanner.
func (t *Table) ScanBatches(ctx context.Context, size int, fn func([]schema.Row) error) error {
	if size <= 0 {
		size = 1024
	}
	return t.scanPages(ctx, true, func(page []schema.Row) error {
		for start := 0; start < len(page); start += size {
			if err := fn(page[start:min(start+size, len(page)):min(start+size, len(page))]); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanPages is Scan handing fn the rows in key order a page at a time;
// fn owns no page past its call. With parallel, an int-keyed table is
// read by scanParallel when it can be.
func (t *Table) scanPages(ctx context.Context, parallel bool, fn func([]schema.Row) error) error {
	if tx := t.c.txOf(ctx); tx != nil {
		var rows []schema.Row
		if err := t.query(ctx, text{tx, t.scanSQL}, nil, func(r schema.Row) error {
			rows = append(rows, r)
			return nil
		}); err != nil {
			return t.errorf("scan: %w", markTransient(err))
		}
		if err := fn(rows); err != nil {
			return t.errorf("scan: %w", err)
		}
		return nil
	}
	delivered := false
	deliver := func(page []schema.Row) error {
		delivered = true
		return fn(page)
	}
	err := retry(ctx, retryBudget, func(ctx context.Context) error {
		err := errNoParallel
		k := t.schema.Columns[t.schema.Key].Type.Kind
		if parallel && k == schema.Int {
			err = t.scanParallel(ctx, deliver)
		}
		switch {
		case !errors.Is(err, errNoParallel):
		case k == schema.Int || k == schema.String:
			err = t.scanPaged(ctx, deliver)
		default:
			const page = firstScanPage
			rows := make([]schema.Row, 0, page)
			err = t.query(ctx, text{t.c.db, t.scanSQL}, nil, func(r schema.Row) error {
				if rows = append(rows, r); len(rows) == page {
					err := deliver(rows)
					rows = make([]schema.Row, 0, page)
					return err
				}
				return nil
			})
			if err == nil && len(rows) > 0 {
				err = deliver(rows)
			}
		}
		if err != nil && delivered {
			return &stopRetry{err} // fn has seen rows: a retry would show them again
		}
		return err
	})
	if err != nil {
		return t.errorf("scan: %w", err)
	}
	return nil
}

// scanPaged is scanPages outside a tx for a table whose key orders its
// rows the same way in ORDER BY and in key > ?: an int or a string column.
// One goroutine reads pages, and fn handles them in order on the caller's.
func (t *Table) scanPaged(ctx context.Context, fn func([]schema.Row) error) error {
	tx, err := t.c.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // read only: nothing to keep
	pages := make(chan []schema.Row, 1)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(pages)
		readErr = t.readPages(ctx, tx, pages, stop)
	}()
	var fnErr error
	for page := range pages {
		if fnErr != nil {
			continue // drain: the reader stops after the page in hand
		}
		if fnErr = fn(page); fnErr != nil {
			close(stop)
		}
	}
	if fnErr != nil {
		return fnErr
	}
	return readErr
}

// readPages sends the table's rows, in key order, to pages a page at a
// time, until there are no more or stop is closed.
func (t *Table) readPages(ctx context.Context, tx *sql.Tx, pages chan<- []schema.Row, stop <-chan struct{}) error {
	key := t.schema.Columns[t.schema.Key]
	first := t.selectSQL + " ORDER BY " + quote(key.Name) + " LIMIT ?"
	next := t.selectSQL + " WHERE " + quote(key.Name) + " > ? ORDER BY " + quote(key.Name) + " LIMIT ?"
	// Prepared on the tx's connection alone, for the scan: the
	// connector's cache would prepare them on a second connection too.
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()
	size := firstScanPage
	var last any // the last key read, as a statement parameter
	for {
		query, args := first, []any{size}
		if last != nil {
			query, args = next, []any{last, size}
		}
		stmt, err := stmts[query], error(nil)
		if stmt == nil {
			if stmt, err = tx.PrepareContext(ctx, query); err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			stmts[query] = stmt
		}
		page := make([]schema.Row, 0, size)
		err = t.query(ctx, stmt, args, func(r schema.Row) error {
			page = append(page, r)
			return nil
		})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		select {
		case pages <- page:
		case <-stop:
			return nil
		}
		if len(page) < size {
			return nil
		}
		if last, err = toDriver(key.Type, t.places[t.schema.Key], page[len(page)-1][t.schema.Key]); err != nil {
			return fmt.Errorf("key of the last row read: %w", err)
		}
		size = min(2*size, maxScanPage)
	}
}

// Upsert writes rows with multi-row INSERT ... ON DUPLICATE KEY UPDATE
// statements (at most 1000 rows and fewer than 65535 parameters each),
// replacing any row with the same key; the last of several rows with one key
// wins. Every row is checked and converted before anything is sent, and
// outside a tx the statements run in one tx of their own,
// so a failed call changes nothing. The table's version moves on in the
// same tx (see Connector.Versions). Rows too big for one statement (over
// the server's max_allowed_packet) fail the call with a *port.RejectedRows
// naming them, before anything is sent. A decimal(N) value with more places is
// rounded to N, as its text form prints it; a decimal value of any scale
// with more places than the table column keeps (10 in tables created here)
// is an error.
func (t *Table) Upsert(ctx context.Context, rows []schema.Row) error {
	if len(rows) == 0 {
		return nil
	}
	args, err := t.driverRows(rows)
	if err != nil {
		return err
	}
	if err := t.c.rejectOversize(args, len(t.schema.Columns)); err != nil {
		return t.errorf("upsert %d rows: %w", len(rows), err)
	}
	err = t.c.runTx(ctx, func(ctx context.Context, q querier) error {
		if err := t.c.touch(ctx, q, t.schema.Name); err != nil {
			return err
		}
		return t.insert.exec(ctx, t.c, q, args)
	})
	if err != nil {
		return t.errorf("upsert %d rows: %w", len(rows), err)
	}
	return nil
}

// driverRows checks rows against the schema and converts their values to
// statement parameters, one slice of len(rows)*columns values.
func (t *Table) driverRows(rows []schema.Row) ([]any, error) {
	n := len(t.schema.Columns)
	args := make([]any, 0, len(rows)*n)
	for ri, r := range rows {
		if len(r) != n {
			return nil, t.errorf("row %d has %d values, want %d (%s)", ri, len(r), n, strings.Join(t.schema.Names(), ", "))
		}
		for i, v := range r {
			dv, err := toDriver(t.schema.Columns[i].Type, t.places[i], v)
			if err != nil {
				return nil, t.errorf("row %d column %s: %w", ri, t.schema.Columns[i].Name, err)
			}
			args = append(args, dv)
		}
	}
	return args, nil
}

// Truncate removes every row: TRUNCATE TABLE, or DELETE FROM inside a
// tx (TRUNCATE would commit it). The table's version moves on in the tx;
// outside one, before and after TRUNCATE (which no tx can hold), so that a
// stream stage that read rows in between sees the change too.
func (t *Table) Truncate(ctx context.Context) error {
	if tx := t.c.txOf(ctx); tx != nil {
		if err := t.c.touch(ctx, tx, t.schema.Name); err != nil {
			return t.errorf("truncate: %w", markTransient(err))
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+quote(t.schema.Name)); err != nil {
			return t.errorf("truncate: %w", markTransient(err))
		}
		return nil
	}
	bump := func(ctx context.Context) error {
		return retry(ctx, retryBudget, func(ctx context.Context) error {
			return bumpVersions(ctx, t.c.db, []string{t.schema.Name})
		})
	}
	err := bump(ctx)
	if err == nil {
		err = retry(ctx, retryBudget, func(ctx context.Context) error {
			_, err := t.c.db.ExecContext(ctx, "TRUNCATE TABLE "+quote(t.schema.Name))
			return err
		})
	}
	if err == nil {
		err = bump(ctx)
	}
	if err != nil {
		return t.errorf("truncate: %w", err)
	}
	return nil
}

// querier runs statements: a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}
