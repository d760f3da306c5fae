package kafka

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Topic is a handle on one Kafka topic whose records are rows of one schema.
// It implements port.Topic and is safe for concurrent use.
type Topic struct {
	conn   *Connector
	name   string
	schema *schema.Schema
	codec  *codec
	limit  recordLimit // the largest record Publish sends
	// refused counts the records the broker refused as too large, which
	// Publish then produced again one by one (for tests and diagnostics:
	// with the limit right, none).
	refused atomic.Int64
}

var _ port.Topic = (*Topic)(nil)

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// Schema returns the schema the handle was opened with.
func (t *Topic) Schema() *schema.Schema { return t.schema }

// Truncate removes every record of the topic: it deletes each partition's
// records up to its current end offset, which becomes the partition's first
// offset. Offsets are never reused, so offsets stored by consumers stay
// meaningful: a group that had committed any offset of the topic resumes at
// the first record published after the truncation. Records published while
// Truncate runs may or may not be removed.
func (t *Topic) Truncate(ctx context.Context) error {
	if err := t.conn.check(); err != nil {
		return fmt.Errorf("kafka topic %s: truncate: %w", t.name, err)
	}
	adm := t.conn.admin
	ends, err := adm.ListEndOffsets(ctx, t.name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("kafka topic %s: truncate: list end offsets: %w", t.name, err)
	}
	resp, err := adm.DeleteRecords(ctx, ends.Offsets())
	if err != nil {
		return fmt.Errorf("kafka topic %s: truncate: %w", t.name, err)
	}
	for _, p := range resp[t.name] {
		if p.Err != nil {
			return fmt.Errorf("kafka topic %s: truncate partition %d: %w", t.name, p.Partition, p.Err)
		}
	}
	return nil
}

// Describe returns the topic's ID, as Kafka tools print it (base64url of
// its 16 bytes; "" when the broker gives none), and the first and end
// offsets of its partitions. It implements port.Describer.
func (t *Topic) Describe(ctx context.Context) (port.TopicInfo, error) {
	if err := t.conn.check(); err != nil {
		return port.TopicInfo{}, fmt.Errorf("kafka topic %s: describe: %w", t.name, err)
	}
	details, err := t.conn.admin.ListTopics(ctx, t.name)
	if err != nil {
		return port.TopicInfo{}, fmt.Errorf("kafka topic %s: describe: %w", t.name, err)
	}
	d, ok := details[t.name]
	if !ok {
		return port.TopicInfo{}, fmt.Errorf("kafka topic %s: describe: the broker does not list it", t.name)
	}
	if d.Err != nil {
		return port.TopicInfo{}, fmt.Errorf("kafka topic %s: describe: %w", t.name, d.Err)
	}
	info := port.TopicInfo{Start: map[int32]int64{}, End: map[int32]int64{}}
	if d.ID != (kadm.TopicID{}) {
		info.ID = base64.RawURLEncoding.EncodeToString(d.ID[:])
	}
	c := &consumer{topic: t}
	b, err := c.bounds(ctx)
	if err != nil {
		return port.TopicInfo{}, err
	}
	for p, pb := range b {
		info.Start[p], info.End[p] = pb.start, pb.end
	}
	return info, nil
}

var _ port.Describer = (*Topic)(nil)
