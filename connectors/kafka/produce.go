package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// publishChunk is how many rows Publish encodes into one buffer.
const publishChunk = 1024

// Publish appends rows in order. Each record's value is a JSON object of
// column name to value, every non-null value a JSON string holding the
// column type's text form (schema.Type.Append; decimals printed with their
// column's places) and null as JSON null. Its key is the text of the topic's
// key column, or none when the topic has no key column or the row's key is null. Records with equal
// keys go to one partition (murmur2 of the key, as Java clients do) and keep
// their order; keyless records are spread in batches. Every row must have one
// value per column, of its column's Go type, null only where the column is
// nullable; Publish checks them all before producing any.
//
// A row whose record (key and value) is bigger than the topic takes (the
// connector's MaxRecordBytes, or less when the topic's max.message.bytes on
// the broker allows less) is not produced: Publish produces the others and
// returns *port.RejectedRows, each rejection saying the record's size, the
// limit and the setting that makes it. Should the broker refuse records as
// too large all the same (MESSAGE_TOO_LARGE: its max.message.bytes was
// lowered since Topic), the records it refused are produced again one at a
// time, and those it still refuses are rejected the same way. If a record
// so produced again lands after a later record of its key that the broker
// took the first time, Publish fails instead, saying so.
//
// Publish returns when the broker has acknowledged every record, with the
// first error it reported, or when ctx ends; records already handed to the
// client may then still be written.
func (t *Topic) Publish(ctx context.Context, rows []schema.Row) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, err)
	}
	if err := t.conn.begin(); err != nil {
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, err)
	}
	defer t.conn.active.Done()
	for i, r := range rows {
		if err := t.codec.check(r); err != nil {
			return fmt.Errorf("kafka topic %s: publish row %d: %w", t.name, i, err)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	p := &pending{}
	var (
		scratch  []byte
		chunks   [][]kgo.Record // the records of rows, publishChunk rows each
		rejected []port.RejectedRow
	)
	for start := 0; start < len(rows); start += publishChunk {
		chunk := rows[start:min(start+publishChunk, len(rows))]
		var recs []kgo.Record
		recs, scratch = t.records(chunk, scratch)
		chunks = append(chunks, recs)
		for i := range recs {
			if n := len(recs[i].Key) + len(recs[i].Value); n > t.limit.bytes {
				recs[i].Topic = "" // not produced
				rejected = append(rejected, port.RejectedRow{Index: start + i, Err: t.tooLarge(n)})
				continue
			}
			p.wg.Add(1)
			t.conn.client.Produce(ctx, &recs[i], p.promise)
		}
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, ctx.Err())
	}
	switch {
	case p.err == nil:
	case ctx.Err() != nil:
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, ctx.Err())
	case errors.Is(p.err, kgo.ErrClientClosed):
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, errClosed)
	case !p.allTooLarge:
		return fmt.Errorf("kafka topic %s: publish to partition %d: %w", t.name, p.rec.Partition, p.err)
	default:
		more, err := t.republish(ctx, chunks, p.failed)
		if err != nil {
			return err
		}
		rejected = append(rejected, more...)
		slices.SortFunc(rejected, func(a, b port.RejectedRow) int { return a.Index - b.Index })
	}
	if len(rejected) > 0 {
		return &port.RejectedRows{Rows: rejected}
	}
	return nil
}

// tooLarge is the reason a record of n bytes is not produced.
func (t *Topic) tooLarge(n int) error {
	return fmt.Errorf("record of %d bytes (key and value) is over the limit of %d bytes for a record of topic %s, set by %s",
		n, t.limit.bytes, t.name, t.limit.why)
}

