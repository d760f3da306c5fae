package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr/file"

	"github.com/expr-lang/expr/vm"

	"pipeline/engine/schema"
)

// Decision is what a ruleset decided for one record: the deciding rule's id
// ("default" for the default, "" when nothing matched), its outcome and
// reason, and the ruleset's version and content hash (Ruleset.Hash).
type Decision struct {
	Rule    string
	Outcome string
	Reason  string
	Version int
	Hash    string
}

// Evaluator evaluates one ruleset, record after record, reusing its
// environment and virtual machine. It is not safe for concurrent use: give
// each goroutine its own.
type Evaluator struct {
	rs      *Ruleset
	env     map[string]any
	vm      vm.VM
	binds   []bind
	cols    [][]int // per input: layout column of each declared field
	rows    []schema.Row
	layouts []*schema.Schema
	outputs []any
	pending []any
	letsSet bool
	last    *rule  // the rule that decided the last record
	version any    // the ruleset version, boxed once
	hash    any    // the ruleset hash, boxed once
	wrote   uint64 // bit i: the last Eval wrote into the row of input i

	// The fast path (fast.go): the bound values of the record (the refs,
	// then the scalar inputs), the lets computed so far, and a buffer for
	// reasons. env is filled from vals only when the VM runs.
	vals     []any
	letv     []letVal
	letDone  uint64 // bit i: letv[i] holds let i for this record
	envBound bool
	buf      []byte

	budget budget // what the record has used of its budget (budget.go)
}

// Wrote reports whether the last Eval wrote a field of record input i.
func (e *Evaluator) Wrote(i int) bool { return e.wrote&(1<<uint(i)) != 0 }

type bind struct {
	key   string
	input int
	col   int
}

// NewEvaluator binds the ruleset to the layouts of the rows it will be
// given: layouts maps a record input's name to the schema of its rows. A
// record input missing from layouts is given as rows of its declared fields,
// in order. It fails when a layout lacks a declared field or has an
// incompatible type.
func (rs *Ruleset) NewEvaluator(layouts map[string]*schema.Schema) (*Evaluator, error) {
	e := &Evaluator{rs: rs, env: map[string]any{}, cols: make([][]int, len(rs.Inputs)),
		rows: make([]schema.Row, len(rs.Inputs)), layouts: make([]*schema.Schema, len(rs.Inputs)),
		outputs: make([]any, len(rs.Outputs)), vals: make([]any, len(rs.refs)+len(rs.Inputs)),
		letv: make([]letVal, len(rs.lets))}
	e.env[budgetKey] = &e.budget
	e.vm.MemoryBudget = MaxElements
	for i, in := range rs.Inputs {
		if !in.Record {
			continue
		}
		layout := layouts[in.Name]
		if layout == nil {
			layout = schema.MustNew(in.Name, in.Fields, "")
		}
		e.layouts[i] = layout
		e.cols[i] = make([]int, len(in.Fields))
		for j, f := range in.Fields {
			col, ok := layout.Column(f.Name)
			if !ok {
				return nil, fmt.Errorf("ruleset %s reads %s.%s, but %s has no column %q (columns: %s)", rs.Name, in.Name, f.Name, layout.Name, f.Name, strings.Join(layout.Names(), ", "))
			}
			if !sameKind(f.Type, col.Type) {
				return nil, fmt.Errorf("ruleset %s declares %s.%s as %s, but %s.%s is %s", rs.Name, in.Name, f.Name, f.Type, layout.Name, f.Name, col.Type)
			}
			if col.Type.Nullable && !f.Type.Nullable {
				return nil, fmt.Errorf("ruleset %s declares %s.%s as %s, but %s.%s may be null: declare it %s?", rs.Name, in.Name, f.Name, f.Type, layout.Name, f.Name, f.Type)
			}
			e.cols[i][j] = layout.Index(f.Name)
		}
	}
	for _, r := range rs.refs {
		e.binds = append(e.binds, bind{key: r.key, input: r.input, col: e.cols[r.input][r.field]})
	}
	return e, nil
}

func sameKind(a, b schema.Type) bool {
	return a.Kind == b.Kind || (a.Kind == schema.DateTime && b.Kind == schema.Date)
}

// DecisionValues stores d, the last decision of e, into five values (rule,
// outcome, reason, version, hash) as a row holds them. Constant parts are
// boxed once per ruleset, so this allocates only for reasons with
// placeholders.
func (e *Evaluator) DecisionValues(d Decision, vals []any) {
	if e.version == nil {
		e.version, e.hash = e.rs.Version, e.rs.Hash
	}
	vals[3], vals[4] = e.version, e.hash
	r := e.last
	if r == nil || r.id != d.Rule {
		vals[0], vals[1], vals[2] = d.Rule, d.Outcome, d.Reason
		return
	}
	vals[0], vals[1] = r.boxed[0], r.boxed[1]
	if r.boxed[2] != nil {
		vals[2] = r.boxed[2]
	} else {
		vals[2] = d.Reason
	}
}

