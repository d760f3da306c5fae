package memory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Topic is a handle on an in-process partitioned log. It implements
// port.Topic and is safe for concurrent use. Handles on one topic name share
// the log; each partitions and keys what it publishes by its own key column
// (port.Message.Key is the column's text, as Kafka topics have it).
//
// Rows are shared, not copied: the caller must not change a row after
// passing it to Publish, and Message.Row is the published row, which a
// handler must clone before changing.
//
// Consumer groups keep their committed offsets in the topic. Memory topics do
// not rebalance: consumers of one group share partitions batch by batch, a
// partition being handled by at most one of them at a time.
type Topic struct {
	log    *topicLog
	schema *schema.Schema
	key    int // index of the partitioning column, -1 to round-robin
}

var _ port.Topic = (*Topic)(nil)

// topicLog is the state handles on one topic share.
type topicLog struct {
	name   string
	schema *schema.Schema // the schema the topic was created with

	mu     sync.Mutex
	parts  [][]schema.Row // rows by partition; a row's offset is its index
	keys   [][]keyRun     // by partition, which column keys its rows
	next   int            // partition the next round-robin row goes to
	groups map[string]*group
	// changes counts publishes and partition releases; wake, when not nil,
	// is closed at the next change to wake waiting consumers.
	changes uint64
	wake    chan struct{}
	// publishers counts the open publish sessions (BeginPublish).
	publishers int
}

// group is a consumer group's state in one topic.
type group struct {
	committed []int64 // per partition, offset of the next message to hand out
	busy      []bool  // per partition, whether a consumer is handling a batch of it
}

func newTopicLog(name string, s *schema.Schema, partitions int) *topicLog {
	if partitions <= 0 {
		partitions = 1
	}
	return &topicLog{name: name, schema: s, parts: make([][]schema.Row, partitions), keys: make([][]keyRun, partitions), groups: map[string]*group{}}
}

// keyRun says that the rows of a partition from offset from on, up to the
// next run, were published by a handle keyed by column col (-1 for none):
// a row's record key is that column's text, made when the row is handed
// out. A partition's runs are only ever appended to, so a copy of its
// slice taken under the topic's lock is safe to read while rows are added.
type keyRun struct {
	from int64
	col  int
}

// keyedBy records that the next row of partition p is keyed by column col.
// The caller holds l.mu.
func (l *topicLog) keyedBy(p, col int) {
	runs := l.keys[p]
	if len(runs) == 0 || runs[len(runs)-1].col != col {
		l.keys[p] = append(runs, keyRun{from: int64(len(l.parts[p])), col: col})
	}
}

// Schema returns the schema the handle was opened with.
func (t *Topic) Schema() *schema.Schema { return t.schema }

// Partitions returns the number of partitions of the topic.
func (t *Topic) Partitions() int { return len(t.log.parts) }

// Len returns the number of messages in the topic, over all partitions.
func (t *Topic) Len() int {
	l := t.log
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.parts {
		n += len(p)
	}
	return n
}

