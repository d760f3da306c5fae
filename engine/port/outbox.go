package port

import "context"

// OutboxEntry is a record bound for a topic, kept by a table connector
// until a relay has published it: the transactional outbox of a stream
// stage's topic sinks (docs/RELIABILITY.md). A stage writes its entries in
// the same commit as its decisions and offsets (Batch.Outbox), so that a
// record's topic copy exists if and only if its decision does.
type OutboxEntry struct {
	ID    int64  // given by the connector, increasing in the order entries were added
	Group string // the consumer group of the stage that wrote it: that group's relay publishes it
	From  string // the topic the stage consumed (ResetOffsets of it forgets the entry)
	Topic string // the topic it goes to
	Key   string // its key on Topic, as text: the same record always has the same key
	Value string // the record, as the stage encoded it
}

// Outbox is implemented by table connectors that keep outbox entries (see
// OutboxEntry). A Committer that is an Outbox stores a Batch's Outbox
// entries in the batch's commit.
type Outbox interface {
	// Relay hands publish at most limit of group's entries, in the order
	// they were added, and removes them once publish returns nil: an entry
	// is removed only after it is published, so a crash in between
	// publishes it again (under the same key). Entries another Relay call
	// has in hand are skipped, not handed out twice at once. It returns how
	// many it removed (0: none was left), and publish's error, if any,
	// leaving the entries it was given in place.
	Relay(ctx context.Context, group string, limit int, publish func(ctx context.Context, entries []OutboxEntry) error) (int, error)
}
