package stage

import (
	"fmt"
	"slices"

	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// batchStage runs set-based steps over tables, in order. When the tables
// live in a port.Transactor the whole stage is atomic (one database tx).
type batchStage struct {
	name  string
	steps []*step
	guard *guard
}

// guard is a batch stage's only_if: a table and a filter.
type guard struct {
	ref    spec.Ref
	schema *schema.Schema
	where  *bound
}

func (s *batchStage) Name() string { return s.name }
func (s *batchStage) Kind() string { return spec.KindBatch }

// TablesOnly reports true: a batch stage reads and writes tables only.
func (s *batchStage) TablesOnly() bool { return true }

// step updates the rows of one table: filter, join an aggregate of another
// table and keyed lookups, evaluate a ruleset, set columns.
type step struct {
	name    string
	target  spec.Ref
	schema  *schema.Schema
	sc      *scope // target, aggregate values, lookups, ruleset outputs
	where   *bound // over target and aggregate values only
	agg     *aggregate
	lookups []lookup
	rules   *bound
	outVars []int // scope variable of each ruleset output
	set     *bound
	setCols []int     // the columns set names (Runtime.Wrote)
	push    *pushdown // the step as one set-based update, when it is that simple
}

func (b *builder) batchStage(st *spec.Stage) Runner {
	s := &batchStage{name: st.Name.Value}
	if len(st.Steps) == 0 {
		b.errorf(st.Pos, "batch stage %s has no steps", s.name)
	}
	for i := range st.Steps {
		if p := b.step(s.name, i, &st.Steps[i]); p != nil {
			s.steps = append(s.steps, p)
		}
	}
	if len(s.steps) != len(st.Steps) {
		return nil
	}
	if g := st.OnlyIf; g != nil {
		s.guard = &guard{}
		var ok bool
		if s.guard.ref, s.guard.schema, ok = b.tableRef(g.From, "only_if from"); !ok {
			return nil
		}
		as := g.As.Value
		if as == "" {
			as = s.guard.schema.Name
		}
		sc := &scope{}
		sc.addRecord(as, s.guard.schema)
		if !g.Where.Set() {
			b.errorf(g.Pos, "only_if needs a where: the condition some row must meet")
			return nil
		}
		if s.guard.where = b.filter(sc, g.Where, s.name+" only_if"); s.guard.where == nil {
			return nil
		}
	}
	return s
}

// writes names the tables the stage's steps change.
func (s *batchStage) writes() []string {
	var out []string
	for _, p := range s.steps {
		if !slices.Contains(out, p.schema.Name) {
			out = append(out, p.schema.Name)
		}
	}
	return out
}

// tableRef is a table a stage uses, with its schema.
type tableRef struct {
	ref    spec.Ref
	schema *schema.Schema
}

// tables lists the tables the stage reads and writes.
func (s *batchStage) tables() []tableRef {
	var out []tableRef
	if s.guard != nil {
		out = append(out, tableRef{s.guard.ref, s.guard.schema})
	}
	for _, p := range s.steps {
		out = append(out, tableRef{p.target, p.schema})
		if p.agg != nil {
			out = append(out, tableRef{p.agg.ref, p.agg.schema})
		}
		for _, l := range p.lookups {
			out = append(out, tableRef{l.ref, l.schema})
		}
	}
	return out
}

// step compiles step i of batch stage stage.
func (b *builder) step(stage string, i int, sp *spec.Step) *step {
	p := &step{name: sp.Name.Value, sc: &scope{}}
	if p.name == "" {
		p.name = fmt.Sprintf("%s step %d", stage, i+1)
	}
	var ok bool
	if p.target, p.schema, ok = b.tableRef(sp.Update, "update"); !ok {
		if !sp.Update.Set() {
			b.errorf(sp.Pos, "step %s: say which table it updates (update: connector:table)", p.name)
		}
		return nil
	}
	as := sp.As.Value
	if as == "" {
		as = p.schema.Name
	}
	if !namePattern.MatchString(as) {
		b.errorf(sp.As.Pos, "step %s: %q is not a usable name", p.name, as)
		return nil
	}
	p.sc.addRecord(as, p.schema)
	if sp.Aggregate != nil {
		if p.agg = b.aggregate(p, sp.Aggregate); p.agg == nil {
			return nil
		}
	}
	p.where = b.filter(p.sc, sp.Where, p.name)
	for _, l := range sp.Lookup {
		lk, ok := b.lookup(p.sc, l, false)
		if !ok {
			return nil
		}
		p.lookups = append(p.lookups, lk)
	}
	if sp.Rules.Set() && !b.stepRules(p, stage, sp) {
		return nil
	}
	if sp.Measure.Set() && p.rules == nil {
		b.errorf(sp.Measure.Pos, "step %s: measure: the step has no rules, so there is nothing to measure (measure sums an amount per rule and outcome)", p.name)
		return nil
	}
	var set yamldoc.Map[yamldoc.String]
	for _, e := range sp.Set {
		if p.schema.Index(e.Key) < 0 {
			b.errorf(e.Pos, "set %s: table %s has no such column (columns: %s)", e.Key, p.schema.Name, joinNames(p.schema.Names()))
			continue
		}
		if e.Key == p.schema.KeyName() {
			b.errorf(e.Pos, "set %s: the key of %s cannot change", e.Key, p.schema.Name)
			continue
		}
		set = append(set, yamldoc.Entry[yamldoc.String]{Key: as + "." + e.Key, Pos: e.Pos, Value: e.Value})
		p.setCols = append(p.setCols, p.schema.Index(e.Key))
	}
	if len(set) == 0 {
		b.errorf(sp.Pos, "step %s sets nothing: list column: expression under set", p.name)
		return nil
	}
	p.set = b.define(p.sc, rules.Definition{Name: p.name + " set", Default: &rules.RuleDef{ID: "set", Set: set, Pos: sp.Pos}})
	if p.set == nil || (sp.Where.Set() && p.where == nil) {
		return nil
	}
	p.push = pushable(p, sp)
	return p
}

// stepRules binds the ruleset of step p and its measure, and adds the
// ruleset's outputs to the step's scope, after the row, the aggregate
// values and the lookups the ruleset reads.
func (b *builder) stepRules(p *step, stage string, sp *spec.Step) bool {
	rs := b.ruleset(sp.Rules)
	if rs == nil {
		return false
	}
	if p.rules = b.bind(rs, p.sc, sp.Rules.Pos); p.rules == nil {
		return false
	}
	var ok bool
	if p.rules.measure, ok = b.measure(p.sc, sp.Measure, stage+", step "+p.name); !ok {
		return false
	}
	for i, o := range rs.Outputs {
		if p.sc.index(o.Name) >= 0 {
			b.errorf(sp.Rules.Pos, "ruleset %s output %q has the name of a record or value of the step", rs.Name, o.Name)
			return false
		}
		// Null when the deciding rule does not set it.
		t := o.Type
		t.Nullable = rs.OutputMayBeNull(i)
		v := p.sc.addScalar(o.Name, t)
		if t.Nullable && !o.Type.Nullable {
			if p.sc.why == nil {
				p.sc.why = map[int]string{}
			}
			p.sc.why[v] = rs.OutputNullReason(i)
		}
		p.outVars = append(p.outVars, v)
	}
	return true
}