// Publish appends rows in order. A row goes to the partition given by the
// FNV-1a hash of its key column's text form (schema.Type.Append), which is
// its record key, or to the next partition in turn, with no key, when the
// handle has no key column; a row whose key column is null has no key (and
// goes where the empty text hashes to). Every row must have one value per
// column; Publish checks them all before appending any. The rows are
// stored as given and must not be changed afterwards.
func (t *Topic) Publish(ctx context.Context, rows []schema.Row) error {
	l := t.log
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory topic %s: publish: %w", l.name, err)
	}
	for i, r := range rows {
		if len(r) != len(t.schema.Columns) {
			return fmt.Errorf("memory topic %s: publish row %d: has %d values, want %d (%s)",
				l.name, i, len(r), len(t.schema.Columns), t.schema.String())
		}
	}
	if len(rows) == 0 {
		return nil
	}
	n := len(l.parts)
	if t.key < 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range rows {
			l.keyedBy(l.next, -1)
			l.parts[l.next] = append(grow(l.parts[l.next], 1), r)
			l.next = (l.next + 1) % n
		}
		l.signal()
		return nil
	}
	// Hash before taking the lock, so consumers wait less.
	typ := t.schema.Columns[t.key].Type
	parts := make([]uint32, len(rows))
	var buf []byte
	for i, r := range rows {
		buf = typ.Append(buf[:0], r[t.key])
		parts[i] = fnv1a(buf) % uint32(n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range rows {
		l.keyedBy(int(parts[i]), t.key)
		l.parts[parts[i]] = append(grow(l.parts[parts[i]], 1), r)
	}
	l.signal()
	return nil
}

var _ port.PublishSessions = (*Topic)(nil)

// BeginPublish announces a publisher, until end is called. Meanwhile
// consumers that do not follow wait for a partition to hold a full batch
// before handing it out, and wait for more at the end of the topic, so
// they hand out the same batches, in the same order, as they would after
// the publisher ended. end may be called more than once; only the first
// call counts.
func (t *Topic) BeginPublish() (end func()) {
	l := t.log
	l.mu.Lock()
	l.publishers++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.publishers--
			l.signal()
			l.mu.Unlock()
		})
	}
}

// fnv1a returns the 32-bit FNV-1a hash of b.
func fnv1a(b []byte) uint32 {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for _, c := range b {
		h ^= uint32(c)
		h *= prime32
	}
	return h
}

// signal counts a change and wakes every consumer waiting for one. The caller holds l.mu.
func (l *topicLog) signal() {
	l.changes++
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// version returns the change count, to pass to wait later.
func (l *topicLog) version() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changes
}

// wait returns when the topic has changed since version v or ctx is done.
func (l *topicLog) wait(ctx context.Context, v uint64) {
	l.mu.Lock()
	if l.changes != v {
		l.mu.Unlock()
		return
	}
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	wake := l.wake
	l.mu.Unlock()
	select {
	case <-wake:
	case <-ctx.Done():
	}
}

// cursor is one Consume call's view of where each partition stands.
type cursor struct {
	group *group  // the consumer group, nil when consuming alone
	own   []int64 // per partition offsets when consuming alone
	// msgs, when not nil, is the slice handed out batch after batch
	// (port.ConsumeOptions.Reuse), so batches allocate no messages; keys
	// is the buffer their keys' text is made in then.
	msgs []port.Message
	keys []byte
}

// claim returns the next batch of partition p for c, at most size rows from
// offset from, with the partition's key runs (those of the batch included),
// and marks the partition busy for the group. busy reports that another
// consumer of the group is handling the partition. The caller holds l.mu.
func (l *topicLog) claim(c *cursor, p, size int) (rows []schema.Row, keys []keyRun, from int64, busy bool) {
	if c.group == nil {
		from = c.own[p]
	} else {
		if c.group.busy[p] {
			return nil, nil, 0, true
		}
		from = c.group.committed[p]
	}
	part := l.parts[p]
	end := min(int64(len(part)), from+int64(size))
	if end <= from {
		return nil, nil, from, false
	}
	if c.group != nil {
		c.group.busy[p] = true
	}
	return part[from:end:end], l.keys[p], from, false
}

// full reports whether partition p holds a full batch of size rows for c
// from where c stands, or is being handled by another consumer of the
// group (claim then reports it busy). The caller holds l.mu.
func (l *topicLog) full(c *cursor, p, size int) bool {
	from := int64(0)
	if c.group == nil {
		from = c.own[p]
	} else {
		if c.group.busy[p] {
			return true
		}
		from = c.group.committed[p]
	}
	return int64(len(l.parts[p]))-from >= int64(size)
}

// release ends the handling of partition p's batch that ended before offset
// end, committing end when the handler succeeded. The caller holds l.mu.
func (l *topicLog) release(c *cursor, p int, end int64, ok bool) {
	if c.group == nil {
		if ok {
			c.own[p] = end
		}
		return
	}
	if ok {
		c.group.committed[p] = end
	}
	c.group.busy[p] = false
	l.signal()
}

