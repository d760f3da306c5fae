package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"pipeline/engine/port"
)

// VersionsTable is the table, in the connector's database, that holds the
// version of every table opened here: a counter each write moves on in the
// write's own tx, except the writes of Commit (see
// port.Committer.Versions and docs/ARCHITECTURE.md, "State and concurrency").
// It is created on first use.
const VersionsTable = "_pipeline_versions"

// versionsColumns are the columns of the versions table.
const versionsColumns = `
	table_name VARCHAR(64) NOT NULL,
	version BIGINT NOT NULL,
	PRIMARY KEY (table_name)`

// ensureVersions creates the versions table once per connector.
func (c *Connector) ensureVersions(ctx context.Context) error {
	return c.ensureOnce(ctx, &c.versionsReady, VersionsTable, versionsColumns)
}

// ensureVersionRow gives table a row in the versions table when it has none,
// so that locking reads of it always find the row (and lock it, not a gap).
func (c *Connector) ensureVersionRow(ctx context.Context, table string) error {
	if err := c.ensureVersions(ctx); err != nil {
		return err
	}
	return retry(ctx, retryBudget, func(ctx context.Context) error {
		// A plain read first: INSERT IGNORE of a row that exists waits for
		// a tx holding it (a batch stage opening a table inside its tx).
		var one int
		err := c.db.QueryRowContext(ctx, "SELECT 1 FROM `"+VersionsTable+"` WHERE table_name = ?", table).Scan(&one)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = c.db.ExecContext(ctx, "INSERT IGNORE INTO `"+VersionsTable+"` (table_name, version) VALUES (?, 0)", table)
		return err
	})
}

// bumpVersions moves the versions of tables on, in q's tx, in name order (a
// fixed locking order). It holds an exclusive lock on their rows until the
// tx ends: stream commits that read those tables wait for it (lockVersions).
func bumpVersions(ctx context.Context, q querier, tables []string) error {
	if len(tables) == 0 {
		return nil
	}
	names := slices.Clone(tables)
	slices.Sort(names)
	names = slices.Compact(names)
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows := strings.TrimSuffix(strings.Repeat("(?, 1),", len(names)), ",")
	_, err := q.ExecContext(ctx, "INSERT INTO `"+VersionsTable+"` (table_name, version) VALUES "+rows+
		" ON DUPLICATE KEY UPDATE version = version + 1", args...)
	if err != nil {
		return fmt.Errorf("move the version of %s on: %w", strings.Join(names, ", "), err)
	}
	return nil
}

// touch moves the version of table on in the tx of ctx, once per tx, or
// else in q (a tx of the caller's own): every write of a Table calls it
// before writing.
func (c *Connector) touch(ctx context.Context, q querier, table string) error {
	if st := c.txStateOf(ctx); st != nil {
		if st.touched[table] {
			return nil
		}
		if err := bumpVersions(ctx, st.tx, []string{table}); err != nil {
			return err
		}
		st.touched[table] = true
		return nil
	}
	return bumpVersions(ctx, q, []string{table})
}

// Versions returns the version of each of tables (0 for a table never
// written here). It implements port.Committer.
func (c *Connector) Versions(ctx context.Context, tables []string) (map[string]int64, error) {
	if err := c.ensureVersions(ctx); err != nil {
		return nil, fmt.Errorf("mysql versions on %s: %w", c.where, err)
	}
	out := make(map[string]int64, len(tables))
	if len(tables) == 0 {
		return out, nil
	}
	args := make([]any, len(tables))
	for i, t := range tables {
		args[i] = t
	}
	stored, err := readMap(ctx, c, "SELECT table_name, version FROM `"+VersionsTable+"` WHERE table_name IN ("+placeholders(len(args))+")", args,
		func(rows *sql.Rows) (name string, v int64, err error) {
			err = rows.Scan(&name, &v)
			return name, v, err
		})
	if err != nil {
		return nil, fmt.Errorf("mysql versions of %s on %s: %w", strings.Join(tables, ", "), c.where, err)
	}
	for _, t := range tables {
		out[t] = stored[t] // 0 when never written
	}
	return out, nil
}

// lockVersions takes a shared lock on the version rows of tables (a batch
// stage's tx moving one on holds an exclusive lock: the commit waits for it
// to end) and checks that each table of reads is still at the version read.
// A table that moved on gives an error wrapping port.ErrConflict.
func lockVersions(ctx context.Context, q querier, tables []string, reads []port.TableRead) error {
	names := slices.Clone(tables)
	for _, r := range reads {
		names = append(names, r.Table)
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := q.QueryContext(ctx, "SELECT table_name, version FROM `"+VersionsTable+"` WHERE table_name IN ("+
		placeholders(len(args))+") ORDER BY table_name LOCK IN SHARE MODE", args...)
	if err != nil {
		return fmt.Errorf("read table versions: %w", err)
	}
	now := make(map[string]int64, len(names))
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			rows.Close()
			return fmt.Errorf("read table versions: %w", err)
		}
		now[name] = v
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read table versions: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read table versions: %w", err)
	}
	var moved []string
	for _, r := range reads {
		if v := now[r.Table]; v != r.Version {
			moved = append(moved, fmt.Sprintf("table %s is at version %d, the batch read it at %d", r.Table, v, r.Version))
		}
	}
	if len(moved) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(moved, "; "), port.ErrConflict)
	}
	return nil
}
