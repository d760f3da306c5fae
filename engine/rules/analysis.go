package rules

import (
	"regexp"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/govalues/decimal"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// Expression analysis: what the stages need to know of an expression's
// shape, without running it, to take a faster or cheaper way that gives the
// same result (copy a field rather than evaluate, push a where down to the
// table, test a decision as is) or to check where state is kept. Every such
// question is answered here, from the expression's syntax tree, so that the
// stages never parse expressions themselves (see docs/ARCHITECTURE.md).

// FieldRef is a field of a record input as an expression names it:
// Record.Field.
type FieldRef struct {
	Record, Field string
}

// PlainField reports whether src is exactly one field of a record
// (rec.field), and which.
func PlainField(src string) (FieldRef, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return FieldRef{}, false
	}
	return fieldOf(tree.Node)
}

// CopiedFields reports whether src only copies fields: one field of a
// record (rec.field), or several joined by ?? (a ?? b: the first that is
// not null). It returns the fields in the order they are tried.
func CopiedFields(src string) ([]FieldRef, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	var fs []FieldRef
	return fs, copied(tree.Node, &fs)
}

// copied appends to fs the fields n reads, when n is rec.field or a ?? b of such.
func copied(n ast.Node, fs *[]FieldRef) bool {
	if b, ok := n.(*ast.BinaryNode); ok {
		return b.Operator == "??" && copied(b.Left, fs) && copied(b.Right, fs)
	}
	f, ok := fieldOf(n)
	if ok {
		*fs = append(*fs, f)
	}
	return ok
}

// fieldOf returns the field n reads when n is rec.field (not rec?.field,
// not a method).
func fieldOf(n ast.Node) (FieldRef, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return FieldRef{}, false
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 {
		return FieldRef{}, false
	}
	return FieldRef{Record: id.Value, Field: prop.Value}, true
}

// StringTest is an expression that compares a field of a record with a
// string: rec.field == "text", or != (either way round).
type StringTest struct {
	Field FieldRef
	Equal bool // == rather than !=
	Value string
}

// ParseStringTest returns src as a StringTest, when it is one.
func ParseStringTest(src string) (StringTest, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return StringTest{}, false
	}
	b, ok := tree.Node.(*ast.BinaryNode)
	if !ok || (b.Operator != "==" && b.Operator != "!=") {
		return StringTest{}, false
	}
	for _, pair := range [][2]ast.Node{{b.Left, b.Right}, {b.Right, b.Left}} {
		f, ok1 := fieldOf(pair[0])
		s, ok2 := pair[1].(*ast.StringNode)
		if ok1 && ok2 {
			return StringTest{Field: f, Equal: b.Operator == "==", Value: s.Value}, true
		}
	}
	return StringTest{}, false
}

