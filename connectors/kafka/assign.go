package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partition is where this consumer stands in one assigned partition.
type partition struct {
	ready bool  // start and end are known
	next  int64 // offset of the next record to consume
	end   int64 // the end offset (high watermark) when the partition was assigned
}

// startAlone assigns every partition to a consumer without a group and
// returns where to start in each.
func (c *consumer) startAlone(ctx context.Context, b map[int32]bounds) (map[int32]kgo.Offset, error) {
	var pos map[int32]int64
	if c.opts.Positions != nil {
		var err error
		if pos, err = c.opts.Positions(ctx, c.all); err != nil {
			return nil, fmt.Errorf("kafka topic %s: consume: positions of partitions %s: %w", c.topic.name, partList(c.all), err)
		}
	}
	offsets := make(map[int32]kgo.Offset, len(c.all))
	for _, p := range c.all {
		o, ok := pos[p]
		var next int64
		offsets[p], next = b[p].startAt(o, ok)
		c.parts[p] = &partition{ready: true, next: next, end: b[p].end}
	}
	c.assigned = true
	c.owned()
	return offsets, nil
}

// bounds are the first and end offsets of a partition.
type bounds struct{ start, end int64 }

// startAt returns where to start consuming a partition with these bounds
// given a stored offset o (ok false for none): at o, or at the partition's
// first offset when there is none or o is past the partition's end (the
// topic was re-created), which is what the client does with an out-of-range
// offset. It also returns the offset that start is.
func (b bounds) startAt(o int64, ok bool) (kgo.Offset, int64) {
	if !ok || o < 0 || o > b.end {
		return kgo.NewOffset().AtStart(), b.start
	}
	return kgo.NewOffset().At(o).WithEpoch(-1), max(o, b.start)
}

// bounds lists the first and end offsets of the topic's partitions.
func (c *consumer) bounds(ctx context.Context) (map[int32]bounds, error) {
	return c.topic.bounds(ctx)
}

// bounds lists the first and end offsets of the topic's partitions.
func (t *Topic) bounds(ctx context.Context) (map[int32]bounds, error) {
	adm, name := t.conn.admin, t.name
	ends, err := adm.ListEndOffsets(ctx, name)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka topic %s: list end offsets: %w", name, err)
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka topic %s: list start offsets: %w", name, err)
	}
	out := map[int32]bounds{}
	for p, o := range ends[name] {
		s := starts[name][p].Offset
		out[p] = bounds{start: min(max(s, 0), o.Offset), end: o.Offset}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kafka topic %s: the broker lists no partitions", name)
	}
	return out, nil
}

// onAssigned records partitions newly assigned to this member; adjust fills
// in where they start and end. kgo calls it after every assignment, even of nothing.
func (c *consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range assigned[c.topic.name] {
		if _, ok := c.parts[p]; !ok {
			c.parts[p] = &partition{}
		}
	}
	c.assigned = true
	c.owned()
	c.signal()
}

// owned tells opts.Assigned, when set, the partitions this consumer owns.
// The caller holds c.mu, or is the only goroutine using c.
func (c *consumer) owned() {
	if c.opts.Assigned == nil {
		return
	}
	ps := make([]int32, 0, len(c.parts))
	for p := range c.parts {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	c.opts.Assigned(ps)
}

// onRevoked forgets partitions this member no longer owns, once the
// handler's writes in flight are finished (see port.ConsumeOptions.Flush):
// the partitions' next owner starts from what they committed.
func (c *consumer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if c.opts.Flush != nil && len(revoked[c.topic.name]) > 0 {
		if err := c.opts.Flush(ctx); err != nil {
			c.fail(ctx, fmt.Errorf("kafka topic %s: consume: finishing the writes of partitions %s before giving them up: %w",
				c.topic.name, partList(revoked[c.topic.name]), err))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range revoked[c.topic.name] {
		delete(c.parts, p)
	}
	c.owned()
	c.signal()
}

// adjust runs after the group's offsets of newly assigned partitions are
// fetched: it notes where each partition starts and ends and, with
// Positions, replaces the group's offsets with the positions' ones.
func (c *consumer) adjust(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	mine := offsets[c.topic.name]
	if len(mine) == 0 {
		return offsets, nil
	}
	ps := make([]int32, 0, len(mine))
	for p := range mine {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	b, err := c.bounds(ctx)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	var pos map[int32]int64
	if c.opts.Positions != nil {
		if pos, err = c.opts.Positions(ctx, ps); err != nil {
			return nil, c.fail(ctx, fmt.Errorf("kafka topic %s: consume: positions of partitions %s: %w", c.topic.name, partList(ps), err))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		var next int64
		if c.opts.Positions != nil {
			o, ok := pos[p]
			mine[p], next = b[p].startAt(o, ok)
		} else {
			// The group's committed offset; the client itself starts
			// from the first offset when there is none or it is past the end.
			o := mine[p].EpochOffset().Offset
			_, next = b[p].startAt(o, o >= 0)
		}
		if part, ok := c.parts[p]; ok { // else revoked since
			*part = partition{ready: true, next: next, end: b[p].end}
		}
	}
	c.signal()
	return offsets, nil
}

// fail records err, met in a group callback, to end Consume with, unless the
// callback's ctx ended (the group is rebalancing again, or closing). It returns err.
func (c *consumer) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		c.failed = err
	}
	c.signal()
	return err
}

// signal wakes a waiting poll. The caller holds c.mu.
func (c *consumer) signal() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// drained reports whether Consume, without Follow, is done: this
// consumer has consumed every partition it is assigned up to the end offset
// the partition had when assigned, and every other partition of the topic
// is decided (see othersDecided). With Positions but no Committed, the
// others' progress is in a store Consume cannot read: it is done once its
// own partitions are, when it has some, or else when the group has settled
// with every partition owned by others.
func (c *consumer) drained(ctx context.Context, cl *kgo.Client) (bool, error) {
	c.mu.Lock()
	if !c.assigned {
		c.mu.Unlock()
		return false, nil
	}
	for _, p := range c.parts {
		if !p.ready || p.next < p.end {
			c.mu.Unlock()
			c.wait.since = time.Time{}
			return false, nil
		}
	}
	n := len(c.parts)
	var others []int32
	for _, p := range c.all {
		if _, ok := c.parts[p]; !ok {
			others = append(others, p)
		}
	}
	c.mu.Unlock()
	switch {
	case len(others) == 0:
		return true, nil
	case c.opts.Positions != nil && c.opts.Committed == nil:
		return n > 0 || c.settled(ctx, cl), nil
	}
	return c.othersDecided(ctx, cl, others)
}

// settled reports whether the group is stable with every partition of the
// topic assigned to a member other than this one. Errors count as not settled.
func (c *consumer) settled(ctx context.Context, cl *kgo.Client) bool {
	if c.opts.Group == "" {
		return true
	}
	groups, err := c.topic.conn.admin.DescribeGroups(ctx, c.opts.Group)
	if err != nil {
		return false
	}
	g, ok := groups[c.opts.Group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return false
	}
	me, _ := cl.GroupMetadata()
	for _, m := range g.Members {
		if a, ok := m.Assigned.AsConsumer(); ok && m.MemberID == me {
			for _, t := range a.Topics {
				if t.Topic == c.topic.name && len(t.Partitions) > 0 {
					return false // this member's assignment is on its way
				}
			}
		}
	}
	owned := g.AssignedPartitions()
	for _, p := range c.all {
		if !owned.Lookup(c.topic.name, p) {
			return false
		}
	}
	return true
}