// Consume hands handle batches of at most opts.BatchSize messages (1000 when
// not positive), each from one partition in offset order, taking partitions
// in turn so they interleave. With opts.Reuse every batch is handed
// out in one slice, refilled. Alone (opts.Group "") it reads every partition
// from offset 0; in a group it starts from the group's committed offsets and,
// after handle returns nil, commits the offset after the batch's last message.
// When handle fails, Consume returns its error wrapped and leaves the batch
// uncommitted, so the group's next Consume hands it out again.
//
// Without opts.Follow, Consume returns nil once every partition is drained
// (waiting for other consumers of the group to finish their batches), and
// ctx's error, wrapped, when ctx ends first. With opts.Follow it waits for
// new messages instead of returning, and returns nil when ctx ends, that
// being the normal way to stop following.
func (t *Topic) Consume(ctx context.Context, opts port.ConsumeOptions, handle func(context.Context, []port.Message) error) error {
	l := t.log
	if handle == nil {
		return fmt.Errorf("memory topic %s: consume: %w", l.name, errNoHandler)
	}
	size := opts.BatchSize
	if size <= 0 {
		size = 1000
	}
	n := len(l.parts)
	c, err := l.cursor(ctx, opts, size)
	if err != nil {
		return fmt.Errorf("memory topic %s: consume: %w", l.name, err)
	}
	if opts.Assigned != nil {
		// Every consumer serves every partition, a batch at a time.
		all := make([]int32, n)
		for p := range all {
			all[p] = int32(p)
		}
		opts.Assigned(all)
	}
	stop := func(err error) error {
		if opts.Follow {
			return nil
		}
		return fmt.Errorf("memory topic %s: consume: %w", l.name, err)
	}
	for {
		v := l.version()
		progressed, blocked := false, false
		for p := range n {
			if err := ctx.Err(); err != nil {
				return stop(err)
			}
			l.mu.Lock()
			if !opts.Follow {
				// While a publisher is open, wait for a full batch here
				// rather than hand out part of one or move on.
				for l.publishers > 0 && !l.full(c, p, size) {
					v := l.changes
					l.mu.Unlock()
					l.wait(ctx, v)
					if err := ctx.Err(); err != nil {
						return stop(err)
					}
					l.mu.Lock()
				}
			}
			rows, keys, from, busy := l.claim(c, p, size)
			l.mu.Unlock()
			blocked = blocked || busy
			if len(rows) == 0 {
				continue
			}
			if err := l.handleBatch(ctx, c, p, from, rows, keys, handle); err != nil {
				return fmt.Errorf("memory topic %s: consume partition %d offsets %d-%d: %w",
					l.name, p, from, from+int64(len(rows))-1, err)
			}
			progressed = true
		}
		if progressed {
			continue
		}
		l.mu.Lock()
		open := l.publishers > 0
		l.mu.Unlock()
		if !blocked && !open && !opts.Follow {
			return nil
		}
		l.wait(ctx, v)
	}
}

// handleBatch hands the batch claimed from partition p to handle and then
// releases the partition, committing the batch when handle returned nil. It
// releases the partition without committing when handle panics.
func (l *topicLog) handleBatch(ctx context.Context, c *cursor, p int, from int64, rows []schema.Row, keys []keyRun,
	handle func(context.Context, []port.Message) error) (err error) {
	ok := false
	defer func() {
		l.mu.Lock()
		l.release(c, p, from+int64(len(rows)), ok)
		l.mu.Unlock()
	}()
	err = handle(ctx, l.messages(c, p, from, rows, keys))
	ok = err == nil
	return err
}

