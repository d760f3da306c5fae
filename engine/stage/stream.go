package stage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// decisionSchema is the record `decision` that emit expressions read.
var decisionSchema = schema.MustNew("decision", []schema.Column{
	{Name: "rule", Type: schema.StringType},
	{Name: "outcome", Type: schema.StringType},
	{Name: "reason", Type: schema.StringType},
	{Name: "version", Type: schema.IntType},
	{Name: "hash", Type: schema.StringType}, // rules.Ruleset.Hash
}, "")

const (
	decisionVar = "decision"
	outVar      = "_out"
)

// lookup is a keyed read of a table row for each record.
type lookup struct {
	name   string
	ref    spec.Ref
	schema *schema.Schema
	from   int // scope variable whose field gives the key
	field  int // that field's column
	v      int // scope variable the row is bound to
	save   bool
	// optional: a record whose row is missing (or whose key is null, or
	// comes from an optional lookup that found none) gets a null record
	// instead of going to the dead letters.
	optional bool
	// owned are the columns of a saved lookup that the stage's ruleset
	// sets: the only ones its commits write (other stages own the rest).
	owned []string
	expr  string // as written, for messages
	id    string // ref.String(), made once
}

// streamStage decides every record of a topic with a ruleset, in order per
// key, and writes one output row per record plus the state it changed.
type streamStage struct {
	name      string
	topic     spec.Ref
	tspec     port.TopicSpec
	group     string
	batchSize int
	sc        *scope
	lookups   []lookup
	lists     []streamList
	windows   []*streamWindow
	rules     *bound
	emit      *bound
	out       spec.Ref
	outSchema *schema.Schema
	idCol     int // column of the record holding the output table's key, or -1

	// emitRest and emitCopies are emit split in two, which gives the same
	// row faster: the columns that are plain copies of a record's field are
	// copied (and coerced as emit would), the rest evaluated by emitRest
	// (nil when nothing is left). Should either fail, emit runs whole.
	emitRest   *bound
	emitCopies []emitCopy

	// emitCols are the output columns emit names (Runtime.Wrote), less
	// those that only say which rules decided (decision.version,
	// decision.hash): they change with every edit of the rules, and a diff
	// of two versions would list every record for them.
	emitCols []int

	// shadow is the shadow ruleset (shadow.go), nil without one; its
	// decisions go to shadowOut, with columns filled as shadowCols say,
	// when the stage names shadow_to (shadowSchema nil otherwise).
	shadow       *bound
	shadowOut    spec.Ref
	shadowSchema *schema.Schema
	shadowCols   []shadowCol

	// cur holds the rules the stage decides with: rules and shadow as
	// built, until Reload swaps in others (reload.go).
	cur *atomic.Pointer[stageRules]

	// sinks are the outputs after the first of a to that is a list
	// (sink.go); topicSinks says whether some is a topic.
	sinks      []*sink
	topicSinks bool
}

func (s *streamStage) Name() string { return s.name }
func (s *streamStage) Kind() string { return spec.KindStream }

func (b *builder) streamStage(st *spec.Stage) Runner {
	s := &streamStage{name: st.Name.Value, group: st.Group.Value, batchSize: st.BatchSize, sc: &scope{}}
	if s.group == "" {
		s.group = s.name
	}
	var ok bool
	if s.topic, s.tspec, ok = b.topicRef(st.From, "from"); !ok {
		return nil
	}
	if !namePattern.MatchString(st.As.Value) || st.As.Value == decisionVar {
		b.errorf(st.Pos, "stream stage %s: \"as\" must name the record (e.g. as: tx); %q is not usable", s.name, st.As.Value)
		return nil
	}
	s.sc.addRecord(st.As.Value, s.tspec.Schema)
	saves := map[string]bool{}
	for _, sv := range st.Save {
		saves[sv.Value] = true
		if _, ok := st.Lookup.Get(sv.Value); !ok {
			b.errorf(sv.Pos, "save %q: not a lookup of this stage", sv.Value)
		}
	}
	for _, l := range st.Lookup {
		lk, ok := b.lookup(s.sc, l, saves[l.Key])
		if !ok {
			return nil
		}
		s.lookups = append(s.lookups, lk)
	}
	b.checkSaves(s, st)
	if !b.lists(s, st) {
		return nil
	}
	if !b.windows(s, st) {
		return nil
	}
	if st.Rules.Set() {
		if rs := b.ruleset(st.Rules); rs != nil {
			s.rules = b.bind(rs, s.sc, st.Rules.Pos)
		}
	} else {
		b.errorf(st.Pos, "stream stage %s has no rules", s.name)
	}
	if s.rules != nil {
		if s.rules.measure, ok = b.measure(s.sc, st.Measure, s.name); !ok {
			return nil
		}
	}
	if s.rules != nil {
		for i, l := range s.lookups {
			if !l.save {
				continue
			}
			if s.lookups[i].owned = s.rules.rs.Sets(l.name); len(s.lookups[i].owned) == 0 {
				b.errorf(st.Rules.Pos, "save %s: ruleset %s sets no field of %s, so there is nothing to save "+
					"(set one, e.g. %s.some_column: expression, or drop %s from save)", l.name, s.rules.rs.Name, l.name, l.name, l.name)
			}
		}
	}
	shadowOK := b.shadow(s, st)
	var outSchema *schema.Schema
	if s.out, outSchema, ok = b.tableRef(st.To, "to"); !ok {
		if !st.To.Set() {
			b.errorf(st.Pos, "stream stage %s has no \"to\" table for its decisions", s.name)
		}
		return nil
	}
	s.outSchema = outSchema
	s.idCol = s.tspec.Schema.Index(outSchema.KeyName())
	emit, ok := b.firstSink(st)
	if !ok {
		return nil
	}
	s.emit = b.emitRules(s, st, emit)
	if s.emit != nil && !b.sinks(s, st, emit) {
		return nil
	}
	for _, e := range emit {
		switch strings.TrimSpace(e.Value.Value) {
		case decisionVar + ".version", decisionVar + ".hash":
			continue // provenance
		}
		s.emitCols = append(s.emitCols, columnIndexes(outSchema, []string{e.Key})...)
	}
	if s.rules == nil || s.emit == nil || !shadowOK {
		return nil
	}
	s.cur = &atomic.Pointer[stageRules]{}
	s.cur.Store(&stageRules{live: s.rules, shadow: s.shadow})
	return s
}

