package stage

import (
	"strings"
	"sync/atomic"

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

// consumerGroup returns the consumer group of stage st, which consumes a
// topic: the one the spec names, else the stage's name.
func consumerGroup(st *spec.Stage) string {
	if st.Group.Value != "" {
		return st.Group.Value
	}
	return st.Name.Value
}

// streamStage compiles a stream stage.
func (b *builder) streamStage(st *spec.Stage) Runner {
	s := &streamStage{name: st.Name.Value, group: consumerGroup(st), batchSize: st.BatchSize, sc: &scope{}}
	var ok bool
	if s.topic, s.tspec, ok = b.topicRef(st.From, "from"); !ok {
		return nil
	}
	if !namePattern.MatchString(st.As.Value) || st.As.Value == decisionVar {
		b.errorf(st.Pos, "stream stage %s: \"as\" must name the record (e.g. as: tx); %q is not usable", s.name, st.As.Value)
		return nil
	}
	s.sc.addRecord(st.As.Value, s.tspec.Schema)
	if !b.streamLookups(s, st) || !b.lists(s, st) || !b.windows(s, st) || !b.streamRules(s, st) {
		return nil
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
	for _, l := range s.lookups {
		if l.save && l.ref.Connector != s.out.Connector {
			b.errorf(st.To.Pos, "stream stage %s saves lookup %s in connector %s, not in %s, which holds its output: "+
				"a stage commits its decisions, the state it saves and its offsets in one commit of one connector "+
				"(docs/ARCHITECTURE.md, \"State and concurrency\")", s.name, l.name, l.ref.Connector, s.out.Connector)
		}
	}
	emit, ok := b.firstSink(st)
	if !ok {
		return nil
	}
	s.emit = b.emitRules(s, st, emit)
	if s.emit != nil && !b.sinks(s, st, emit) {
		return nil
	}
	s.emitCols = emitColumns(outSchema, emit)
	if s.rules == nil || s.emit == nil || !shadowOK {
		return nil
	}
	s.cur = &atomic.Pointer[stageRules]{}
	s.cur.Store(&stageRules{live: s.rules, shadow: s.shadow})
	return s
}

// streamLookups compiles the lookups of a stream stage, saved or not, and
// checks that saved state is keyed by the topic's key (statekey.go).
func (b *builder) streamLookups(s *streamStage, st *spec.Stage) bool {
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
			return false
		}
		s.lookups = append(s.lookups, lk)
	}
	b.checkSaves(s, st)
	return true
}

// streamRules binds a stream stage's ruleset and its measure, and finds the
// fields of each saved lookup the ruleset sets (the state the stage owns).
// It reports false only when the stage cannot be built further; a missing
// or wrong ruleset is an error, and leaves s.rules nil.
func (b *builder) streamRules(s *streamStage, st *spec.Stage) bool {
	if !st.Rules.Set() {
		b.errorf(st.Pos, "stream stage %s has no rules", s.name)
		return true
	}
	if rs := b.ruleset(st.Rules); rs != nil {
		s.rules = b.bind(rs, s.sc, st.Rules.Pos)
	}
	if s.rules == nil {
		return true
	}
	var ok bool
	if s.rules.measure, ok = b.measure(s.sc, st.Measure, s.name); !ok {
		return false
	}
	for i, l := range s.lookups {
		if !l.save {
			continue
		}
		if s.lookups[i].owned = s.rules.rs.Sets(l.name); len(s.lookups[i].owned) == 0 {
			b.errorf(st.Rules.Pos, "save %s: ruleset %s sets no field of %s, so there is nothing to save "+
				"(set one, e.g. %s.some_column: expression, or drop %s from save)", l.name, s.rules.rs.Name, l.name, l.name, l.name)
		}
	}
	return true
}

// emitColumns returns the columns of out that emit names, less those that
// only say which rules decided (see streamStage.emitCols).
func emitColumns(out *schema.Schema, emit yamldoc.Map[yamldoc.String]) []int {
	var cols []int
	for _, e := range emit {
		switch strings.TrimSpace(e.Value.Value) {
		case decisionVar + ".version", decisionVar + ".hash":
			continue // provenance
		}
		cols = append(cols, columnIndexes(out, []string{e.Key})...)
	}
	return cols
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
	fs, ok := rules.CopiedFields(e.Value.Value)
	if !ok {
		return emitCopy{}, false
	}
	c := emitCopy{to: s.outSchema.Index(strings.TrimPrefix(e.Key, outVar+"."))}
	if c.to < 0 {
		return emitCopy{}, false
	}
	for _, ref := range fs {
		f, ok := s.copiedField(ref)
		if !ok {
			return emitCopy{}, false
		}
		c.from = append(c.from, f)
	}
	c.typ = s.outSchema.Columns[c.to].Type
	return c, true
}

// copiedField returns the field of a record ref names: the stage's record,
// a lookup or the decision.
func (s *streamStage) copiedField(ref rules.FieldRef) (fieldOf, bool) {
	f := fieldOf{v: s.sc.index(ref.Record)}
	src := decisionSchema
	switch {
	case ref.Record == decisionVar:
		f.v = len(s.sc.names)
	case f.v < 0 || s.sc.schemas[f.v] == nil:
		return fieldOf{}, false
	default:
		src = s.sc.schemas[f.v]
	}
	if f.col = src.Index(ref.Field); f.col < 0 {
		return fieldOf{}, false
	}
	return f, true
}
