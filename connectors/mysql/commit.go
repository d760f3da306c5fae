package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"pipeline/engine/port"
)

// OffsetsTable is the table, in the connector's database, that holds the
// committed next offset of each consumer group, topic and partition, and
// the ID of the topic it was taken on (port.Offset.TopicID). It is created
// on first use; a table made before topic IDs were kept is given the column.
const OffsetsTable = "_pipeline_offsets"

// offsetsColumns are the columns of the offsets table, after groupColumns.
const offsetsColumns = groupColumns + `
	part INT NOT NULL,
	next_offset BIGINT NOT NULL,
	updated_at DATETIME NOT NULL,
	topic_id VARCHAR(64) NULL,
	PRIMARY KEY (group_name, topic, part)`

// offsetsInsert upserts rows of the offsets table.
var offsetsInsert = newInsertSQL(OffsetsTable,
	[]string{"group_name", "topic", "part", "next_offset", "updated_at", "topic_id"},
	[]string{"group_name", "topic", "part"})

// addTopicIDSQL gives an offsets table made before topic IDs were kept its column.
const addTopicIDSQL = "ALTER TABLE `" + OffsetsTable + "` ADD COLUMN topic_id VARCHAR(64) NULL"

// ensureOffsets creates the offsets table once per connector, or adds its
// topic_id column to an older one.
func (c *Connector) ensureOffsets(ctx context.Context) error {
	if err := c.ensureOnce(ctx, &c.offsetsReady, OffsetsTable, offsetsColumns); err != nil {
		return err
	}
	c.mu.Lock()
	done := c.offsetIDsReady
	c.mu.Unlock()
	if done {
		return nil
	}
	err := retry(ctx, retryBudget, func(ctx context.Context) error {
		cols, err := readColumns(ctx, c.db, OffsetsTable)
		if err != nil {
			return err
		}
		for _, col := range cols {
			if strings.EqualFold(col.name, "topic_id") {
				return nil
			}
		}
		_, err = c.db.ExecContext(ctx, addTopicIDSQL)
		if mysqlErrNo(err) == errDupColumn { // added meanwhile by another process
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("add topic_id to %s: %w", OffsetsTable, err)
	}
	c.mu.Lock()
	c.offsetIDsReady = true
	c.mu.Unlock()
	return nil
}

// groupColumns are the first columns of the tables a consumer group's
// commits write (offsets, state): the group and the topic of a row.
const groupColumns = `
	group_name VARCHAR(255) NOT NULL,
	topic VARCHAR(255) NOT NULL,`

// ensureOnce creates the connector's own table name with columns (CREATE
// TABLE IF NOT EXISTS) unless *ready says it did; then it sets *ready
// (guarded by c.mu).
func (c *Connector) ensureOnce(ctx context.Context, ready *bool, name, columns string) error {
	create := "CREATE TABLE IF NOT EXISTS `" + name + "` (" + columns + "\n) " + tableOptions
	c.mu.Lock()
	done := *ready
	c.mu.Unlock()
	if done {
		return nil
	}
	err := retry(ctx, retryBudget, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, create)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	c.mu.Lock()
	*ready = true
	c.mu.Unlock()
	return nil
}

// Commit applies b in one tx: it locks the stored offsets of b's
// partitions (SELECT ... FOR UPDATE) and checks them as port.Committer
// requires (none stored or each equal to From: apply; each equal to Next:
// applied before, return nil without writing; otherwise an error wrapping
// port.ErrStale). It then takes a shared lock on the version rows of the
// tables b reads and writes, waiting for a batch stage's tx that changes
// one of them, and checks that every table of b.Reads is still at the
// version read (otherwise an error wrapping port.ErrConflict). Then it
// upserts the rows of every write into the table of that name opened with
// Table (only the write's Columns when it names some; inserts them when the
// write is marked Insert, failing with an error wrapping port.ErrExists
// when a key exists), inserts b.Outbox into the outbox table (OutboxTable),
// stores each partition's Next, and commits. The
// versions of the tables it writes stay as they are (see
// port.Committer.Versions).
// Any failure rolls back. Transient failures are retried with the whole
// batch, which the offset check makes safe. Inside a tx of ctx
// (see InTx) Commit joins it instead.
func (c *Connector) Commit(ctx context.Context, b port.Batch) error {
	if err := c.commit(ctx, b); err != nil {
		return fmt.Errorf("mysql commit of group %q on %s: %w", b.Group, c.where, err)
	}
	return nil
}

func (c *Connector) commit(ctx context.Context, b port.Batch) error {
	offs, err := sortedOffsets(b)
	if err != nil {
		return err
	}
	writes, touched, err := c.batchWrites(b)
	if err != nil {
		return err
	}
	if err := c.prepareCommit(ctx, b, len(offs) > 0, len(touched)+len(b.Reads) > 0); err != nil {
		return err
	}
	return c.runTx(ctx, func(ctx context.Context, q querier) error {
		apply, err := checkOffsets(ctx, q, b.Group, offs, c.where)
		if err != nil || !apply {
			return err
		}
		// After the offsets (which a batch stage never locks), so that a
		// commit waiting here for a batch stage holds nothing it needs.
		if err := lockVersions(ctx, q, touched, b.Reads); err != nil {
			return err
		}
		for _, w := range writes {
			if err := w.exec(ctx, c, q); err != nil {
				return err
			}
		}
		if err := writeState(ctx, c, q, b.Group, b.State); err != nil {
			return err
		}
		if err := writeOutbox(ctx, c, q, b.Outbox); err != nil {
			return err
		}
		return storeOffsets(ctx, c, q, b.Group, offs)
	})
}

// sortedOffsets returns the batch's offsets in a fixed locking order,
// which keeps concurrent commits of overlapping partitions from
// deadlocking, refusing a partition listed twice.
func sortedOffsets(b port.Batch) ([]port.Offset, error) {
	if len(b.Offsets) > 0 && b.Group == "" {
		return nil, fmt.Errorf("batch has offsets but no consumer group")
	}
	offs := slices.Clone(b.Offsets)
	slices.SortFunc(offs, func(x, y port.Offset) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		return int(x.Partition) - int(y.Partition)
	})
	for i := 1; i < len(offs); i++ {
		if offs[i].Topic == offs[i-1].Topic && offs[i].Partition == offs[i-1].Partition {
			return nil, fmt.Errorf("batch lists topic %s partition %d twice", offs[i].Topic, offs[i].Partition)
		}
	}
	return offs, nil
}

// write is one table's rows of a batch, as Commit writes them.
type write struct {
	t      *Table
	args   []any
	insert bool
	upsert insertSQL
}

// exec inserts or upserts the write's rows in q.
func (w write) exec(ctx context.Context, c *Connector, q querier) error {
	if w.insert {
		err := w.t.plain.exec(ctx, c, q, w.args)
		if mysqlErrNo(err) == errDupKey {
			return fmt.Errorf("table %s: insert: %w: %w", w.t.schema.Name, port.ErrExists, err)
		}
		if err != nil {
			return fmt.Errorf("table %s: insert: %w", w.t.schema.Name, err)
		}
		return nil
	}
	if err := w.upsert.exec(ctx, c, q, w.args); err != nil {
		return fmt.Errorf("table %s: upsert: %w", w.t.schema.Name, err)
	}
	return nil
}

// batchWrites returns the batch's writes with their statements and rows,
// and the tables they write (whose version rows the commit locks), after
// checking that every table it writes or reads was opened with Table.
func (c *Connector) batchWrites(b port.Batch) ([]write, []string, error) {
	writes := make([]write, 0, len(b.Writes))
	var touched []string
	for _, w := range b.Writes {
		t, ok := c.lookup(w.Table)
		if !ok {
			return nil, nil, fmt.Errorf("write to table %q, which was not opened with Table (open: %s)", w.Table, c.openTables())
		}
		if len(w.Rows) == 0 {
			continue
		}
		args, err := t.driverRows(w.Rows)
		if err != nil {
			return nil, nil, err
		}
		wr := write{t: t, args: args, insert: w.Insert, upsert: t.insert}
		if len(w.Columns) > 0 {
			if wr.upsert, err = t.upsertColumns(w.Columns); err != nil {
				return nil, nil, err
			}
		}
		writes = append(writes, wr)
		touched = append(touched, w.Table)
	}
	for _, r := range b.Reads {
		if _, ok := c.lookup(r.Table); !ok {
			return nil, nil, fmt.Errorf("read of table %q, which was not opened with Table (open: %s)", r.Table, c.openTables())
		}
	}
	return writes, touched, nil
}

// prepareCommit checks the batch's state and outbox and creates the
// connector's own tables the commit writes: offsets (when it has some),
// state, outbox, versions (when it writes or reads tables).
func (c *Connector) prepareCommit(ctx context.Context, b port.Batch, offsets, versions bool) error {
	if offsets {
		if err := c.ensureOffsets(ctx); err != nil {
			return err
		}
	}
	if len(b.State) > 0 {
		if b.Group == "" {
			return fmt.Errorf("batch has state but no consumer group")
		}
		for _, e := range b.State {
			if len(e.Key) > port.MaxStateKey || e.Key == "" {
				return fmt.Errorf("state key %q: want 1 to %d bytes", e.Key, port.MaxStateKey)
			}
		}
		if err := c.ensureState(ctx); err != nil {
			return err
		}
	}
	if len(b.Outbox) > 0 {
		if err := checkOutbox(b.Outbox); err != nil {
			return err
		}
		if err := c.ensureOutbox(ctx); err != nil {
			return err
		}
	}
	if versions {
		return c.ensureVersions(ctx)
	}
	return nil
}

// storeOffsets stores the next offset of each partition of offs for group.
func storeOffsets(ctx context.Context, c *Connector, q querier, group string, offs []port.Offset) error {
	if len(offs) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Second)
	args := make([]any, 0, len(offs)*6)
	for _, o := range offs {
		var id any
		if o.TopicID != "" {
			id = o.TopicID
		}
		args = append(args, group, o.Topic, o.Partition, o.Next, now, id)
	}
	if err := offsetsInsert.exec(ctx, c, q, args); err != nil {
		return fmt.Errorf("store offsets: %w", err)
	}
	return nil
}

