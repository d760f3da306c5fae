package port

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"pipeline/engine/schema"
)

// Offset is the range of offsets a batch consumed in one partition of a
// topic: From is the offset of its first record, Next the offset after its last.
type Offset struct {
	Topic     string
	Partition int32
	From      int64
	Next      int64
	// TopicID identifies the topic the batch was consumed from
	// (TopicInfo.ID), "" when unknown. A store that records it
	// (OffsetOrigins) refuses a batch of another topic of the same name.
	TopicID string
}

// StoredOffset is a committed next offset and the ID of the topic it was
// taken on ("" when none was recorded).
type StoredOffset struct {
	Next    int64
	TopicID string
}

// OffsetOrigins is implemented by Committers that store, beside each
// committed offset, the ID of the topic it was taken on (Offset.TopicID),
// so that offsets and a topic that do not belong together are told apart
// (a broker's data from another run, a topic deleted and created again).
type OffsetOrigins interface {
	// StoredOffsets returns the committed next offsets of group for topic,
	// by partition, with the topic ID each was taken on. A Commit whose
	// Offsets carry a TopicID other than the one stored for a partition
	// fails with an error wrapping ErrOtherTopic, writing nothing.
	StoredOffsets(ctx context.Context, group, topic string) (map[int32]StoredOffset, error)
}

// ErrOtherTopic says that stored offsets were taken on another topic than
// the one at hand: another of the same name (on another broker, or the
// topic deleted and created again since), or one that ends before them.
var ErrOtherTopic = errors.New("the stored offsets were taken on another topic of that name")

// ErrStale is returned by Committer.Commit when the stored offset of a
// partition is neither the batch's From (apply) nor its Next (already
// applied): another consumer has moved the partition on, and the batch
// must not be applied.
var ErrStale = errors.New("stale batch: the partition's committed offset has moved on " +
	"(another consumer owns it, or the topic was recreated: run the spec's reset stage to start over)")

// ApplyOffsets decides, as Committer.Commit must, whether a batch covering
// offs is to be applied, given the next offset stored for each of its
// partitions (ok false: none stored): true when every partition is at the
// batch's From or has none; false with a nil error when every one is at its
// Next (applied before); else an error wrapping ErrStale that says where
// each partition is.
func ApplyOffsets(offs []Offset, stored func(o Offset) (next int64, ok bool)) (bool, error) {
	atFrom, atNext := true, true
	for _, o := range offs {
		s, ok := stored(o)
		atFrom = atFrom && (!ok || s == o.From)
		atNext = atNext && ok && s == o.Next
	}
	switch {
	case len(offs) == 0:
		return true, nil
	case atNext:
		return false, nil
	case atFrom:
		return true, nil
	}
	var moved []string
	for _, o := range offs {
		if s, ok := stored(o); ok && s != o.From && s != o.Next {
			moved = append(moved, fmt.Sprintf("topic %s partition %d is at %d, batch covers %d..%d", o.Topic, o.Partition, s, o.From, o.Next))
		}
	}
	if len(moved) == 0 {
		moved = append(moved, "some partitions are at the batch's start and others at its end")
	}
	return false, fmt.Errorf("%s: %w", strings.Join(moved, "; "), ErrStale)
}

// ErrExists is returned by Committer.Commit when a write marked Insert
// meets a row whose key the table holds already; nothing of the batch is
// applied.
var ErrExists = errors.New("a row with that key exists already")

// ErrConflict is returned by Committer.Commit when a table the batch's
// decisions read has changed since they read it (its version moved on, see
// Committer.Versions): nothing of the batch is applied, and the stage is to
// read the table again and decide the batch again.
var ErrConflict = errors.New("a table the batch read was changed by another writer since")

// TableWrite is a set of rows to upsert into one table.
type TableWrite struct {
	Table string // table name (the schema's name)
	Rows  []schema.Row
	// Columns, when set, limits the write to these columns of rows that
	// exist already: the other columns keep what the table holds, whatever
	// the rows say (they belong to other writers). The rows still hold every
	// column of the schema. A stream stage writes its saved state so.
	Columns []string
	// Insert says that no row of the table has any of the rows' keys: they
	// are inserted, not upserted, and Commit fails with ErrExists, writing
	// nothing, when one has. A stream stage marks its output so when it has
	// not checked for records decided before, to let the commit check.
	Insert bool
}

// TableRead names a table whose rows a batch's decisions read, and the
// table's version (Committer.Versions) from before they were read.
type TableRead struct {
	Table   string
	Version int64
}

