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

var errDivZero = errors.New("division by zero")

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
	fc := &fastCompiler{slots: map[string]int{}, lets: map[string]int{}, outputs: map[string]int{}}
	for i, r := range rs.refs {
		fc.slots[r.key] = i
	}
	for i, in := range rs.Inputs {
		if !in.Record {
			fc.slots[in.Name] = len(rs.refs) + i
		}
	}
	p := &fastPlan{slots: len(rs.refs) + len(rs.Inputs), allLets: true}
	for i, l := range rs.lets {
		lc := fc.compile(l.prog.Node())
		p.lets = append(p.lets, lc)
		fc.lets[l.name] = i
		fc.letKind = append(fc.letKind, lc.k)
		if lc.k == kNone {
			p.allLets = false
		}
	}
	index := func(lets []let) ([]int, bool) {
		var out []int
		for _, l := range lets {
			i := fc.lets[l.name]
			if p.lets[i].k == kNone {
				return nil, false
			}
			out = append(out, i)
		}
		return out, true
	}
	var whenSrcs []string
	p.decideOK = rs.decide != nil
	for _, r := range rs.rules {
		if r.when == nil {
			p.whens = append(p.whens, nil)
			break // the default ends the decision program
		}
		whenSrcs = append(whenSrcs, r.whenSrc)
		w := fc.compile(r.when.Node())
		if w.k != kBool {
			p.decideOK = false
		}
		p.whens = append(p.whens, w.b)
	}
	if p.decideOK {
		p.decide, p.decideOK = index(c.letsFor(whenSrcs...))
	}
	fastSets := func(sets []assign) {
		for i := range sets {
			a := &sets[i]
			if a.copyInput >= 0 || a.node == nil {
				continue
			}
			lets, ok := index(c.letsFor(a.src))
			if !ok {
				continue
			}
			if f := fc.boxed(a.node); f != nil {
				a.fast, a.fastLets = f, lets
			}
		}
	}
	for _, r := range rs.rules {
		fastSets(r.sets)
		if len(r.reason.progs) == 0 || !p.allLets {
			continue
		}
		parts := make([]code, len(r.reason.progs))
		ok := true
		for i, prog := range r.reason.progs {
			if prog == nil {
				ok = false
				break
			}
			parts[i] = fc.placeholder(prog.Node())
			ok = ok && parts[i].k != kNone
		}
		if ok {
			r.reason.fast = parts
		}
	}
	for i, o := range rs.Outputs {
		fc.outputs[o.Name] = i
	}
	fastSets(rs.then)
	rs.fast = p
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
		return code{k: kDec, d: func(e *Evaluator) (Dec, error) {
			err := e.fastLet(i)
			return e.letv[i].d, err
		}}
	case kStr:
		return code{k: kStr, s: func(e *Evaluator) (string, error) {
			err := e.fastLet(i)
			return e.letv[i].s, err
		}}
	case kInt:
		return code{k: kInt, i: func(e *Evaluator) (int, error) {
			err := e.fastLet(i)
			return e.letv[i].i, err
		}}
	case kBool:
		return code{k: kBool, b: func(e *Evaluator) (bool, error) {
			err := e.fastLet(i)
			return e.letv[i].b, err
		}}
	case kAny:
		return code{k: kAny, a: func(e *Evaluator) (any, error) {
			err := e.fastLet(i)
			return e.letv[i].a, err
		}}
	}
	return code{}
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

