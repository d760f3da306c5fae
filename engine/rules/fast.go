package rules

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/govalues/decimal"
)

// The fast path. Every checked expression whose nodes are all of a small,
// common subset (decimal and int arithmetic and comparison, strings, logic,
// ?:, ??, `in` a constant list, the rule functions) is also compiled into Go
// closures typed by the checker's types: decimals stay unboxed values, so a
// record costs no expr VM run, no argument buffer and no boxing, and each let
// is computed once per record however many expressions read it.
//
// The closures never decide anything the VM would not: a closure either
// gives the value the VM gives, or an error (a null where a value is due, a
// value of an unexpected type, an arithmetic error). On any error the
// evaluator runs the same expression through the VM, which gives its value
// or its error exactly as before. Expressions with a node outside the subset
// have no closure and always run through the VM.
//
// The closures need no evaluation budget (budget.go): they have no loops,
// and no node of the subset gives a value larger than its operands. A node
// added here that can loop or grow (a concatenation, a builtin such as
// repeat or join) must charge the budget as the VM's patched nodes do.

// kind is the Go type of a compiled expression's value.
type kind uint8

const (
	kNone kind = iota // not compiled
	kAny              // any value, as the VM holds it (nil for null)
	kBool
	kInt
	kStr
	kDec
)

// code is one compiled expression: the function of its kind is set.
type code struct {
	k kind
	a func(*Evaluator) (any, error)
	b func(*Evaluator) (bool, error)
	i func(*Evaluator) (int, error)
	s func(*Evaluator) (string, error)
	d func(*Evaluator) (Dec, error)
}

// letVal holds a let's value for the record, in the field of its kind.
type letVal struct {
	d Dec
	s string
	a any
	i int
	b bool
}

// fastPlan is the fast path of a ruleset.
type fastPlan struct {
	slots  int    // bound values: the refs, then one per input (scalars)
	lets   []code // per let; kind kNone when it did not compile
	decide []int  // the lets the decision program evaluates, in order
	// whens holds one condition per rule (nil for the default); ok when
	// every condition and every let in decide compiled.
	whens    []func(*Evaluator) (bool, error)
	decideOK bool
	allLets  bool // every let compiled (reasons evaluate them all)
}

// errType is the error of a value whose type the fast path does not expect;
// the VM then evaluates the expression.
var errType = errors.New("unexpected value type")

func kindOf(t reflect.Type) kind {
	switch {
	case t == nil:
		return kNone
	case t == decType:
		return kDec
	case t == stringType:
		return kStr
	case t == intType:
		return kInt
	case t == boolType:
		return kBool
	case t.Kind() == reflect.Interface:
		return kAny
	}
	return kNone
}

// fastCompiler compiles checked expression trees into closures.
type fastCompiler struct {
	slots   map[string]int // "record.field" and scalar inputs: index into Evaluator.vals
	lets    map[string]int // let name: index
	letKind []kind
	outputs map[string]int // outputs, which then-assignments read
}

// compileFast builds the fast path of a ruleset that compiled without error.
func (c *compiler) compileFast() {
	rs := c.rs
	if len(rs.lets) > 64 {
		return
	}
	b := &fastBuild{c: c, fc: newFastCompiler(rs), p: &fastPlan{slots: len(rs.refs) + len(rs.Inputs), allLets: true}}
	b.lets()
	b.decision()
	for _, r := range rs.rules {
		b.sets(r.sets)
		b.reason(r)
	}
	for i, o := range rs.Outputs {
		b.fc.outputs[o.Name] = i // only then-assignments read outputs
	}
	b.sets(rs.then)
	rs.fast = b.p
}

// newFastCompiler indexes the values a ruleset's closures read: the bound
// record fields, then the scalar inputs.
func newFastCompiler(rs *Ruleset) *fastCompiler {
	fc := &fastCompiler{slots: map[string]int{}, lets: map[string]int{}, outputs: map[string]int{}}
	for i, r := range rs.refs {
		fc.slots[r.key] = i
	}
	for i, in := range rs.Inputs {
		if !in.Record || in.Optional {
			// An optional record's slot holds whether it has a row (see
			// Evaluator.bind), for rec == nil.
			fc.slots[in.Name] = len(rs.refs) + i
		}
	}
	return fc
}

// fastBuild is a ruleset's fast path while compileFast builds it.
type fastBuild struct {
	c  *compiler
	fc *fastCompiler
	p  *fastPlan
}