// Batch is everything one micro-batch of a stream stage changes: rows to
// upsert into tables, and the consumer group's next offsets.
type Batch struct {
	Group   string
	Writes  []TableWrite
	Offsets []Offset
	// Reads are the tables the decisions read, with their versions then:
	// Commit applies the batch only if every one is still at that version.
	Reads []TableRead
	// State is keyed state of the group's stage (window state) that the
	// batch changed, stored beside the group's offsets.
	State []StateEntry
	// Outbox are records for topics, stored in the same commit for a relay
	// to publish (see Outbox); a Committer that is no Outbox refuses them.
	Outbox []OutboxEntry
}

// StateEntry is one piece of a stream stage's keyed state: its value, as
// text, under a key, for a consumer group and a topic.
type StateEntry struct {
	Topic string
	Key   string // at most MaxStateKey bytes
	Value string
}

// MaxStateKey is the longest key a StateEntry may have.
const MaxStateKey = 255

// Committer is implemented by table connectors that can apply a Batch
// atomically: every write and the offsets in one commit. A stream
// stage whose output lives in a Committer is effectively-once: on start and
// on every partition assignment it resumes from the committed offsets, so a
// batch is applied entirely or not at all, and never twice.
type Committer interface {
	Tables
	// Commit applies b atomically. For each partition it first
	// reads the stored next offset: equal to From (or none stored), the
	// batch is applied and Next stored; equal to Next, the batch was applied
	// before (a retry after an unknown outcome) and Commit returns nil
	// without writing; anything else returns ErrStale. So a batch is safe to
	// retry whole, and is never applied twice.
	Commit(ctx context.Context, b Batch) error
	// Offsets returns the committed next offsets of group for topic, by partition.
	Offsets(ctx context.Context, group, topic string) (map[int32]int64, error)
	// State returns the stored values of keys of group's state for topic
	// (Batch.State), absent for keys with none.
	State(ctx context.Context, group, topic string, keys []string) (map[string]string, error)
	// ResetOffsets forgets every group's committed offsets and state for
	// topic, so that consumers start again from the beginning of what it
	// holds, as if they had never read it.
	ResetOffsets(ctx context.Context, topic string) error
	// Versions returns the version of each named table: a number that
	// every write to the table moves on, in the tx of the write,
	// except the writes of Commit (a stream stage's own decisions and the
	// state it owns, which no other stream stage reads: they are
	// partitioned by key). A stream stage reads the versions of its lookup
	// tables before it reads their rows, and names them in Batch.Reads: a
	// commit then fails with ErrConflict when another stage (a batch
	// stage, a load) changed a table in between. See docs/ARCHITECTURE.md.
	Versions(ctx context.Context, tables []string) (map[string]int64, error)
}

// Transactor is implemented by table connectors that can make several
// operations atomic and isolated from other writers.
type Transactor interface {
	Tables
	// InTx runs fn with a context that carries one serializable database
	// tx: every table operation of this connector made with that context
	// joins it, and every read in it locks what it read until the tx ends.
	// writes names the tables fn may change: their versions (see
	// Committer.Versions) move on first thing in the tx, which also keeps
	// stream stages from committing decisions that read them until it ends.
	// InTx commits when fn returns nil and rolls back otherwise; it may run
	// fn again after a deadlock, so fn must be safe to repeat.
	InTx(ctx context.Context, writes []string, fn func(ctx context.Context) error) error
}

// Locker is implemented by connectors that can keep two runs of the same
// work apart, across processes: a batch stage takes the lock named after
// it, so that two runs of it (a schedule firing twice, two operators) never
// overlap.
type Locker interface {
	// Lock takes the lock called name, waiting while another session holds
	// it; waiting, when set, is called once if it has to wait, with what
	// is known of the holder. The lock is released by calling release, or
	// when the process ends.
	Lock(ctx context.Context, name string, waiting func(holder string)) (release func(), err error)
}

// ColumnValue names a column and a value of its type.
type ColumnValue struct {
	Column string
	Value  any
}

// Updater is implemented by tables that can change rows set-based, where
// they are, without reading them out: what a database does with one UPDATE.
type Updater interface {
	// UpdateWhere sets the columns of set in every row whose column
	// where.Column equals where.Value, and returns how many rows matched.
	UpdateWhere(ctx context.Context, set []ColumnValue, where ColumnValue) (int64, error)
}

// Fold is one value an Aggregator computes per group: Func is sum, min,
// max or count; Column is the folded column (empty for count).
type Fold struct {
	Func   string
	Column string
}

// Aggregator is implemented by tables that can group and fold their rows
// where they are: what a database does with one SELECT ... GROUP BY.
type Aggregator interface {
	// Aggregate groups the rows whose column where.Column equals
	// where.Value (every row when where.Column is "") by the column by, and
	// returns for each group key one value per fold: a decimal.Decimal for
	// sum, min and max (null when the group holds only nulls), an int for count.
	Aggregate(ctx context.Context, by string, where ColumnValue, folds []Fold) (map[any][]any, error)
}
