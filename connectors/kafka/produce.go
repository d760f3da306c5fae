package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

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
	p.wg.Add(len(rows))
	var scratch []byte
	for start := 0; start < len(rows); start += publishChunk {
		chunk := rows[start:min(start+publishChunk, len(rows))]
		var recs []kgo.Record
		recs, scratch = t.records(chunk, scratch)
		for i := range recs {
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
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, ctx.Err())
	case errors.Is(p.err, kgo.ErrClientClosed):
		return fmt.Errorf("kafka topic %s: publish: %w", t.name, errClosed)
	}
	return fmt.Errorf("kafka topic %s: publish to partition %d: %w", t.name, p.rec.Partition, p.err)
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
}

// promise is called by the client once per record.
func (p *pending) promise(r *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err, p.rec = err, r
		}
		p.mu.Unlock()
	}
	p.wg.Done()
}
