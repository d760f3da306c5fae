package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
)

// Timings of Consume.
const (
	// defaultBatchSize is the batch size when ConsumeOptions.BatchSize is 0.
	defaultBatchSize = 1000
	// idlePoll is how long a poll waits for records before Consume checks
	// again, without Follow, whether it is done.
	idlePoll = 250 * time.Millisecond
	// commitTimeout bounds committing a handled batch's offsets.
	commitTimeout = 30 * time.Second
	// fetchPartitionBytes is the most record bytes one fetch asks for per
	// partition (the client's default is 1 MiB). Bigger fetches mean fewer
	// polls, and a poll's records come partition by partition, so a
	// handler's batch spans fewer partitions: a stream stage then changes
	// fewer distinct keys' state per batch (on 1M records, 89k state rows
	// written instead of 160k) and spends less CPU in the consumer.
	fetchPartitionBytes = 4 << 20
)

// Consume hands handle batches of at most opts.BatchSize messages (1000 when
// not positive), each message a decoded record with its topic, partition and
// offset. A batch may hold records of several partitions; each partition's
// records come in offset order. A record that cannot be decoded is handed
// over like the others, with Row nil, Err saying why and Payload its bytes;
// Payload holds the record value of every message, and Key its record key
// (nil for a record produced without one).
//
// With opts.Group "" Consume reads every partition from its first offset,
// commits nothing, and other consumers do not affect it. With a group,
// Consume joins it as one member: the group's members share the partitions
// (cooperative-sticky), and a rebalance never runs while a batch is being
// handled. A partition starts at the group's committed offset (its first
// offset when none) and, after handle returns nil, the batch's offsets are
// committed to the group before the next poll, so a later member resumes
// after them. A member that ends without leaving the group (a process
// killed) keeps its partitions until the connector's session timeout
// (Options.SessionTimeout) passes without its heartbeats.
//
// With opts.Positions, every partition this consumer is assigned (all of
// them without a group) starts at the offset Positions returns for it, or at
// its first offset when it returns none, and Consume commits nothing.
//
// A stored offset (committed or from Positions) below the partition's first
// offset, or past its end as when the topic was deleted and created again,
// starts the partition at its first offset.
//
// When handle returns an error, Consume returns it wrapped, naming the
// batch's partitions and offsets, and commits nothing of that batch.
//
// opts.Flush, when set, is called before partitions are revoked or lost,
// before Consume returns and, without Follow, before it waits for other
// members (see port.ConsumeOptions).
//
// Without opts.Follow, Consume returns nil once the whole topic is decided:
// it has consumed every partition it is assigned up to the end offset the
// partition had when assigned and, in a group, every other partition has a
// committed offset (opts.Committed's, or the group's in Kafka without it)
// at or past the end offset it had when Consume started. Until then it
// stays in the group, even with no partition, so that a rebalance hands it
// the partitions of a member that died (once that member's session times
// out), and every 10 s it logs, through Options.Log, which partitions are
// behind, by how many records, and which member owns them. With
// opts.Positions but no opts.Committed it cannot read the others' progress:
// it returns once its own partitions are consumed, or, with none, when the
// group has settled with every partition assigned to other members. It
// returns ctx's error, wrapped, when ctx ends first, the first error of
// opts.Committed, and the first fetch or group error.
//
// With opts.Follow Consume waits for new records, riding out group errors,
// until ctx ends, and then returns nil:
// a batch in hand when ctx ends is still handed to handle and committed when
// handle returns nil (a handler failing because ctx ended leaves it
// uncommitted, to be consumed again). When the connector is closed, Consume
// returns an error after the batch in hand, handled and committed as above.
func (t *Topic) Consume(ctx context.Context, opts port.ConsumeOptions, handle func(context.Context, []port.Message) error) error {
	if handle == nil {
		return fmt.Errorf("kafka topic %s: consume: no handler", t.name)
	}
	if err := t.conn.begin(); err != nil {
		return fmt.Errorf("kafka topic %s: consume: %w", t.name, err)
	}
	defer t.conn.active.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(t.conn.done, func() { cancel(errClosed) })
	defer stop()

	c := &consumer{topic: t, opts: opts, handle: handle, size: opts.BatchSize,
		parts: map[int32]*partition{}, wake: make(chan struct{})}
	if c.size <= 0 {
		c.size = defaultBatchSize
	}
	cl, err := c.start(ctx)
	if err != nil {
		return c.stopped(ctx, err)
	}
	defer func() {
		cl.AllowRebalance()
		cl.Close()
	}()
	err = c.run(ctx, cl)
	if c.opts.Flush != nil && !c.flushFailed {
		if ferr := c.opts.Flush(ctx); ferr != nil {
			err = errors.Join(err, fmt.Errorf("kafka topic %s: consume: finishing the handler's writes: %w", t.name, ferr))
		}
	}
	return err
}

