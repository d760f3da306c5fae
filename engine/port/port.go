package port

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"pipeline/engine/schema"
)

// Source says where a record came from: a file and line, a topic,
// partition and offset, or a table row and its key. The zero Source is
// "unknown".
type Source struct {
	File      string
	Line      int
	Topic     string
	Partition int32
	Offset    int64
	Table     string
	Key       string
}

// String formats the source as file:line, topic/partition/offset or table[key].
func (s Source) String() string {
	switch {
	case s.File != "":
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	case s.Topic != "":
		return fmt.Sprintf("%s/%d/%d", s.Topic, s.Partition, s.Offset)
	case s.Table != "":
		return fmt.Sprintf("%s[%s]", s.Table, s.Key)
	}
	return "unknown"
}

// Table is a keyed set of rows of one schema.
type Table interface {
	// Schema returns the table's schema; its key column is the table's key.
	Schema() *schema.Schema
	// Get looks up rows by key. The result has one entry per key, nil where
	// no row has that key. Implementations serve the whole slice in as few
	// round trips as they can.
	Get(ctx context.Context, keys []any) ([]schema.Row, error)
	// Scan calls fn for every row in key order. fn must not keep the row
	// past the call unless it clones it.
	Scan(ctx context.Context, fn func(schema.Row) error) error
	// Upsert inserts rows, replacing any row with the same key.
	Upsert(ctx context.Context, rows []schema.Row) error
	// Truncate removes every row.
	Truncate(ctx context.Context) error
}

// Message is one record read from a topic. Row is nil when the payload
// could not be decoded; Err then says why and Payload holds the raw bytes.
// Key is the record's key as the topic holds it, nil when it has none:
// what Topic.Publish gives a record is the text of the publishing topic
// spec's key column (schema.Type.Append), none when the spec has no key
// column or the row's key is null. A handler must not change it.
type Message struct {
	Source  Source
	Row     schema.Row
	Payload []byte
	Key     []byte
	Err     error
}

// ConsumeOptions tune Topic.Consume.
type ConsumeOptions struct {
	Group     string // consumer group; "" consumes alone from the start
	BatchSize int    // most messages handed to one call of the handler; 0 means 1000
	Follow    bool   // keep waiting for new records instead of returning when drained
	// Positions, when set, gives the offsets to start from for partitions
	// this consumer is assigned (on start and on every rebalance), from a
	// store the handler commits to (see Committer). Partitions it returns no
	// offset for start at the beginning. When Positions is set the topic
	// commits nothing itself: the store is the source of truth.
	Positions func(ctx context.Context, partitions []int32) (map[int32]int64, error)
	// Committed, when set, reads the next offsets the store holds as
	// committed for partitions (none for a partition with nothing
	// committed; entries for other partitions are ignored), and has no
	// side effects. Without Follow, a topic whose consumers share
	// partitions in a group uses it to learn whether the partitions other
	// members own are decided, so that Consume returns only once the whole
	// topic is. Unlike Positions, which a stream stage also uses to finish
	// its writes and refresh its cache when it is given partitions,
	// Committed may be called at any time, for partitions this consumer
	// does not own. Without it such a topic reads the offsets committed to
	// the group in the topic itself, which it has only when Positions is
	// not set.
	Committed func(ctx context.Context, partitions []int32) (map[int32]int64, error)
	// Flush, when set, finishes what the handler left in flight: a handler
	// may return before its batch's writes (and offsets, with Positions)
	// are committed, and Flush waits for them and reports how that went.
	// Topics that implement Flusher call it before this consumer gives
	// partitions up (a rebalance, a lost session), before Consume returns
	// and, without Follow, before waiting for other consumers to decide
	// their partitions; an error of Flush ends Consume. Others ignore it,
	// so a handler may leave writes in flight only on a Flusher.
	Flush func(ctx context.Context) error
	// Reuse promises that the handler keeps no batch slice past its call
	// (it may keep the rows and sources it holds, not their keys), so a
	// topic may hand out the same slice, refilled, batch after batch
	// instead of a new one, and its keys in a reused buffer.
	Reuse bool
	// Assigned, when set, is called with every partition this consumer
	// owns, in ascending order, whenever that set changes: at start and
	// at every assignment, revocation or loss in a group (none, during a
	// rebalance or with more members than partitions). It must be quick
	// and safe for concurrent use. Metrics and readiness read it
	// (docs/ARCHITECTURE.md, Observability).
	Assigned func(partitions []int32)
}

