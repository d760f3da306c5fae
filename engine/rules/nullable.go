package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// Null safety. A value that may be null (a field or input declared with a
// trailing ?, a let or output made from one, nil) fails evaluation wherever
// an operator or a function uses it: `tx.channel == "online"` fails on every
// record whose channel is null. So lint accepts a value that may be null
// only where null is safe:
//
//   - on the left of ??, which gives the right side instead;
//   - compared with nil (x == nil, x != nil);
//   - after a guard that rules null out: the right side of `x != nil and
//     ...`, of `x == nil or ...`, the branches of `x != nil ? ... : ...`
//     (and not, and lets that are such tests);
//   - as an argument of a function that accepts null (zip5, type, toJSON);
//   - as the whole value of a let, a reason's placeholder, a list element,
//     or an assignment to something nullable.
//
// A guard holds within one expression only: a rule is not guarded by the
// rules before it, since explain and the statistics evaluate every rule's
// condition on every record.

// acceptsNull are the functions that take a null argument without failing:
// expr's type and toJSON, and the rule functions declared so (funcs.go).
var acceptsNull = func() map[string]bool {
	m := map[string]bool{"type": true, "toJSON": true}
	for _, f := range functions {
		if f.nullAsZero {
			m[f.name] = true
		}
	}
	return m
}()

// nondeterministic are the functions rules may not call: they would give
// another answer each time a record is decided.
var nondeterministic = map[string]bool{"now": true}

// nullable says why a value may be null, and its type.
type nullable struct {
	name string      // the value as written: tx.channel, pending, nil
	why  string      // `declared "string?"`, ...
	typ  schema.Type // its type, Invalid when unknown
}

func (n *nullable) String() string {
	if n.why == "" {
		return n.name
	}
	return n.name + " (" + n.why + ")"
}

// declareNullable records that the input field or value key may be null.
func (c *compiler) declareNullable(key string, t schema.Type) {
	if !t.Nullable {
		return
	}
	if c.nulls == nil {
		c.nulls = map[string]*nullable{}
	}
	c.nulls[key] = &nullable{name: key, why: fmt.Sprintf("declared %q", t.String()), typ: t}
}

// optionalWhy says why the fields of an optional record input may be null.
func optionalWhy(rec string) string {
	return fmt.Sprintf("%s is optional (declared %s?) and may have no row", rec, rec)
}

// declareOptional records that field key of the optional record input rec
// may be null: when rec has no row. A guard on rec (rec != nil) rules that
// out, leaving only the field's own nullability (optFields, ownNulls).
func (c *compiler) declareOptional(rec, key string, t schema.Type) {
	if c.optFields == nil {
		c.optFields, c.ownNulls = map[string]string{}, map[string]*nullable{}
	}
	c.optFields[key] = rec
	if own := c.nulls[key]; own != nil {
		c.ownNulls[key] = own
	}
	c.nulls[key] = &nullable{name: key, why: optionalWhy(rec), typ: t}
}

// nullCheck walks the parse tree of one expression: it reports every value
// that may be null and reaches an operator, and says whether the whole
// expression may be null.
type nullCheck struct {
	c      *compiler
	s      yamldoc.String
	runes  []rune
	locals map[string]*nullable // let variables inside the expression
	seen   map[int]bool         // positions reported
}

// exprInfo is what the null check found of a compiled expression.
type exprInfo struct {
	tree ast.Node  // its parse tree, as written
	null *nullable // why its value may be null, or nil
}

// checkNulls parses s (which compiled) and reports its unsafe uses of null
// values and of non-deterministic functions.
func (c *compiler) checkNulls(s yamldoc.String) exprInfo {
	tree, err := parser.Parse(s.Value)
	if err != nil {
		return exprInfo{} // expr compiled it; nothing more to say
	}
	nc := &nullCheck{c: c, s: s, runes: []rune(s.Value), locals: map[string]*nullable{}, seen: map[int]bool{}}
	return exprInfo{tree: tree.Node, null: nc.walk(&tree.Node, nil)}
}

// null returns why the value of the compiled program p may be null, or nil.
func (c *compiler) null(p *vm.Program) *nullable {
	if p == nil {
		return nil
	}
	return c.exprs[p].null
}

// guards are the names known not to be null where an expression is evaluated.
type guards map[string]bool