// CallsFlush reports that Consume calls port.ConsumeOptions.Flush before
// partitions are revoked or lost and before it returns. It implements
// port.Flusher.
func (t *Topic) CallsFlush() bool { return true }

var _ port.Flusher = (*Topic)(nil)

// consumer is the state of one Consume call.
type consumer struct {
	topic  *Topic
	opts   port.ConsumeOptions
	handle func(context.Context, []port.Message) error
	size   int
	all    []int32          // the topic's partitions when Consume started
	first  map[int32]bounds // their bounds then
	wait   waiting          // without Follow, the wait for other members; only run's goroutine uses it

	mu       sync.Mutex
	parts    map[int32]*partition // partitions assigned to this consumer
	assigned bool                 // an assignment has completed, possibly of nothing
	failed   error                // an error met in a group callback, ending Consume
	wake     chan struct{}        // closed, and replaced, at every change of the above

	// flushFailed says that run met an error of opts.Flush, which
	// Consume need not call again; only run's goroutine uses it.
	flushFailed bool
	// sessionLost is when a poll first reported a group session error
	// since records last arrived (zero when none has); only run's
	// goroutine uses it.
	sessionLost time.Time
}

// start lists the topic's partitions and returns a client consuming them.
func (c *consumer) start(ctx context.Context) (*kgo.Client, error) {
	b, err := c.bounds(ctx)
	if err != nil {
		return nil, err
	}
	for p := range b {
		c.all = append(c.all, p)
	}
	slices.Sort(c.all)
	c.first = b
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.topic.conn.brokers...),
		kgo.ClientID(clientID),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		// An offset outside the log (below its start, past its end, or
		// lost by the broker) restarts from the first offset: records
		// may be consumed again, but none is skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
	}
	if c.opts.Group == "" {
		offsets, err := c.startAlone(ctx, b)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic.name: offsets}))
	} else {
		opts = append(opts,
			kgo.ConsumerGroup(c.opts.Group),
			kgo.ConsumeTopics(c.topic.name),
			// A member that dies without leaving (SIGKILL) keeps its
			// partitions until its session times out: a restarted
			// process waits that long for them.
			kgo.SessionTimeout(c.topic.conn.session),
			kgo.HeartbeatInterval(c.topic.conn.session/6),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsAssigned(c.onAssigned),
			kgo.OnPartitionsRevoked(c.onRevoked),
			kgo.OnPartitionsLost(c.onRevoked),
			kgo.AdjustFetchOffsetsFn(c.adjust),
		)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka topic %s: consume: %w", c.topic.name, err)
	}
	return cl, nil
}

// run polls and hands batches to the handler until Consume is done.
func (c *consumer) run(ctx context.Context, cl *kgo.Client) error {
	for {
		c.mu.Lock()
		wake, failed := c.wake, c.failed
		c.mu.Unlock()
		if failed != nil {
			return failed
		}
		if ctx.Err() != nil {
			return c.stopped(ctx, nil)
		}
		if !c.opts.Follow {
			done, err := c.drained(ctx, cl)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
		}
		fetches := c.poll(ctx, cl, wake)
		if err := c.fetchError(ctx, fetches); err != nil {
			c.mu.Lock()
			failed := c.failed // the cause of a group error, if it was a callback's
			c.mu.Unlock()
			if failed != nil {
				return failed
			}
			return err
		}
		recs := fetches.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		c.sessionLost = time.Time{}
		if err := c.handleBatch(ctx, cl, recs); err != nil {
			if c.opts.Follow && ctx.Err() != nil && context.Cause(ctx) != errClosed && errors.Is(err, ctx.Err()) {
				return nil // the handler stopped because ctx ended; the batch stays uncommitted
			}
			return err
		}
		cl.AllowRebalance()
	}
}

// poll waits for records until some arrive, the consumer's state changes
// (wake is closed), ctx ends or, without Follow, idlePoll passes.
func (c *consumer) poll(ctx context.Context, cl *kgo.Client, wake <-chan struct{}) kgo.Fetches {
	var (
		pctx   context.Context
		cancel context.CancelFunc
	)
	if c.opts.Follow {
		pctx, cancel = context.WithCancel(ctx)
	} else {
		pctx, cancel = context.WithTimeout(ctx, idlePoll)
	}
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-wake:
			cancel()
		case <-stop:
		}
	}()
	return cl.PollRecords(pctx, c.size)
}