// Watermark is where a partition of a topic stands: Low is the offset of
// its first record, High the offset its next record will get (its end).
// Consumer lag is High minus the consumer's position.
type Watermark struct{ Low, High int64 }

// Watermarks gives the bounds of info's partitions as watermarks.
func (info TopicInfo) Watermarks() map[int32]Watermark {
	out := make(map[int32]Watermark, len(info.End))
	for p, end := range info.End {
		out[p] = Watermark{Low: info.Start[p], High: end}
	}
	return out
}

// Pinger is implemented by connectors that can check, cheaply, that the
// service behind them answers (a database, a broker): readiness asks it.
type Pinger interface {
	// Ping returns nil when the service answers, else why not.
	Ping(ctx context.Context) error
}

// Flusher is implemented by topics whose Consume calls ConsumeOptions.Flush
// (see there).
type Flusher interface {
	// CallsFlush reports whether Consume calls ConsumeOptions.Flush.
	CallsFlush() bool
}

// Topic is an ordered, partitioned log of records of one schema.
type Topic interface {
	// Schema returns the schema of the topic's records.
	Schema() *schema.Schema
	// Publish appends rows, partitioned by the topic's key column, in order,
	// each keyed by the text of its key column (see Message.Key). When it
	// returns nil every row is written: a broker has acknowledged it, and a
	// consumer that starts afterwards reads it. A row the topic cannot
	// hold (a record over the broker's size limit) is left out: Publish
	// writes the others and returns *RejectedRows listing those it left
	// out, with why. Any other error means that an unknown part of the rows
	// may not be written.
	Publish(ctx context.Context, rows []schema.Row) error
	// Consume hands batches of messages to handle, in order within each
	// partition. It returns when the topic is drained (unless opts.Follow),
	// when ctx ends, or with the first error handle returns. After handle
	// returns nil, the batch's offsets count as consumed (committed to the
	// group unless opts.Positions is set).
	Consume(ctx context.Context, opts ConsumeOptions, handle func(context.Context, []Message) error) error
	// Truncate removes every record, for a run that starts from a clean
	// state. Offsets stored by consumers stay meaningful: a later record
	// never reuses the offset of a removed one, unless the topic also
	// forgets every group's position (as memory topics do).
	Truncate(ctx context.Context) error
}

// TopicInfo is what a topic tells of itself (Describer).
type TopicInfo struct {
	// ID identifies the topic: two topics of one name (on two brokers,
	// or one deleted and created again) have different IDs. Kafka's
	// topic ID; "" when the topic has none.
	ID string
	// Start and End are, by partition, the offset of the first record the
	// topic holds and the offset after its last.
	Start, End map[int32]int64
}

// Describer is implemented by topics that can describe themselves.
type Describer interface {
	// Describe returns the topic's ID and the bounds of its partitions now.
	Describe(ctx context.Context) (TopicInfo, error)
}

// PublishSessions is implemented by topics whose consumers may start while
// a publisher is still appending, and get the very batches they would get
// had they started once it finished.
type PublishSessions interface {
	// BeginPublish announces a publisher. Until end is called (once, when
	// the publisher has appended all it will), consumers that do not follow
	// hand out a partition's batch only once it is full, and do not stop
	// when they reach the end of the topic.
	BeginPublish() (end func())
}

// RowError is a row that could not be read. Readers return it for one bad
// row and stay usable: the caller dead-letters the row and reads on.
type RowError struct {
	Source  Source
	Payload string
	Err     error
}

// Error names the source and what was wrong.
func (e *RowError) Error() string { return fmt.Sprintf("%s: %v", e.Source, e.Err) }

// Unwrap returns the underlying error.
func (e *RowError) Unwrap() error { return e.Err }

// RowReader reads typed rows from a file. Read returns io.EOF after the
// last row and *RowError for a row it could not parse; any other error ends reading.
type RowReader interface {
	Read() (schema.Row, Source, error)
	Close() error
}

// ReadProgress is implemented by row readers that know how far through
// their input they are, for a progress display.
type ReadProgress interface {
	// ReadProgress returns the bytes read so far and the input's size (0
	// when unknown). It is safe to call while another goroutine reads.
	ReadProgress() (read, size int64)
}

// RowWriter writes typed rows to a file. Close flushes and reports the first write error.
type RowWriter interface {
	Write(schema.Row) error
	Close() error
}

