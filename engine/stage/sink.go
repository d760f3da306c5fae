package stage

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// sink is an output of a stream stage besides the table its decisions go
// to (spec.Sink): a table of the same connector, written in the same commit,
// or a topic, whose records go through the outbox (relay.go).
type sink struct {
	ref   spec.Ref
	id    string         // ref.String()
	out   *schema.Schema // the rows' schema: the table's, or the topic's records'
	topic *port.TopicSpec
	// where says which decided records the sink takes (nil: all);
	// whereDecision is where when it only compares the decision's outcome
	// or rule with a string, tested without running it.
	where         *bound
	whereDecision *decisionTest
	emit          *bound
}

// sinkRow is a row a decider made for a sink, with the index of its record
// in the batch (to keep the records' order whatever decider made it).
type sinkRow struct {
	at  int
	row schema.Row
}

// firstSink checks the first entry of a list of sinks, the table every
// decision goes to, and returns the emit the stage's output rows are made
// with: the stage's, or that entry's.
func (b *builder) firstSink(st *spec.Stage) (yamldoc.Map[yamldoc.String], bool) {
	if len(st.Sinks) == 0 {
		return st.Emit, true
	}
	first := st.Sinks[0]
	ok := true
	if first.Where.Set() {
		b.errorf(first.Where.Pos, "to %s: the first sink is the table every decision goes to, which tells records decided before: it takes no where (list the sinks that take some records after it)", first.To.Value)
		ok = false
	}
	if len(first.Emit) == 0 {
		return st.Emit, ok
	}
	if len(st.Emit) > 0 {
		b.errorf(first.Emit[0].Pos, "to %s: the stage has an emit already, which its first sink uses: give one of the two", first.To.Value)
		return nil, false
	}
	return first.Emit, ok
}

// sinks compiles the sinks after the first of a stage whose to is a list.
// emit is the stage's emit, the default of a sink that has none.
func (b *builder) sinks(s *streamStage, st *spec.Stage, emit yamldoc.Map[yamldoc.String]) bool {
	ok := true
	seen := map[string]bool{s.out.String(): true}
	for _, k := range st.Sinks[min(1, len(st.Sinks)):] {
		k2, good := b.sink(s, k, emit, seen)
		if !good {
			ok = false
			continue
		}
		s.sinks = append(s.sinks, k2)
		if k2.topic != nil {
			s.topicSinks = true
		}
	}
	return ok
}

// sink compiles one sink.
func (b *builder) sink(s *streamStage, k spec.Sink, emit yamldoc.Map[yamldoc.String], seen map[string]bool) (*sink, bool) {
	what := "to " + k.To.Value + ": "
	ref, err := spec.ParseRef(k.To)
	if err != nil {
		b.errorf(k.To.Pos, "to: %v", err)
		return nil, false
	}
	if !b.connector(ref) {
		return nil, false
	}
	if seen[ref.String()] {
		b.errorf(k.To.Pos, "%s%s is a sink of this stage already: give it one entry (a where may combine conditions with or)", what, ref)
		return nil, false
	}
	seen[ref.String()] = true
	out := &sink{ref: ref, id: ref.String()}
	isTopic, good := b.sinkKind(ref, k.To)
	if !good {
		return nil, false
	}
	if isTopic {
		t := b.plan.Topics[ref.Name]
		switch {
		case ref.String() == s.topic.String():
			b.errorf(k.To.Pos, "%s%s is the topic the stage reads: its records would come back to it", what, ref)
			return nil, false
		case t.Key == "":
			b.errorf(k.To.Pos, "%stopic %s has no key: a topic sink's records are keyed, so that a reader can tell a record published twice "+
				"(after a crash, see docs/RELIABILITY.md) by its key; declare key: under topics %s (the record's id column)", what, t.Name, t.Name)
			return nil, false
		}
		out.topic, out.out = &t, t.Schema
	} else {
		sch := b.plan.Tables[ref.Name]
		switch {
		case ref.Connector != s.out.Connector:
			b.errorf(k.To.Pos, "%s%s is on connector %s, but the stage's decisions go to %s: put it beside them, so that both are written in one commit",
				what, ref, ref.Connector, s.out.Connector)
			return nil, false
		case sch.Key < 0:
			b.errorf(k.To.Pos, "%stable %s has no key: a sink table is keyed (by the record's id), so that a record decided again replaces its row", what, sch.Name)
			return nil, false
		case s.shadowSchema != nil && s.shadowOut.String() == ref.String():
			b.errorf(k.To.Pos, "%s%s is the stage's shadow_to table", what, ref)
			return nil, false
		}
		for _, l := range s.lookups {
			if l.ref.String() == ref.String() {
				b.errorf(k.To.Pos, "%s%s is the table of lookup %s: a sink never writes what the stage reads", what, ref, l.name)
				return nil, false
			}
		}
		out.out = sch
	}
	if k.Where.Set() {
		if out.where, out.whereDecision = b.decisionFilter(s, "to "+ref.String()+" where", k.Where); out.where == nil {
			return nil, false
		}
	}
	own, hint := k.Emit, ""
	if len(own) == 0 {
		own, hint = emit, " (the sink has no emit, so it uses the stage's: give it one of its own)"
	}
	before := len(b.errs)
	set := b.emitSet(s, out.out, own, k.Pos, what, hint)
	if len(b.errs) > before {
		return nil, false
	}
	out.emit = b.define(s.sc, rules.Definition{Name: "to " + ref.String() + " emit",
		Inputs: []rules.Input{
			{Name: decisionVar, Record: true, Fields: decisionSchema.Columns},
			{Name: outVar, Record: true, Fields: out.out.Columns},
		},
		Default: &rules.RuleDef{ID: "emit", Set: set, Pos: k.Pos}})
	return out, out.emit != nil
}