// lets compiles every let, in order (a let reads only the lets before it).
func (b *fastBuild) lets() {
	for i, l := range b.c.rs.lets {
		lc := b.fc.compile(l.prog.Node())
		b.p.lets = append(b.p.lets, lc)
		b.fc.lets[l.name] = i
		b.fc.letKind = append(b.fc.letKind, lc.k)
		if lc.k == kNone {
			b.p.allLets = false
		}
	}
}

// index returns the indexes of lets, false when one did not compile.
func (b *fastBuild) index(lets []let) ([]int, bool) {
	var out []int
	for _, l := range lets {
		i := b.fc.lets[l.name]
		if b.p.lets[i].k == kNone {
			return nil, false
		}
		out = append(out, i)
	}
	return out, true
}

// decision compiles the rules' conditions, up to the default, and the
// lets they read.
func (b *fastBuild) decision() {
	rs, p := b.c.rs, b.p
	var whenSrcs []string
	p.decideOK = rs.decide != nil
	for _, r := range rs.rules {
		if r.when == nil {
			p.whens = append(p.whens, nil)
			break // the default ends the decision program
		}
		whenSrcs = append(whenSrcs, r.whenSrc)
		w := b.fc.compile(r.when.Node())
		if w.k != kBool {
			p.decideOK = false
		}
		p.whens = append(p.whens, w.b)
	}
	if p.decideOK {
		p.decide, p.decideOK = b.index(b.c.letsFor(whenSrcs...))
	}
}

// sets gives each assignment that computes a value its closure, when it
// and the lets it reads compiled.
func (b *fastBuild) sets(sets []assign) {
	for i := range sets {
		a := &sets[i]
		if a.copyInput >= 0 || a.node == nil {
			continue
		}
		lets, ok := b.index(b.c.letsFor(a.src))
		if !ok {
			continue
		}
		if f := b.fc.boxed(a.node); f != nil {
			a.fast, a.fastLets = f, lets
		}
	}
}

// reason compiles the placeholders of a rule's reason, when every let
// compiled (a reason evaluates them all).
func (b *fastBuild) reason(r *rule) {
	if len(r.reason.progs) == 0 || !b.p.allLets {
		return
	}
	parts := make([]code, len(r.reason.progs))
	for i, prog := range r.reason.progs {
		if prog == nil {
			return
		}
		if parts[i] = b.fc.placeholder(prog.Node()); parts[i].k == kNone {
			return
		}
	}
	r.reason.fast = parts
}

// boxed compiles an expression into a closure giving its value as the VM
// would (a decimal boxed), or nil.
func (fc *fastCompiler) boxed(n ast.Node) func(*Evaluator) (any, error) {
	if raw := fc.raw(n); raw != nil {
		return raw
	}
	return fc.compile(n).box()
}

// placeholder compiles a reason placeholder: a raw identifier as it is (so
// that a null prints as null), anything else by its kind.
func (fc *fastCompiler) placeholder(n ast.Node) code {
	if raw := fc.raw(n); raw != nil {
		return code{k: kAny, a: raw}
	}
	return fc.compile(n)
}

// box returns c's value boxed as the VM would hold it, or nil when c did not compile.
func (c code) box() func(*Evaluator) (any, error) {
	switch c.k {
	case kAny:
		return c.a
	case kBool:
		return func(e *Evaluator) (any, error) { v, err := c.b(e); return v, err }
	case kInt:
		return func(e *Evaluator) (any, error) { v, err := c.i(e); return v, err }
	case kStr:
		return func(e *Evaluator) (any, error) { v, err := c.s(e); return v, err }
	case kDec:
		return func(e *Evaluator) (any, error) {
			v, err := c.d(e)
			if err != nil {
				return nil, err
			}
			return v, nil
		}
	}
	return nil
}

