package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// committed is what Commit keeps beside the tables: each group's next
// offsets and keyed state. Commit holds mu from its checks to its last
// write, so that two commits of one partition cannot both pass the offset
// check.
type committed struct {
	mu      sync.Mutex
	offsets map[offsetKey]port.StoredOffset
	state   map[stateKey]string
}

// offsetKey names one partition of a topic as a group consumes it.
type offsetKey struct {
	group, topic string
	part         int32
}

// stateKey names one key of a group's state for a topic.
type stateKey struct{ group, topic, key string }

// commitKey marks the context of Commit's own table writes: the tables'
// gates are held by Commit, and its writes leave their versions as they are.
type commitKey struct{}

// tableWrite is a TableWrite resolved against the connector's tables, with
// the rows to upsert once every check passed.
type tableWrite struct {
	t    *Table
	rows []schema.Row
}

// Commit applies b as port.Committer says, and as the mysql connector
// does: for each partition the stored next offset must be none or From
// (apply) or Next (applied before: nil, writing nothing), else an error
// wrapping port.ErrStale (port.ErrOtherTopic when it was stored with
// another topic ID); every table of b.Reads must still be at the version
// read (else port.ErrConflict); a write marked Insert fails with
// port.ErrExists when a key exists (in the table or twice in the write); a
// write with Columns changes only those columns of rows that exist. Every
// check runs before anything is written, so a failed Commit writes nothing.
// Commit waits for a tx (InTx) changing a table it reads or writes, and
// leaves the versions of the tables it writes as they are. Readers of the
// tables may see a commit's writes one table after the other.
func (c *Connector) Commit(ctx context.Context, b port.Batch) error {
	if err := c.commit(ctx, b); err != nil {
		return fmt.Errorf("memory commit of group %q: %w", b.Group, err)
	}
	return nil
}

func (c *Connector) commit(ctx context.Context, b port.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkBatch(b); err != nil {
		return err
	}
	writes, names, err := c.resolve(b)
	if err != nil {
		return err
	}
	release, err := c.lockGates(ctx, names)
	if err != nil {
		return err
	}
	defer release()
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	apply, err := c.checkOffsets(b.Group, b.Offsets)
	if err != nil || !apply {
		return err
	}
	if err := c.checkVersions(b.Reads); err != nil {
		return err
	}
	for i, w := range b.Writes {
		if writes[i].t == nil {
			continue
		}
		if writes[i].rows, err = writes[i].t.prepareWrite(ctx, w); err != nil {
			return err
		}
	}
	// Every check passed: nothing below fails but a broken invariant.
	wctx := context.WithValue(context.WithoutCancel(ctx), commitKey{}, true)
	for _, w := range writes {
		if w.t == nil {
			continue
		}
		if err := w.t.Upsert(wctx, w.rows); err != nil {
			return err
		}
	}
	c.storeCommitted(b)
	if len(b.Outbox) > 0 {
		if err := c.AddOutbox(wctx, b.Outbox); err != nil {
			return err
		}
	}
	return nil
}

// checkBatch reports what makes b unfit to commit, whatever the store holds.
func checkBatch(b port.Batch) error {
	if len(b.Offsets) > 0 && b.Group == "" {
		return fmt.Errorf("batch has offsets but no consumer group")
	}
	seen := make(map[offsetKey]bool, len(b.Offsets))
	for _, o := range b.Offsets {
		k := offsetKey{topic: o.Topic, part: o.Partition}
		if seen[k] {
			return fmt.Errorf("batch lists topic %s partition %d twice", o.Topic, o.Partition)
		}
		seen[k] = true
	}
	if len(b.State) > 0 && b.Group == "" {
		return fmt.Errorf("batch has state but no consumer group")
	}
	for _, e := range b.State {
		if len(e.Key) > port.MaxStateKey || e.Key == "" {
			return fmt.Errorf("state key %q: want 1 to %d bytes", e.Key, port.MaxStateKey)
		}
	}
	for _, e := range b.Outbox {
		if e.Group == "" || e.Topic == "" {
			return fmt.Errorf("outbox record for topic %q of group %q: want both", e.Topic, e.Group)
		}
	}
	return nil
}