// emitCopy is an output column emit copies from a field of a record, or
// from the first non-null of several fields (a ?? b).
type emitCopy struct {
	from []fieldOf
	to   int // output column
	typ  schema.Type
}

// fieldOf is a field of a record of the stage's scope.
type fieldOf struct {
	v   int // scope variable of the record (the decision follows the stage's scope)
	col int // its column
}

// lookup compiles one entry of a stage's lookup mapping and adds its variable.
func (b *builder) lookup(sc *scope, e yamldoc.Entry[spec.Lookup], save bool) (lookup, bool) {
	l := yamldoc.Entry[yamldoc.String]{Key: e.Key, Pos: e.Pos, Value: e.Value.From}
	if !namePattern.MatchString(l.Key) || sc.index(l.Key) >= 0 || l.Key == decisionVar {
		b.errorf(l.Pos, "lookup name %q must be a new name", l.Key)
		return lookup{}, false
	}
	ref, err := spec.ParseLookup(l.Value)
	if err != nil {
		b.errorf(l.Value.Pos, "%v", err)
		return lookup{}, false
	}
	optional := e.Value.Optional
	if optional && save {
		b.errorf(l.Pos, "lookup %s is optional and saved: a record with no row has nothing to save into; make it required, or drop it from save", l.Key)
		return lookup{}, false
	}
	if !b.connector(ref.Ref) {
		return lookup{}, false
	}
	ts, ok := b.plan.Tables[ref.Name]
	if !ok {
		b.errorf(l.Value.Pos, "no table named %q under tables", ref.Name)
		return lookup{}, false
	}
	if ts.Key < 0 {
		b.errorf(l.Value.Pos, "table %s has no key to look rows up by", ref.Name)
		return lookup{}, false
	}
	from := sc.index(ref.KeyRecord)
	if from < 0 || sc.schemas[from] == nil {
		b.errorf(l.Value.Pos, "the key of %s comes from %q, which is not a record defined before it (records: %s)", l.Key, ref.KeyRecord, joinNames(sc.names))
		return lookup{}, false
	}
	if sc.optional[from] && !optional {
		b.errorf(l.Value.Pos, "the key of %s comes from %s, an optional lookup that may have no row: make %s optional too ({from: %s, optional: true})", l.Key, ref.KeyRecord, l.Key, l.Value.Value)
		return lookup{}, false
	}
	field := sc.schemas[from].Index(ref.KeyField)
	if field < 0 {
		b.errorf(l.Value.Pos, "%s has no field %q (fields: %s)", ref.KeyRecord, ref.KeyField, joinNames(sc.schemas[from].Names()))
		return lookup{}, false
	}
	if kt, ft := ts.Columns[ts.Key].Type, sc.schemas[from].Columns[field].Type; kt.Kind != ft.Kind {
		b.errorf(l.Value.Pos, "%s.%s is %s but the key %s.%s is %s", ref.KeyRecord, ref.KeyField, ft, ts.Name, ts.KeyName(), kt)
		return lookup{}, false
	}
	var v int
	if optional {
		v = sc.addOptional(l.Key, ts)
	} else {
		v = sc.addRecord(l.Key, ts)
	}
	return lookup{name: l.Key, ref: ref.Ref, schema: ts, from: from, field: field, v: v, save: save, optional: optional, expr: l.Value.Value, id: ref.Ref.String()}, true
}

// emitRules compiles the output row: emit expressions, and every output
// column named like a column of the record copied from it.
func (b *builder) emitRules(s *streamStage, st *spec.Stage, emit yamldoc.Map[yamldoc.String]) *bound {
	set := b.emitSet(s, s.outSchema, emit, st.Pos, "", "")
	def := func(set yamldoc.Map[yamldoc.String]) *bound {
		return b.define(s.sc, rules.Definition{Name: s.name + " emit",
			Inputs: []rules.Input{
				{Name: decisionVar, Record: true, Fields: decisionSchema.Columns},
				{Name: outVar, Record: true, Fields: s.outSchema.Columns},
			},
			Default: &rules.RuleDef{ID: "emit", Set: set, Pos: st.Pos}})
	}
	whole := def(set)
	if whole == nil {
		return nil
	}
	var rest yamldoc.Map[yamldoc.String]
	for _, e := range set {
		if c, ok := s.emitCopy(e); ok {
			s.emitCopies = append(s.emitCopies, c)
		} else {
			rest = append(rest, e)
		}
	}
	if len(rest) > 0 {
		if s.emitRest = def(rest); s.emitRest == nil {
			return nil
		}
	}
	return whole
}

