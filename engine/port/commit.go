package port

import (
	"context"
	"errors"

	"pipeline/engine/schema"
)

// Offset is the range of offsets a batch consumed in one partition of a
// topic: From is the offset of its first record, Next the offset after its last.
type Offset struct {
	Topic     string
	Partition int32
	From      int64
	Next      int64
}

// ErrStale is returned by Committer.Commit when the stored offset of a
// partition is neither the batch's From (apply) nor its Next (already
// applied): another consumer has moved the partition on, and the batch
// must not be applied.
var ErrStale = errors.New("stale batch: the partition's committed offset has moved on " +
	"(another consumer owns it, or the topic was recreated: run the spec's reset stage to start over)")

// ErrExists is returned by Committer.Commit when a write marked Insert
// meets a row whose key the table holds already; nothing of the batch is
// applied.
var ErrExists = errors.New("a row with that key exists already")

// TableWrite is a set of rows to upsert into one table.
type TableWrite struct {
	Table string // table name (the schema's name)
	Rows  []schema.Row
	// Insert says that no row of the table has any of the rows' keys: they
	// are inserted, not upserted, and Commit fails with ErrExists, writing
	// nothing, when one has. A stream stage marks its output so when it has
	// not checked for records decided before, to let the commit check.
	Insert bool
}

// Batch is everything one micro-batch of a stream stage changes: rows to
// upsert into tables, and the consumer group's next offsets.
type Batch struct {
	Group   string
	Writes  []TableWrite
	Offsets []Offset
}

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
	// ResetOffsets forgets every group's committed offsets for topic, so
	// that consumers start again from the beginning of what it holds.
	ResetOffsets(ctx context.Context, topic string) error
}

// Transactor is implemented by table connectors that can make several
// operations atomic. InTx runs fn with a context that carries one
// database tx: every table operation of this connector made with that
// context joins it. It commits when fn returns nil and rolls back otherwise.
type Transactor interface {
	Tables
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
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