// checkOffsets locks and reads the stored next offsets of offs (sorted, of
// group) and reports whether the batch is to be applied: false with a nil
// error when it was applied before, an error wrapping port.ErrStale when
// another consumer moved a partition on, and one wrapping
// port.ErrOtherTopic when a partition's offset was stored with another
// topic ID than the batch's. where names the database, for messages.
func checkOffsets(ctx context.Context, q querier, group string, offs []port.Offset, where string) (apply bool, err error) {
	if len(offs) == 0 {
		return true, nil
	}
	var cond strings.Builder
	args := make([]any, 0, 1+2*len(offs))
	args = append(args, group)
	for i, o := range offs {
		if i > 0 {
			cond.WriteString(" OR ")
		}
		cond.WriteString("(topic = ? AND part = ?)")
		args = append(args, o.Topic, o.Partition)
	}
	rows, err := q.QueryContext(ctx, "SELECT topic, part, next_offset, COALESCE(topic_id, '') FROM `"+OffsetsTable+
		"` WHERE group_name = ? AND ("+cond.String()+") ORDER BY topic, part FOR UPDATE", args...)
	if err != nil {
		return false, fmt.Errorf("read offsets: %w", err)
	}
	type tp struct {
		topic string
		part  int32
	}
	stored := make(map[tp]int64, len(offs))
	ids := make(map[tp]string, len(offs))
	for rows.Next() {
		var k tp
		var next int64
		var id string
		if err := rows.Scan(&k.topic, &k.part, &next, &id); err != nil {
			rows.Close()
			return false, fmt.Errorf("read offsets: %w", err)
		}
		stored[k], ids[k] = next, id
	}
	if err := rows.Close(); err != nil {
		return false, fmt.Errorf("read offsets: %w", err)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read offsets: %w", err)
	}
	for _, o := range offs {
		if id := ids[tp{o.Topic, o.Partition}]; id != "" && o.TopicID != "" && id != o.TopicID {
			return false, &OtherTopicError{Database: where, Group: group, Topic: o.Topic, Stored: id, Now: o.TopicID}
		}
	}
	return port.ApplyOffsets(offs, func(o port.Offset) (int64, bool) {
		s, ok := stored[tp{o.Topic, o.Partition}]
		return s, ok
	})
}