// sinkKind tells whether ref names a topic (true) or a table: the one of
// the two declared by that name or, when both are, what the spec uses its
// connector for elsewhere.
func (b *builder) sinkKind(ref spec.Ref, at yamldoc.String) (bool, bool) {
	_, table := b.plan.Tables[ref.Name]
	_, topic := b.plan.Topics[ref.Name]
	switch {
	case table && !topic:
		return false, true
	case topic && !table:
		return true, true
	case !table && !topic:
		b.errorf(at.Pos, "to: no table or topic named %q (declare it under tables, or under topics with a schema)", ref.Name)
		return false, false
	}
	tables, topics := b.connectorUse(ref.Connector)
	switch {
	case topics && !tables:
		return true, true
	case tables && !topics:
		return false, true
	}
	b.errorf(at.Pos, "to: %s is both a table and a topic, and the spec uses connector %s for neither or both elsewhere: give the topic another name", ref.Name, ref.Connector)
	return false, false
}

// connectorUse reports whether the spec's stages use the named connector
// for tables and for topics.
func (b *builder) connectorUse(conn string) (tables, topics bool) {
	on := func(s yamldoc.String) bool {
		r, err := spec.ParseRef(s)
		return err == nil && r.Connector == conn
	}
	for _, st := range b.spec.Stages {
		for _, t := range st.Tables {
			tables = tables || on(t)
		}
		for _, t := range st.Topics {
			topics = topics || on(t)
		}
		for _, l := range st.Lookup {
			tables = tables || on(l.Value.From)
		}
		for _, l := range st.Lists {
			tables = tables || on(l.Value.From)
		}
		switch st.Kind.Value {
		case spec.KindPublish:
			topics = topics || on(st.To)
		case spec.KindRekey:
			topics = topics || on(st.From) || on(st.To)
		case spec.KindStream:
			topics = topics || on(st.From)
			tables = tables || on(st.To) || on(st.ShadowTo)
		case spec.KindLoad:
			for _, c := range st.Copy {
				tables = tables || on(c.To)
			}
		case spec.KindExport:
			for _, c := range st.Copy {
				tables = tables || on(c.From)
			}
		}
	}
	return tables, topics
}

// sinkDecider is what a decider needs for one sink: its evaluators.
type sinkDecider struct {
	where *evaluator // nil when there is no where, or whereDecision tests it
	emit  *evaluator
}

// newSinkDeciders returns a decider's evaluators for the stage's sinks.
func (s *streamStage) newSinkDeciders() []sinkDecider {
	ds := make([]sinkDecider, len(s.sinks))
	for i, k := range s.sinks {
		ds[i].emit = k.emit.evaluator()
		if k.where != nil && k.whereDecision == nil {
			ds[i].where = k.where.evaluator()
		}
	}
	return ds
}

// decideSinks makes the rows of the sinks whose where holds for the
// record of vars (the batch's message at index i), decided as d.dec says.
// The output row in vars is replaced by the sinks' own, one after the other.
func (d *decider) decideSinks(i int, vars []any) error {
	out := vars[len(vars)-1]
	defer func() { vars[len(vars)-1] = out }()
	for j, k := range d.r.s.sinks {
		if err := d.decideSink(j, k, i, vars); err != nil {
			for x := range j { // the record goes to the dead letters: none of its rows stays
				if n := len(d.sinkOuts[x]); n > 0 && d.sinkOuts[x][n-1].at == i {
					d.sinkOuts[x] = d.sinkOuts[x][:n-1]
				}
			}
			return err
		}
	}
	return nil
}

