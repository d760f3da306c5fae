package rules

import (
	"crypto/sha256"
	"fmt"
	"strings"

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
	c := &compiler{d: d, f: f, rs: &Ruleset{Name: def.Name, Hash: def.hash(), Path: f.Path, file: f}}
	c.build(spec)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c.rs, nil
}

// hash returns the Ruleset.Hash of the definition: of its text (names,
// types and expressions as written), which is what decides.
func (def Definition) hash() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ruleset %q\n", def.Name)
	for _, in := range def.Inputs {
		switch {
		case in.List:
			fmt.Fprintf(&b, "input %q list %s\n", in.Name, in.Type)
			continue
		case in.Record && in.Optional:
			fmt.Fprintf(&b, "input %q optional record", in.Name)
		case in.Record:
			fmt.Fprintf(&b, "input %q record", in.Name)
		}
		if in.Record {
			for _, f := range in.Fields {
				fmt.Fprintf(&b, " %q %s", f.Name, f.Type)
			}
			b.WriteByte('\n')
		} else {
			fmt.Fprintf(&b, "input %q %s\n", in.Name, in.Type)
		}
	}
	for _, o := range def.Outputs {
		fmt.Fprintf(&b, "output %q %s\n", o.Name, o.Type)
	}
	rule := func(r RuleDef) {
		fmt.Fprintf(&b, "rule %q when %q outcome %q\n", r.ID, r.When.Value, r.Outcome)
		for _, s := range r.Set {
			fmt.Fprintf(&b, "  set %q %q\n", s.Key, s.Value.Value)
		}
	}
	for _, r := range def.Rules {
		rule(r)
	}
	if def.Default != nil {
		b.WriteString("default\n")
		rule(*def.Default)
	}
	return shortHash(sha256.Sum256([]byte(b.String())))
}
