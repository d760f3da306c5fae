package stage

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// streamRun is the state of one run of a stream stage: the lookup caches
// are the per-key state, kept coherent with the stage's own writes.
type streamRun struct {
	s       *streamStage
	using   *stageRules // the rules the deciders decide with (see useLatest)
	rt      *Runtime
	st      *Stats
	workers []*decider // one per CPU when records can be split by key, else one
	tables  map[string]port.Table
	cache   map[string]*keyMap[any] // per table, key -> its row as a schema.Row in an any, boxed once
	seen    *keyMap[bool]           // fetch's keys to read, reused batch after batch
	at      *keyMap[int]            // duplicates' ids of the batch when out of order, reused batch after batch
	dirty   map[string][]schema.Row
	vars    [][]any // per message of the batch: scope values, then decision and output
	ok      []bool
	outs    []schema.Row
	// shadowOuts are the rows of the shadow decisions table, one per output row.
	shadowOuts []schema.Row
	// sinkOuts are the rows of each sink (streamStage.sinks), and relay
	// publishes those of topic sinks from the outbox (nil without any).
	sinkOuts [][]sinkRow
	relay    *relay
	// store, the output table's connector, commits batches with their
	// offsets, which makes the stage effectively-once (see port.Committer).
	// Every stream stage has one, in dry-run and run alike.
	store port.Committer
	// dead holds the batch's dead letters until its commit.
	deadMu  sync.Mutex
	dead    []port.DeadLetter
	group   string
	offsets []port.Offset
	// topicID is the ID of the topic consumed (port.TopicInfo.ID), which
	// the offsets carry to the store.
	topicID string
	// inflight holds the record ids of the chunk being committed while the
	// next one is decided: they count as decided already.
	inflight *keyMap[bool]
	// spareIDs is a map of ids no chunk uses any more, for take to fill.
	spareIDs *keyMap[bool]
	// speculate skips reading the output table for records
	// decided before: the chunk's output rows are committed as inserts, and
	// a commit that meets an existing key fails whole (port.ErrExists), to
	// be decided again with the check. It stays off once that happened.
	speculate bool
	// checked holds the ids of the chunk's records that were not skipped
	// as duplicates.
	checked []any
	// deadLetter is the runtime's dead-letter sink. A chunk's dead
	// letters reach it once the chunk is committed.
	deadLetter func(port.DeadLetter)
	// reads are the lookup tables, and versions their versions in the
	// store from before the cached rows were read (nil until read, and
	// again whenever the cache is dropped): each commit names them, and
	// fails with port.ErrConflict when another stage changed one since.
	reads    []string
	versions map[string]int64
	// conflicts counts the commits in a row that met port.ErrConflict.
	conflicts int
	// winCache holds each key's window states, winDirty the keys the
	// chunk changed, stamp the chunk (see windowrun.go).
	winCache *keyMap[*keyWindows]
	winDirty []*keyWindows
	stamp    uint64
	// keys checks that records carry their topic's key (see keyed).
	keys *recordKeys
	// lists holds the sets of the stage's lists (lists.go), nil without any.
	lists *listSets
	// hold, with a topic that calls ConsumeOptions.Flush,
	// lets a batch return with its last chunk's commit in flight (held),
	// which the next batch or flush waits for: MariaDB commits it while
	// the topic fetches and decodes the next batch.
	hold    bool
	held    *heldCommit
	mu      sync.Mutex // one batch or flush at a time: flush runs on the topic's goroutine
	flushed error      // the first error flush met, returned by every later one
	// obs is what the run reports to the runtime's Monitor (monitor.go).
	obs streamObs
}

// heldCommit is the last chunk of a batch, committing after the batch returned.
type heldCommit struct {
	p    *pendingCommit
	msgs []port.Message // the chunk's records, to decide again if the commit meets records decided before
	mark counts         // the stage's counts before the chunk was decided
}

