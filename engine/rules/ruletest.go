package rules

import (
	"fmt"
	"strings"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestResult is the result of one test written in a rule file.
type TestResult struct {
	Ruleset string
	Name    string
	Pos     yamldoc.Pos
	Err     error // nil when the test passed
	// Rule is the id of the rule (table row, "default") that decided the
	// test's record, "" when none did; Reached is how many rules, in order,
	// had their condition evaluated: those before the deciding rule and it
	// (or up to the one that failed).
	Rule    string
	Reached int
}

// Passed reports whether the test passed.
func (r TestResult) Passed() bool { return r.Err == nil }

// NumTests returns how many tests the rule file holds.
func (rs *Ruleset) NumTests() int { return len(rs.tests) }

// RunTests runs the tests written in the rule file, in order.
func (rs *Ruleset) RunTests() []TestResult {
	results := make([]TestResult, 0, len(rs.tests))
	for i := range rs.tests {
		t := &rs.tests[i]
		name := t.Name.Value
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		r := TestResult{Ruleset: rs.Name, Name: name, Pos: t.Pos}
		r.Err = rs.runTest(t, &r)
		results = append(results, r)
	}
	return results
}

func (rs *Ruleset) runTest(t *testSpec, res *TestResult) error {
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		return err
	}
	vals, err := rs.given(t)
	if err != nil {
		return err
	}
	// Explain decides as Eval does, and says which conditions ran.
	trace := e.Explain(vals)
	d, err := trace.Decision, trace.Err
	for _, r := range trace.Rules {
		res.Reached++
		if r.Result.Err != nil || r.Result.Value == true {
			break
		}
	}
	if err == nil {
		res.Rule = d.Rule
	}
	x := t.Expect
	if x.Error.Set() {
		switch {
		case err == nil:
			return rs.file.Errorf(x.Error.Pos, "want an error containing %q, got outcome %q by rule %s", x.Error.Value, d.Outcome, d.Rule)
		case !strings.Contains(err.Error(), x.Error.Value):
			return rs.file.Errorf(x.Error.Pos, "want an error containing %q, got: %v", x.Error.Value, err)
		}
		return nil
	}
	if err != nil {
		return rs.file.Errorf(t.Pos, "evaluation failed: %v", err)
	}
	var fails []string
	check := func(what string, want yamldoc.String, got string) {
		if want.Set() && want.Value != got {
			fails = append(fails, fmt.Sprintf("%s: want %q, got %q", what, want.Value, got))
		}
	}
	check("outcome", x.Outcome, d.Outcome)
	check("rule", x.Rule, d.Rule)
	check("reason", x.Reason, d.Reason)
	for _, s := range x.Set {
		got, typ, err := rs.target(e, vals, s.Key)
		if err != nil {
			return rs.file.Errorf(s.Pos, "%v", err)
		}
		want, err := typ.Parse(s.Value.Value)
		if err != nil {
			return rs.file.Errorf(s.Value.Pos, "expected %s: %v", s.Key, err)
		}
		if schema.Compare(want, got) != 0 {
			wantText := "null"
			if want != nil {
				wantText = typ.Format(want)
			}
			fails = append(fails, fmt.Sprintf("%s: want %s, got %s", s.Key, wantText, formatValue(got)))
		}
	}
	if len(fails) > 0 {
		return rs.file.Errorf(x.Pos, "%s (decided by rule %s: %s)", strings.Join(fails, "; "), d.Rule, d.Reason)
	}
	return nil
}

// target returns the value of "record.field" or an output after evaluation.
func (rs *Ruleset) target(e *Evaluator, vals []any, name string) (any, schema.Type, error) {
	if rec, field, ok := strings.Cut(name, "."); ok {
		i := rs.Input(rec)
		if i < 0 || !rs.Inputs[i].Record || rs.Inputs[i].Field(field) < 0 {
			return nil, schema.Type{}, fmt.Errorf("%s is not a field of a record input", name)
		}
		return vals[i].(schema.Row)[rs.Inputs[i].Field(field)], rs.Inputs[i].Fields[rs.Inputs[i].Field(field)].Type, nil
	}
	o := rs.Output(name)
	if o < 0 {
		return nil, schema.Type{}, fmt.Errorf("%s is neither an output nor record.field", name)
	}
	return e.Output(o), rs.Outputs[o].Type, nil
}