// resolve finds the table of each write (nil for a write of no rows) and
// of each read, and returns the names of every table b reads or writes.
func (c *Connector) resolve(b port.Batch) ([]tableWrite, []string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	writes := make([]tableWrite, len(b.Writes))
	var names []string
	for i, w := range b.Writes {
		t, ok := c.tables[w.Table]
		if !ok {
			return nil, nil, fmt.Errorf("write to table %q, which was not opened with Table (open: %s)", w.Table, c.openTablesLocked())
		}
		if len(w.Rows) > 0 {
			writes[i].t = t
			names = append(names, w.Table)
		}
	}
	for _, r := range b.Reads {
		if _, ok := c.tables[r.Table]; !ok {
			return nil, nil, fmt.Errorf("read of table %q, which was not opened with Table (open: %s)", r.Table, c.openTablesLocked())
		}
		names = append(names, r.Table)
	}
	return writes, names, nil
}

// openTablesLocked lists the names of the open tables, for messages; the
// caller holds c.mu.
func (c *Connector) openTablesLocked() string {
	if len(c.tables) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(c.tables)), ", ")
}

// checkOffsets reports whether a batch of group covering offs is to be
// applied, as the mysql connector's check does; the caller holds c.store.mu.
func (c *Connector) checkOffsets(group string, offs []port.Offset) (bool, error) {
	for _, o := range offs {
		s, ok := c.store.offsets[offsetKey{group, o.Topic, o.Partition}]
		if ok && s.TopicID != "" && o.TopicID != "" && s.TopicID != o.TopicID {
			return false, fmt.Errorf("the offsets of group %q for topic %s were taken on the topic with ID %s, "+
				"but the batch comes from the topic with ID %s: %w", group, o.Topic, s.TopicID, o.TopicID, port.ErrOtherTopic)
		}
	}
	return port.ApplyOffsets(offs, func(o port.Offset) (int64, bool) {
		s, ok := c.store.offsets[offsetKey{group, o.Topic, o.Partition}]
		return s.Next, ok
	})
}

// checkVersions returns an error wrapping port.ErrConflict when a table of
// reads has moved on from the version read.
func (c *Connector) checkVersions(reads []port.TableRead) error {
	var moved []string
	for _, r := range reads {
		if v := c.version(r.Table); v != r.Version {
			moved = append(moved, fmt.Sprintf("table %s is at version %d, the batch read it at %d", r.Table, v, r.Version))
		}
	}
	if len(moved) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(moved, "; "), port.ErrConflict)
	}
	return nil
}

// prepareWrite checks w's rows against t and returns the rows to upsert:
// for a write with Columns, rows that exist keep their other columns. A
// write marked Insert fails with port.ErrExists when t holds one of its
// keys, or when it lists one twice.
func (t *Table) prepareWrite(ctx context.Context, w port.TableWrite) ([]schema.Row, error) {
	keys := make([]any, len(w.Rows))
	for i, r := range w.Rows {
		if err := t.checkRow(r); err != nil {
			return nil, fmt.Errorf("table %s: row %d: %w", w.Table, i, err)
		}
		keys[i] = r[t.key]
	}
	cols := make([]int, len(w.Columns))
	for i, name := range w.Columns {
		if cols[i] = t.schema.Index(name); cols[i] < 0 {
			return nil, fmt.Errorf("table %s: write names column %q, which it has not (%s)", w.Table, name, t.schema.String())
		}
	}
	if !w.Insert && len(cols) == 0 {
		return w.Rows, nil
	}
	old, err := t.Get(ctx, keys)
	if err != nil {
		return nil, err
	}
	if w.Insert {
		for i, k := range keys {
			if old[i] != nil {
				return nil, fmt.Errorf("table %s: insert of key %v: %w", w.Table, k, port.ErrExists)
			}
		}
		if k, twice := repeated(keys); twice {
			return nil, fmt.Errorf("table %s: insert of key %v twice: %w", w.Table, k, port.ErrExists)
		}
		return w.Rows, nil
	}
	rows := slices.Clone(w.Rows)
	for i, o := range old {
		if o == nil {
			continue
		}
		r := o.Clone()
		for _, c := range cols {
			r[c] = w.Rows[i][c]
		}
		rows[i] = r
	}
	return rows, nil
}

