package rules

import (
	"fmt"

	"pipeline/engine/yamldoc"
)

// Definition is a ruleset written by code rather than a rule file: the
// engine uses it to compile the expressions of a spec's stages (filters,
// emitted columns, assignments) with the same checker, functions and
// evaluator as rule files. Expressions carry their positions in the spec.
type Definition struct {
	Name    string
	Inputs  []Input
	Outputs []Output
	Rules   []RuleDef
	Default *RuleDef
}

// RuleDef is one rule of a Definition; When is empty for the default.
type RuleDef struct {
	ID      string
	When    yamldoc.String
	Outcome string
	Set     yamldoc.Map[yamldoc.String]
	Pos     yamldoc.Pos
}

// Define compiles a Definition whose expressions come from file f.
func Define(f *yamldoc.File, def Definition) (*Ruleset, error) {
	if len(def.Inputs) > 64 {
		return nil, fmt.Errorf("%s: at most 64 inputs", def.Name)
	}
	spec := &fileSpec{Ruleset: yamldoc.String{Value: def.Name, Pos: yamldoc.Pos{File: f.Path, Line: 1}}, declared: def.Inputs}
	for _, o := range def.Outputs {
		spec.Outputs = append(spec.Outputs, yamldoc.Entry[yamldoc.String]{Key: o.Name, Pos: o.Pos, Value: yamldoc.String{Value: o.Type.String(), Pos: o.Pos}})
	}
	conv := func(r RuleDef) ruleSpec {
		return ruleSpec{ID: yamldoc.String{Value: r.ID, Pos: r.Pos}, When: r.When, Outcome: yamldoc.String{Value: r.Outcome}, Set: r.Set, Pos: r.Pos}
	}
	for _, r := range def.Rules {
		spec.Rules = append(spec.Rules, conv(r))
	}
	if def.Default != nil {
		d := conv(*def.Default)
		spec.Default = &d
	}
	d := &yamldoc.Decoder{File: f}
	c := &compiler{d: d, f: f, rs: &Ruleset{Name: def.Name, Path: f.Path, file: f}}
	c.build(spec)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c.rs, nil
}