func (s *streamStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	r := s.newRun(rt, &st)
	topic, err := rt.Resources.Topic(ctx, s.topic, s.tspec)
	if err != nil {
		return st, err
	}
	if len(s.lists) > 0 {
		lctx, cancel := context.WithCancel(ctx)
		if r.lists, err = s.loadLists(lctx, rt); err != nil {
			cancel()
			return st, err
		}
		defer r.lists.stop()
		defer cancel()
	}
	r.obs.watch = newConsumerWatch(rt, s.name, s.tspec.Name, topic)
	if err := r.openTables(ctx); err != nil {
		return st, err
	}
	opts, err := r.consumeOptions(topic)
	if err != nil {
		return st, err
	}
	if err := r.checkTopic(ctx, topic); err != nil {
		return st, err
	}
	if s.topicSinks {
		if err := r.startRelay(ctx); err != nil {
			return st, err
		}
	}
	stopWatch := r.obs.watch.start(ctx)
	err = topic.Consume(ctx, opts, r.batch)
	if ferr := r.flush(ctx); ferr != nil && err == nil { // nothing stays in flight, whatever the topic did
		err = ferr
	}
	if r.relay != nil {
		if rerr := r.relay.stop(ctx); rerr != nil && err == nil {
			err = rerr
		}
	}
	stopWatch()
	st.Elapsed = time.Since(start)
	return st, err
}

// newRun returns the state of a run of s counting into st, with its
// deciders: one per CPU when records can be split by key (see parallel).
func (s *streamStage) newRun(rt *Runtime, st *Stats) *streamRun {
	r := &streamRun{s: s, st: st, tables: map[string]port.Table{}, cache: map[string]*keyMap[any]{},
		seen: newKeyMap[bool](), at: newKeyMap[int](),
		dirty: map[string][]schema.Row{}, winCache: newKeyMap[*keyWindows]()}
	local := *rt // the same runtime, but dead letters are also kept for the batch's commit
	r.deadLetter = rt.DeadLetter
	local.DeadLetter = func(d port.DeadLetter) {
		r.deadMu.Lock()
		r.dead = append(r.dead, d)
		r.deadMu.Unlock()
	}
	r.rt = &local
	n := 1
	if s.parallel() {
		n = runtime.GOMAXPROCS(0)
	}
	r.using = s.cur.Load()
	for range n {
		r.workers = append(r.workers, r.newDecider(rt))
	}
	return r
}

// newDecider returns a decider of the run, with its own evaluators.
func (r *streamRun) newDecider(rt *Runtime) *decider {
	s := r.s
	dec := make(schema.Row, len(decisionSchema.Columns))
	w := &decider{r: r, rules: r.using.live.evaluator(), emit: s.emit.evaluator(),
		dec: dec, decVar: dec, dirty: map[string][]schema.Row{}, marked: map[string]*keyMap[bool]{}}
	if s.emitRest != nil {
		w.emitRest = s.emitRest.evaluator()
	}
	w.useShadow(r.using.shadow)
	w.windows = s.newWindowDeciders()
	w.sinks = s.newSinkDeciders()
	w.sinkOuts = make([][]sinkRow, len(s.sinks))
	if rt.Monitor != nil {
		w.tally, r.obs.tally = Tally{}, Tally{}
	}
	return w
}

// openTables opens every table the stage reads or writes: the output
// table, the lookups', the shadow decisions' and the sink tables.
func (r *streamRun) openTables(ctx context.Context) error {
	s := r.s
	tables := []spec.Ref{s.out}
	schemas := []*schema.Schema{s.outSchema}
	for _, l := range s.lookups {
		tables, schemas = append(tables, l.ref), append(schemas, l.schema)
	}
	if s.shadowSchema != nil {
		tables, schemas = append(tables, s.shadowOut), append(schemas, s.shadowSchema)
	}
	r.sinkOuts = make([][]sinkRow, len(s.sinks))
	for _, k := range s.sinks {
		if k.topic == nil {
			tables, schemas = append(tables, k.ref), append(schemas, k.out)
		}
	}
	for i, ref := range tables {
		if r.tables[ref.String()] != nil {
			continue
		}
		var err error
		if r.tables[ref.String()], err = r.rt.Resources.Table(ctx, ref, schemas[i]); err != nil {
			return err
		}
		r.cache[ref.String()] = newKeyMap[any]()
		for _, w := range r.workers {
			w.marked[ref.String()] = newKeyMap[bool]()
		}
	}
	return nil
}

