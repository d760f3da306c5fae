package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Timings of a Consume without Follow that has finished its own partitions
// and waits for the other members of its group to finish theirs.
const (
	// decidedPoll is how often, at most, it reads the offsets committed
	// for the partitions other members own.
	decidedPoll = time.Second
	// waitNote is how long it waits before it logs which partitions it
	// waits for, and how often it logs that again.
	waitNote = 10 * time.Second
)

// waiting is where a consumer without Follow stands in waiting for the
// partitions other members own.
type waiting struct {
	since   time.Time // when its own partitions were last found done (zero when they are not)
	checked time.Time // when the others' committed offsets were last read
	noted   time.Time // when it last logged what it waits for
	err     error     // why the last read of the others' progress failed, if it did
}

// othersDecided reports whether every partition in others, which other
// members own or nobody does, is decided (it first calls opts.Flush, once
// this consumer's own partitions are consumed): its committed offset (from
// opts.Committed, or the group's offsets in Kafka without it) has reached
// the end offset the partition had when Consume started. Until then this
// consumer stays in the group, so that a rebalance (a member that died is
// dropped once its session times out) can hand it those partitions, and
// logs now and then which partitions are behind and who owns them. It reads
// the offsets at most every decidedPoll. An error of opts.Committed ends
// Consume; one of the broker's counts as not decided (the group session
// rides out a broker restart).
func (c *consumer) othersDecided(ctx context.Context, cl *kgo.Client, others []int32) (bool, error) {
	now := time.Now()
	if c.wait.since.IsZero() {
		// The handler's last writes land now, not when Consume returns:
		// other members may be waiting for them too.
		if c.opts.Flush != nil {
			if err := c.opts.Flush(ctx); err != nil {
				if ctx.Err() != nil {
					return false, nil
				}
				c.flushFailed = true
				return false, fmt.Errorf("kafka topic %s: consume: finishing the handler's writes: %w", c.topic.name, err)
			}
		}
		c.wait.since = now
	}
	if now.Sub(c.wait.checked) < decidedPoll {
		return false, nil
	}
	c.wait.checked = now
	behind, err := c.behind(ctx, others)
	switch {
	case ctx.Err() != nil:
		return false, nil // run returns what ctx's end calls for
	case err != nil && !errors.As(err, new(errFromBroker)):
		return false, err
	case err != nil:
		c.wait.err = err
		behind = nil
	default:
		c.wait.err = nil
		if len(behind) == 0 {
			return true, nil
		}
	}
	if every := c.topic.conn.noteEvery; now.Sub(c.wait.since) >= every && now.Sub(c.wait.noted) >= every {
		c.wait.noted = now
		c.note(ctx, cl, others, behind)
	}
	return false, nil
}

// errFromBroker marks an error of the broker met while reading the others'
// progress, which does not end Consume.
type errFromBroker struct{ err error }

func (e errFromBroker) Error() string { return e.err.Error() }
func (e errFromBroker) Unwrap() error { return e.err }

// behind returns, for each partition of ps not yet decided, how many of
// the records it had when Consume started are not: those from its
// committed offset (its first offset when none) to that end offset. A
// committed offset past the partition's current end (the topic was created
// again) counts as none, as it does for the partition's owner.
func (c *consumer) behind(ctx context.Context, ps []int32) (map[int32]int64, error) {
	committed, err := c.committed(ctx, ps)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var now map[int32]bounds
	for _, p := range ps {
		b := c.first[p]
		if b.start >= b.end {
			continue // nothing to decide
		}
		o, ok := committed[p]
		if ok && o >= b.end {
			if now == nil {
				if now, err = c.bounds(ctx); err != nil {
					return nil, errFromBroker{err}
				}
			}
			if o <= now[p].end {
				continue
			}
			ok = false
		}
		from := b.start
		if ok && o > from {
			from = o
		}
		out[p] = b.end - from
	}
	return out, nil
}

// committed returns the next offsets committed for ps: opts.Committed's
// or, without it, the group's in Kafka. A partition with none is missing.
func (c *consumer) committed(ctx context.Context, ps []int32) (map[int32]int64, error) {
	if c.opts.Committed != nil {
		out, err := c.opts.Committed(ctx, ps)
		if err != nil {
			return nil, fmt.Errorf("kafka topic %s: consume: reading the committed offsets of partitions %s, owned by other members of group %s: %w",
				c.topic.name, partList(ps), c.opts.Group, err)
		}
		return out, nil
	}
	resp, err := c.topic.conn.admin.FetchOffsets(ctx, c.opts.Group)
	if err != nil {
		return nil, errFromBroker{fmt.Errorf("kafka topic %s: fetching the offsets committed to group %s: %w", c.topic.name, c.opts.Group, err)}
	}
	out := map[int32]int64{}
	for _, p := range ps {
		if o, ok := resp.Lookup(c.topic.name, p); ok && o.Err == nil && o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// note logs which partitions this consumer waits for, how far behind
// they are and which member owns them.
func (c *consumer) note(ctx context.Context, cl *kgo.Client, others []int32, behind map[int32]int64) {
	owners := c.owners(ctx, cl)
	var b strings.Builder
	fmt.Fprintf(&b, "kafka topic %s: consume: done with its own partitions, still waiting after %v for other members of group %s to decide the rest of the topic:",
		c.topic.name, time.Since(c.wait.since).Round(time.Second), c.opts.Group)
	if c.wait.err != nil {
		fmt.Fprintf(&b, " partitions %s, whose progress cannot be read (%v)", partList(others), c.wait.err)
	}
	ps := make([]int32, 0, len(behind))
	for p := range behind {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for i, p := range ps {
		if i > 0 {
			b.WriteString(";")
		}
		owner, ok := owners[p]
		if !ok {
			owner = "no member (the group is rebalancing)"
		}
		fmt.Fprintf(&b, " partition %d is %d records behind, owned by %s", p, behind[p], owner)
	}
	fmt.Fprintf(&b, ". A member that stopped without leaving the group keeps its partitions until its session times out (%v), then they are handed over.",
		c.topic.conn.session)
	c.topic.conn.log.Warn(b.String(), "topic", c.topic.name, "group", c.opts.Group, "partitions", partList(ps))
}

// owners describes, for each partition of the topic assigned in the
// group, the member that owns it. It is empty when the group cannot be
// described.
func (c *consumer) owners(ctx context.Context, cl *kgo.Client) map[int32]string {
	out := map[int32]string{}
	groups, err := c.topic.conn.admin.DescribeGroups(ctx, c.opts.Group)
	if err != nil {
		return out
	}
	g, ok := groups[c.opts.Group]
	if !ok || g.Err != nil {
		return out
	}
	me, _ := cl.GroupMetadata()
	for _, m := range g.Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		who := fmt.Sprintf("member %s on %s", m.MemberID, strings.TrimPrefix(m.ClientHost, "/"))
		if m.MemberID == me {
			who = "this member (being handed over)"
		}
		for _, t := range a.Topics {
			if t.Topic == c.topic.name {
				for _, p := range t.Partitions {
					out[p] = who
				}
			}
		}
	}
	return out
}