// raw compiles an identifier whose value is held boxed (a bound field or
// input, an output, a let of kind any) into a closure returning it as it is.
func (fc *fastCompiler) raw(n ast.Node) func(*Evaluator) (any, error) {
	id, ok := n.(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	if s, ok := fc.slots[id.Value]; ok {
		return func(e *Evaluator) (any, error) { return e.vals[s], nil }
	}
	if i, ok := fc.lets[id.Value]; ok && fc.letKind[i] == kAny {
		return func(e *Evaluator) (any, error) {
			if err := e.fastLet(i); err != nil {
				return nil, err
			}
			return e.letv[i].a, nil
		}
	}
	if o, ok := fc.outputs[id.Value]; ok {
		return func(e *Evaluator) (any, error) { return e.outputs[o], nil }
	}
	return nil
}

// typed turns a closure giving a boxed value into one of kind k, failing
// on a value of another type (nil included).
func typed(k kind, raw func(*Evaluator) (any, error)) code {
	switch k {
	case kAny:
		return code{k: k, a: raw}
	case kDec:
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			v, err := raw(e)
			if err != nil {
				return Dec{}, err
			}
			return toDec(v)
		}}
	case kStr:
		return code{k: k, s: func(e *Evaluator) (string, error) {
			v, err := raw(e)
			if s, ok := v.(string); ok && err == nil {
				return s, nil
			}
			return "", errType
		}}
	case kInt:
		return code{k: k, i: func(e *Evaluator) (int, error) {
			v, err := raw(e)
			if i, ok := v.(int); ok && err == nil {
				return i, nil
			}
			return 0, errType
		}}
	case kBool:
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			v, err := raw(e)
			if b, ok := v.(bool); ok && err == nil {
				return b, nil
			}
			return false, errType
		}}
	}
	return code{}
}

// letCode reads let i, computing it once per record.
func (fc *fastCompiler) letCode(i int) code {
	switch fc.letKind[i] {
	case kDec:
		return code{k: kDec, d: readLet(i, func(v *letVal) Dec { return v.d })}
	case kStr:
		return code{k: kStr, s: readLet(i, func(v *letVal) string { return v.s })}
	case kInt:
		return code{k: kInt, i: readLet(i, func(v *letVal) int { return v.i })}
	case kBool:
		return code{k: kBool, b: readLet(i, func(v *letVal) bool { return v.b })}
	case kAny:
		return code{k: kAny, a: readLet(i, func(v *letVal) any { return v.a })}
	}
	return code{}
}

// readLet returns the closure of one kind that computes let i once per
// record (Evaluator.fastLet) and reads its value with field.
func readLet[T any](i int, field func(*letVal) T) func(*Evaluator) (T, error) {
	return func(e *Evaluator) (T, error) {
		err := e.fastLet(i)
		return field(&e.letv[i]), err
	}
}

// compile compiles a checked node, or returns a code of kind kNone.
func (fc *fastCompiler) compile(n ast.Node) code {
	k := kindOf(n.Type())
	if k == kNone {
		return code{}
	}
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if i, ok := fc.lets[n.Value]; ok {
			if fc.letKind[i] != k {
				return code{}
			}
			return fc.letCode(i)
		}
		if raw := fc.raw(n); raw != nil {
			return typed(k, raw)
		}
	case *ast.ConstantNode:
		return constant(k, n.Value)
	case *ast.StringNode:
		return constant(k, n.Value)
	case *ast.IntegerNode:
		return constant(k, n.Value)
	case *ast.BoolNode:
		return constant(k, n.Value)
	case *ast.UnaryNode:
		return fc.unary(k, n)
	case *ast.BinaryNode:
		return fc.binary(k, n)
	case *ast.ConditionalNode:
		return fc.conditional(k, n)
	case *ast.CallNode:
		return fc.call(k, n)
	}
	return code{}
}

// constant compiles a literal of kind k; a code of kind kNone when v is
// not a value of that kind.
func constant(k kind, v any) code {
	var c code
	switch x := v.(type) {
	case Dec:
		c = code{k: kDec, d: always(x)}
	case string:
		c = code{k: kStr, s: always(x)}
	case int:
		c = code{k: kInt, i: always(x)}
	case bool:
		c = code{k: kBool, b: always(x)}
	}
	if c.k != k {
		return code{}
	}
	return c
}

// always returns the closure of a constant.
func always[T any](x T) func(*Evaluator) (T, error) {
	return func(*Evaluator) (T, error) { return x, nil }
}

func (fc *fastCompiler) unary(k kind, n *ast.UnaryNode) code {
	x := fc.compile(n.Node)
	switch {
	case (n.Operator == "not" || n.Operator == "!") && k == kBool && x.k == kBool:
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			v, err := x.b(e)
			return !v, err
		}}
	case n.Operator == "-" && k == kInt && x.k == kInt:
		return code{k: k, i: func(e *Evaluator) (int, error) {
			v, err := x.i(e)
			return -v, err
		}}
	case n.Operator == "+" && k == kInt && x.k == kInt:
		return x
	}
	return code{}
}

