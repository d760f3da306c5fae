package rules

import (
	"fmt"
	"reflect"

	"pipeline/engine/schema"
)

// Explanation is how a ruleset evaluated one record: the values it saw, the
// result of every let and every rule's condition, the decision and the
// values the deciding rule assigned.
type Explanation struct {
	Ruleset string
	Version int
	Hash    string // Ruleset.Hash
	Path    string
	// Fields are the record fields the expressions read, as "record.field".
	Fields []Value
	// Lets are the let bindings in order.
	Lets []Value
	// Rules are the rules in order, the default last when there is one.
	Rules []RuleTrace
	// Decision is what Eval decided; Err its error, if any.
	Decision Decision
	Err      error
	// Sets are the values the deciding rule (and then) assigned.
	Sets []Value
}

// Value is a named value an explanation shows, or the error computing it.
type Value struct {
	Name  string
	Value any
	Err   error
	// Type is the declared type of what the value is assigned to, when it
	// is one: a decimal prints with the type's scale (2800.00 for money).
	Type schema.Type
}

// String formats the value as a person reads it: "null" for nil, decimals
// with their scale, strings quoted, lists and maps as written in a rule
// (["refund", "cancellation"]).
func (v Value) String() string {
	if v.Err != nil {
		return "error: " + v.Err.Error()
	}
	switch x := v.Value.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case listSize:
		return fmt.Sprintf("a list of %d", int(x))
	}
	if v.Type.Kind == schema.Decimal && v.Type.Scale != schema.AnyScale {
		switch v.Value.(type) {
		case Dec, int:
			return v.Type.Format(v.Value)
		}
	}
	return formatValue(v.Value)
}

// listSize is how an explanation shows a list input: its size, not its
// values, which may be many.
type listSize int

// RuleTrace is one rule's part in an explanation.
type RuleTrace struct {
	ID      string
	When    string // the condition as written; "" for the default
	Outcome string
	Line    int   // line of the rule in its file
	Result  Value // the condition's value (true, false, or an error)
	Decided bool  // this rule decided the record
}

// Explain evaluates the ruleset for one record like Eval, and also every
// let and every rule's condition, one by one through expr's VM, with the
// values they saw. It applies the deciding rule's assignments exactly as
// Eval does: a stage may call Explain instead of Eval for the records it
// traces.
func (e *Evaluator) Explain(vals []any) Explanation {
	rs := e.rs
	x := Explanation{Ruleset: rs.Name, Version: rs.Version, Hash: rs.Hash, Path: rs.Path}
	if err := e.bind(vals); err != nil {
		x.Err = err
		return x
	}
	for j, r := range rs.refs {
		x.Fields = append(x.Fields, Value{Name: r.key, Value: e.vals[j]})
	}
	for i, in := range rs.Inputs {
		switch v := e.vals[len(e.binds)+i]; {
		case in.List:
			// A list may be long: its size, not its elements.
			n := 0
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
				n = rv.Len()
			}
			x.Fields = append(x.Fields, Value{Name: in.Name, Value: listSize(n)})
		case !in.Record:
			x.Fields = append(x.Fields, Value{Name: in.Name, Value: v})
		}
	}
	letsOK := true
	for _, l := range rs.lets {
		v, err := e.run(l.prog)
		x.Lets = append(x.Lets, Value{Name: l.name, Value: v, Err: err})
		e.env[l.name] = v // nil when it failed, not the last record's value
		if err != nil {
			letsOK = false
		}
	}
	for _, r := range rs.rules {
		t := RuleTrace{ID: r.id, When: r.whenSrc, Outcome: r.outcome, Line: r.pos.Line}
		switch {
		case r.when == nil:
			t.Result = Value{Name: "default", Value: true}
		case !letsOK:
			t.Result = Value{Name: r.id, Err: fmt.Errorf("not evaluated: a let failed")}
		default:
			v, err := e.run(r.when)
			t.Result = Value{Name: r.id, Value: v, Err: err}
		}
		x.Rules = append(x.Rules, t)
	}

	x.Decision, x.Err = e.Eval(vals)
	for i := range x.Rules {
		x.Rules[i].Decided = x.Err == nil && x.Rules[i].ID == x.Decision.Rule
	}
	if x.Err != nil || e.last == nil {
		return x
	}
	for _, sets := range [][]assign{e.last.sets, rs.then} {
		for _, a := range sets {
			v := Value{Name: a.target, Type: a.typ}
			if a.input >= 0 {
				v.Value = e.rows[a.input][e.cols[a.input][a.field]]
			} else {
				v.Value = e.outputs[a.output]
			}
			x.Sets = append(x.Sets, v)
		}
	}
	return x
}
