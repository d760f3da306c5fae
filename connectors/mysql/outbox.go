package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"pipeline/engine/port"
)

// OutboxTable is the table, in the connector's database, that holds the
// records stream stages send to topics until their relay has published
// them (port.Outbox): written in the same commits as the decisions and
// offsets, emptied by the relay. It is created on first use.
const OutboxTable = "_pipeline_outbox"

// outboxColumns are the columns of the outbox table.
const outboxColumns = `
	id BIGINT NOT NULL AUTO_INCREMENT,
	group_name VARCHAR(255) NOT NULL,
	source_topic VARCHAR(255) NOT NULL,
	topic VARCHAR(255) NOT NULL,
	record_key VARCHAR(1024) NOT NULL,
	record MEDIUMTEXT NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id),
	KEY by_group (group_name, id),
	KEY by_source (source_topic)`

// outboxInsert inserts rows of the outbox table (the id is the table's).
var outboxInsert = newPlainInsertSQL(OutboxTable, []string{"group_name", "source_topic", "topic", "record_key", "record", "created_at"})

// Compile-time check that Connector keeps an outbox.
var _ port.Outbox = (*Connector)(nil)

// ensureOutbox creates the outbox table once per connector.
func (c *Connector) ensureOutbox(ctx context.Context) error {
	return c.ensureOnce(ctx, &c.outboxReady, OutboxTable, outboxColumns)
}

// writeOutbox inserts entries in q's tx, in their order: one statement per
// chunk of rows, never one per entry.
func writeOutbox(ctx context.Context, c *Connector, q querier, entries []port.OutboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	args := make([]any, 0, 6*len(entries))
	for _, e := range entries {
		args = append(args, e.Group, e.From, e.Topic, e.Key, e.Value, now)
	}
	if err := outboxInsert.exec(ctx, c, q, args); err != nil {
		return fmt.Errorf("store %d outbox records: %w", len(entries), err)
	}
	return nil
}

// checkOutbox checks entries before a tx stores them.
func checkOutbox(entries []port.OutboxEntry) error {
	for _, e := range entries {
		if e.Group == "" || e.Topic == "" {
			return fmt.Errorf("outbox record for topic %q of group %q: want both", e.Topic, e.Group)
		}
		if len(e.Key) > 1024 {
			return fmt.Errorf("outbox record for topic %s: key of %d bytes, at most 1024", e.Topic, len(e.Key))
		}
	}
	return nil
}

// AddOutbox stores entries outside a Commit, in a tx of their own (or
// the tx of ctx).
func (c *Connector) AddOutbox(ctx context.Context, entries []port.OutboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := checkOutbox(entries); err != nil {
		return fmt.Errorf("mysql outbox on %s: %w", c.where, err)
	}
	if err := c.ensureOutbox(ctx); err != nil {
		return fmt.Errorf("mysql outbox on %s: %w", c.where, err)
	}
	if err := c.runTx(ctx, func(ctx context.Context, q querier) error { return writeOutbox(ctx, c, q, entries) }); err != nil {
		return fmt.Errorf("mysql outbox on %s: %w", c.where, err)
	}
	return nil
}

// Relay implements port.Outbox: in one READ COMMITTED tx it locks the
// oldest limit entries of group that no other tx holds (FOR UPDATE SKIP
// LOCKED: neither another relay's entries nor those of commits still in
// flight), hands them to publish, deletes them and commits. A crash, or a
// failed commit, leaves them in the table for the next relay: published
// again, under the same keys.
func (c *Connector) Relay(ctx context.Context, group string, limit int, publish func(context.Context, []port.OutboxEntry) error) (int, error) {
	if err := c.ensureOutbox(ctx); err != nil {
		return 0, fmt.Errorf("mysql outbox on %s: %w", c.where, err)
	}
	n := 0
	err := c.inNewTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, false, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, "SELECT id, source_topic, topic, record_key, record FROM `"+OutboxTable+
			"` WHERE group_name = ? ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED", group, limit)
		if err != nil {
			return markTransient(fmt.Errorf("read: %w", err))
		}
		var entries []port.OutboxEntry
		for rows.Next() {
			e := port.OutboxEntry{Group: group}
			if err := rows.Scan(&e.ID, &e.From, &e.Topic, &e.Key, &e.Value); err != nil {
				rows.Close()
				return markTransient(fmt.Errorf("read: %w", err))
			}
			entries = append(entries, e)
		}
		if err := rows.Close(); err != nil {
			return markTransient(fmt.Errorf("read: %w", err))
		}
		if err := rows.Err(); err != nil {
			return markTransient(fmt.Errorf("read: %w", err))
		}
		if len(entries) == 0 {
			return nil
		}
		if err := publish(ctx, entries); err != nil {
			return err // not retried here: the entries stay, and the relay says why
		}
		args := make([]any, len(entries))
		for i, e := range entries {
			args[i] = e.ID
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM `"+OutboxTable+"` WHERE id IN ("+placeholders(len(args))+")", args...); err != nil {
			return markTransient(fmt.Errorf("delete the %d records published: %w", len(args), err))
		}
		n = len(entries)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mysql outbox of group %q on %s: %w", group, c.where, err)
	}
	return n, nil
}

// resetOutbox deletes the outbox entries of stages that consumed topic, in
// q's tx. A database without an outbox table (no spec had a topic sink)
// has none to delete.
func resetOutbox(ctx context.Context, q querier, topic string) error {
	_, err := q.ExecContext(ctx, "DELETE FROM `"+OutboxTable+"` WHERE source_topic = ?", topic)
	if mysqlErrNo(err) == errNoSuchTable {
		return nil
	}
	if err != nil {
		return fmt.Errorf("forget the outbox records of %s: %w", topic, err)
	}
	return nil
}