// Layout returns the schema rows of the named record input must have.
func (e *Evaluator) Layout(input int) *schema.Schema { return e.layouts[input] }

// Output returns the value the last Eval gave output i (see Ruleset.Output).
func (e *Evaluator) Output(i int) any { return e.outputs[i] }

// Eval evaluates the ruleset for one record. vals holds one value per
// input: a schema.Row (in the bound layout) for a record input, or the
// scalar's value. The deciding rule's assignments are applied: record fields
// are written into the given rows, outputs are kept for Output.
func (e *Evaluator) Eval(vals []any) (Decision, error) {
	if err := e.bind(vals); err != nil {
		return Decision{}, err
	}
	r, err := e.decide()
	if err != nil || r == nil {
		return Decision{Version: e.rs.Version, Hash: e.rs.Hash}, err
	}
	e.last = r
	d := Decision{Rule: r.id, Outcome: r.outcome, Version: e.rs.Version, Hash: e.rs.Hash}
	if d.Reason, err = e.reason(r); err != nil {
		return d, err
	}
	if err := e.apply(r.id, r.sets); err != nil {
		return d, err
	}
	if len(e.rs.then) > 0 {
		for i, o := range e.rs.Outputs {
			e.env[o.Name] = e.outputs[i]
		}
		if e.rs.thenDecision {
			e.env[thenDecision+".outcome"] = r.outcome
			e.env[thenDecision+".rule"] = r.id
		}
		if err := e.apply(r.id, e.rs.then); err != nil {
			return d, err
		}
	}
	return d, nil
}

// reason renders the reason of rule r, through the closures when they
// render it, else through the VM with every let set first.
func (e *Evaluator) reason(r *rule) (string, error) {
	if len(r.reason.fast) > 0 {
		if s, ok := e.fastRender(&r.reason); ok {
			return s, nil
		}
	}
	if len(r.reason.progs) > 0 {
		if err := e.setLets(); err != nil {
			return "", err
		}
	}
	s, err := r.reason.render(e)
	if err != nil {
		return "", fmt.Errorf("rule %s: reason: %w", r.id, err)
	}
	return s, nil
}

func (e *Evaluator) bind(vals []any) error {
	if len(vals) != len(e.rs.Inputs) {
		return fmt.Errorf("ruleset %s takes %d inputs, got %d", e.rs.Name, len(e.rs.Inputs), len(vals))
	}
	for i, in := range e.rs.Inputs {
		if in.Record {
			row, ok := vals[i].(schema.Row)
			if in.Optional && row == nil && (vals[i] == nil || ok) {
				e.rows[i] = nil // no row: every field reads null
				e.vals[len(e.binds)+i] = nil
				continue
			}
			if !ok || len(row) != len(e.layouts[i].Columns) {
				return fmt.Errorf("input %s: want a row of %d columns", in.Name, len(e.layouts[i].Columns))
			}
			e.rows[i] = row
			if in.Optional {
				e.vals[len(e.binds)+i] = present
			}
		} else {
			e.vals[len(e.binds)+i] = vals[i]
		}
	}
	for j, b := range e.binds {
		if row := e.rows[b.input]; row != nil {
			e.vals[j] = row[b.col]
		} else {
			e.vals[j] = nil
		}
	}
	// Every record starts with its outputs null, as a rule test does: an
	// output the deciding rule does not set must not keep the value the
	// record before was given.
	clear(e.outputs)
	e.envBound = false
	e.letDone = 0
	e.letsSet = false
	e.wrote = 0
	e.last = nil
	e.budget = budget{}
	return nil
}

// present is what an optional record input with a row holds in the VM's
// environment: not nil, boxed once (its fields are bound by name).
var present any = true

// bindEnv fills the VM's environment with the record's bound values, once
// per record, before the first VM run.
func (e *Evaluator) bindEnv() {
	if e.envBound {
		return
	}
	for j, b := range e.binds {
		e.env[b.key] = e.vals[j]
	}
	for i, in := range e.rs.Inputs {
		switch {
		case !in.Record:
			e.env[in.Name] = e.vals[len(e.binds)+i]
		case in.Optional:
			// For rec != nil: present, or nil when it has no row. Its
			// fields are read through the names bound above.
			e.env[in.Name] = e.vals[len(e.binds)+i]
		}
	}
	e.envBound = true
}