// consumeOptions returns how the stage consumes topic: in chunks committed
// with their offsets by its output table's connector (see committer).
func (r *streamRun) consumeOptions(topic port.Topic) (port.ConsumeOptions, error) {
	s, rt := r.s, r.rt
	r.group = s.group
	if rt.Group != "" {
		r.group = rt.Group
	}
	// batch keeps no message slice past its call: the rows are kept, and
	// sources copied into dead letters.
	opts := port.ConsumeOptions{Group: r.group, BatchSize: s.batchSize, Follow: rt.Follow, Reuse: true, Assigned: r.obs.watch.assigned}
	var err error
	if r.store, err = r.committer(rt); err != nil {
		return opts, err
	}
	for _, l := range s.lookups {
		if l.ref.Connector == s.out.Connector && !slices.Contains(r.reads, l.schema.Name) {
			r.reads = append(r.reads, l.schema.Name)
		}
	}
	opts.Positions = r.positions
	opts.Committed = r.committed
	opts.BatchSize = s.chunkSize() * commitsPerPoll
	r.speculate = s.idCol >= 0
	if f, ok := topic.(port.Flusher); ok && f.CallsFlush() && !rt.Follow {
		r.hold = true
		opts.Flush = r.flush
	}
	return opts, nil
}

// startRelay starts the relay publishing the records of topic sinks.
func (r *streamRun) startRelay(ctx context.Context) error {
	var err error
	if r.relay, err = r.newRelay(ctx, r.rt); err != nil {
		return err
	}
	// Records a run before committed and did not publish (it stopped, or
	// was killed, in between) go first.
	if err := r.relay.drain(ctx); err != nil {
		return err
	}
	r.relay.start(ctx)
	return nil
}

// flush waits for the commit a batch left in flight (see streamRun.hold),
// deciding its chunk again if needed. Once it failed, it fails again.
func (r *streamRun) flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil && r.flushed == nil {
		r.flushed = r.handle(ctx, nil, true)
	}
	return r.flushed
}

// Commit pipelining: a consumed batch is decided and
// committed in chunks of the stage's batch_size (defaultChunk when unset),
// and each chunk is decided while the one before it commits. Chunks of
// 5,000 rather than 1,000 records write each changed state row (a saved
// lookup) about half as often per record and make a fifth of the commits:
// on 1M records MariaDB spent 7 s of CPU instead of 11 s.
const (
	defaultChunk   = 5000
	commitsPerPoll = 8 // chunks per batch the topic hands over
)

// chunkSize is the number of records committed in one store tx.
func (s *streamStage) chunkSize() int {
	if s.batchSize > 0 {
		return s.batchSize
	}
	return defaultChunk
}

// batch decides one batch of messages and writes its results. With a
// store, the batch is committed in chunks, each decided while the previous
// chunk commits; batch returns once every chunk is committed, so the topic
// never rebalances with a commit in flight, or, with hold, once every chunk
// but the last is, which the topic finishes with flush before it
// rebalances or returns.
func (r *streamRun) batch(ctx context.Context, msgs []port.Message) error {
	if r.relay != nil {
		if err := r.relay.failed(); err != nil {
			return err
		}
	}
	r.obs.watch.arrived()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flushed != nil {
		return r.flushed
	}
	if r.held == nil {
		// No chunk is decided and not committed: rules reloaded since
		// the last batch take over here, for the whole of this one.
		r.useLatest()
	}
	return r.handle(ctx, msgs, !r.hold)
}

// counts are the figures of a stream stage's Stats that deciding a chunk adds to.
type counts struct{ in, dup, dead int64 }

func (r *streamRun) counts() counts { return counts{r.st.In, r.st.Dup, r.st.Dead} }