func constant(k kind, v any) code {
	switch x := v.(type) {
	case Dec:
		if k == kDec {
			return code{k: k, d: func(*Evaluator) (Dec, error) { return x, nil }}
		}
	case string:
		if k == kStr {
			return code{k: k, s: func(*Evaluator) (string, error) { return x, nil }}
		}
	case int:
		if k == kInt {
			return code{k: k, i: func(*Evaluator) (int, error) { return x, nil }}
		}
	case bool:
		if k == kBool {
			return code{k: k, b: func(*Evaluator) (bool, error) { return x, nil }}
		}
	}
	return code{}
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

func (fc *fastCompiler) binary(k kind, n *ast.BinaryNode) code {
	switch n.Operator {
	case "??":
		return fc.coalesce(k, n)
	case "in":
		return fc.in(k, n)
	}
	l, r := fc.compile(n.Left), fc.compile(n.Right)
	if l.k == kNone || r.k == kNone {
		return code{}
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		if k != kBool || l.k != kBool || r.k != kBool {
			return code{}
		}
		if n.Operator == "and" || n.Operator == "&&" {
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
	case "==", "!=":
		if k != kBool || l.k != r.k {
			return code{}
		}
		eq := equal(l, r)
		if eq == nil {
			return code{}
		}
		if n.Operator == "==" {
			return code{k: k, b: eq}
		}
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			v, err := eq(e)
			return !v, err
		}}
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
		op := n.Operator
		return code{k: k, i: func(e *Evaluator) (int, error) {
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
	return code{}
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
		return func(e *Evaluator) (bool, error) {
			a, err := l.s(e)
			if err != nil {
				return false, err
			}
			b, err := r.s(e)
			return a == b, err
		}
	case kInt:
		return func(e *Evaluator) (bool, error) {
			a, b, err := intPair(e, l, r)
			return a == b, err
		}
	case kBool:
		return func(e *Evaluator) (bool, error) {
			a, err := l.b(e)
			if err != nil {
				return false, err
			}
			b, err := r.b(e)
			return a == b, err
		}
	}
	return nil
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

func (fc *fastCompiler) conditional(k kind, n *ast.ConditionalNode) code {
	cond, a, b := fc.compile(n.Cond), fc.compile(n.Exp1), fc.compile(n.Exp2)
	if cond.k != kBool || a.k != k || b.k != k {
		return code{}
	}
	pick := func(e *Evaluator) (code, error) {
		c, err := cond.b(e)
		if c {
			return a, err
		}
		return b, err
	}
	switch k {
	case kDec:
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			x, err := pick(e)
			if err != nil {
				return Dec{}, err
			}
			return x.d(e)
		}}
	case kStr:
		return code{k: k, s: func(e *Evaluator) (string, error) {
			x, err := pick(e)
			if err != nil {
				return "", err
			}
			return x.s(e)
		}}
	case kInt:
		return code{k: k, i: func(e *Evaluator) (int, error) {
			x, err := pick(e)
			if err != nil {
				return 0, err
			}
			return x.i(e)
		}}
	case kBool:
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			x, err := pick(e)
			if err != nil {
				return false, err
			}
			return x.b(e)
		}}
	case kAny:
		return code{k: k, a: func(e *Evaluator) (any, error) {
			x, err := pick(e)
			if err != nil {
				return nil, err
			}
			return x.a(e)
		}}
	}
	return code{}
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

func decPairOf(e *Evaluator, l, r func(*Evaluator) (Dec, error)) (Dec, Dec, error) {
	a, err := l(e)
	if err != nil {
		return a, a, err
	}
	b, err := r(e)
	return a, b, err
}