// Offsets returns the committed next offsets of group for topic, by partition.
func (c *Connector) Offsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	if err := c.ensureOffsets(ctx); err != nil {
		return nil, fmt.Errorf("mysql offsets of group %q on %s: %w", group, c.where, err)
	}
	out, err := readMap(ctx, c, "SELECT part, next_offset FROM `"+OffsetsTable+"` WHERE group_name = ? AND topic = ?", []any{group, topic},
		func(rows *sql.Rows) (p int32, n int64, err error) {
			err = rows.Scan(&p, &n)
			return p, n, err
		})
	if err != nil {
		return nil, fmt.Errorf("mysql offsets of group %q topic %s on %s: %w", group, topic, c.where, err)
	}
	return out, nil
}

// StoredOffsets returns the committed next offsets of group for topic, by
// partition, with the ID of the topic each was taken on ("" for offsets
// stored before IDs were kept). It implements port.OffsetOrigins.
func (c *Connector) StoredOffsets(ctx context.Context, group, topic string) (map[int32]port.StoredOffset, error) {
	if err := c.ensureOffsets(ctx); err != nil {
		return nil, fmt.Errorf("mysql offsets of group %q on %s: %w", group, c.where, err)
	}
	out, err := readMap(ctx, c, "SELECT part, next_offset, COALESCE(topic_id, '') FROM `"+OffsetsTable+"` WHERE group_name = ? AND topic = ?", []any{group, topic},
		func(rows *sql.Rows) (p int32, o port.StoredOffset, err error) {
			err = rows.Scan(&p, &o.Next, &o.TopicID)
			return p, o, err
		})
	if err != nil {
		return nil, fmt.Errorf("mysql offsets of group %q topic %s on %s: %w", group, topic, c.where, err)
	}
	return out, nil
}