// binary compiles a binary operator of the subset; decimal operators are
// calls of declared functions by then (funcs.go).
func (fc *fastCompiler) binary(k kind, n *ast.BinaryNode) code {
	switch n.Operator {
	case "??":
		return fc.coalesce(k, n)
	case "in":
		return fc.in(k, n)
	case "==", "!=":
		if c := fc.nilTest(k, n); c.k != kNone {
			return c
		}
	}
	l, r := fc.compile(n.Left), fc.compile(n.Right)
	if l.k == kNone || r.k == kNone {
		return code{}
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		return logic(k, n.Operator, l, r)
	case "==", "!=":
		return equality(k, n.Operator, l, r)
	}
	if l.k != kInt || r.k != kInt {
		return code{}
	}
	switch n.Operator {
	case "<", "<=", ">", ">=":
		if k != kBool {
			return code{}
		}
		test := compareTest(n.Operator)
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			a, b, err := intPair(e, l, r)
			return err == nil && test(cmp.Compare(a, b)), err
		}}
	case "+", "-", "*", "%":
		if k != kInt {
			return code{}
		}
		return intArith(n.Operator, l, r)
	}
	return code{}
}

// logic compiles and (&&) and or (||), which stop at the left operand
// when it decides.
func logic(k kind, op string, l, r code) code {
	if k != kBool || l.k != kBool || r.k != kBool {
		return code{}
	}
	if op == "and" || op == "&&" {
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			if v, err := l.b(e); !v || err != nil {
				return false, err
			}
			return r.b(e)
		}}
	}
	return code{k: k, b: func(e *Evaluator) (bool, error) {
		if v, err := l.b(e); v || err != nil {
			return v, err
		}
		return r.b(e)
	}}
}

// equality compiles == and != of two operands of the same kind.
func equality(k kind, op string, l, r code) code {
	if k != kBool || l.k != r.k {
		return code{}
	}
	eq := equal(l, r)
	if eq == nil {
		return code{}
	}
	if op == "==" {
		return code{k: k, b: eq}
	}
	return code{k: k, b: func(e *Evaluator) (bool, error) {
		v, err := eq(e)
		return !v, err
	}}
}

// intArith compiles +, -, * and % of two ints, which wrap as Go's (and
// expr's) do.
func intArith(op string, l, r code) code {
	return code{k: kInt, i: func(e *Evaluator) (int, error) {
		a, b, err := intPair(e, l, r)
		if err != nil {
			return 0, err
		}
		switch op {
		case "+":
			return a + b, nil
		case "-":
			return a - b, nil
		case "*":
			return a * b, nil
		}
		if b == 0 {
			return 0, errDivZero
		}
		return a % b, nil
	}}
}

func intPair(e *Evaluator, l, r code) (int, int, error) {
	a, err := l.i(e)
	if err != nil {
		return 0, 0, err
	}
	b, err := r.i(e)
	return a, b, err
}

// compareTest turns a comparison operator into a test of a Cmp result.
func compareTest(op string) func(int) bool {
	switch op {
	case "<":
		return func(c int) bool { return c < 0 }
	case "<=":
		return func(c int) bool { return c <= 0 }
	case ">":
		return func(c int) bool { return c > 0 }
	case ">=":
		return func(c int) bool { return c >= 0 }
	case "==":
		return func(c int) bool { return c == 0 }
	case "!=":
		return func(c int) bool { return c != 0 }
	}
	return nil
}

// equal compares two values of the same kind (strings, ints, bools).
func equal(l, r code) func(*Evaluator) (bool, error) {
	switch l.k {
	case kStr:
		return equalOf(l.s, r.s)
	case kInt:
		return func(e *Evaluator) (bool, error) {
			a, b, err := intPair(e, l, r)
			return a == b, err
		}
	case kBool:
		return equalOf(l.b, r.b)
	}
	return nil
}

// equalOf returns the closure of l == r for values of one comparable kind:
// r is not evaluated when l fails.
func equalOf[T comparable](l, r func(*Evaluator) (T, error)) func(*Evaluator) (bool, error) {
	return func(e *Evaluator) (bool, error) {
		a, err := l(e)
		if err != nil {
			return false, err
		}
		b, err := r(e)
		return a == b, err
	}
}

