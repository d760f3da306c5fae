package kafka

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// recordOverhead bounds the bytes a record alone in a batch takes beyond
// its key and value: the batch header (61 bytes), the record's fields and
// length prefixes (at most 16), with room for the older formats a client
// may size batches by before it knows the broker's.
const recordOverhead = 128

// describeTimeout bounds asking the broker for a topic's configuration.
const describeTimeout = 10 * time.Second

// recordLimit is the largest record, key and value, that a topic takes.
type recordLimit struct {
	bytes int
	why   string // the setting that makes it, and how to raise it
}

// topicLimit returns the record limit of topic: the connector's
// MaxRecordBytes, or less when the topic's max.message.bytes on the broker
// (a batch's size) allows less. It also makes the producer's batches for
// the topic no bigger than max.message.bytes, so that the broker never
// refuses a batch of records that each fit. When the broker does not say,
// the connector's limit stands.
func (c *Connector) topicLimit(ctx context.Context, topic string) recordLimit {
	l := recordLimit{bytes: c.maxRecord,
		why: "the kafka connector's max_record_bytes option; raise it, and the broker's max.message.bytes where that is lower"}
	batch := c.maxRecord + recordOverhead
	if mmb, ok := c.maxMessageBytes(ctx, topic); ok && mmb < batch {
		batch = mmb
		l = recordLimit{bytes: max(0, mmb-recordOverhead),
			why: fmt.Sprintf("the topic's max.message.bytes of %d bytes on the broker, less %d for the batch around the record; raise it there", mmb, recordOverhead)}
	}
	c.batchMax.Store(topic, int32(max(batch, minBatchBytes)))
	return l
}

// minBatchBytes is the least batch size the client accepts.
const minBatchBytes = 512

// maxMessageBytes returns the topic's max.message.bytes, the size of the
// biggest record batch the broker takes, when the broker tells it.
func (c *Connector) maxMessageBytes(ctx context.Context, topic string) (int, bool) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	rcs, err := c.admin.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, false
	}
	for _, rc := range rcs {
		if rc.Name != topic || rc.Err != nil {
			continue
		}
		for _, cfg := range rc.Configs {
			if cfg.Key == "max.message.bytes" && cfg.Value != nil {
				n, err := strconv.Atoi(*cfg.Value)
				return n, err == nil && n > 0
			}
		}
	}
	return 0, false
}

// producerBatchMax is the producer's batch limit for topic: what Topic found
// it takes, or the connector's limit for a topic not opened with Topic.
func (c *Connector) producerBatchMax(topic string) int32 {
	if v, ok := c.batchMax.Load(topic); ok {
		return v.(int32)
	}
	return int32(c.maxRecord + recordOverhead)
}