// storeCommitted stores b's offsets and state; the caller holds c.store.mu.
func (c *Connector) storeCommitted(b port.Batch) {
	if c.store.offsets == nil {
		c.store.offsets = map[offsetKey]port.StoredOffset{}
		c.store.state = map[stateKey]string{}
	}
	for _, o := range b.Offsets {
		c.store.offsets[offsetKey{b.Group, o.Topic, o.Partition}] = port.StoredOffset{Next: o.Next, TopicID: o.TopicID}
	}
	for _, e := range b.State {
		c.store.state[stateKey{b.Group, e.Topic, e.Key}] = e.Value
	}
}

// Offsets returns the committed next offsets of group for topic, by
// partition. It implements port.Committer.
func (c *Connector) Offsets(ctx context.Context, group, topic string) (map[int32]int64, error) {
	stored, err := c.StoredOffsets(ctx, group, topic)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(stored))
	for p, o := range stored {
		out[p] = o.Next
	}
	return out, nil
}

// StoredOffsets returns the committed next offsets of group for topic, by
// partition, with the ID of the topic each was taken on. It implements
// port.OffsetOrigins.
func (c *Connector) StoredOffsets(ctx context.Context, group, topic string) (map[int32]port.StoredOffset, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory offsets of group %q topic %s: %w", group, topic, err)
	}
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	out := map[int32]port.StoredOffset{}
	for k, o := range c.store.offsets {
		if k.group == group && k.topic == topic {
			out[k.part] = o
		}
	}
	return out, nil
}

// CommittedGroups returns every group with committed offsets of topic,
// with the sum of its next offsets. It implements port.GroupsLister.
func (c *Connector) CommittedGroups(ctx context.Context, topic string) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory offsets of topic %s: %w", topic, err)
	}
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	out := map[string]int64{}
	for k, o := range c.store.offsets {
		if k.topic == topic {
			out[k.group] += o.Next
		}
	}
	return out, nil
}

// State returns the stored values of keys of group's state for topic. It
// implements port.Committer.
func (c *Connector) State(ctx context.Context, group, topic string, keys []string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory state of group %q topic %s: %w", group, topic, err)
	}
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := c.store.state[stateKey{group, topic, k}]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// ResetOffsets forgets every group's committed offsets and state for
// topic, and the outbox entries of the stages that consumed it. It
// implements port.Committer.
func (c *Connector) ResetOffsets(ctx context.Context, topic string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory reset offsets of topic %s: %w", topic, err)
	}
	c.store.mu.Lock()
	defer c.store.mu.Unlock()
	for k := range c.store.offsets {
		if k.topic == topic {
			delete(c.store.offsets, k)
		}
	}
	for k := range c.store.state {
		if k.topic == topic {
			delete(c.store.state, k)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.box.entries[:0]
	for _, e := range c.box.entries {
		if e.From != topic {
			kept = append(kept, e)
		}
	}
	clear(c.box.entries[len(kept):])
	c.box.entries = kept
	return nil
}

// repeated returns a key that keys hold twice, if any. Int keys, as a
// stream stage's record ids usually are, are sorted rather than hashed.
func repeated(keys []any) (any, bool) {
	ints := make([]int, len(keys))
	for i, k := range keys {
		x, ok := k.(int)
		if !ok {
			ints = nil
			break
		}
		ints[i] = x
	}
	if ints != nil {
		if !slices.IsSorted(ints) {
			slices.Sort(ints)
		}
		for i := 1; i < len(ints); i++ {
			if ints[i] == ints[i-1] {
				return ints[i], true
			}
		}
		return nil, false
	}
	seen := make(map[any]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return k, true
		}
		seen[k] = true
	}
	return nil, false
}