// foldCall is a call of a named function around the rest of the text.
var foldCall = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$`)

// ParseFold splits a fold written in a stage (an aggregate's or a window's
// value: sum(rec.amount), count()) into the name of its function and its
// argument as written, with the argument's position in the spec, for the
// stage to check the function and compile the argument. The argument may be
// empty; ok is false when s is not a call.
func ParseFold(s yamldoc.String) (fn string, arg yamldoc.String, ok bool) {
	m := foldCall.FindStringSubmatchIndex(s.Value)
	if m == nil {
		return "", yamldoc.String{}, false
	}
	return s.Value[m[2]:m[3]], yamldoc.String{Value: s.Value[m[4]:m[5]], Pos: s.Pos.Shift(m[4])}, true
}

// ColumnEquals reports whether src, a where over the rows of s named rec,
// holds exactly for the rows whose column equals a constant, and returns
// them, the constant as a value of the column's type: `rec.col == constant`
// (either way round), and the forms of it lint asks for when the column is
// nullable, `(rec.col ?? d) == constant` with d another value and
// `rec.col != nil and rec.col == constant`. A table can then select the
// rows itself (an UPDATE's or an aggregate's WHERE col = constant).
func ColumnEquals(src, rec string, s *schema.Schema) (column string, value any, ok bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return "", nil, false
	}
	b, ok := tree.Node.(*ast.BinaryNode)
	guarded := "" // the column of rec.col != nil and rec.col == constant
	if ok && (b.Operator == "and" || b.Operator == "&&") {
		if guarded = notNil(b.Left, rec); guarded == "" {
			return "", nil, false
		}
		b, ok = b.Right.(*ast.BinaryNode)
	}
	if !ok || b.Operator != "==" {
		return "", nil, false
	}
	for _, pair := range [][2]ast.Node{{b.Left, b.Right}, {b.Right, b.Left}} {
		if col, v, ok := columnConstant(pair[0], pair[1], rec, guarded, s); ok {
			return col, v, true
		}
	}
	return "", nil, false
}

// columnConstant returns the column and constant of field == value, when
// field is rec.col (or rec.col ?? d with d not the constant) of column
// guarded if set, and value a non-null constant of the column's type.
func columnConstant(field, value ast.Node, rec, guarded string, s *schema.Schema) (string, any, bool) {
	// (rec.col ?? d) == v is rec.col == v when d is not v: a null matches
	// neither way, as in SQL.
	var def ast.Node
	if c, ok := field.(*ast.BinaryNode); ok && c.Operator == "??" {
		field, def = c.Left, c.Right
	}
	f, ok := fieldOf(field)
	if !ok || f.Record != rec || (guarded != "" && f.Field != guarded) {
		return "", nil, false
	}
	col, ok := s.Column(f.Field)
	if !ok {
		return "", nil, false
	}
	v, ok := literal(value, col.Type)
	if !ok || v == nil {
		return "", nil, false
	}
	if def != nil {
		d, ok := literal(def, col.Type)
		if !ok || d == nil || schema.Compare(d, v) == 0 {
			return "", nil, false
		}
	}
	return f.Field, v, true
}

// notNil returns col when n is `rec.col != nil` (either way round), else "".
func notNil(n ast.Node, rec string) string {
	b, ok := n.(*ast.BinaryNode)
	if !ok || b.Operator != "!=" {
		return ""
	}
	x, y := b.Left, b.Right
	if _, ok := x.(*ast.NilNode); ok {
		x, y = y, x
	}
	f, ok1 := fieldOf(x)
	_, ok2 := y.(*ast.NilNode)
	if !ok1 || !ok2 || f.Record != rec {
		return ""
	}
	return f.Field
}

// Constant returns the value of src when it is a literal (a string, a
// number, true, false or nil) that is a value of type t, as a value of t.
func Constant(src string, t schema.Type) (any, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	return literal(tree.Node, t)
}

// literal returns the value of n when it is a literal of type t.
func literal(n ast.Node, t schema.Type) (any, bool) {
	var v any
	switch x := n.(type) {
	case *ast.StringNode:
		v = x.Value
	case *ast.IntegerNode:
		v = x.Value
	case *ast.FloatNode:
		d, err := decimal.NewFromFloat64(x.Value)
		if err != nil {
			return nil, false
		}
		v = d
	case *ast.BoolNode:
		v = x.Value
	case *ast.NilNode:
		return nil, t.Nullable
	default:
		return nil, false
	}
	c, err := t.Coerce(v)
	return c, err == nil
}

// Filter names for the rule and outcome of a Filter.
const (
	filterHolds = "match"
	filterFails = "skip"
)

// Filter returns the definition of a filter named name, a where: an
// expression that holds for a record or not (a null does not hold). Add
// its inputs, Define it and evaluate it with Evaluator.Holds; it is checked,
// compiled and explained like any ruleset.
func Filter(name string, where yamldoc.String) Definition {
	return Definition{Name: name,
		Rules:   []RuleDef{{ID: filterHolds, When: where, Outcome: filterHolds, Pos: where.Pos}},
		Default: &RuleDef{ID: filterFails, Outcome: filterFails}}
}

// Holds evaluates a Filter for one record (vals as for Eval): whether its
// where holds.
func (e *Evaluator) Holds(vals []any) (bool, error) {
	d, err := e.Eval(vals)
	return d.Outcome == filterHolds, err
}
