package rules

import (
	"github.com/expr-lang/expr/ast"
)

// fieldPatcher rewrites record.field member accesses into identifiers named
// "record.field", which the evaluator binds straight from rows: no map or
// struct is built per record, and only the fields a rule reads are bound.
type fieldPatcher struct {
	fields map[string]bool // every known "record.field"
	used   map[string]bool // those the expression reads
}

func (p *fieldPatcher) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Optional {
		return
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 {
		return
	}
	key := id.Value + "." + prop.Value
	if !p.fields[key] {
		return
	}
	p.used[key] = true
	n := &ast.IdentifierNode{Value: key}
	n.SetType(m.Type())
	ast.Patch(node, n)
}

// literalPatcher turns number literals that meet a decimal operand into
// decimal constants at compile time, so 0.5 * limit is exact and costs no
// conversion per record. It runs with operator overloading until both settle.
type literalPatcher struct{ applied bool }

func (p *literalPatcher) Reset()             { p.applied = false }
func (p *literalPatcher) ShouldRepeat() bool { return p.applied }

func (p *literalPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "??":
		default:
			return
		}
		if isDec(n.Left) {
			p.applied = toDecConst(&n.Right) || p.applied
		}
		if isDec(n.Right) {
			p.applied = toDecConst(&n.Left) || p.applied
		}
	case *ast.ConditionalNode:
		// c ? amount : 0 is a decimal either way, not a value of no type.
		if isDec(n.Exp1) {
			p.applied = toDecConst(&n.Exp2) || p.applied
		}
		if isDec(n.Exp2) {
			p.applied = toDecConst(&n.Exp1) || p.applied
		}
	case *ast.UnaryNode:
		if n.Operator == "-" && isDec(n.Node) {
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_dec_neg"}, Arguments: []ast.Node{n.Node}}
			call.SetType(decType)
			ast.Patch(node, call)
			p.applied = true
		}
	case *ast.SliceNode:
		// s[i:j] on a string goes through reflection in expr's VM and boxes a
		// new string; _substr does neither for one-byte results.
		if n.Node.Type() == stringType && n.From != nil && n.To != nil {
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_substr"}, Arguments: []ast.Node{n.Node, n.From, n.To}}
			call.SetType(stringType)
			ast.Patch(node, call)
			p.applied = true
		}
	case *ast.ArrayNode:
		// [tx.amount, 1.5]: number literals in a list of decimals are decimals.
		for _, e := range n.Nodes {
			if isDec(e) {
				for i := range n.Nodes {
					p.applied = toDecConst(&n.Nodes[i]) || p.applied
				}
				break
			}
		}
	case *ast.BuiltinNode:
		p.applied = patchAggregate(node) || p.applied
	case *ast.CallNode:
		if patchAggregate(node) {
			p.applied = true
			return
		}
		// clamp(dec, 300, 850), min(dec, 0)...: widen literal arguments beside a decimal.
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || (id.Value != "clamp" && id.Value != "min" && id.Value != "max") {
			return
		}
		for _, a := range n.Arguments {
			if isDec(a) {
				for i := range n.Arguments {
					p.applied = toDecConst(&n.Arguments[i]) || p.applied
				}
				return
			}
		}
	}
}

func isDec(n ast.Node) bool { return n.Type() == decType }

// toDecConst replaces a number literal (or a negated one) with a decimal
// constant of its value (number, shadow.go).
func toDecConst(node *ast.Node) bool {
	d := number(*node)
	if d == nil {
		return false
	}
	c := &ast.ConstantNode{Value: *d}
	c.SetType(decType)
	ast.Patch(node, c)
	return true
}