var _ port.OffsetOrigins = (*Connector)(nil)

// OtherTopicError is a commit refused because the partition's offset was
// stored with another topic ID than the batch's. It wraps port.ErrOtherTopic.
type OtherTopicError struct {
	Database, Group, Topic string
	Stored, Now            string // the topic IDs
}

// Error says what was stored and what the batch carries.
func (e *OtherTopicError) Error() string {
	return fmt.Sprintf("the offsets of group %q for topic %s in %s were taken on the topic with ID %s, but the batch comes from the topic with ID %s", e.Group, e.Topic, e.Database, e.Stored, e.Now)
}

// Unwrap returns port.ErrOtherTopic.
func (e *OtherTopicError) Unwrap() error { return port.ErrOtherTopic }

// ResetOffsets forgets every group's committed offsets and state for
// topic, and the outbox records of the stages that consumed it, in one tx.
// It implements port.Committer.
func (c *Connector) ResetOffsets(ctx context.Context, topic string) error {
	if err := c.ensureOffsets(ctx); err != nil {
		return fmt.Errorf("mysql offsets of topic %s on %s: %w", topic, c.where, err)
	}
	if err := c.ensureState(ctx); err != nil {
		return fmt.Errorf("mysql state of topic %s on %s: %w", topic, c.where, err)
	}
	err := c.runTx(ctx, func(ctx context.Context, q querier) error {
		if _, err := q.ExecContext(ctx, "DELETE FROM `"+OffsetsTable+"` WHERE topic = ?", topic); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM `"+StateTable+"` WHERE topic = ?", topic); err != nil {
			return err
		}
		return resetOutbox(ctx, q, topic)
	})
	if err != nil {
		return fmt.Errorf("mysql reset offsets of topic %s on %s: %w", topic, c.where, err)
	}
	return nil
}

// openTables lists the names of the tables opened with Table, for messages.
func (c *Connector) openTables() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.tables))
	for n := range c.tables {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
