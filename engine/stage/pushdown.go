package stage

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// pushdown is a batch step simple enough for the table to run itself, as
// one UPDATE ... SET col = constant WHERE col = constant: no aggregate, no
// lookup, no ruleset, a where comparing one column with a constant, and
// constant assignments. Tables that are port.Updaters run it without the
// rows leaving the database; others run the step the general way.
type pushdown struct {
	set   []port.ColumnValue
	where port.ColumnValue
}

// pushable returns the step as a pushdown, or nil when it is not that simple.
func pushable(p *step, sp *spec.Step) *pushdown {
	if p.agg != nil || len(p.lookups) > 0 || p.rules != nil || !sp.Where.Set() {
		return nil
	}
	as := p.sc.names[0]
	where, ok := columnEquals(sp.Where.Value, as, p.schema)
	if !ok {
		return nil
	}
	pd := &pushdown{where: where}
	for _, e := range sp.Set {
		col, _ := p.schema.Column(e.Key)
		v, ok := constant(e.Value.Value, col.Type)
		if !ok {
			return nil
		}
		pd.set = append(pd.set, port.ColumnValue{Column: e.Key, Value: v})
	}
	return pd
}

// columnEquals matches `rec.col == constant` (either way round), and the
// forms of it lint asks for when the column is nullable: `(rec.col ?? d) ==
// constant` with d another value, and `rec.col != nil and rec.col == constant`.
func columnEquals(src, rec string, s *schema.Schema) (port.ColumnValue, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return port.ColumnValue{}, false
	}
	b, ok := tree.Node.(*ast.BinaryNode)
	guarded := "" // the column of rec.col != nil and rec.col == constant
	if ok && (b.Operator == "and" || b.Operator == "&&") {
		if guarded = notNil(b.Left, rec); guarded == "" {
			return port.ColumnValue{}, false
		}
		b, ok = b.Right.(*ast.BinaryNode)
	}
	if !ok || b.Operator != "==" {
		return port.ColumnValue{}, false
	}
	for _, pair := range [][2]ast.Node{{b.Left, b.Right}, {b.Right, b.Left}} {
		// (rec.col ?? d) == v is rec.col == v when d is not v: a null
		// matches neither way, as in SQL.
		var def ast.Node
		if c, ok := pair[0].(*ast.BinaryNode); ok && c.Operator == "??" {
			pair[0], def = c.Left, c.Right
		}
		m, ok := pair[0].(*ast.MemberNode)
		if !ok {
			continue
		}
		id, ok1 := m.Node.(*ast.IdentifierNode)
		prop, ok2 := m.Property.(*ast.StringNode)
		if !ok1 || !ok2 || id.Value != rec || (guarded != "" && prop.Value != guarded) {
			continue
		}
		col, ok := s.Column(prop.Value)
		if !ok {
			continue
		}
		v, ok := literal(pair[1], col.Type)
		if !ok || v == nil {
			continue
		}
		if def != nil {
			d, ok := literal(def, col.Type)
			if !ok || d == nil || schema.Compare(d, v) == 0 {
				continue
			}
		}
		return port.ColumnValue{Column: prop.Value, Value: v}, true
	}
	return port.ColumnValue{}, false
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
	m, ok1 := x.(*ast.MemberNode)
	_, ok2 := y.(*ast.NilNode)
	if !ok1 || !ok2 {
		return ""
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 || id.Value != rec {
		return ""
	}
	return prop.Value
}

// constant returns the value of an expression that is a literal of type t.
func constant(src string, t schema.Type) (any, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	return literal(tree.Node, t)
}

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