// coalesce compiles left ?? right: left unless it is null.
func (fc *fastCompiler) coalesce(k kind, n *ast.BinaryNode) code {
	right := fc.compile(n.Right)
	if right.k != k {
		return code{}
	}
	raw := fc.raw(n.Left)
	if raw == nil {
		// A typed value is never null: the VM keeps it.
		if left := fc.compile(n.Left); left.k == k && k != kAny {
			return left
		}
		return code{}
	}
	pick := func(e *Evaluator) (any, bool, error) {
		v, err := raw(e)
		return v, v != nil, err
	}
	switch k {
	case kAny:
		return code{k: k, a: func(e *Evaluator) (any, error) {
			if v, ok, err := pick(e); ok || err != nil {
				return v, err
			}
			return right.a(e)
		}}
	case kDec:
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			v, ok, err := pick(e)
			if err != nil {
				return Dec{}, err
			}
			if !ok {
				return right.d(e)
			}
			if d, ok := v.(Dec); ok {
				return d, nil
			}
			return Dec{}, errType
		}}
	case kStr:
		return code{k: k, s: func(e *Evaluator) (string, error) {
			v, ok, err := pick(e)
			if err != nil {
				return "", err
			}
			if !ok {
				return right.s(e)
			}
			if s, ok := v.(string); ok {
				return s, nil
			}
			return "", errType
		}}
	case kInt:
		return code{k: k, i: func(e *Evaluator) (int, error) {
			v, ok, err := pick(e)
			if err != nil {
				return 0, err
			}
			if !ok {
				return right.i(e)
			}
			if i, ok := v.(int); ok {
				return i, nil
			}
			return 0, errType
		}}
	}
	return code{}
}

// in compiles a string `in` a constant list of strings, which expr's
// optimizer has turned into a set.
func (fc *fastCompiler) in(k kind, n *ast.BinaryNode) code {
	if id, ok := n.Right.(*ast.IdentifierNode); ok && k == kBool {
		return fc.inList(id, n.Left)
	}
	c, ok := n.Right.(*ast.ConstantNode)
	if !ok || k != kBool {
		return code{}
	}
	set, ok := c.Value.(map[string]struct{})
	if !ok {
		return code{}
	}
	l := fc.compile(n.Left)
	if l.k != kStr {
		return code{}
	}
	return code{k: k, b: func(e *Evaluator) (bool, error) {
		s, err := l.s(e)
		if err != nil {
			return false, err
		}
		_, ok := set[s]
		return ok, nil
	}}
}

// nilTest compiles x == nil and x != nil where x is held boxed (a bound
// field or input, an optional record's presence, a let of kind any).
func (fc *fastCompiler) nilTest(k kind, n *ast.BinaryNode) code {
	other := n.Left
	if _, ok := other.(*ast.NilNode); ok {
		other = n.Right
	} else if _, ok := n.Right.(*ast.NilNode); !ok {
		return code{}
	}
	raw := fc.raw(other)
	if raw == nil || k != kBool {
		return code{}
	}
	want := n.Operator == "=="
	return code{k: k, b: func(e *Evaluator) (bool, error) {
		v, err := raw(e)
		return (v == nil) == want, err
	}}
}

// inList compiles x in lists.name: a lookup in the list input's set.
func (fc *fastCompiler) inList(list *ast.IdentifierNode, left ast.Node) code {
	s, ok := fc.slots[list.Value]
	if !ok {
		return code{}
	}
	l := fc.compile(left)
	switch l.k {
	case kStr:
		return code{k: kBool, b: inSet(s, l.s)}
	case kInt:
		return code{k: kBool, b: inSet(s, l.i)}
	}
	return code{}
}

// inSet returns the closure that tells whether the value of key is in
// the set held in slot s (a list input's keys, map[K]struct{}).
func inSet[K comparable](s int, key func(*Evaluator) (K, error)) func(*Evaluator) (bool, error) {
	return func(e *Evaluator) (bool, error) {
		set, ok := e.vals[s].(map[K]struct{})
		if !ok {
			return false, errType
		}
		x, err := key(e)
		if err != nil {
			return false, err
		}
		_, in := set[x]
		return in, nil
	}
}