// fetchError returns the first error in fetches that ends Consume: not
// ctx's end, which run handles, nor reports the client recovers from. A lost
// group session (the broker restarted) is one of those: the client joins the
// group again by itself; without Follow it ends Consume once it has lasted
// the connector's rejoin time.
func (c *consumer) fetchError(ctx context.Context, fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, p int32, err error) {
		var (
			loss    *kgo.ErrDataLoss
			session *kgo.ErrGroupSession
		)
		switch {
		case first != nil:
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// The poll's own deadline or wake-up, or ctx's end.
		case errors.As(err, &loss):
			// The client has moved on to where the partition's data is.
		case errors.As(err, &session):
			if c.sessionLost.IsZero() {
				c.sessionLost = time.Now()
			}
			if since := time.Since(c.sessionLost); !c.opts.Follow && since >= c.topic.conn.rejoin {
				first = fmt.Errorf("kafka topic %s: consume: group %s has had no session for %v (is the broker up? "+
					"running the stage again resumes where it stopped; the kafka connector's rejoin option sets how long to wait): %w",
					c.topic.name, c.opts.Group, since.Round(time.Second), err)
			}
		case topic == "":
			first = fmt.Errorf("kafka topic %s: consume: %w", c.topic.name, err)
		default:
			first = fmt.Errorf("kafka topic %s: consume partition %d: %w", topic, p, err)
		}
	})
	if first != nil && context.Cause(ctx) == errClosed {
		return c.stopped(ctx, nil)
	}
	return first
}

// handleBatch decodes recs, hands them to the handler and, in a group
// without Positions, commits their offsets.
func (c *consumer) handleBatch(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	msgs := c.decode(recs)
	if err := c.handle(ctx, msgs); err != nil {
		return fmt.Errorf("kafka topic %s: consume %s: %w", c.topic.name, describeBatch(recs), err)
	}
	if c.opts.Group != "" && c.opts.Positions == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if err := cl.CommitRecords(cctx, recs...); err != nil {
			return fmt.Errorf("kafka topic %s: commit %s to group %s: %w", c.topic.name, describeBatch(recs), c.opts.Group, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		if p, ok := c.parts[r.Partition]; ok && r.Offset >= p.next {
			p.next = r.Offset + 1
		}
	}
	return nil
}

// minParallelDecode is the fewest records decode splits across CPUs.
const minParallelDecode = 2048

// decode decodes recs into messages, in order, on every CPU when there are
// many: the handler waits for the whole batch.
func (c *consumer) decode(recs []*kgo.Record) []port.Message {
	msgs := make([]port.Message, len(recs))
	one := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := recs[i]
			row, err := c.topic.codec.decode(r.Value)
			msgs[i] = port.Message{
				Source:  port.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
				Row:     row,
				Payload: r.Value,
				Key:     r.Key,
				Err:     err,
			}
		}
	}
	n := runtime.GOMAXPROCS(0)
	if n < 2 || len(recs) < minParallelDecode {
		one(0, len(recs))
		return msgs
	}
	var wg sync.WaitGroup
	per := (len(recs) + n - 1) / n
	for lo := 0; lo < len(recs); lo += per {
		wg.Go(func() { one(lo, min(lo+per, len(recs))) })
	}
	wg.Wait()
	return msgs
}

// stopped returns what Consume returns once ctx has ended, or err when it
// has not: an error when the connector was closed, nil with Follow, and
// ctx's error otherwise.
func (c *consumer) stopped(ctx context.Context, err error) error {
	switch {
	case ctx.Err() == nil:
		return err
	case context.Cause(ctx) == errClosed:
		return fmt.Errorf("kafka topic %s: consume: %w", c.topic.name, errClosed)
	case c.opts.Follow:
		return nil
	}
	return fmt.Errorf("kafka topic %s: consume: %w", c.topic.name, ctx.Err())
}

// describeBatch names the partitions and offsets of recs, as
// "partition 0 offsets 10-19, partition 3 offset 7".
func describeBatch(recs []*kgo.Record) string {
	var b strings.Builder
	for i := 0; i < len(recs); {
		j := i
		for j+1 < len(recs) && recs[j+1].Partition == recs[i].Partition {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "partition %d ", recs[i].Partition)
		if i == j {
			fmt.Fprintf(&b, "offset %d", recs[i].Offset)
		} else {
			fmt.Fprintf(&b, "offsets %d-%d", recs[i].Offset, recs[j].Offset)
		}
		i = j + 1
	}
	return b.String()
}

// partList formats partition numbers as "0,1,2".
func partList(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}