// emitSet returns the assignments of an emit making rows of out: emit's
// expressions, and every column of out named like a column of the record
// copied from it. what prefixes messages (a sink's "to db:reviews: "), and
// hint ends those about emit's columns.
func (b *builder) emitSet(s *streamStage, out *schema.Schema, emit yamldoc.Map[yamldoc.String], pos yamldoc.Pos, what, hint string) yamldoc.Map[yamldoc.String] {
	rec := s.sc.names[0]
	var set yamldoc.Map[yamldoc.String]
	for _, e := range emit {
		if out.Index(e.Key) < 0 {
			b.errorf(e.Pos, "%semit %s: table %s has no such column (columns: %s)%s", what, e.Key, out.Name, joinNames(out.Names()), hint)
			continue
		}
		set = append(set, yamldoc.Entry[yamldoc.String]{Key: outVar + "." + e.Key, Pos: e.Pos, Value: e.Value})
	}
	for _, c := range out.Columns {
		if _, ok := emit.Get(c.Name); ok {
			continue
		}
		if s.tspec.Schema.Index(c.Name) >= 0 {
			set = append(set, yamldoc.Entry[yamldoc.String]{Key: outVar + "." + c.Name, Pos: pos,
				Value: yamldoc.String{Value: rec + "." + c.Name, Pos: pos}})
			continue
		}
		if !c.Type.Nullable {
			b.errorf(pos, "%scolumn %s.%s is not nullable, and neither emit nor %s gives it a value", what, out.Name, c.Name, rec)
		}
	}
	return set
}

// emitCopy returns the assignment e of emit (_out.column: expression) as a
// copy, when the expression is a field of a record (the stage's record, a
// lookup or the decision) or fields joined by ?? (the first that is not null).
func (s *streamStage) emitCopy(e yamldoc.Entry[yamldoc.String]) (emitCopy, bool) {
	tree, err := parser.Parse(e.Value.Value)
	if err != nil {
		return emitCopy{}, false
	}
	c := emitCopy{to: s.outSchema.Index(strings.TrimPrefix(e.Key, outVar+"."))}
	if c.to < 0 || !s.copyFields(tree.Node, &c.from) {
		return emitCopy{}, false
	}
	c.typ = s.outSchema.Columns[c.to].Type
	return c, true
}

// copyFields appends to fs the fields n reads, when n is rec.field or a ?? b of such.
func (s *streamStage) copyFields(n ast.Node, fs *[]fieldOf) bool {
	switch x := n.(type) {
	case *ast.BinaryNode:
		return x.Operator == "??" && s.copyFields(x.Left, fs) && s.copyFields(x.Right, fs)
	case *ast.MemberNode:
		id, ok1 := x.Node.(*ast.IdentifierNode)
		prop, ok2 := x.Property.(*ast.StringNode)
		if !ok1 || !ok2 || x.Optional || x.Method {
			return false
		}
		f := fieldOf{v: s.sc.index(id.Value)}
		src := decisionSchema
		switch {
		case id.Value == decisionVar:
			f.v = len(s.sc.names)
		case f.v < 0 || s.sc.schemas[f.v] == nil:
			return false
		default:
			src = s.sc.schemas[f.v]
		}
		if f.col = src.Index(prop.Value); f.col < 0 {
			return false
		}
		*fs = append(*fs, f)
		return true
	}
	return false
}

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
	// store, when the output table's connector commits batches with their
	// offsets, makes the stage effectively-once (see port.Committer).
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
	inflight map[any]bool
	// speculate, with a store, skips reading the output table for records
	// decided before: the chunk's output rows are committed as inserts, and
	// a commit that meets an existing key fails whole (port.ErrExists), to
	// be decided again with the check. It stays off once that happened.
	speculate bool
	// checked holds the ids of the chunk's records that were not skipped
	// as duplicates.
	checked []any
	// deadLetter is the runtime's dead-letter sink. With a store, a
	// chunk's dead letters reach it once the chunk is committed.
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
	// hold, with a store and a topic that calls ConsumeOptions.Flush,
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
	r := &streamRun{s: s, st: &st, tables: map[string]port.Table{}, cache: map[string]*keyMap[any]{},
		seen: newKeyMap[bool](), at: newKeyMap[int](),
		dirty: map[string][]schema.Row{}, winCache: newKeyMap[*keyWindows]()}
	local := *rt // the same runtime, but dead letters are also kept for the batch's commit
	r.deadLetter = rt.DeadLetter
	local.DeadLetter = func(d port.DeadLetter) {
		r.deadMu.Lock()
		r.dead = append(r.dead, d)
		r.deadMu.Unlock()
		if r.store == nil && rt.DeadLetter != nil {
			rt.DeadLetter(d)
		}
	}
	r.rt = &local
	n := 1
	if s.parallel() {
		n = runtime.GOMAXPROCS(0)
	}
	r.using = s.cur.Load()
	for range n {
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
		r.workers = append(r.workers, w)
	}
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
		if r.tables[ref.String()], err = rt.Resources.Table(ctx, ref, schemas[i]); err != nil {
			return st, err
		}
		r.cache[ref.String()] = newKeyMap[any]()
		for _, w := range r.workers {
			w.marked[ref.String()] = newKeyMap[bool]()
		}
	}
	r.group = s.group
	if rt.Group != "" {
		r.group = rt.Group
	}
	// batch keeps no message slice past its call: the rows are kept, and
	// sources copied into dead letters.
	opts := port.ConsumeOptions{Group: r.group, BatchSize: s.batchSize, Follow: rt.Follow, Reuse: true, Assigned: r.obs.watch.assigned}
	if r.store = r.committer(rt); r.store != nil {
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
	}
	if err := r.checkTopic(ctx, topic); err != nil {
		return st, err
	}
	if s.topicSinks {
		if r.relay, err = r.newRelay(ctx, rt); err != nil {
			return st, err
		}
		// Records a run before committed and did not publish (it
		// stopped, or was killed, in between) go first.
		if err := r.relay.drain(ctx); err != nil {
			return st, err
		}
		r.relay.start(ctx)
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

// committer returns the store that commits this stage's batches with their
// offsets: the output table's connector, when it is a port.Committer and
// also holds every table the stage saves. Otherwise nil: tables are written
// one by one and the topic keeps the group's offsets.
func (r *streamRun) committer(rt *Runtime) port.Committer {
	c, ok := rt.Resources.Connector(r.s.out).(port.Committer)
	if !ok {
		return nil
	}
	for _, l := range r.s.lookups {
		if l.save && l.ref.Connector != r.s.out.Connector {
			return nil
		}
	}
	return c
}

// positions gives the topic the offsets committed with the stage's writes.
// Partition ownership may have changed, so the per-key state cached by the
// stage is dropped and read again from the store.
func (r *streamRun) positions(ctx context.Context, parts []int32) (map[int32]int64, error) {
	// A commit in flight lands first: its offsets are read below, and
	// the state read again must include its writes.
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	r.forget()
	all, err := r.store.Offsets(ctx, r.group, r.s.tspec.Name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: reading committed offsets: %w", r.s.name, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if o, ok := all[p]; ok {
			out[p] = o
		}
	}
	r.obs.watch.positioned(out)
	return out, nil
}

