package stage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// rekeyStage copies the records of one topic to another, keyed by an
// expression over each record and its lookups (Kafka Streams' repartition):
// state kept per another key than the source topic's, or records that
// producers sent unkeyed, need a topic keyed by that key first. Each output
// record's columns are copied by name from the input record, and its key
// column is set from the key expression.
//
// Delivery. A batch's records are produced, in the order they were
// consumed, and acknowledged by the broker (port.Topic.Publish) before the
// batch's offsets are committed to the consumer group (port.Topic.Consume
// commits after the handler returns). So the records of one output key are
// produced in the order they were consumed, and none is lost; after a crash
// the records consumed since the last commit are produced again. Those
// copies come after their first copy on the same partition, and a stream
// stage reading the output topic skips them as duplicates by record id
// (which lint makes sure it has: see checkRekeyReaders): every record is
// decided once, in the order of an uninterrupted run. See docs/ARCHITECTURE.md.
type rekeyStage struct {
	name      string
	from, to  spec.Ref
	in, out   port.TopicSpec
	group     string
	batchSize int
	sc        *scope
	lookups   []lookup // never saved
	key       *bound   // sets the output's key column (_out.<key>) from the key expression
	keyExpr   string
	copies    []rekeyCopy
}

// rekeyCopy is an output column copied from a column of the input record.
type rekeyCopy struct {
	from, to int
	typ      schema.Type // the output column's
}

func (s *rekeyStage) Name() string { return s.name }
func (s *rekeyStage) Kind() string { return spec.KindRekey }

func (b *builder) rekeyStage(st *spec.Stage) Runner {
	s := &rekeyStage{name: st.Name.Value, group: consumerGroup(st), batchSize: st.BatchSize, sc: &scope{}}
	var ok1, ok2 bool
	s.from, s.in, ok1 = b.topicRef(st.From, "from")
	s.to, s.out, ok2 = b.topicRef(st.To, "to")
	if !ok1 || !ok2 {
		return nil
	}
	if s.from.Connector == s.to.Connector && s.from.Name == s.to.Name {
		b.errorf(st.To.Pos, "rekey stage %s reads and writes topic %s: write the re-keyed records to another topic", s.name, s.to)
		return nil
	}
	rec := st.As.Value
	if !namePattern.MatchString(rec) || rec == outVar {
		b.errorf(st.Pos, "rekey stage %s: \"as\" must name the record (e.g. as: tx); %q is not usable", s.name, rec)
		return nil
	}
	s.sc.addRecord(rec, s.in.Schema)
	for _, l := range st.Lookup {
		lk, ok := b.lookup(s.sc, l, false)
		if !ok {
			return nil
		}
		s.lookups = append(s.lookups, lk)
	}
	keyCol := s.out.Schema.Index(s.out.Key)
	if keyCol < 0 {
		b.errorf(st.To.Pos, "rekey stage %s: topic %s has no key column for key: to set; declare one (topics: %s: {schema: %s, key: COLUMN})",
			s.name, s.out.Name, s.out.Name, s.out.Schema.Name)
		return nil
	}
	if !st.Key.Set() {
		b.errorf(st.Pos, "rekey stage %s has no key: write the expression whose value keys each record on topic %s (its column %s), e.g. key: %s.%s",
			s.name, s.out.Name, s.out.Key, rec, s.out.Key)
		return nil
	}
	s.keyExpr = st.Key.Value
	bad := false
	for i, c := range s.out.Schema.Columns {
		if i == keyCol {
			continue
		}
		j := s.in.Schema.Index(c.Name)
		if j < 0 {
			if !c.Type.Nullable {
				b.errorf(st.To.Pos, "rekey stage %s: column %s of topic %s is not nullable, and %s (topic %s) has no column %s to copy it from "+
					"(a rekey stage copies every column by name and sets only the key column, %s)", s.name, c.Name, s.out.Name, rec, s.in.Name, c.Name, s.out.Key)
				bad = true
			}
			continue
		}
		src := s.in.Schema.Columns[j].Type
		src.Nullable = false // a null in a column that is not nullable is the record's fault, found when it is copied
		if !c.Type.AssignableFrom(src) {
			b.errorf(st.To.Pos, "rekey stage %s: column %s of topic %s is %s, and %s.%s (topic %s) is %s, which does not fit it",
				s.name, c.Name, s.out.Name, c.Type, rec, c.Name, s.in.Name, s.in.Schema.Columns[j].Type)
			bad = true
			continue
		}
		s.copies = append(s.copies, rekeyCopy{from: j, to: i, typ: c.Type})
	}
	s.key = b.define(s.sc, rules.Definition{Name: s.name + " key",
		Inputs: []rules.Input{{Name: outVar, Record: true, Fields: s.out.Schema.Columns}},
		Default: &rules.RuleDef{ID: "key", Pos: st.Key.Pos,
			Set: yamldoc.Map[yamldoc.String]{{Key: outVar + "." + s.out.Key, Pos: st.Key.Pos, Value: st.Key}}}})
	if s.key == nil || bad {
		return nil
	}
	return s
}