func (fc *fastCompiler) conditional(k kind, n *ast.ConditionalNode) code {
	cond, a, b := fc.compile(n.Cond), fc.compile(n.Exp1), fc.compile(n.Exp2)
	if cond.k != kBool || a.k != k || b.k != k {
		return code{}
	}
	switch k {
	case kDec:
		return code{k: k, d: choose(cond.b, a.d, b.d)}
	case kStr:
		return code{k: k, s: choose(cond.b, a.s, b.s)}
	case kInt:
		return code{k: k, i: choose(cond.b, a.i, b.i)}
	case kBool:
		return code{k: k, b: choose(cond.b, a.b, b.b)}
	case kAny:
		return code{k: k, a: choose(cond.b, a.a, b.a)}
	}
	return code{}
}

// choose returns the closure of cond ? a : b for values of one kind: the
// zero value and cond's error when cond fails.
func choose[T any](cond func(*Evaluator) (bool, error), a, b func(*Evaluator) (T, error)) func(*Evaluator) (T, error) {
	return func(e *Evaluator) (T, error) {
		c, err := cond(e)
		if err != nil {
			var zero T
			return zero, err
		}
		if c {
			return a(e)
		}
		return b(e)
	}
}

// asDec widens an int expression to a decimal, as toDec does; nil when c
// is neither.
func asDec(c code) func(*Evaluator) (Dec, error) {
	switch c.k {
	case kDec:
		return c.d
	case kInt:
		return func(e *Evaluator) (Dec, error) {
			i, err := c.i(e)
			if err != nil {
				return Dec{}, err
			}
			return decimal.New(int64(i), 0)
		}
	}
	return nil
}

// call compiles a call of a declared rule function (funcs.go) into the
// closure its signature derives, with the same results as expr's binding.
func (fc *fastCompiler) call(k kind, n *ast.CallNode) code {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return code{}
	}
	f := functionNamed[id.Value]
	if f == nil {
		return code{}
	}
	args := make([]code, len(n.Arguments))
	for i, a := range n.Arguments {
		if args[i] = fc.compile(a); args[i].k == kNone {
			return code{}
		}
	}
	return f.compile(k, args)
}

// fastLet computes let i for the record, once.
func (e *Evaluator) fastLet(i int) error {
	bit := uint64(1) << uint(i)
	if e.letDone&bit != 0 {
		return nil
	}
	c := &e.rs.fast.lets[i]
	v := &e.letv[i]
	var err error
	switch c.k {
	case kDec:
		v.d, err = c.d(e)
	case kStr:
		v.s, err = c.s(e)
	case kInt:
		v.i, err = c.i(e)
	case kBool:
		v.b, err = c.b(e)
	case kAny:
		v.a, err = c.a(e)
	default:
		err = fmt.Errorf("let %s has no fast path", e.rs.lets[i].name)
	}
	if err != nil {
		return err
	}
	e.letDone |= bit
	return nil
}

// fastLets computes the given lets, in order.
func (e *Evaluator) fastLets(lets []int) error {
	for _, i := range lets {
		if err := e.fastLet(i); err != nil {
			return err
		}
	}
	return nil
}

// fastDecide runs the decision through the closures: the index of the
// deciding rule (-1 for none), and false when the VM must decide instead.
func (e *Evaluator) fastDecide() (int, bool) {
	p := e.rs.fast
	if e.fastLets(p.decide) != nil {
		return 0, false
	}
	for i, w := range p.whens {
		if w == nil {
			return i, true
		}
		ok, err := w(e)
		if err != nil {
			return 0, false
		}
		if ok {
			return i, true
		}
	}
	return -1, true
}

// fastRender renders a reason through the closures, every let computed
// first as setLets does; false when the VM must render it instead.
func (e *Evaluator) fastRender(t *template) (string, bool) {
	for i := range e.rs.lets {
		if e.fastLet(i) != nil {
			return "", false
		}
	}
	b := e.buf[:0]
	for i, c := range t.fast {
		b = append(b, t.text[i]...)
		switch c.k {
		case kStr:
			s, err := c.s(e)
			if err != nil {
				return "", false
			}
			b = append(b, s...)
		case kDec:
			d, err := c.d(e)
			if err != nil {
				return "", false
			}
			b, _ = d.AppendText(b)
		case kAny:
			v, err := c.a(e)
			if err != nil {
				return "", false
			}
			b = append(b, formatValue(v)...)
		default:
			v, err := c.box()(e)
			if err != nil {
				return "", false
			}
			b = append(b, formatValue(v)...)
		}
	}
	b = append(b, t.text[len(t.fast)]...)
	e.buf = b
	return string(b), true
}