// decideSink makes the row of sink j (k), when its where holds.
func (d *decider) decideSink(j int, k *sink, i int, vars []any) error {
	{
		sd := d.sinks[j]
		switch {
		case k.whereDecision != nil:
			if !k.whereDecision.matches(d.dec) {
				return nil
			}
		case sd.where != nil:
			ok, err := sd.where.matches(vars)
			if err != nil {
				return fmt.Errorf("to %s: where: %w", k.id, err)
			}
			if !ok {
				return nil
			}
		}
		row := k.out.NewRow()
		vars[len(vars)-1] = row
		if _, err := sd.emit.eval(vars); err != nil {
			return fmt.Errorf("to %s: emit: %w", k.id, err)
		}
		d.sinkOuts[j] = append(d.sinkOuts[j], sinkRow{at: i, row: row})
	}
	return nil
}

// gatherSinks moves the deciders' sink rows to r, in the order of their records.
func (r *streamRun) gatherSinks() {
	for j := range r.s.sinks {
		rows := r.sinkOuts[j][:0]
		for _, w := range r.workers {
			rows = append(rows, w.sinkOuts[j]...)
			clear(w.sinkOuts[j])
			w.sinkOuts[j] = w.sinkOuts[j][:0]
		}
		if len(r.workers) > 1 {
			slices.SortFunc(rows, func(a, b sinkRow) int { return cmp.Compare(a.at, b.at) })
		}
		r.sinkOuts[j] = rows
	}
}

// takeSinks returns the chunk's rows of table sinks as writes and those of
// topic sinks as outbox entries, and empties r's.
func (r *streamRun) takeSinks() ([]port.TableWrite, []port.OutboxEntry) {
	var (
		writes  []port.TableWrite
		entries []port.OutboxEntry
	)
	for j, k := range r.s.sinks {
		rows := r.sinkOuts[j]
		if len(rows) == 0 {
			continue
		}
		if k.topic == nil {
			w := port.TableWrite{Table: k.out.Name, Rows: make([]schema.Row, len(rows))}
			for i, x := range rows {
				w.Rows[i] = x.row
			}
			writes = append(writes, w)
		} else {
			for _, x := range rows {
				entries = append(entries, r.outboxEntry(k, x.row))
			}
		}
		clear(rows)
		r.sinkOuts[j] = rows[:0]
	}
	return writes, entries
}

// outboxEntry returns row, bound for the topic of sink k, as an outbox entry.
func (r *streamRun) outboxEntry(k *sink, row schema.Row) port.OutboxEntry {
	key := ""
	if c := k.out.Index(k.topic.Key); c >= 0 && row[c] != nil {
		key = k.out.Columns[c].Type.Format(row[c])
	}
	return port.OutboxEntry{Group: r.group, From: r.s.tspec.Name, Topic: k.topic.Name, Key: key, Value: encodeRecord(k.out, row)}
}

// encodeRecord returns row as a JSON object of column name to the text of
// its value (null for a null): what the outbox keeps of a record.
func encodeRecord(s *schema.Schema, row schema.Row) string {
	m := make(map[string]*string, len(s.Columns))
	for i, c := range s.Columns {
		if row[i] == nil {
			m[c.Name] = nil
			continue
		}
		t := c.Type.Format(row[i])
		m[c.Name] = &t
	}
	b, _ := json.Marshal(m) // strings and nulls only: it cannot fail
	return string(b)
}

// decodeRecord parses what encodeRecord returned into a row of s.
func decodeRecord(s *schema.Schema, text string) (schema.Row, error) {
	var m map[string]*string
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("not a record of %s: %w", s.Name, err)
	}
	row := s.NewRow()
	var missing []string
	for i, c := range s.Columns {
		v, ok := m[c.Name]
		if !ok {
			missing = append(missing, c.Name)
			continue
		}
		if v == nil {
			if !c.Type.Nullable {
				return nil, fmt.Errorf("column %s is null, and %s is not nullable", c.Name, c.Type)
			}
			continue
		}
		x, err := c.Type.Parse(*v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		row[i] = x
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no column %s (was the schema of %s changed while records waited in the outbox?)", joinNames(missing), s.Name)
	}
	return row, nil
}