// checkRekeyReaders reports every stream stage that reads a topic a rekey
// stage writes but cannot tell a record it decided from a copy produced
// again after the rekey stage crashed: the records must carry the key of
// its output table (the record id), by which it skips duplicates.
func (b *builder) checkRekeyReaders() {
	for _, r := range b.plan.Stages {
		rk, ok := r.(*rekeyStage)
		if !ok {
			continue
		}
		for _, r := range b.plan.Stages {
			ss, ok := r.(*streamStage)
			if !ok || ss.topic.Connector != rk.to.Connector || ss.topic.Name != rk.to.Name || ss.idCol >= 0 {
				continue
			}
			b.errorf(ss.topic.Pos, "stream stage %s reads topic %s, which rekey stage %s writes, but its records have no column %s, the key of its table %s: "+
				"after a crash the rekey stage produces the records since its last commit again, and %s skips those copies by that id "+
				"(give the topic's schema the column, or key the table by a column the records have)",
				ss.name, ss.tspec.Name, rk.name, ss.outSchema.KeyName(), ss.outSchema.Name, ss.name)
		}
	}
}

// rekeyRun is one run of a rekey stage.
type rekeyRun struct {
	s      *rekeyStage
	rt     *Runtime
	st     *Stats
	out    port.Topic
	tables []port.Table // per lookup
	key    *evaluator
	found  *keyMap[schema.Row] // a lookup's rows of the batch, by key
	vars   [][]any             // per message: the record, its lookups, the output row
	ok     []bool
	dead   []rekeyDead
	// watch and reported are what the run reports to the runtime's
	// Monitor: where it stands in its topic, and the counts so far.
	watch    *consumerWatch
	reported Stats
}

// rekeyDead is a dead letter of a batch, with its message's index.
type rekeyDead struct {
	at int
	d  port.DeadLetter
}

// BackgroundFollower is implemented by stages that, under Runtime.Follow,
// keep consuming in the background while the stages after them run (see
// Background), instead of holding them up until the run is stopped: a run
// of --stage rekey --stage validate --follow follows both topics.
type BackgroundFollower interface {
	Background
	// FollowsInBackground reports that the stage does so.
	FollowsInBackground() bool
}

// FollowsInBackground implements BackgroundFollower.
func (s *rekeyStage) FollowsInBackground() bool { return true }

// Start implements Background under Follow only (ok is false otherwise,
// with nothing done): finish follows the source topic until ctx ends, as
// Run does, while the stages after the stage run.
func (s *rekeyStage) Start(ctx context.Context, rt *Runtime) (finish func() (Stats, error), ok bool, err error) {
	if !rt.Follow {
		return nil, false, nil
	}
	return func() (Stats, error) { return s.Run(ctx, rt) }, true, nil
}