func (g guards) with(more guards) guards {
	if len(more) == 0 {
		return g
	}
	out := make(guards, len(g)+len(more))
	for k := range g {
		out[k] = true
	}
	for k := range more {
		out[k] = true
	}
	return out
}

// key names what n reads when it is a name (pending) or a record field
// (tx.channel), else "".
func key(n ast.Node) string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value
	case *ast.MemberNode:
		id, ok1 := x.Node.(*ast.IdentifierNode)
		prop, ok2 := x.Property.(*ast.StringNode)
		if ok1 && ok2 && !x.Optional {
			return id.Value + "." + prop.Value
		}
	}
	return ""
}

func isNil(n ast.Node) bool {
	_, ok := n.(*ast.NilNode)
	return ok
}

// whenTrue returns the names that are not null when n holds.
func (nc *nullCheck) whenTrue(n ast.Node, depth int) guards { return nc.when(n, true, depth) }

// whenFalse returns the names that are not null when n does not hold.
func (nc *nullCheck) whenFalse(n ast.Node, depth int) guards { return nc.when(n, false, depth) }

// when returns the names that are not null when n is holds: x != nil
// holding, x == nil not holding, both sides of an and that holds or of an
// or that does not, through not and through lets.
func (nc *nullCheck) when(n ast.Node, holds bool, depth int) guards {
	if depth > MaxNesting {
		return nil
	}
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch op := x.Operator; {
		case holds && op == "!=", !holds && op == "==":
			return nilTest(x)
		case holds && (op == "and" || op == "&&"), !holds && (op == "or" || op == "||"):
			return nc.when(x.Left, holds, depth+1).with(nc.when(x.Right, holds, depth+1))
		}
	case *ast.UnaryNode:
		if x.Operator == "not" || x.Operator == "!" {
			return nc.when(x.Node, !holds, depth+1)
		}
	case *ast.IdentifierNode:
		if t := nc.c.letTrees[x.Value]; t != nil {
			return nc.when(t, holds, depth+1)
		}
	}
	return nil
}

// nilTest returns the name compared with nil by x (x == nil, nil != x...).
func nilTest(x *ast.BinaryNode) guards {
	other := x.Left
	if isNil(x.Left) {
		other = x.Right
	} else if !isNil(x.Right) {
		return nil
	}
	if k := key(other); k != "" {
		return guards{k: true}
	}
	return nil
}

// walk returns why the value of *slot may be null (nil when it cannot be),
// reporting the null values its operators use.
func (nc *nullCheck) walk(slot *ast.Node, g guards) *nullable {
	switch n := (*slot).(type) {
	case *ast.NilNode:
		return &nullable{name: "nil"}
	case *ast.IdentifierNode:
		if g[n.Value] {
			return nil
		}
		if v, ok := nc.locals[n.Value]; ok {
			return v
		}
		return nc.c.nulls[n.Value]
	case *ast.MemberNode:
		return nc.member(n, g)
	case *ast.ChainNode:
		if v := nc.walk(&n.Node, g); v != nil {
			return v
		}
		return &nullable{name: n.String(), why: "?. gives null"}
	case *ast.BinaryNode:
		return nc.binary(n, g)
	case *ast.UnaryNode:
		nc.use(&n.Node, n, operatorName(n.Operator), g)
	case *ast.ConditionalNode:
		return nc.conditional(n, g)
	case *ast.CallNode:
		name := ""
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			name = id.Value
		} else {
			nc.use(&n.Callee, n, "calling fails on null", g)
		}
		nc.call(n, name, n.Arguments, g)
	case *ast.BuiltinNode:
		nc.call(n, n.Name, n.Arguments, g)
	case *ast.PredicateNode:
		nc.walk(&n.Node, g)
	case *ast.ArrayNode, *ast.MapNode, *ast.PairNode:
		nc.literal(n, g)
	case *ast.SliceNode:
		for _, part := range []*ast.Node{&n.Node, &n.From, &n.To} {
			if *part != nil {
				nc.use(part, n, "slicing fails on null", g)
			}
		}
	case *ast.VariableDeclaratorNode:
		return nc.declare(n, g)
	case *ast.SequenceNode:
		var last *nullable
		for i := range n.Nodes {
			last = nc.walk(&n.Nodes[i], g)
		}
		return last
	}
	return nil
}

