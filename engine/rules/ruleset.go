package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// Input is a value a ruleset reads: a record with typed fields, or a scalar.
type Input struct {
	Name   string
	Record bool
	Fields []schema.Column // the fields a record input declares
	Type   schema.Type     // the type of a scalar input
	Pos    yamldoc.Pos
	// NullReason says why a nullable scalar may be null, for messages,
	// when not because it is declared so (a ruleset output some rule
	// leaves unset).
	NullReason string
	// Optional makes a record input nullable as a whole (declared with a
	// trailing ?, name?: {...}): given nil instead of a row (an optional
	// lookup that found none), each of its fields reads null. Rules may
	// not set its fields.
	Optional bool
	// List makes a scalar input a set of values of Type (an element type),
	// which rules test membership in with `in`. Its name is
	// ListPrefix+name; it is given as a map[string]struct{} or
	// map[int]struct{} (see NewList).
	List bool
}

// ListPrefix is the record name rules read lists under: lists.name.
const ListPrefix = "lists."

// Field returns the index of the named field of a record input, or -1.
func (in *Input) Field(name string) int {
	for i, f := range in.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Output is a named scalar a ruleset computes, such as a decision table's result.
type Output struct {
	Name string
	Type schema.Type
	Pos  yamldoc.Pos
}

// Ruleset is a compiled rule file. It is immutable and safe to share; each
// goroutine evaluates it through its own Evaluator.
type Ruleset struct {
	Name    string
	Version int
	// Hash is the first 12 hex digits of the SHA-256 of the rule file's
	// bytes (of the definition's text for a ruleset defined by code): two
	// different files never share it, whatever their version says.
	Hash    string
	Path    string
	Inputs  []Input
	Outputs []Output

	lets   []let
	rules  []*rule     // in order; the default, if any, is last with when == nil
	decide *vm.Program // every let and when in one program: gives the index of the deciding rule, or -1
	fast   *fastPlan   // the same as closures (see fast.go), nil when it did not compile
	then   []assign    // applied after the deciding rule's, seeing its outputs
	// thenDecision says then's assignments read the decision as a record
	// decision (outcome, rule).
	thenDecision bool
	refs         []ref // the record fields the expressions read
	tests        []testSpec
	file         *yamldoc.File
	outNull      []string // per output: why it may be null after Eval, or "" (see OutputMayBeNull)
	warnings     yamldoc.Errors
}

// Warnings returns what lint warns of in the rule file without failing it
// (a rule an earlier one always shadows), as positioned messages that start
// with "warning: ".
func (rs *Ruleset) Warnings() yamldoc.Errors { return rs.warnings }

// HasDefault reports whether the ruleset decides every record.
func (rs *Ruleset) HasDefault() bool {
	return len(rs.rules) > 0 && rs.rules[len(rs.rules)-1].when == nil
}

// Input returns the index of the named input, or -1.
func (rs *Ruleset) Input(name string) int {
	for i := range rs.Inputs {
		if rs.Inputs[i].Name == name {
			return i
		}
	}
	return -1
}

// Output returns the index of the named output, or -1.
func (rs *Ruleset) Output(name string) int {
	for i := range rs.Outputs {
		if rs.Outputs[i].Name == name {
			return i
		}
	}
	return -1
}

// Sets returns the names of the fields of the record input called name
// that some assignment of the ruleset (a rule's, the default's or then's)
// may write, in the input's declared order: the columns a stage that saves
// that record owns.
func (rs *Ruleset) Sets(name string) []string {
	in := rs.Input(name)
	if in < 0 || !rs.Inputs[in].Record {
		return nil
	}
	written := make([]bool, len(rs.Inputs[in].Fields))
	mark := func(as []assign) {
		for _, a := range as {
			if a.input == in {
				written[a.field] = true
			}
		}
	}
	for _, r := range rs.rules {
		mark(r.sets)
	}
	mark(rs.then)
	var out []string
	for i, w := range written {
		if w {
			out = append(out, rs.Inputs[in].Fields[i].Name)
		}
	}
	return out
}

// OutputMayBeNull reports whether output i may be null after Eval: it is
// declared nullable, or a rule that may decide does not set it (every
// record starts with its outputs null), or no default decides every record.
func (rs *Ruleset) OutputMayBeNull(i int) bool { return rs.outNull[i] != "" }

// OutputNullReason says why output i may be null after Eval, for messages
// ("rule small does not set it"), or "" when it cannot be.
func (rs *Ruleset) OutputNullReason(i int) string { return rs.outNull[i] }

// RuleIDs returns the ids of the rules in order, the default last as "default".
func (rs *Ruleset) RuleIDs() []string {
	ids := make([]string, len(rs.rules))
	for i, r := range rs.rules {
		ids[i] = r.id
	}
	return ids
}

type let struct {
	name string
	prog *vm.Program
	src  string
}

type rule struct {
	id      string
	when    *vm.Program // nil for the default
	whenSrc string
	outcome string
	reason  template
	sets    []assign
	pos     yamldoc.Pos
	row     bool // a decision table's row or default
	// boxed holds id, outcome and (when constant) reason as interface
	// values, made once, so that filling a row per record allocates nothing.
	boxed [3]any
}

// assign is one `set` entry: a record field or an output receives a value.
type assign struct {
	target string
	input  int // record input written, or -1 for an output
	field  int // field of the input (declared order)
	output int // output written, when input < 0
	typ    schema.Type
	prog   *vm.Program // the expression with the lets it reads declared in front
	src    string
	node   ast.Node // the expression's own checked tree, lets read by name
	// fast computes the value through closures after the lets in fastLets
	// (those prog declares); nil when the expression did not compile so.
	fast     func(*Evaluator) (any, error)
	fastLets []int
	// copyInput and copyField name the record field the expression only
	// reads, when it is that simple: the value is copied without running it.
	copyInput, copyField int
}

// ref binds one "record.field" key of the environment to an input field.
type ref struct {
	key   string
	input int
	field int
}

// template is a reason with {{expr}} placeholders.
type template struct {
	text  []string      // literal parts, len(progs)+1 of them
	progs []*vm.Program // placeholders between them
	fast  []code        // the placeholders as closures, when all compiled
}

func (t template) render(e *Evaluator) (string, error) {
	if len(t.progs) == 0 {
		if len(t.text) == 0 {
			return "", nil
		}
		return t.text[0], nil
	}
	var b strings.Builder
	for i, p := range t.progs {
		b.WriteString(t.text[i])
		v, err := e.run(p)
		if err != nil {
			return "", err
		}
		b.WriteString(formatValue(v))
	}
	b.WriteString(t.text[len(t.progs)])
	return b.String(), nil
}

// formatValue prints a value as a person reads it in a reason or an
// explanation: null, decimals with their scale, strings as they are, lists
// and maps as written in a rule (["refund", "cancellation"]).
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case Dec:
		return x.String()
	case string:
		return x
	}
	if t := schema.TypeOfGo(reflect.TypeOf(v)); t != schema.Invalid {
		return schema.Type{Kind: t, Scale: schema.AnyScale}.Format(v)
	}
	var b strings.Builder
	writeValue(&b, v, 0)
	return b.String()
}

// writeValue writes v as formatValue does, strings inside lists and maps
// quoted; depth bounds the nesting it follows.
func writeValue(b *strings.Builder, v any, depth int) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return
	case Dec:
		b.WriteString(x.String())
		return
	case string:
		if depth == 0 {
			b.WriteString(x)
		} else {
			b.WriteString(strconv.Quote(x))
		}
		return
	}
	if t := schema.TypeOfGo(reflect.TypeOf(v)); t != schema.Invalid {
		b.WriteString(schema.Type{Kind: t, Scale: schema.AnyScale}.Format(v))
		return
	}
	rv := reflect.ValueOf(v)
	switch {
	case depth > 10:
		b.WriteString("...")
	case rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array:
		b.WriteByte('[')
		for i := range rv.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, rv.Index(i).Interface(), depth+1)
		}
		b.WriteByte(']')
	case rv.Kind() == reflect.Map:
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, k.Interface(), depth+1)
			b.WriteString(": ")
			writeValue(b, rv.MapIndex(k).Interface(), depth+1)
		}
		b.WriteByte('}')
	default:
		fmt.Fprint(b, v)
	}
}