// committed reads the offsets committed with the stage's writes, for the
// topic to tell when the partitions other consumers own are decided.
func (r *streamRun) committed(ctx context.Context, parts []int32) (map[int32]int64, error) {
	all, err := r.store.Offsets(ctx, r.group, r.s.tspec.Name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: reading committed offsets: %w", r.s.name, err)
	}
	return all, nil
}

// Commit pipelining: with a port.Committer, a consumed batch is decided and
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
	if r.store == nil {
		r.useLatest()
		if err := r.prepare(ctx, msgs); err != nil {
			return err
		}
		return r.write(ctx)
	}
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

// handle decides and commits msgs chunk by chunk after the chunk held in
// flight by the batch before, if any; it leaves the last chunk's commit in
// flight (held) unless final.
func (r *streamRun) handle(ctx context.Context, msgs []port.Message, final bool) error {
	var (
		prev     *pendingCommit
		prevLo   int    // where the chunk in flight starts in msgs
		mark     counts // r.st's counts before that chunk was decided
		prepared int    // where the last chunk decided ends
		lo       int    // where the next chunk starts
	)
	if h := r.held; h != nil {
		r.held = nil
		// The held chunk goes first, as if it were this batch's.
		all := make([]port.Message, 0, len(h.msgs)+len(msgs))
		msgs = append(append(all, h.msgs...), msgs...)
		prev, mark, prepared, lo = h.p, h.mark, len(h.msgs), len(h.msgs)
	}
	wait := func() error {
		if prev == nil {
			return nil
		}
		err := prev.wait()
		if err == nil {
			r.conflicts = 0
			r.st.Out += int64(prev.outs)
			if prev.outbox && r.relay != nil {
				r.relay.notify()
			}
			r.landed(prev.obs, prev.outs)
			if r.deadLetter != nil {
				for _, d := range prev.dead {
					r.deadLetter(d)
				}
			}
		}
		prev, r.inflight = nil, nil
		return err
	}
	size := r.s.chunkSize()
	for {
		var (
			b    port.Batch
			ids  map[any]bool
			outs int
			dead []port.DeadLetter
		)
		hi, before := min(lo+size, len(msgs)), r.counts()
		if lo >= hi && !final && prev != nil {
			// Every chunk is decided: the last one commits while the
			// topic fetches the next batch.
			r.held = &heldCommit{p: prev, msgs: msgs[prevLo:prepared], mark: mark}
			return nil
		}
		if lo < hi {
			if err := r.prepare(ctx, msgs[lo:hi]); err != nil {
				return errors.Join(err, wait())
			}
			b, ids, outs, dead = r.take()
			prepared = hi
			if r.speculate {
				// A record that was not decided is not in the output rows,
				// so the commit cannot tell whether it was decided before:
				// ask, and if so decide the chunk again with the check.
				again, err := r.decidedBefore(ctx, ids)
				if err != nil {
					return errors.Join(err, wait())
				}
				if again {
					r.rt.monitor().Retried(r.s.name, "exists")
					err := wait()
					if err != nil && !errors.Is(err, port.ErrExists) && !errors.Is(err, port.ErrConflict) {
						return err
					}
					if err == nil {
						prevLo, mark = lo, before
					}
					r.careful(prevLo, prepared, mark)
					lo = prevLo
					continue
				}
			}
		}
		if err := wait(); err != nil {
			switch {
			case errors.Is(err, port.ErrConflict):
				// A table the chunk in flight read changed meanwhile.
				// Nothing of it was written: decide it and what follows
				// again, on fresh rows.
				r.rt.monitor().Retried(r.s.name, "conflict")
				if err := r.conflicted(err, prevLo, prepared, mark); err != nil {
					return err
				}
			case errors.Is(err, port.ErrExists):
				// Some record of the chunk in flight was decided before.
				// Nothing of it was written: decide it and what follows again.
				r.rt.monitor().Retried(r.s.name, "exists")
				r.careful(prevLo, prepared, mark)
			default:
				return err
			}
			lo = prevLo
			continue
		}
		if lo >= hi {
			return nil
		}
		prev, r.inflight = r.startCommit(ctx, b, outs, dead), ids
		prevLo, mark, lo = lo, before, hi
	}
}