// Overlaps reports that any stage may run while the stage follows: it
// only adds records to its output topic, as a producer would.
func (s *rekeyStage) Overlaps(Runner) bool { return true }

func (s *rekeyStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	r := &rekeyRun{s: s, rt: rt, st: &st, key: s.key.evaluator(), found: newKeyMap[schema.Row]()}
	in, err := rt.Resources.Topic(ctx, s.from, s.in)
	if err != nil {
		return st, err
	}
	if r.out, err = rt.Resources.Topic(ctx, s.to, s.out); err != nil {
		return st, err
	}
	for _, l := range s.lookups {
		t, err := rt.Resources.Table(ctx, l.ref, l.schema)
		if err != nil {
			return st, err
		}
		r.tables = append(r.tables, t)
	}
	group := s.group
	if rt.Group != "" {
		group = rt.Group
	}
	// Without Positions the topic commits each batch's offsets to the group
	// once batch has returned, that is once its records are produced.
	r.watch = newConsumerWatch(rt, s.name, s.in.Name, in)
	stopWatch := r.watch.start(ctx)
	err = in.Consume(ctx, port.ConsumeOptions{Group: group, BatchSize: s.batchSize, Follow: rt.Follow, Assigned: r.watch.assigned}, r.batch)
	stopWatch()
	st.Elapsed = time.Since(start)
	return st, err
}

// batch re-keys one batch of records: it produces them to the output topic
// in the order they came, and returns once the topic has them all; records
// it cannot re-key go to the dead letters, kept for good before it returns.
func (r *rekeyRun) batch(ctx context.Context, msgs []port.Message) error {
	s := r.s
	r.watch.arrived()
	r.rt.Progress.Add(int64(len(msgs)))
	r.st.In += int64(len(msgs))
	nv := len(s.sc.names) // the output row's variable
	for len(r.vars) < len(msgs) {
		r.vars = append(r.vars, make([]any, nv+1))
	}
	r.ok = r.ok[:0]
	for i, m := range msgs {
		ok := m.Err == nil && m.Row != nil
		if !ok {
			reason := "undecodable record"
			if m.Err != nil {
				reason = m.Err.Error()
			}
			r.deadLetter(i, m, reason)
		}
		r.vars[i][0] = m.Row
		r.ok = append(r.ok, ok)
	}
	for li, l := range s.lookups {
		if err := r.fetch(ctx, li, l, msgs); err != nil {
			return err
		}
	}
	w := len(s.out.Schema.Columns)
	block := make([]any, len(msgs)*w) // the output rows, which the topic keeps
	rows := make([]schema.Row, 0, len(msgs))
	at := make([]int, 0, len(msgs)) // the message of each row
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		out := schema.Row(block[i*w : (i+1)*w : (i+1)*w])
		if err := r.fill(out, m.Row, r.vars[i]); err != nil {
			r.deadLetter(i, m, err.Error())
			continue
		}
		rows, at = append(rows, out), append(at, i)
	}
	if len(rows) > 0 {
		err := r.out.Publish(ctx, rows)
		rejected := port.Rejected(err)
		if err != nil && rejected == nil {
			return fmt.Errorf("stage %s: producing %d records to %s: %w", s.name, len(rows), s.to, err)
		}
		for _, rej := range rejected {
			r.deadLetter(at[rej.Index], msgs[at[rej.Index]], rej.Err.Error())
		}
		r.st.Out += int64(len(rows) - len(rejected))
	}
	if err := r.sendDead(ctx); err != nil {
		return err
	}
	r.rt.monitor().Counted(s.name, Stats{In: r.st.In - r.reported.In, Out: r.st.Out - r.reported.Out, Dead: r.st.Dead - r.reported.Dead})
	r.reported = *r.st
	r.watch.committed(batchOffsets(nil, msgs))
	return nil
}