// member walks a member access: a declared field may be null as declared,
// ?. gives null, and reading a member of null fails.
func (nc *nullCheck) member(n *ast.MemberNode, g guards) *nullable {
	if k := key(n); k != "" && nc.c.fields[k] {
		if g[k] {
			return nil
		}
		if rec, ok := nc.c.optFields[k]; ok && g[rec] {
			return nc.c.ownNulls[k] // the record has a row: the field is as declared
		}
		return nc.c.nulls[k]
	}
	if n.Optional {
		nc.walk(&n.Node, g)
		nc.walk(&n.Property, g)
		return &nullable{name: n.String(), why: "?. gives null"}
	}
	nc.use(&n.Node, n, "reading a member fails on null", g)
	nc.use(&n.Property, n, "indexing fails on null", g)
	return nil
}

// binary walks a binary operator: ?? gives its right side for null, a
// comparison with nil takes null, and/or guard their right side, and every
// other operator fails on a null operand.
func (nc *nullCheck) binary(n *ast.BinaryNode, g guards) *nullable {
	op := operatorName(n.Operator)
	switch n.Operator {
	case "??":
		nc.walk(&n.Left, g)
		return nc.walk(&n.Right, g)
	case "==", "!=":
		if isNil(n.Left) || isNil(n.Right) {
			nc.walk(&n.Left, g)
			nc.walk(&n.Right, g)
			return nil
		}
	case "and", "&&":
		nc.use(&n.Left, n, op, g)
		nc.use(&n.Right, n, op, g.with(nc.whenTrue(n.Left, 0)))
		return nil
	case "or", "||":
		nc.use(&n.Left, n, op, g)
		nc.use(&n.Right, n, op, g.with(nc.whenFalse(n.Left, 0)))
		return nil
	case "in":
		if list, ok := n.Right.(*ast.ArrayNode); ok {
			// x in ["a", y]: an element is compared with ==, which takes null.
			nc.use(&n.Left, n, op, g)
			for i := range list.Nodes {
				nc.walk(&list.Nodes[i], g)
			}
			return nil
		}
	}
	nc.use(&n.Left, n, op, g)
	nc.use(&n.Right, n, op, g)
	return nil
}

// conditional walks c ? a : b: the condition may not be null, and each
// branch is guarded by what the condition rules out.
func (nc *nullCheck) conditional(n *ast.ConditionalNode, g guards) *nullable {
	nc.use(&n.Cond, n, "a condition (?:) fails on null", g)
	a := nc.walk(&n.Exp1, g.with(nc.whenTrue(n.Cond, 0)))
	b := nc.walk(&n.Exp2, g.with(nc.whenFalse(n.Cond, 0)))
	if a != nil {
		return a
	}
	return b
}

// literal walks a list or map literal.
func (nc *nullCheck) literal(n ast.Node, g guards) {
	switch n := n.(type) {
	case *ast.ArrayNode:
		// A list holding a null fails the functions that take lists
		// (sum, max, join...); on the right of in it is safe (see binary).
		for i := range n.Nodes {
			nc.use(&n.Nodes[i], n, "a list may not hold null outside in [...]", g)
		}
	case *ast.MapNode:
		for i := range n.Pairs {
			nc.walk(&n.Pairs[i], g)
		}
	case *ast.PairNode:
		nc.use(&n.Key, n, "a map key fails on null", g)
		nc.walk(&n.Value, g)
	}
}

// declare walks let name = value; expr, name holding value's nullability
// within expr.
func (nc *nullCheck) declare(n *ast.VariableDeclaratorNode, g guards) *nullable {
	v := nc.walk(&n.Value, g)
	if v != nil {
		v = &nullable{name: n.Name, why: v.from(), typ: v.typ}
	}
	old, had := nc.locals[n.Name]
	nc.locals[n.Name] = v
	r := nc.walk(&n.Expr, g)
	if had {
		nc.locals[n.Name] = old
	} else {
		delete(nc.locals, n.Name)
	}
	return r
}

