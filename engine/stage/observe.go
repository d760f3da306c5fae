package stage

import (
	"fmt"
	"strings"

	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// Observed is one ruleset evaluation as statistics count it, for
// Runtime.Observe: the decision (as Runtime.Decided gets it), the ruleset,
// which rules' conditions held, and the stage's measure.
type Observed struct {
	Decided
	// Ruleset is the ruleset that decided.
	Ruleset *rules.Ruleset
	// ShadowRuleset is the ruleset of Decided.Shadow; nil without a shadow.
	ShadowRuleset *rules.Ruleset
	// Fired holds, for each rule of Ruleset.Rules, whether its condition
	// held (rules.Evaluator.Fired); all false when Err is set. It is valid
	// during the call only.
	Fired []bool
	// Measure is the value of the stage's (or step's) measure for the
	// record, read before the ruleset decided: an exact decimal
	// (rules.Dec), or nil when the stage has none or it was null or failed.
	Measure any
}

// Written is a row a stage wrote, for Runtime.Wrote: a stream stage's
// output row (the record's row) or a row of a saved lookup, or a row a
// batch step set.
type Written struct {
	Stage string
	Step  string // the batch step, "" in a stream stage
	// Lookup names the saved lookup the row belongs to in a stream stage
	// (its state); "" for the record's own row, the one Decided keys.
	Lookup string
	Table  *schema.Schema
	Key    string // the row's key, as text
	// Columns are the columns the stage's expressions wrote, as indexes of
	// Table.Columns: emitted ones, a saved lookup's owned ones, a step's set.
	Columns []int
	// Row is the row as written. It is valid during the call only: copy
	// the values to keep them.
	Row schema.Row
}

// AbsentRules is the error a LoadRules function returns for a rule file
// that does not exist in the version of the rules it reads (a rule file
// added or removed since): the stages using it decide nothing, so a stream
// stage writes no row for its records and a batch step sets no row. Like
// is the file's ruleset in the other version, which the spec is checked
// against.
type AbsentRules struct {
	Path string
	Like *rules.Ruleset
}

func (e *AbsentRules) Error() string {
	return fmt.Sprintf("rules %s: no such file in this version of the rules", e.Path)
}

// measureVar is the output a measure's definition computes.
const measureVar = "_measure"

// measure compiles the measure of a stage or step, an amount over sc
// that statistics and diff sum; nil when there is none. It is a decimal
// (or an int) and may be null.
func (b *builder) measure(sc *scope, m yamldoc.String, name string) (*bound, bool) {
	if !m.Set() {
		return nil, true
	}
	typ := schema.Type{Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}
	n := len(b.errs)
	bd := b.define(sc, rules.Definition{Name: name + " measure",
		Outputs: []rules.Output{{Name: measureVar, Type: typ, Pos: m.Pos}},
		Default: &rules.RuleDef{ID: "measure", Pos: m.Pos,
			Set: yamldoc.Map[yamldoc.String]{{Key: measureVar, Pos: m.Pos, Value: m}}}})
	if bd == nil {
		// Say what a measure is next to the checker's words.
		for _, e := range b.errs[n:] {
			if _, gives, ok := strings.Cut(e.Msg, "but this expression gives "); ok && strings.HasPrefix(e.Msg, measureVar+" ") {
				e.Msg = "measure: an amount to sum is a decimal or an int (e.g. tx.amount), but this expression gives " + gives
			} else {
				e.Msg = "measure: " + e.Msg
			}
		}
		return nil, false
	}
	bd.src = m.Value
	return bd, true
}

// measureOf evaluates the measure of e's stage for the scope values vars:
// nil without one, or when it is null or fails.
func (e *evaluator) measureOf(vars []any) any {
	if e.measure == nil {
		return nil
	}
	if _, err := e.measure.eval(vars); err != nil {
		return nil
	}
	return e.measure.Output(0)
}

// observe tells rt.Observe about the evaluation e just made.
func (e *evaluator) observe(rt *Runtime, d Decided, measure any) {
	if d.Err == nil {
		e.fired = e.Fired(e.fired)
	} else {
		e.fired = e.fired[:0]
		for range e.bd.rs.Rules() {
			e.fired = append(e.fired, false)
		}
	}
	o := Observed{Decided: d, Ruleset: e.bd.rs, Fired: e.fired, Measure: measure}
	if d.Shadow != nil {
		o.ShadowRuleset = e.shadowRuleset
	}
	rt.Observe(o)
}

// columnIndexes returns the indexes in s of the named columns.
func columnIndexes(s *schema.Schema, names []string) []int {
	out := make([]int, 0, len(names))
	for _, n := range names {
		if i := s.Index(n); i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

// Place is a stream stage or a batch step: where records are decided
// and rows written.
type Place struct {
	Stage string
	Step  string // "" for a stream stage
	// Ruleset is the ruleset it evaluates; nil for a batch step without rules.
	Ruleset *rules.Ruleset
	// Measure is the measure as the spec writes it (tx.amount), "" without one.
	Measure string
	// Absent: the rule file is not in the version of the rules the plan
	// was built with (see AbsentRules); Ruleset is the other version's.
	Absent bool
}

// Places lists the stream stages and batch steps of the plan, in order.
func (p *Plan) Places() []Place {
	var out []Place
	add := func(stage, step string, bd *bound) {
		pl := Place{Stage: stage, Step: step}
		if bd != nil {
			pl.Ruleset, pl.Absent = bd.rs, bd.absent
			if bd.measure != nil {
				pl.Measure = bd.measure.src
			}
		}
		out = append(out, pl)
	}
	for _, r := range p.Stages {
		switch s := r.(type) {
		case *streamStage:
			add(s.name, "", s.rules)
		case *batchStage:
			for _, st := range s.steps {
				add(s.name, st.name, st.rules)
			}
		}
	}
	return out
}