// prepare decides msgs: it skips duplicates, resolves the lookups and
// leaves the output rows, changed state and offsets in r.
func (r *streamRun) prepare(ctx context.Context, msgs []port.Message) error {
	s := r.s
	began := time.Now()
	n := len(s.sc.names) + 2
	for len(r.vars) < len(msgs) {
		r.vars = append(r.vars, make([]any, n))
	}
	r.ok = r.ok[:0]
	r.rt.Progress.Add(int64(len(msgs)))
	for i, m := range msgs {
		r.st.In++
		ok := m.Err == nil && m.Row != nil
		if !ok {
			reason := "undecodable record"
			if m.Err != nil {
				reason = m.Err.Error()
			}
			deadLetter(r.rt, r.st, s.name, m.Source, string(m.Payload), reason)
		} else {
			ok = r.keyed(m)
		}
		r.vars[i][0] = m.Row
		r.ok = append(r.ok, ok)
	}
	if err := r.duplicates(ctx, msgs); err != nil {
		return err
	}
	if r.versions == nil && len(r.reads) > 0 {
		// Before any row is cached: a change committed after this read
		// moves a version on, and the commit of what was decided on the
		// rows then fails with port.ErrConflict.
		v, err := r.store.Versions(ctx, r.reads)
		if err != nil {
			return fmt.Errorf("stage %s: reading the versions of %s: %w", s.name, joinNames(r.reads), err)
		}
		r.versions = v
	}
	for _, l := range s.lookups {
		if err := r.fetch(ctx, l, msgs); err != nil {
			return err
		}
	}
	r.lists.bind(r.vars[:len(msgs)])
	if err := r.fetchWindows(ctx, msgs); err != nil {
		return err
	}
	r.decideAll(msgs)
	r.offsets = batchOffsets(r.offsets[:0], msgs)
	r.rt.monitor().DecideTime(s.name, time.Since(began))
	for i := range r.offsets {
		r.offsets[i].TopicID = r.topicID
	}
	return nil
}

// batchOffsets returns the range of offsets msgs cover in each partition.
func batchOffsets(out []port.Offset, msgs []port.Message) []port.Offset {
	for _, m := range msgs {
		found := false
		for i := range out {
			if out[i].Partition == m.Source.Partition && out[i].Topic == m.Source.Topic {
				out[i].From = min(out[i].From, m.Source.Offset)
				out[i].Next = max(out[i].Next, m.Source.Offset+1)
				found = true
				break
			}
		}
		if !found {
			out = append(out, port.Offset{Topic: m.Source.Topic, Partition: m.Source.Partition, From: m.Source.Offset, Next: m.Source.Offset + 1})
		}
	}
	return out
}

// fetch resolves one lookup for every message of the batch, reading the
// keys not cached yet in one call.
func (r *streamRun) fetch(ctx context.Context, l lookup, msgs []port.Message) error {
	id := l.ref.String()
	cache := r.cache[id]
	var keys []any
	seen := r.seen
	seen.clear()
	for i := range msgs {
		if !r.ok[i] {
			continue
		}
		k := keyOf(r.vars[i][l.from], l.field)
		if _, hit := cache.get(k); !hit && k != nil {
			if _, dup := seen.get(k); dup {
				continue
			}
			seen.put(k, true)
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		rows, err := r.tables[id].Get(ctx, keys)
		if err != nil {
			return fmt.Errorf("stage %s: looking up %s: %w", r.s.name, id, err)
		}
		var block rowBlock // the cached rows side by side, one allocation for many
		for i, row := range rows {
			if row != nil {
				cache.put(keys[i], block.clone(row)) // boxed once here, not per record
			}
		}
	}
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		k := keyOf(r.vars[i][l.from], l.field)
		row, hit := cache.get(k)
		if !hit && l.optional {
			r.vars[i][l.v] = nil // no row: a null record
			continue
		}
		if !hit {
			r.ok[i] = false
			deadLetter(r.rt, r.st, r.s.name, m.Source, messagePayload(r.s.tspec.Schema, m),
				fmt.Sprintf("lookup %s: no row in %s with %s = %s (from %s)", l.name, l.schema.Name, l.schema.KeyName(), keyText(k), l.expr))
			continue
		}
		r.vars[i][l.v] = row
	}
	return nil
}

// keyOf returns field col of the record v (a schema.Row), the key of a
// lookup; nil when v is a null record (an optional lookup that found no row).
func keyOf(v any, col int) any {
	row, _ := v.(schema.Row)
	if row == nil {
		return nil
	}
	return row[col]
}