// call checks a call of the function name: no non-deterministic function,
// and no null argument unless the function accepts it.
func (nc *nullCheck) call(n ast.Node, name string, args []ast.Node, g guards) {
	if nondeterministic[name] {
		nc.report(n, fmt.Sprintf("%s() is not allowed in rules: a decision must come out the same every time its record is decided "+
			"(diff, explain and the tests decide records again), and %s() changes from run to run; use a time the record carries "+
			"(e.g. tx.timestamp)", name, name))
	}
	for i := range args {
		if acceptsNull[name] {
			nc.walk(&args[i], g)
			continue
		}
		nc.use(&args[i], n, name+"()", g)
	}
}

// use walks the operand in *slot of the operator node op, reporting it when
// it may be null there.
func (nc *nullCheck) use(slot *ast.Node, op ast.Node, what string, g guards) {
	v := nc.walk(slot, g)
	if v == nil {
		return
	}
	operand := *slot
	msg := fmt.Sprintf("%s may be null", v.name)
	if v.why != "" {
		msg += " (" + v.why + ")"
	}
	if strings.Contains(what, " ") {
		msg += ", and " + what + ": "
	} else {
		msg += ", and " + what + " fails on null: "
	}
	name := operand.String()
	if def := defaultLiteral(v.typ); def != "" {
		// The operand with its default, printed as an atom: in brackets
		// unless it is an argument.
		text := name + " ?? " + def
		switch op.(type) {
		case *ast.CallNode, *ast.BuiltinNode, *ast.ArrayNode:
		default:
			text = "(" + text + ")"
		}
		*slot = &ast.IdentifierNode{Value: text}
		fixed := op.String()
		*slot = operand
		msg += fmt.Sprintf("write %s, or test %s != nil first", fixed, name)
	} else {
		msg += fmt.Sprintf("test it first (%s != nil and ...), or give it a default with ??", name)
	}
	nc.report(operand, msg)
}

// defaultLiteral is the literal a null of type t usually stands for, or "".
func defaultLiteral(t schema.Type) string {
	switch t.Kind {
	case schema.String:
		return `""`
	case schema.Int, schema.Decimal:
		return "0"
	case schema.Bool:
		return "false"
	}
	return ""
}

// report adds an error at the start of n, once per position.
func (nc *nullCheck) report(n ast.Node, msg string) {
	from := start(n)
	if nc.seen[from] {
		return
	}
	nc.seen[from] = true
	line, col := 1, 0
	for i := 0; i < from && i < len(nc.runes); i++ {
		col++
		if nc.runes[i] == '\n' {
			line++
			col = 0
		}
	}
	nc.c.d.Add(nc.c.f.Errorf(nc.c.exprPos(nc.s, line, col), "%s", msg))
}

// start returns the offset (in runes) where the source of n begins: the
// smallest offset of the nodes in it.
func start(n ast.Node) int {
	v := &firstVisitor{from: n.Location().From}
	ast.Walk(&n, v)
	return v.from
}

type firstVisitor struct{ from int }

func (v *firstVisitor) Visit(n *ast.Node) {
	if l := (*n).Location(); l.From < v.from && (l.From > 0 || l.To > 0) {
		v.from = l.From
	}
}

// nullMessage words the error of an expression that may be null where a
// value is due.
func nullMessage(v *nullable, target string, t schema.Type) string {
	msg := fmt.Sprintf("%s may be null (%s), but %s may not be", v.name, strings.TrimSpace(v.why), target)
	if v.why == "" {
		msg = fmt.Sprintf("%s may be null, but %s may not be", v.name, target)
	}
	if def := defaultLiteral(t); def != "" {
		return msg + fmt.Sprintf(": give it a default, e.g. %s ?? %s", v.name, def)
	}
	return msg + ": give it a default with ??"
}

// from words where a let's null comes from.
func (n *nullable) from() string {
	if n.why == "" {
		return "from " + n.name
	}
	return "from " + n.name + ", " + n.why
}

// targetName is how a message names an assignment's target: the column,
// for the targets a stage names with a leading _ (its output row).
func targetName(key string) string {
	if rec, field, ok := strings.Cut(key, "."); ok && strings.HasPrefix(rec, "_") {
		return field
	}
	return key
}

// operatorName quotes an operator that is a word (in, not, matches...), so
// that a message reads.
func operatorName(op string) string {
	if op != "" && op[0] >= 'a' && op[0] <= 'z' {
		return strconv.Quote(op)
	}
	return op
}