// fill makes out the output row of record rec: its columns copied by name,
// then the key column set by the key expression.
func (r *rekeyRun) fill(out, rec schema.Row, vars []any) error {
	for _, c := range r.s.copies {
		v, err := c.typ.Coerce(rec[c.from])
		if err != nil {
			return fmt.Errorf("column %s: %w", r.s.out.Schema.Columns[c.to].Name, err)
		}
		out[c.to] = v
	}
	vars[len(vars)-1] = out
	if _, err := r.key.eval(vars); err != nil {
		return fmt.Errorf("key %s: %w", r.s.keyExpr, err)
	}
	return nil
}

// fetch resolves lookup l (the stage's li-th) for every message of the
// batch still ok, reading its keys in one call; a message whose row is
// missing goes to the dead letters.
func (r *rekeyRun) fetch(ctx context.Context, li int, l lookup, msgs []port.Message) error {
	found := r.found
	found.clear()
	var keys []any
	for i := range msgs {
		if !r.ok[i] {
			continue
		}
		k := keyOf(r.vars[i][l.from], l.field)
		if _, seen := found.get(k); k != nil && !seen {
			found.put(k, nil)
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		rows, err := r.tables[li].Get(ctx, keys)
		if err != nil {
			return fmt.Errorf("stage %s: looking up %s: %w", r.s.name, l.id, err)
		}
		for i, row := range rows {
			found.put(keys[i], row)
		}
	}
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		k := keyOf(r.vars[i][l.from], l.field)
		row, _ := found.get(k)
		if row == nil && l.optional {
			r.vars[i][l.v] = nil // no row: a null record
			continue
		}
		if row == nil {
			r.ok[i] = false
			r.deadLetter(i, m, fmt.Sprintf("lookup %s: no row in %s with %s = %s (from %s)", l.name, l.schema.Name, l.schema.KeyName(), keyText(k), l.expr))
			continue
		}
		r.vars[i][l.v] = row
	}
	return nil
}

// deadLetter keeps a dead letter for the message at index i of the batch.
func (r *rekeyRun) deadLetter(i int, m port.Message, reason string) {
	r.dead = append(r.dead, rekeyDead{at: i, d: port.DeadLetter{Stage: r.s.name, Source: m.Source, Reason: reason, Run: r.rt.RunID,
		Payload: messagePayload(r.s.in.Schema, m), Time: time.Now().UTC()}})
}

// sendDead sends the batch's dead letters to the runtime's sink in record
// order and, before the batch's offsets are committed, writes them to the
// dead-letter tables of connectors that commit (port.Committer: mysql,
// and memory in a dry-run), so that a run killed afterwards loses none of them; writing a
// letter twice is harmless (its id is its stage, source and reason).
func (r *rekeyRun) sendDead(ctx context.Context) error {
	if len(r.dead) == 0 {
		return nil
	}
	slices.SortStableFunc(r.dead, func(a, b rekeyDead) int { return a.at - b.at })
	rows := make([]schema.Row, len(r.dead))
	for i, d := range r.dead {
		r.st.Dead++
		if r.rt.DeadLetter != nil {
			r.rt.DeadLetter(d.d)
		}
		rows[i] = d.d.Row(port.MaxTablePayload)
	}
	clear(r.dead)
	r.dead = r.dead[:0]
	for conn, name := range r.rt.DeadLetterTables {
		ref := spec.Ref{Connector: conn, Name: name}
		if _, ok := r.rt.Resources.Connector(ref).(port.Committer); !ok {
			continue
		}
		t, err := r.rt.Resources.Table(ctx, ref, schema.MustNew(name, port.DeadLetterColumns, "id"))
		if err != nil {
			return fmt.Errorf("stage %s: keeping %d dead letters: %w", r.s.name, len(rows), err)
		}
		if err := t.Upsert(ctx, rows); err != nil {
			return fmt.Errorf("stage %s: keeping %d dead letters in %s: %w", r.s.name, len(rows), ref, err)
		}
	}
	return nil
}