// republish produces again, one at a time and in order, the records of
// chunks that the broker refused as too large (failed), and returns those
// it refuses again, as rejections. Others of the batches the broker
// refused were failed with them by the client although they fit.
func (t *Topic) republish(ctx context.Context, chunks [][]kgo.Record, failed []*kgo.Record) ([]port.RejectedRow, error) {
	t.refused.Add(int64(len(failed)))
	index := make(map[*kgo.Record]int, len(failed))
	for _, r := range failed {
		index[r] = -1
	}
	// lastTaken holds, per key, the last row whose record the broker took.
	lastTaken := map[string]int{}
	for c, recs := range chunks {
		for i := range recs {
			r := &recs[i]
			if _, ok := index[r]; ok {
				index[r] = c*publishChunk + i
			} else if r.Topic != "" && r.Key != nil {
				lastTaken[string(r.Key)] = c*publishChunk + i
			}
		}
	}
	slices.SortFunc(failed, func(a, b *kgo.Record) int { return index[a] - index[b] })
	var rejected []port.RejectedRow
	for _, r := range failed {
		i := index[r]
		again := &kgo.Record{Topic: t.name, Key: r.Key, Value: r.Value}
		err := t.conn.client.ProduceSync(ctx, again).FirstErr()
		switch {
		case errors.Is(err, kerr.MessageTooLarge):
			rejected = append(rejected, port.RejectedRow{Index: i, Err: fmt.Errorf(
				"record of %d bytes (key and value) refused by the broker as too large for topic %s (%w): its max.message.bytes "+
					"allows less than the %d bytes it did when the topic was opened; raise it on the broker",
				len(r.Key)+len(r.Value), t.name, err, t.limit.bytes)})
			continue
		case err != nil:
			return nil, fmt.Errorf("kafka topic %s: publish row %d again after the broker refused its batch as too large: %w", t.name, i, err)
		}
		if r.Key != nil {
			if later, ok := lastTaken[string(r.Key)]; ok && later > i {
				return nil, fmt.Errorf("kafka topic %s: the broker refused a batch as too large (its max.message.bytes was lowered since the topic was opened), "+
					"and row %d, produced again, landed after row %d of the same key: the records of key %q are out of order on partition %d; "+
					"raise max.message.bytes back, or lower the kafka connector's max_record_bytes below it, and publish again",
					t.name, i, later, r.Key, again.Partition)
			}
		}
	}
	return rejected, nil
}

// records encodes rows as records of the topic. Their values and keys share
// one buffer per call; scratch is a buffer for one value's text, returned for reuse.
func (t *Topic) records(rows []schema.Row, scratch []byte) ([]kgo.Record, []byte) {
	type span struct{ value, key [2]int }
	spans := make([]span, len(rows))
	buf := make([]byte, 0, 64*len(rows))
	for i, r := range rows {
		s := &spans[i]
		s.value[0] = len(buf)
		buf, scratch = t.codec.appendValue(buf, scratch, r)
		s.value[1] = len(buf)
		var keyed bool
		buf, keyed = t.codec.appendKey(buf, r)
		if keyed {
			s.key = [2]int{s.value[1], len(buf)}
		} else {
			s.key = [2]int{-1, -1}
		}
	}
	recs := make([]kgo.Record, len(rows))
	for i, s := range spans {
		recs[i].Topic = t.name
		recs[i].Value = buf[s.value[0]:s.value[1]:s.value[1]]
		if s.key[0] >= 0 {
			recs[i].Key = buf[s.key[0]:s.key[1]:s.key[1]]
		}
	}
	return recs, scratch
}

// pending collects the outcome of one Publish call's records.
type pending struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error       // the first error reported
	rec *kgo.Record // the record that failed first
	// failed are the records that failed, when allTooLarge.
	failed      []*kgo.Record
	allTooLarge bool // every record failed was refused as too large
}

// promise is called by the client once per record.
func (p *pending) promise(r *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err, p.rec, p.allTooLarge = err, r, true
		}
		if p.allTooLarge = p.allTooLarge && errors.Is(err, kerr.MessageTooLarge); p.allTooLarge {
			p.failed = append(p.failed, r)
		} else {
			p.failed = nil
		}
		p.mu.Unlock()
	}
	p.wg.Done()
}