// careful turns speculation off after the records of msgs[from:to] were
// decided but not committed, to be decided again with the check for records
// decided before, from the state the store holds: the counts go back to
// mark, and the cached state is dropped.
func (r *streamRun) careful(from, to int, mark counts) {
	r.speculate = false
	r.undo(from, to, mark)
}

// undo forgets that the records of msgs[from:to] were decided, to decide
// them again from the state the store holds: the counts go back to mark,
// and the cached state is dropped.
func (r *streamRun) undo(from, to int, mark counts) {
	r.st.In, r.st.Dup, r.st.Dead = mark.in, mark.dup, mark.dead
	r.rt.Progress.Add(int64(from - to))
	clear(r.obs.tally)
	r.forget()
}

// forget drops the cached state, to be read again from the store, with the
// versions of the tables it comes from.
func (r *streamRun) forget() {
	for _, c := range r.cache {
		c.clear()
	}
	r.forgetWindows()
	r.versions = nil
}

// maxConflicts is how many commits in a row may meet port.ErrConflict
// before the stage gives up: each one means another stage committed a
// change to a table the stage reads while it decided one chunk.
const maxConflicts = 50

// conflicted handles a commit that failed with port.ErrConflict: the
// records of msgs[from:to] are to be decided again from fresh state. It
// returns an error once that happened maxConflicts times in a row.
func (r *streamRun) conflicted(err error, from, to int, mark counts) error {
	r.conflicts++
	if r.conflicts > maxConflicts {
		return fmt.Errorf("stage %s: gave up after %d commits in a row found a table they read changed by another writer "+
			"(is a stage writing those tables over and over?): %w", r.s.name, maxConflicts, err)
	}
	if r.rt.Log != nil {
		r.rt.Log.Info("another stage changed a table this one had read: deciding the records again",
			"stage", r.s.name, "records", to-from, "cause", err)
	}
	r.undo(from, to, mark)
	return nil
}

