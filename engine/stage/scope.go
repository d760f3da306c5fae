package stage

import (
	"strings"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// scope lists the variables the expressions of a stage may read: records
// (rows of a schema) and scalars. At run time their values travel in a
// []any in the same order.
type scope struct {
	names   []string
	schemas []*schema.Schema // nil for a scalar
	types   []schema.Type    // the type of a scalar
	why     map[int]string   // why a nullable scalar may be null, when not declared so
	// optional marks the records that may be null (an optional lookup),
	// list the variables that are lists (types then holds the type of
	// their elements).
	optional map[int]bool
	list     map[int]bool
}

func (sc *scope) index(name string) int {
	for i, n := range sc.names {
		if n == name {
			return i
		}
	}
	return -1
}

func (sc *scope) addRecord(name string, s *schema.Schema) int {
	sc.names = append(sc.names, name)
	sc.schemas = append(sc.schemas, s)
	sc.types = append(sc.types, schema.Type{})
	return len(sc.names) - 1
}

// addOptional adds a record that may be null.
func (sc *scope) addOptional(name string, s *schema.Schema) int {
	v := sc.addRecord(name, s)
	if sc.optional == nil {
		sc.optional = map[int]bool{}
	}
	sc.optional[v] = true
	return v
}

// addList adds a list of values of type elem, named rules.ListPrefix+name.
func (sc *scope) addList(name string, elem schema.Type) int {
	v := sc.addScalar(rules.ListPrefix+name, elem)
	if sc.list == nil {
		sc.list = map[int]bool{}
	}
	sc.list[v] = true
	return v
}

func (sc *scope) addScalar(name string, t schema.Type) int {
	sc.names = append(sc.names, name)
	sc.schemas = append(sc.schemas, nil)
	sc.types = append(sc.types, t)
	return len(sc.names) - 1
}

// inputs declares every variable as a ruleset input.
func (sc *scope) inputs() []rules.Input {
	ins := make([]rules.Input, len(sc.names))
	for i, n := range sc.names {
		if s := sc.schemas[i]; s != nil {
			ins[i] = rules.Input{Name: n, Record: true, Fields: s.Columns, Optional: sc.optional[i]}
		} else if sc.list[i] {
			ins[i] = rules.Input{Name: n, List: true, Type: sc.types[i]}
		} else {
			ins[i] = rules.Input{Name: n, Type: sc.types[i], NullReason: sc.why[i]}
		}
	}
	return ins
}

// listNames returns the names of the lists in scope, without their prefix.
func (sc *scope) listNames() []string {
	var out []string
	for i, n := range sc.names {
		if sc.list[i] {
			out = append(out, strings.TrimPrefix(n, rules.ListPrefix))
		}
	}
	return out
}

func (sc *scope) layouts() map[string]*schema.Schema {
	m := map[string]*schema.Schema{}
	for i, n := range sc.names {
		if sc.schemas[i] != nil {
			m[n] = sc.schemas[i]
		}
	}
	return m
}

// bound is a ruleset whose inputs are mapped to the variables of a scope.
type bound struct {
	rs  *rules.Ruleset
	idx []int // scope variable of each ruleset input
	lay map[string]*schema.Schema
	// measure is the stage's measure, evaluated for Runtime.Observe.
	measure *bound
	// absent: the rule file does not exist in the version of the rules
	// built (see AbsentRules); the ruleset decides nothing.
	absent bool
	src    string // a measure's expression as written
}

// bind maps a ruleset's inputs to scope variables by name and checks that
// the layouts fit, so that lint reports mismatches.
func (b *builder) bind(rs *rules.Ruleset, sc *scope, pos yamldoc.Pos) *bound {
	bd := &bound{rs: rs, idx: make([]int, len(rs.Inputs)), lay: sc.layouts(), absent: b.absent[rs]}
	ok := true
	for i, in := range rs.Inputs {
		j := sc.index(in.Name)
		switch {
		case j < 0 && in.List:
			has := "it declares none"
			if names := sc.listNames(); len(names) > 0 {
				has = "it declares " + joinNames(names)
			}
			b.errorf(pos, "ruleset %s reads %s, but this stage has no such list (%s): declare it under the stage's lists, e.g. %s: db:some_table",
				rs.Name, in.Name, has, strings.TrimPrefix(in.Name, rules.ListPrefix))
			ok = false
		case j < 0:
			b.errorf(pos, "ruleset %s reads input %q, but this stage has no such record or value (it has: %s)", rs.Name, in.Name, joinNames(sc.names))
			ok = false
		case in.List != sc.list[j]:
			b.errorf(pos, "ruleset %s reads %s as a %s, but in this stage it is not", rs.Name, in.Name, map[bool]string{true: "list", false: "value"}[in.List])
			ok = false
		case in.List && in.Type.GoType() != sc.types[j].GoType():
			b.errorf(pos, "ruleset %s reads %s as a list of %s, but in this stage it is a list of %s", rs.Name, in.Name, in.Type, sc.types[j])
			ok = false
		case in.List:
		case in.Record && sc.optional[j] && !in.Optional:
			b.errorf(pos, "lookup %s is optional, so it may have no row, but ruleset %s reads it as always there: declare it %s?: in %s, and give its fields a default (%s.field ?? ...) or test %s != nil first",
				in.Name, rs.Name, in.Name, rs.Path, in.Name, in.Name)
			ok = false
		case in.Record != (sc.schemas[j] != nil):
			b.errorf(pos, "ruleset %s reads %q as a %s, but in this stage it is a %s", rs.Name, in.Name, recordWord(in.Record), recordWord(!in.Record))
			ok = false
		case !in.Record && !in.Type.AssignableFrom(sc.types[j]) && !sc.types[j].AssignableFrom(in.Type):
			b.errorf(pos, "ruleset %s reads %q as %s, but in this stage it is %s", rs.Name, in.Name, in.Type, sc.types[j])
			ok = false
		}
		bd.idx[i] = j
	}
	if !ok {
		return nil
	}
	if _, err := rs.NewEvaluator(bd.lay); err != nil {
		b.errorf(pos, "%v", err)
		return nil
	}
	return bd
}

func recordWord(record bool) string {
	if record {
		return "record"
	}
	return "value"
}

// evaluator is a bound ruleset ready to evaluate against scope values.
type evaluator struct {
	*rules.Evaluator
	bd      *bound
	vals    []any
	measure *evaluator // bd.measure's
	fired   []bool     // reused by observe
	// shadowDecision, when set, is the shadow ruleset's decision of the
	// record evalObserved decides next: Decided reports it, and it is reset.
	shadowDecision *rules.Decision
	shadowRuleset  *rules.Ruleset // the ruleset that made shadowDecision
}

func (bd *bound) evaluator() *evaluator {
	e, err := bd.rs.NewEvaluator(bd.lay)
	if err != nil {
		panic("stage: ruleset bound at build time no longer binds: " + err.Error())
	}
	ev := &evaluator{Evaluator: e, bd: bd, vals: make([]any, len(bd.idx))}
	if bd.measure != nil {
		ev.measure = bd.measure.evaluator()
	}
	return ev
}

// scopeVals returns the ruleset's inputs from the scope's current values.
func (e *evaluator) scopeVals(vars []any) []any {
	for i, j := range e.bd.idx {
		e.vals[i] = vars[j]
	}
	return e.vals
}

// eval evaluates the ruleset with the scope's current values.
func (e *evaluator) eval(vars []any) (rules.Decision, error) {
	return e.Eval(e.scopeVals(vars))
}

// explain evaluates like eval, and explains how (see rules.Evaluator.Explain).
func (e *evaluator) explain(vars []any) rules.Explanation {
	return e.Explain(e.scopeVals(vars))
}

// evalObserved evaluates like eval the record with key key; when rt traces
// key it explains the evaluation to rt.Trace, and it tells rt.Decided and
// rt.Observe.
func (e *evaluator) evalObserved(vars []any, rt *Runtime, key any, stage, step string, src port.Source, windows ...WindowTrace) (d rules.Decision, err error) {
	var measure any
	if rt.Observe != nil {
		measure = e.measureOf(vars) // the record as it came, before the rules
	}
	if rt.traced(key) {
		x := e.explain(vars)
		rt.Trace(Trace{Stage: stage, Step: step, Source: src, Explanation: x, Windows: windows})
		d, err = x.Decision, x.Err
	} else {
		d, err = e.eval(vars)
	}
	if rt.Decided != nil || rt.Observe != nil {
		x := Decided{Stage: stage, Step: step, Key: keyText(key), Decision: d, Err: err, Shadow: e.shadowDecision}
		if rt.Decided != nil {
			rt.Decided(x)
		}
		if rt.Observe != nil {
			e.observe(rt, x, measure)
		}
	}
	e.shadowDecision = nil
	return d, err
}

// wroteVar reports whether the last eval wrote into the record of scope variable v.
func (e *evaluator) wroteVar(v int) bool {
	for i, j := range e.bd.idx {
		if j == v && e.Wrote(i) {
			return true
		}
	}
	return false
}

// define compiles a stage-level ruleset over the whole scope.
func (b *builder) define(sc *scope, def rules.Definition) *bound {
	def.Inputs = append(sc.inputs(), def.Inputs...)
	rs, err := rules.Define(b.f, def)
	if err != nil {
		b.addErr(yamldoc.Pos{File: b.f.Path}, err)
		return nil
	}
	full := &scope{names: append([]string(nil), sc.names...), schemas: append([]*schema.Schema(nil), sc.schemas...), types: append([]schema.Type(nil), sc.types...),
		optional: sc.optional, list: sc.list}
	for _, in := range def.Inputs[len(sc.names):] {
		if in.Record {
			full.addRecord(in.Name, schema.MustNew(in.Name, in.Fields, ""))
		} else {
			full.addScalar(in.Name, in.Type)
		}
	}
	return b.bind(rs, full, yamldoc.Pos{File: b.f.Path})
}

// filter compiles a `where` expression: nil when there is none.
func (b *builder) filter(sc *scope, where yamldoc.String, name string) *bound {
	if !where.Set() {
		return nil
	}
	return b.define(sc, rules.Filter(name+" where", where))
}

// matches evaluates a filter (see rules.Filter).
func (e *evaluator) matches(vars []any) (bool, error) {
	return e.Holds(e.scopeVals(vars))
}