// given builds the input values of a test: declared fields not given are
// null when nullable and zero otherwise.
func (rs *Ruleset) given(t *testSpec) ([]any, error) {
	vals := make([]any, len(rs.Inputs))
	for i, in := range rs.Inputs {
		if in.List {
			set, err := rs.givenList(t, in)
			if err != nil {
				return nil, err
			}
			vals[i] = set
			continue
		}
		g, ok := t.Given.Get(in.Name)
		if in.Optional && (!ok || g.Null) {
			vals[i] = nil // no row: an optional record not given, or given as null
			continue
		}
		if !in.Record {
			v := zeroValue(in.Type)
			if ok {
				var err error
				if v, err = in.Type.Parse(g.Scalar.Value); err != nil {
					return nil, rs.file.Errorf(g.Pos, "given %s: %v", in.Name, err)
				}
			}
			vals[i] = v
			continue
		}
		row := make(schema.Row, len(in.Fields))
		for j, f := range in.Fields {
			row[j] = zeroValue(f.Type)
		}
		for _, gf := range g.Fields {
			j := in.Field(gf.Key)
			if j < 0 {
				return nil, rs.file.Errorf(gf.Pos, "given %s.%s: %s declares no such field", in.Name, gf.Key, in.Name)
			}
			if gf.Value.IsList {
				return nil, rs.file.Errorf(gf.Value.Pos, "given %s.%s: a field takes one value, not a sequence", in.Name, gf.Key)
			}
			v, err := in.Fields[j].Type.Parse(gf.Value.Value)
			if err != nil {
				return nil, rs.file.Errorf(gf.Value.Pos, "given %s.%s: %v", in.Name, gf.Key, err)
			}
			row[j] = v
		}
		vals[i] = row
	}
	for _, g := range t.Given {
		if g.Key+"." == ListPrefix {
			for _, gf := range g.Value.Fields {
				if rs.Input(ListPrefix+gf.Key) < 0 {
					return nil, rs.file.Errorf(gf.Pos, "given lists.%s: the ruleset declares no such list", gf.Key)
				}
			}
			continue
		}
		if rs.Input(g.Key) < 0 {
			return nil, rs.file.Errorf(g.Pos, "given %s: the ruleset has no such input", g.Key)
		}
	}
	return vals, nil
}

// givenList builds list input in of a test from lists: {name: [a, b]}: the
// set of the elements given, empty when not given.
func (rs *Ruleset) givenList(t *testSpec, in Input) (any, error) {
	var items []yamldoc.String
	if g, ok := t.Given.Get(strings.TrimSuffix(ListPrefix, ".")); ok {
		if gf, ok := g.Fields.Get(strings.TrimPrefix(in.Name, ListPrefix)); ok {
			if !gf.IsList {
				return nil, rs.file.Errorf(gf.Pos, "given %s: give a list as a sequence, e.g. [a, b]", in.Name)
			}
			items = gf.List
		}
	}
	vals := make([]any, 0, len(items))
	for _, it := range items {
		v, err := in.Type.Parse(it.Value)
		if err != nil {
			return nil, rs.file.Errorf(it.Pos, "given %s: %v", in.Name, err)
		}
		vals = append(vals, v)
	}
	return NewList(in.Type, vals)
}

// NewList returns the value of a list input of elements of type t holding
// vals (values of t, as rows hold them; nulls are left out): a
// map[string]struct{} or a map[int]struct{}.
func NewList(t schema.Type, vals []any) (any, error) {
	switch t.Kind {
	case schema.String:
		return listOf[string](t, vals)
	case schema.Int:
		return listOf[int](t, vals)
	}
	return nil, fmt.Errorf("a list holds int or string values, not %s", t)
}

// listOf returns the set of vals, a map[T]struct{}: values of type t that
// are each a T or nil (left out).
func listOf[T comparable](t schema.Type, vals []any) (any, error) {
	set := make(map[T]struct{}, len(vals))
	for _, v := range vals {
		if x, ok := v.(T); ok {
			set[x] = struct{}{}
		} else if v != nil {
			return nil, fmt.Errorf("list of %s: %v is a %T", t, v, v)
		}
	}
	return set, nil
}

func zeroValue(t schema.Type) any {
	if t.Nullable {
		return nil
	}
	switch t.Kind {
	case schema.String:
		return ""
	case schema.Bool:
		return false
	}
	v, _ := t.Parse("0")
	if v == nil && (t.Kind == schema.Date || t.Kind == schema.DateTime) {
		v, _ = t.Parse("1970-01-01")
	}
	return v
}