// decidedBefore reports whether the output table holds a record of the
// chunk just decided that is not among its output rows (ids): one that
// went to the dead letters instead, or was skipped.
func (r *streamRun) decidedBefore(ctx context.Context, ids map[any]bool) (bool, error) {
	var keys []any
	for _, k := range r.checked {
		if !ids[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	rows, err := r.tables[r.s.out.String()].Get(ctx, keys)
	if err != nil {
		return false, fmt.Errorf("stage %s: checking %s for records already decided: %w", r.s.name, r.s.out, err)
	}
	for _, row := range rows {
		if row != nil {
			return true, nil
		}
	}
	return false, nil
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
	if r.store != nil && r.versions == nil && len(r.reads) > 0 {
		// Before any row is cached: a change committed after this read
		// moves a version on, and the commit of what was decided on the
		// rows then fails with port.ErrConflict.
		v, err := r.store.Versions(ctx, r.reads)
		if err != nil {
			return fmt.Errorf("stage %s: reading the versions of %s: %w", s.name, strings.Join(r.reads, ", "), err)
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

// take returns the prepared chunk as a batch the store can commit while
// the next chunk is decided: the changed state rows are copies, since
// deciding goes on changing the cached ones. It also returns the ids of
// the chunk's records, the number of output rows and the dead letters,
// and empties r.
func (r *streamRun) take() (port.Batch, map[any]bool, int, []port.DeadLetter) {
	b := port.Batch{Group: r.group, Offsets: slices.Clone(r.offsets), State: r.takeWindows()}
	for _, t := range r.reads {
		b.Reads = append(b.Reads, port.TableRead{Table: t, Version: r.versions[t]})
	}
	if len(r.outs) > 0 {
		// Inserted, never upserted, when records carry the output's key: a
		// decision once committed is not replaced (a batch stage may have
		// changed it since). A record decided meanwhile fails the commit
		// (port.ErrExists), and the chunk is decided again with the check
		// for records decided before, which skips it.
		b.Writes = append(b.Writes, port.TableWrite{Table: r.s.outSchema.Name, Rows: r.outs, Insert: r.s.idCol >= 0})
	}
	if len(r.shadowOuts) > 0 {
		// Upserted: a record decided again (after a conflict) replaces
		// its shadow decision, which was never committed.
		b.Writes = append(b.Writes, port.TableWrite{Table: r.s.shadowSchema.Name, Rows: r.shadowOuts})
		r.shadowOuts = make([]schema.Row, 0, cap(r.shadowOuts))
	}
	if len(r.s.sinks) > 0 {
		// Table sinks are upserted, keyed: a record decided again (after
		// a conflict) replaces its row, which was never committed. Topic
		// sinks' records go to the outbox in the same commit (relay.go).
		writes, entries := r.takeSinks()
		b.Writes = append(b.Writes, writes...)
		b.Outbox = entries
	}
	var ids map[any]bool
	if r.s.idCol >= 0 {
		ids = make(map[any]bool, len(r.outs))
		for _, row := range r.outs {
			ids[row[r.s.outSchema.Key]] = true
		}
	}
	r.deadMu.Lock()
	if name := r.rt.DeadLetterTables[r.s.out.Connector]; name != "" && len(r.dead) > 0 {
		rows := make([]schema.Row, len(r.dead))
		for i, d := range r.dead {
			rows[i] = d.Row(port.MaxTablePayload)
		}
		b.Writes = append(b.Writes, port.TableWrite{Table: name, Rows: rows})
	}
	dead := slices.Clone(r.dead)
	r.dead = r.dead[:0]
	r.deadMu.Unlock()
	for _, l := range r.s.lookups {
		id := l.ref.String()
		if rows := r.dirty[id]; l.save && len(rows) > 0 {
			copies := make([]schema.Row, len(rows))
			for i, row := range rows {
				copies[i] = row.Clone()
			}
			b.Writes = append(b.Writes, port.TableWrite{Table: l.schema.Name, Rows: copies, Columns: l.owned})
		}
	}
	outs := len(r.outs)
	r.outs = make([]schema.Row, 0, cap(r.outs))
	for id := range r.dirty {
		r.dirty[id] = r.dirty[id][:0]
	}
	return b, ids, outs, dead
}

// pendingCommit is a chunk being committed by the store.
type pendingCommit struct {
	done   chan struct{}
	err    error
	outs   int
	outbox bool              // the batch has outbox entries
	dead   []port.DeadLetter // for the runtime's sink once committed
	obs    observed          // for the runtime's Monitor once committed
}

// wait returns the outcome of the commit.
func (p *pendingCommit) wait() error {
	<-p.done
	return p.err
}

// startCommit commits b in the background: its output rows, changed state
// and offsets in one commit of the store, all of it or none, and never twice.
func (r *streamRun) startCommit(ctx context.Context, b port.Batch, outs int, dead []port.DeadLetter) *pendingCommit {
	p := &pendingCommit{done: make(chan struct{}), outs: outs, dead: dead, outbox: len(b.Outbox) > 0, obs: r.committing(b.Offsets)}
	go func() {
		defer close(p.done)
		began := time.Now()
		err := r.store.Commit(ctx, b)
		p.obs.took = time.Since(began)
		if err != nil {
			p.err = fmt.Errorf("stage %s: committing a batch of %d records: %w", r.s.name, outs, err)
		}
	}()
	return p
}

// duplicates skips records whose id the output table already holds, or
// that came earlier in the batch: a record re-sent by a producer is decided
// once, and counted as a duplicate rather than an error.
func (r *streamRun) duplicates(ctx context.Context, msgs []port.Message) error {
	if r.s.idCol < 0 {
		return nil
	}
	keys := make([]any, 0, len(msgs))
	idx := make([]int, 0, len(msgs)) // the message of each key
	ascending, prev := true, 0
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		k := m.Row[r.s.idCol]
		if r.inflight[k] {
			// Decided in the chunk being committed.
			r.ok[i] = false
			r.st.Dup++
			continue
		}
		x, isInt := k.(int)
		if !isInt || (len(keys) > 0 && x <= prev) {
			ascending = false
		}
		prev = x
		keys, idx = append(keys, k), append(idx, i)
	}
	if !ascending {
		// Ids that strictly ascend (as a partition's usually do) cannot
		// repeat; others go through a map of those seen earlier in the batch.
		at := r.at
		at.clear()
		n := 0
		for j, k := range keys {
			if _, dup := at.get(k); dup {
				r.ok[idx[j]] = false
				r.st.Dup++
				continue
			}
			at.put(k, idx[j])
			keys[n], idx[n] = k, idx[j]
			n++
		}
		keys, idx = keys[:n], idx[:n]
	}
	r.checked = keys
	if len(keys) == 0 || r.speculate {
		return nil // speculating, the commit checks
	}
	rows, err := r.tables[r.s.out.String()].Get(ctx, keys)
	if err != nil {
		return fmt.Errorf("stage %s: checking %s for records already decided: %w", r.s.name, r.s.out, err)
	}
	for i, row := range rows {
		if row != nil {
			r.ok[idx[i]] = false
			r.st.Dup++
		}
	}
	return nil
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
		for i, row := range rows {
			if row != nil {
				cache.put(keys[i], row.Clone()) // boxed once here, not per record
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

// decider decides records: its own evaluators, output rows and changed
// state, so that several can work on one batch at once.
type decider struct {
	r      *streamRun
	rules  *evaluator
	emit   *evaluator
	dec    schema.Row // the decision record, reused: emit copies its values out
	decVar any        // dec as a scope value, boxed once
	outs   []schema.Row
	dirty  map[string][]schema.Row
	marked map[string]*keyMap[bool]
	todo   []int // indexes of the batch's messages this decider takes
	tally  Tally // the decisions it made, with a Monitor
	// dead holds the dead letters of the records decided, in order, and
	// deadAt the index of each one's message in the batch, so that they
	// reach the sink in record order whatever the timing of the deciders.
	dead   []port.DeadLetter
	deadAt []int
	// block is where output rows are cut from, many to one allocation.
	block []any

	emitRest *evaluator // of streamStage.emitRest, or nil

	windows  []*windowDecider // per window of the stage
	winDirty []*keyWindows    // the keys whose window states it changed

	// The shadow ruleset (shadow.go): its evaluator (nil without one), the
	// scope values it sees, the copies of the records it may assign (by
	// scope variable, nil for the others) boxed once, its decision as a
	// row, the rows of the shadow decisions table and their block.
	shadow      *evaluator
	shadowVars  []any
	shadowRows  []schema.Row
	shadowBoxed []any
	shadowDec   schema.Row
	shadowOuts  []schema.Row
	shadowBlock []any
	heldTrace   *Trace // the shadow's explanation of a traced record, sent after the live one's

	sinks    []sinkDecider // per sink of the stage
	sinkOuts [][]sinkRow   // per sink, the rows made
}

// parallel reports whether records may be decided on several CPUs: every
// record of a key stays with one decider, in order, so this is safe when the
// topic is keyed and every saved lookup is keyed by the record's key too
// (the state a decider changes then belongs to its keys alone).
func (s *streamStage) parallel() bool {
	key := s.tspec.Schema.Index(s.tspec.Key)
	if key < 0 {
		return false
	}
	for _, l := range s.lookups {
		if l.save && (l.from != 0 || l.field != key) {
			return false
		}
	}
	return true
}

// minParallel is the smallest batch worth splitting across CPUs.
const minParallel = 256

// decideAll decides the batch's messages that are still ok: split by key
// across the deciders when there are several, in order within each key.
func (r *streamRun) decideAll(msgs []port.Message) {
	ws := r.workers
	for _, w := range ws {
		w.todo = w.todo[:0]
	}
	key := r.s.tspec.Schema.Index(r.s.tspec.Key)
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		w := ws[0]
		if len(ws) > 1 && len(msgs) >= minParallel {
			w = ws[keyHash(m.Row[key])%uint64(len(ws))]
		}
		w.todo = append(w.todo, i)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		if len(w.todo) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range w.todo {
				w.decide(i, msgs[i], r.vars[i])
			}
		}()
	}
	wg.Wait()
	r.sendDead()
	r.gather()
	r.gatherWindows()
	r.gatherSinks()
	r.outs = r.outs[:0]
	r.shadowOuts = r.shadowOuts[:0]
	for _, w := range ws {
		r.outs = append(r.outs, w.outs...)
		w.outs = w.outs[:0]
		r.shadowOuts = append(r.shadowOuts, w.shadowOuts...)
		w.shadowOuts = w.shadowOuts[:0]
		for id, rows := range w.dirty {
			r.dirty[id] = append(r.dirty[id], rows...)
			w.dirty[id] = rows[:0]
			w.marked[id].clear()
		}
	}
}

// sendDead sends the dead letters of the deciders to the runtime's sink in
// the order of their records in the batch, and empties the deciders' lists.
func (r *streamRun) sendDead() {
	next := make([]int, len(r.workers)) // per decider, its next letter
	for {
		var w *decider
		k := -1
		for j, x := range r.workers {
			if next[j] < len(x.dead) && (w == nil || x.deadAt[next[j]] < w.deadAt[next[k]]) {
				w, k = x, j
			}
		}
		if w == nil {
			break
		}
		r.st.Dead++
		if r.rt.DeadLetter != nil {
			r.rt.DeadLetter(w.dead[next[k]])
		}
		next[k]++
	}
	for _, w := range r.workers {
		clear(w.dead)
		w.dead, w.deadAt = w.dead[:0], w.deadAt[:0]
	}
}

// deadLetter keeps a dead letter for the message at index i of the batch, to be sent by sendDead.
func (d *decider) deadLetter(i int, src port.Source, payload, reason string) {
	d.dead = append(d.dead, port.DeadLetter{Stage: d.r.s.name, Source: src, Reason: reason, Payload: payload, Time: time.Now().UTC(), Run: d.r.rt.RunID})
	d.deadAt = append(d.deadAt, i)
}

// keyHash spreads keys over deciders.
func keyHash(k any) uint64 {
	switch x := k.(type) {
	case int:
		return uint64(x) * 0x9E3779B97F4A7C15 >> 7
	case string:
		h := fnv.New64a()
		h.Write([]byte(x))
		return h.Sum64()
	}
	h := fnv.New64a()
	fmt.Fprint(h, k)
	return h.Sum64()
}

// decide evaluates the ruleset and the output row for one message, the
// batch's message at index i.
func (d *decider) decide(i int, m port.Message, vars []any) {
	s := d.r.s
	if d.rules.bd.absent {
		return // the version of the rules built has no such file: nothing is decided
	}
	var key any
	if s.idCol >= 0 {
		key = m.Row[s.idCol]
	}
	var kw *keyWindows // the key's window states
	if len(s.windows) > 0 {
		var err error
		if kw, err = d.windowsBefore(m, vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
	}
	var traced []WindowTrace
	if kw != nil && d.r.rt.traced(key) {
		traced = d.windowTraces(m, kw)
	}
	var (
		sdec rules.Decision
		serr error
	)
	if d.shadow != nil {
		// First, before the live rules assign anything: it sees what they see.
		sdec, serr = d.evalShadow(vars, key, m.Source, traced)
		if d.r.rt.Decided != nil || d.r.rt.Observe != nil {
			d.rules.shadowDecision = shadowDecided(sdec, serr)
			d.rules.shadowRuleset = d.shadow.bd.rs
		}
	}
	dec, err := d.rules.evalObserved(vars, d.r.rt, key, s.name, "", m.Source, traced...)
	if d.heldTrace != nil {
		d.r.rt.Trace(*d.heldTrace)
		d.heldTrace = nil
	}
	if err != nil {
		d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), fmt.Sprintf("ruleset %s: %v", d.rules.bd.rs.Name, err))
		return
	}
	nv := len(s.sc.names)
	d.rules.DecisionValues(dec, d.dec)
	vars[nv] = d.decVar
	out := d.newRow()
	vars[nv+1] = out
	if !d.emitFast(vars, out) {
		clear(out)
		if _, err := d.emit.eval(vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), fmt.Sprintf("emit: %v", err))
			return
		}
	}
	if len(s.sinks) > 0 {
		if err := d.decideSinks(i, vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
	}
	if kw != nil {
		if err := d.windowsAfter(vars, d.dec); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
		d.windowsEnter(m, kw)
	}
	d.outs = append(d.outs, out)
	if d.tally != nil {
		d.tally.add(d.rules.bd.rs.Name, dec)
	}
	if s.shadowSchema != nil {
		d.shadowOuts = append(d.shadowOuts, d.shadowRow(m, sdec, serr))
	}
	for _, l := range s.lookups {
		if l.save && d.rules.wroteVar(l.v) {
			d.markDirty(l, vars[l.v].(schema.Row))
		}
	}
	if rt := d.r.rt; rt.Wrote != nil {
		rt.Wrote(Written{Stage: s.name, Table: s.outSchema, Key: keyText(key), Columns: s.emitCols, Row: out})
		for _, l := range s.lookups {
			if l.save && d.rules.wroteVar(l.v) {
				row := vars[l.v].(schema.Row)
				rt.Wrote(Written{Stage: s.name, Lookup: l.name, Table: l.schema, Key: keyText(l.schema.KeyOf(row)), Columns: columnIndexes(l.schema, l.owned), Row: row})
			}
		}
	}
}

// outBlock is how many output rows a decider allocates at once.
const outBlock = 256

// newRow returns an empty output row, cut from d.block.
func (d *decider) newRow() schema.Row {
	w := len(d.r.s.outSchema.Columns)
	if len(d.block) < w {
		d.block = make([]any, outBlock*w)
	}
	row := schema.Row(d.block[:w:w])
	d.block = d.block[w:]
	return row
}

// emitFast fills out, the output row of vars, with emit split in two (see
// streamStage.emitRest). It reports false, leaving out half filled, when an
// assignment fails: emit run whole then gives the error.
func (d *decider) emitFast(vars []any, out schema.Row) bool {
	s := d.r.s
	if d.emitRest != nil {
		if _, err := d.emitRest.eval(vars); err != nil {
			return false
		}
	}
	// Copied after the rest ran: it saw the output row empty, as emit does.
	for _, c := range s.emitCopies {
		var v any
		for _, f := range c.from {
			if v = keyOf(vars[f.v], f.col); v != nil {
				break
			}
		}
		v, err := c.typ.Coerce(v)
		if err != nil {
			return false
		}
		out[c.to] = v
	}
	return true
}

func (d *decider) markDirty(l lookup, row schema.Row) {
	k := l.schema.KeyOf(row)
	if _, ok := d.marked[l.id].get(k); !ok {
		d.marked[l.id].put(k, true)
		d.dirty[l.id] = append(d.dirty[l.id], row)
	}
}

// write writes the batch's output rows and changed state, without a store.
func (r *streamRun) write(ctx context.Context) error {
	r.takeWindows() // without a store, window state lives in the cache
	outs := len(r.outs)
	if len(r.outs) > 0 {
		if err := r.tables[r.s.out.String()].Upsert(ctx, r.outs); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, r.s.out, err)
		}
		r.st.Out += int64(len(r.outs))
		r.outs = make([]schema.Row, 0, cap(r.outs))
	}
	if len(r.shadowOuts) > 0 {
		if err := r.tables[r.s.shadowOut.String()].Upsert(ctx, r.shadowOuts); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, r.s.shadowOut, err)
		}
		r.shadowOuts = make([]schema.Row, 0, cap(r.shadowOuts))
	}
	if len(r.s.sinks) > 0 {
		writes, entries := r.takeSinks()
		for _, w := range writes {
			if err := r.tables[r.s.sinkTable(w.Table)].Upsert(ctx, w.Rows); err != nil {
				return fmt.Errorf("stage %s: writing %s: %w", r.s.name, w.Table, err)
			}
		}
		if len(entries) > 0 {
			if err := r.relay.box.AddOutbox(ctx, entries); err != nil {
				return fmt.Errorf("stage %s: writing %d records to the outbox: %w", r.s.name, len(entries), err)
			}
			r.relay.notify()
		}
	}
	for id, rows := range r.dirty {
		if len(rows) == 0 {
			continue
		}
		// The table keeps the rows it is given, and the cache keeps
		// changing them: hand it copies, made in one block.
		copies := make([]schema.Row, len(rows))
		w := len(rows[0])
		block := make([]any, len(rows)*w)
		for i, row := range rows {
			c := schema.Row(block[i*w : (i+1)*w : (i+1)*w])
			copy(c, row)
			copies[i] = c
		}
		if err := r.tables[id].Upsert(ctx, copies); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, id, err)
		}
		r.dirty[id] = rows[:0]
	}
	r.dead = r.dead[:0] // the engine writes them when the run ends
	r.wrote(outs, r.offsets)
	return nil
}