// RowsWriter is implemented by row writers that write many rows at once
// faster than one by one (for example by formatting them on several CPUs).
type RowsWriter interface {
	RowWriter
	// WriteRows writes rows in order, as Write would one by one. It reads
	// the rows only during the call.
	WriteRows(rows []schema.Row) error
}

// BatchScanner is implemented by tables that can hand out their rows a
// batch at a time, which lets a caller work on many rows at once (see RowsWriter).
type BatchScanner interface {
	// ScanBatches calls fn with every row in key order, in consecutive
	// batches of at most size rows, and stops at the first error fn returns.
	// fn must not keep the slice or its rows past the call, nor change them.
	ScanBatches(ctx context.Context, size int, fn func([]schema.Row) error) error
}

// Snapshotter is implemented by tables that can fix their rows as they are
// at one moment, cheaply, so that a reader can scan them later while the
// table goes on changing (for example to export a table while the next
// stage updates it).
type Snapshotter interface {
	// Snapshot returns the table's rows as they are now. Nothing written
	// to the table afterwards changes what the snapshot holds.
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Snapshot is the rows of a table at one moment, in key order.
type Snapshot interface {
	BatchScanner
	// Scan calls fn for every row in key order, as Table.Scan does.
	Scan(ctx context.Context, fn func(schema.Row) error) error
}

// TopicSpec describes a topic to a connector.
type TopicSpec struct {
	Name       string
	Schema     *schema.Schema
	Key        string // column whose value partitions records ("" round-robins)
	Partitions int    // partitions to create a missing topic with
}

// Located is implemented by connectors that can say where their data
// lives, for the summary of a run: "MySQL database D at user@host:port".
type Located interface {
	Where() string
}

// Connector is an instance of a connector kind, configured by a spec.
// It implements one or more of Tables, Topics and Files.
type Connector interface {
	Close() error
}

// Tables is a connector that serves keyed tables.
type Tables interface {
	Connector
	// Table returns the table named s.Name with schema s, creating it when missing.
	Table(ctx context.Context, s *schema.Schema) (Table, error)
}

// Topics is a connector that serves topics.
type Topics interface {
	Connector
	// Topic returns the described topic, creating it when missing.
	Topic(ctx context.Context, spec TopicSpec) (Topic, error)
}

// Files is a connector that reads and writes row files.
type Files interface {
	Connector
	// Open opens the file at path (relative to the connector's folder) for reading rows of s.
	Open(ctx context.Context, path string, s *schema.Schema) (RowReader, error)
	// Create creates or truncates the file at path for writing rows of s.
	Create(ctx context.Context, path string, s *schema.Schema) (RowWriter, error)
}

// DeadLetter is a record that a stage could not process, kept with the reason.
type DeadLetter struct {
	Stage   string
	Source  Source
	Reason  string
	Payload string
	Time    time.Time
	// Run identifies the run (one command) that found it: the letters of
	// a state are those of every run since the last reset, and Run tells
	// them apart.
	Run string
}

// DeadLetterColumns are the columns of a dead-letter file, table or topic.
// The id (stage, source and a hash of the reason) makes writing the same
// letter twice harmless; run_id is the run that found it last (nullable,
// so that a table made before it existed takes it as a new column).
var DeadLetterColumns = []schema.Column{
	{Name: "id", Type: schema.StringType},
	{Name: "stage", Type: schema.StringType},
	{Name: "source", Type: schema.StringType},
	{Name: "reason", Type: schema.StringType},
	{Name: "payload", Type: schema.StringType},
	{Name: "time", Type: schema.DateTimeType},
	{Name: "run_id", Type: schema.Type{Kind: schema.String, Nullable: true}},
}

// MaxTablePayload bounds the payload a dead-letter table row keeps; files keep it whole.
const MaxTablePayload = 2000

// Row returns the letter as a row of DeadLetterColumns, its payload cut to
// maxPayload bytes when maxPayload > 0.
func (d DeadLetter) Row(maxPayload int) schema.Row {
	payload := d.Payload
	if maxPayload > 0 && len(payload) > maxPayload {
		payload = fmt.Sprintf("%s... (%d bytes in all)", payload[:maxPayload], len(d.Payload))
	}
	src := d.Source.String()
	h := fnv.New32a()
	h.Write([]byte(d.Reason))
	id := fmt.Sprintf("%s %s %08x", d.Stage, src, h.Sum32())
	var run any
	if d.Run != "" {
		run = d.Run
	}
	return schema.Row{id, d.Stage, src, d.Reason, payload, d.Time.Truncate(time.Second), run}
}