// messages wraps rows, read from partition p starting at offset from, as
// messages keyed as runs says: in c's reused slice when it has one, with
// their keys' text in its reused buffer, else in new ones.
func (l *topicLog) messages(c *cursor, p int, from int64, rows []schema.Row, runs []keyRun) []port.Message {
	var msgs []port.Message
	if c.msgs != nil && cap(c.msgs) >= len(rows) {
		msgs = c.msgs[:len(rows)]
	} else {
		msgs = make([]port.Message, len(rows))
	}
	text := c.keys[:0] // the keys' text; never nil, so that an empty key is not nil
	if text == nil {
		text = make([]byte, 0, 8*len(rows))
	}
	run := max(sort.Search(len(runs), func(i int) bool { return runs[i].from > from })-1, 0)
	for i, r := range rows {
		off := from + int64(i)
		for run+1 < len(runs) && runs[run+1].from <= off {
			run++
		}
		var key []byte
		if col := runs[run].col; col >= 0 && r[col] != nil {
			start := len(text)
			text = l.schema.Columns[col].Type.Append(text, r[col])
			key = text[start:len(text):len(text)]
		}
		msgs[i] = port.Message{
			Source: port.Source{Topic: l.name, Partition: int32(p), Offset: off},
			Row:    r,
			Key:    key,
		}
	}
	if c.msgs != nil {
		c.keys = text
	}
	return msgs
}

// group returns the named consumer group, creating it at offset 0 of every partition.
func (l *topicLog) group(name string) *group {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.groups[name]
	if !ok {
		n := len(l.parts)
		g = &group{committed: make([]int64, n), busy: make([]bool, n)}
		l.groups[name] = g
	}
	return g
}

// errNoHandler is returned by Consume when it is given no handler.
var errNoHandler = errors.New("no handler")

// Truncate removes every record of the topic and every group's position,
// so offsets start again at 0. It waits for no consumer: call it when none runs.
func (t *Topic) Truncate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := t.log
	l.mu.Lock()
	for i := range l.parts {
		l.parts[i] = nil
		l.keys[i] = nil
	}
	l.groups = map[string]*group{}
	l.next = 0
	l.signal()
	l.mu.Unlock()
	return nil
}

// Describe returns the bounds of the topic's partitions: each starts at 0
// and ends after its last row. Memory topics have no ID. It implements
// port.Describer.
func (t *Topic) Describe(ctx context.Context) (port.TopicInfo, error) {
	if err := ctx.Err(); err != nil {
		return port.TopicInfo{}, err
	}
	l := t.log
	l.mu.Lock()
	defer l.mu.Unlock()
	info := port.TopicInfo{Start: map[int32]int64{}, End: map[int32]int64{}}
	for p, rows := range l.parts {
		info.Start[int32(p)], info.End[int32(p)] = 0, int64(len(rows))
	}
	return info, nil
}

var _ port.Describer = (*Topic)(nil)

// cursor returns a consumer's cursor: its group's, or its own from the
// start, moved to where opts.Positions says when set.
func (l *topicLog) cursor(ctx context.Context, opts port.ConsumeOptions, size int) (*cursor, error) {
	c := &cursor{}
	if opts.Reuse {
		c.msgs = make([]port.Message, 0, size)
	}
	if opts.Group == "" {
		c.own = make([]int64, len(l.parts))
	} else {
		c.group = l.group(opts.Group)
	}
	if opts.Positions != nil {
		if err := l.position(ctx, c, opts.Positions); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// position starts c where the store of ConsumeOptions.Positions says, for
// every partition (a memory topic's consumers share them all): the store
// is the source of truth, and partitions it holds no offset for start at
// the beginning, as do those it holds an offset past the end of. A
// partition another consumer of the group is handling
// keeps its place.
func (l *topicLog) position(ctx context.Context, c *cursor, positions func(context.Context, []int32) (map[int32]int64, error)) error {
	all := make([]int32, len(l.parts))
	for p := range all {
		all[p] = int32(p)
	}
	at, err := positions(ctx, all)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range all {
		next := at[int32(p)]
		if next < 0 || next > int64(len(l.parts[p])) {
			next = 0 // past the end (a topic emptied since): from the beginning, as Kafka does
		}
		switch {
		case c.group == nil:
			c.own[p] = next
		case !c.group.busy[p]:
			c.group.committed[p] = next
		}
	}
	return nil
}