// call compiles a call of a rule function (see decimalOptions and
// functionOptions) with the same results.
func (fc *fastCompiler) call(k kind, n *ast.CallNode) code {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		return code{}
	}
	args := make([]code, len(n.Arguments))
	for i, a := range n.Arguments {
		if args[i] = fc.compile(a); args[i].k == kNone {
			return code{}
		}
	}
	decs := make([]func(*Evaluator) (Dec, error), len(args))
	allInt := true
	for i, a := range args {
		decs[i] = asDec(a)
		allInt = allInt && a.k == kInt
	}
	hasDecs := func(n int) bool {
		if len(args) != n {
			return false
		}
		for _, d := range decs {
			if d == nil {
				return false
			}
		}
		return true
	}
	name := id.Value
	switch name {
	case "_dec_add", "_dec_sub", "_dec_mul", "_dec_div":
		if k != kDec || !hasDecs(2) {
			return code{}
		}
		l, r := decs[0], decs[1]
		var op func(a, b Dec) (Dec, error)
		switch name {
		case "_dec_add":
			op = Dec.Add
		case "_dec_sub":
			op = Dec.Sub
		case "_dec_mul":
			op = Dec.Mul
		default:
			op = func(a, b Dec) (Dec, error) {
				if b.IsZero() {
					return Dec{}, errDivZero
				}
				return a.Quo(b)
			}
		}
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			a, b, err := decPairOf(e, l, r)
			if err != nil {
				return Dec{}, err
			}
			return op(a, b)
		}}
	case "_dec_lt", "_dec_le", "_dec_gt", "_dec_ge", "_dec_eq", "_dec_ne":
		if k != kBool || !hasDecs(2) {
			return code{}
		}
		ops := map[string]string{"_dec_lt": "<", "_dec_le": "<=", "_dec_gt": ">", "_dec_ge": ">=", "_dec_eq": "==", "_dec_ne": "!="}
		test := compareTest(ops[name])
		l, r := decs[0], decs[1]
		return code{k: k, b: func(e *Evaluator) (bool, error) {
			a, b, err := decPairOf(e, l, r)
			return err == nil && test(a.Cmp(b)), err
		}}
	case "_dec_neg":
		if k != kDec || !hasDecs(1) {
			return code{}
		}
		x := decs[0]
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			d, err := x(e)
			return d.Neg(), err
		}}
	case "abs":
		if len(args) != 1 {
			return code{}
		}
		x := args[0]
		switch {
		case k == kInt && x.k == kInt:
			return code{k: k, i: func(e *Evaluator) (int, error) {
				v, err := x.i(e)
				if v < 0 {
					return -v, err
				}
				return v, err
			}}
		case k == kDec && x.k == kDec:
			return code{k: k, d: func(e *Evaluator) (Dec, error) {
				d, err := x.d(e)
				return d.Abs(), err
			}}
		}
	case "zip5":
		if k != kStr || len(args) != 1 || args[0].k != kStr {
			return code{}
		}
		x := args[0].s
		return code{k: k, s: func(e *Evaluator) (string, error) {
			s, err := x(e)
			return zip5(s), err
		}}
	case "_substr":
		if k != kStr || len(args) != 3 || args[0].k != kStr || args[1].k != kInt || args[2].k != kInt {
			return code{}
		}
		str, from, to := args[0].s, args[1].i, args[2].i
		return code{k: k, s: func(e *Evaluator) (string, error) {
			s, err := str(e)
			if err != nil {
				return "", err
			}
			f, err := from(e)
			if err != nil {
				return "", err
			}
			t, err := to(e)
			if err != nil {
				return "", err
			}
			return substr(s, f, t), nil
		}}
	case "round":
		if k != kDec || len(args) < 1 || len(args) > 2 || args[0].k != kDec || (len(args) == 2 && args[1].k != kInt) {
			return code{}
		}
		x := args[0].d
		var places func(*Evaluator) (int, error)
		if len(args) == 2 {
			places = args[1].i
		}
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			d, err := x(e)
			if err != nil {
				return Dec{}, err
			}
			p := 0
			if places != nil {
				if p, err = places(e); err != nil {
					return Dec{}, err
				}
			}
			return roundHalfEven(d, p)
		}}
	case "min", "max":
		sign := -1
		if name == "max" {
			sign = 1
		}
		if len(args) != 2 {
			return code{}
		}
		if allInt && k == kInt {
			return code{k: k, i: func(e *Evaluator) (int, error) {
				a, b, err := intPair(e, args[0], args[1])
				if err != nil {
					return 0, err
				}
				return pickInt(a, b, sign), nil
			}}
		}
		if k != kDec || !hasDecs(2) {
			return code{}
		}
		l, r := decs[0], decs[1]
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			a, b, err := decPairOf(e, l, r)
			if err != nil {
				return Dec{}, err
			}
			return pickDec(a, b, sign), nil
		}}
	case "decimal":
		if k != kDec || len(args) != 1 {
			return code{}
		}
		switch x := args[0]; x.k {
		case kDec, kInt:
			return code{k: k, d: decs[0]}
		case kStr:
			return code{k: k, d: func(e *Evaluator) (Dec, error) {
				s, err := x.s(e)
				if err != nil {
					return Dec{}, err
				}
				return decimal.Parse(s)
			}}
		}
	case "clamp":
		if len(args) != 3 {
			return code{}
		}
		if allInt && k == kInt {
			x, lo, hi := args[0].i, args[1].i, args[2].i
			return code{k: k, i: func(e *Evaluator) (int, error) {
				v, err := x(e)
				if err != nil {
					return 0, err
				}
				l, err := lo(e)
				if err != nil {
					return 0, err
				}
				h, err := hi(e)
				return min(max(v, l), h), err
			}}
		}
		if k != kDec || args[0].k != kDec || !hasDecs(3) {
			return code{}
		}
		x, lo, hi := decs[0], decs[1], decs[2]
		return code{k: k, d: func(e *Evaluator) (Dec, error) {
			v, err := x(e)
			if err != nil {
				return Dec{}, err
			}
			l, err := lo(e)
			if err != nil {
				return Dec{}, err
			}
			h, err := hi(e)
			if err != nil {
				return Dec{}, err
			}
			if v.Cmp(l) < 0 {
				v = l
			}
			if v.Cmp(h) > 0 {
				v = h
			}
			return v, nil
		}}
	}
	return code{}
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