// setLets evaluates every let into the environment, once per record, for
// the paths that need them one by one (reasons, errors, explanations).
func (e *Evaluator) setLets() error {
	if e.letsSet {
		return nil
	}
	for _, l := range e.rs.lets {
		v, err := e.run(l.prog)
		if err != nil {
			return fmt.Errorf("let %s: %w", l.name, err)
		}
		e.env[l.name] = v
	}
	e.letsSet = true
	return nil
}

// decide returns the first rule whose when holds (the default last), or
// nil. The fast path runs one program holding every let and condition; when
// it fails, the slow path finds which let or rule failed.
func (e *Evaluator) decide() (*rule, error) {
	if p := e.rs.fast; p != nil && p.decideOK {
		if i, ok := e.fastDecide(); ok {
			if i < 0 {
				return nil, nil
			}
			return e.rs.rules[i], nil
		}
	}
	if e.rs.decide != nil {
		if v, err := e.run(e.rs.decide); err == nil {
			if i, ok := v.(int); ok && i >= 0 {
				return e.rs.rules[i], nil
			}
			return nil, nil
		}
	}
	if err := e.setLets(); err != nil {
		return nil, err
	}
	for _, r := range e.rs.rules {
		if r.when == nil {
			return r, nil
		}
		v, err := e.run(r.when)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.id, err)
		}
		if v == true {
			return r, nil
		}
	}
	return nil, nil
}

// apply evaluates every assignment first, then stores them, so each sees
// the values from before the rule applied.
func (e *Evaluator) apply(id string, sets []assign) error {
	e.pending = e.pending[:0]
	for _, a := range sets {
		var v any
		var err error
		switch {
		case a.copyInput >= 0:
			if row := e.rows[a.copyInput]; row != nil {
				v = row[e.cols[a.copyInput][a.copyField]]
			}
		case a.fast != nil:
			if err = e.fastLets(a.fastLets); err == nil {
				v, err = a.fast(e)
			}
			if err != nil {
				// The VM gives the value, or the error as it words it.
				v, err = e.run(a.prog)
			}
		default:
			v, err = e.run(a.prog)
		}
		if err != nil {
			return fmt.Errorf("rule %s: set %s: %w", id, a.target, err)
		}
		if a.input >= 0 {
			v, err = e.layouts[a.input].Columns[e.cols[a.input][a.field]].Type.Coerce(v)
		} else {
			v, err = a.typ.Coerce(v)
		}
		if err != nil {
			return fmt.Errorf("rule %s: set %s: %w", id, a.target, err)
		}
		e.pending = append(e.pending, v)
	}
	for i, a := range sets {
		if a.input >= 0 {
			e.wrote |= 1 << uint(a.input)
			e.rows[a.input][e.cols[a.input][a.field]] = e.pending[i]
		} else {
			e.outputs[a.output] = e.pending[i]
		}
	}
	return nil
}

// run evaluates one program in the current environment; a panic or error
// inside expr becomes an error.
func (e *Evaluator) run(p *vm.Program) (v any, err error) {
	if p == nil {
		return nil, fmt.Errorf("expression did not compile")
	}
	e.bindEnv()
	v, err = e.vm.Run(p, e.env)
	if err != nil {
		return nil, runError(p, err)
	}
	return v, nil
}

// runError turns expr's multi-line run-time error into one line that names
// the expression, for dead letters and logs.
func runError(p *vm.Program, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	src := p.Source().String()
	if i := strings.LastIndex(src, ";\n"); i >= 0 {
		src = src[i+2:] // past the declarations of inlined lets
	}
	msg := nullWords(fe.Message)
	if msg == exprMemoryMessage {
		msg = fmt.Sprintf("%s: ranges, lists and maps built by one expression exceed %d elements", msg, MaxElements)
	}
	return fmt.Errorf("%s in: %s", msg, src)
}

// nilConversion is how Go words a null where a typed value is due.
var nilConversion = regexp.MustCompile(`interface conversion: interface \{\} is nil, not ([\w.]+)`)

// nullWords rewords expr's run-time messages about a null (which lint
// keeps out of operators wherever it can tell) as a person reads them: no
// "<nil>", and the fix.
func nullWords(msg string) string {
	if m := nilConversion.FindStringSubmatch(msg); m != nil {
		return strings.Replace(msg, m[0], "null value where a "+strings.ReplaceAll(m[1], "decimal.Decimal", "decimal")+" is due (use ?? to give a default)", 1)
	}
	if strings.Contains(msg, "<nil>") {
		return strings.ReplaceAll(msg, "<nil>", "null") + " (use ?? to give a default)"
	}
	return msg
}
