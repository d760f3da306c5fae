package rules

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// Every record is evaluated within a budget, so that no expression on no
// record can exhaust memory or run for minutes: a record that exceeds it
// fails evaluation with an error (its stage sends it to the dead letters)
// and the next record starts with a full budget.
//
// The budget is counted where expressions can grow or loop, all of which run
// in expr's VM: the compiler patches each such node (budgetPatcher) so that
// its cost is charged before it runs. The closure fast path (fast.go)
// compiles none of these nodes: each node it runs gives a value no larger
// than its operands (decimals, ints, bools, substrings, zip5), and it has no
// loops, so its cost per record is bounded by the size of the expression and
// of the record.
const (
	// MaxBytes bounds the bytes of the strings and lists the expressions
	// build for one record: concatenations, and the results of repeat, join,
	// replace, split, upper, lower, toJSON, string, concat, flatten, sort...
	MaxBytes = 16 << 20
	// MaxSteps bounds the iterations of closure builtins (map, filter,
	// reduce, all, any, count, sortBy...) for one record, nested ones
	// included: map over 300 elements inside map over 300 elements takes
	// 90,300 steps.
	MaxSteps = 100_000
	// MaxElements bounds the list elements one expression builds in expr's
	// VM (ranges, list and map literals, results of map and filter): expr's
	// own memory budget.
	MaxElements = 1_000_000
)

var (
	errBytes    = fmt.Errorf("evaluation exceeds the per-record budget of %d bytes (strings and lists built for one record)", MaxBytes)
	errSteps    = fmt.Errorf("evaluation exceeds the per-record budget of %d steps (iterations of map, filter, reduce... for one record)", MaxSteps)
	errNoBudget = errors.New("internal function called outside an evaluation")
)

// exprMemoryMessage is the message of expr's VM when an expression builds
// more than MaxElements list elements; runError adds what it means.
const exprMemoryMessage = "memory budget exceeded"

// budgetKey names the environment entry holding the evaluator's budget.
// It is not an identifier, so no expression can name it.
const budgetKey = "(budget)"

// budget is what one record has used so far; Evaluator.bind resets it.
type budget struct {
	bytes int
	steps int
}

// budgetOptions are the functions patched expressions call to charge the budget.
func budgetOptions() []expr.Option {
	return []expr.Option{
		expr.Function("_step", func(args ...any) (any, error) {
			b, _ := args[0].(*budget)
			if b == nil {
				return nil, errNoBudget
			}
			if b.steps++; b.steps > MaxSteps {
				return nil, errSteps
			}
			return true, nil
		}, new(func(*budget) bool)),
		expr.Function("_charge", func(args ...any) (any, error) {
			b, _ := args[0].(*budget)
			op, _ := args[1].(string)
			if b == nil {
				return nil, errNoBudget
			}
			room := MaxBytes - b.bytes
			cost := costOf(op, args[2:], room)
			if cost > room {
				b.bytes = MaxBytes + 1
				return nil, errBytes
			}
			b.bytes += cost
			return true, nil
		}, new(func(*budget, string, ...any) bool)),
	}
}

// charged are the builtins whose results are charged to the budget: those
// that build a new string or list.
var charged = map[string]bool{
	"repeat": true, "join": true, "replace": true, "split": true, "splitAfter": true,
	"upper": true, "lower": true, "toBase64": true, "fromBase64": true, "toJSON": true,
	"fromJSON": true, "string": true, "concat": true, "flatten": true, "keys": true,
	"values": true, "toPairs": true, "fromPairs": true, "sort": true, "reverse": true,
	"uniq": true, "take": true, "median": true,
}

// budgetPatcher rewrites the nodes of a checked expression that can grow or
// loop so that they charge the budget first:
//
//   - a closure's body b (map, filter, reduce...) becomes
//     `_step(budget) ? b : nil`: one step per iteration;
//   - a charged builtin f(x, y), a `+` that may join strings and a `matches`
//     with a pattern computed at run time become
//     `let v1 = x; let v2 = y; _charge(budget, "f", v1, v2) ? f(v1, v2) : nil`:
//     the operands are evaluated once, the cost of the result is charged
//     before it is built, and the original node computes it exactly as
//     before, with the same type.
type budgetPatcher struct {
	vars int // variables declared so far
}

func (p *budgetPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		for _, a := range n.Arguments {
			if pr, ok := a.(*ast.PredicateNode); ok {
				pr.Node = &ast.ConditionalNode{Cond: p.call("_step"), Exp1: pr.Node, Exp2: &ast.NilNode{}}
			}
		}
		if charged[n.Name] {
			p.charge(node, n.Name, n.Arguments, func(args []ast.Node) ast.Node {
				return &ast.BuiltinNode{Name: n.Name, Arguments: args}
			})
		}
	case *ast.BinaryNode:
		grows := false
		switch n.Operator {
		case "+":
			grows = maybeString(n.Left.Type()) && maybeString(n.Right.Type())
		case "matches":
			_, constant := n.Right.(*ast.StringNode)
			grows = !constant
		}
		if grows {
			p.charge(node, n.Operator, []ast.Node{n.Left, n.Right}, func(args []ast.Node) ast.Node {
				return &ast.BinaryNode{Operator: n.Operator, Left: args[0], Right: args[1]}
			})
		}
	}
}

// maybeString reports whether a node of type t may hold a string at run time.
func maybeString(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

// call returns a call of the budget function fn with the budget and args.
func (p *budgetPatcher) call(fn string, args ...ast.Node) ast.Node {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: append([]ast.Node{&ast.IdentifierNode{Value: budgetKey}}, args...)}
}

// charge replaces the node at *node, of operation op over operands args,
// with its charged form; rebuild makes the operation over other operands.
func (p *budgetPatcher) charge(node *ast.Node, op string, args []ast.Node, rebuild func([]ast.Node) ast.Node) {
	names := make([]ast.Node, len(args))
	for i := range args {
		p.vars++
		// Not an identifier either: no expression can declare or read it.
		names[i] = &ast.IdentifierNode{Value: fmt.Sprintf("(v%d)", p.vars)}
	}
	var out ast.Node = &ast.ConditionalNode{
		Cond: p.call("_charge", append([]ast.Node{&ast.StringNode{Value: op}}, names...)...),
		Exp1: rebuild(names),
		Exp2: &ast.NilNode{},
	}
	for i := len(args) - 1; i >= 0; i-- {
		out = &ast.VariableDeclaratorNode{Name: names[i].(*ast.IdentifierNode).Value, Value: args[i], Expr: out}
	}
	out.SetType((*node).Type())
	ast.Patch(node, out)
}

// costOf returns the bytes op builds from args, or some number above room
// when that is more than room. Each count is a bound computed before the
// operation runs, in time proportional to its operands.
func costOf(op string, args []any, room int) int {
	a := operands(args)
	switch op {
	case "+", "matches", "repeat", "join", "replace", "split", "splitAfter":
		return a.textCost(op, room)
	case "upper", "lower":
		return len(a.str(0)) * 3 / 2 // a rune may change its length
	case "toBase64":
		return (len(a.str(0)) + 2) / 3 * 4
	case "fromBase64":
		return len(a.str(0))
	case "fromJSON":
		return 16 * len(a.str(0))
	case "toJSON", "string", "flatten":
		return a.printedCost(op, room)
	case "concat":
		n := 0
		for _, v := range args {
			n += 16 * length(v)
		}
		return n
	case "keys", "values", "sort", "reverse", "uniq", "take", "median":
		return 16 * length(a.arg(0))
	case "toPairs", "fromPairs":
		return 48 * length(a.arg(0))
	}
	return 0
}

// operands are the arguments of a charged operation, read leniently: a
// missing one or one of another type reads as a zero value.
type operands []any

func (a operands) arg(i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

func (a operands) str(i int) string {
	s, _ := a.arg(i).(string)
	return s
}

func (a operands) num(i int, def int) int {
	if n, ok := a.arg(i).(int); ok {
		return n
	}
	return def
}

// textCost is the cost of the operations that build strings from strings.
func (a operands) textCost(op string, room int) int {
	switch op {
	case "+":
		l, ok1 := a.arg(0).(string)
		r, ok2 := a.arg(1).(string)
		if ok1 && ok2 {
			return len(l) + len(r)
		}
		return 0
	case "matches":
		return 16 * len(a.str(1)) // a compiled regular expression
	case "repeat":
		s, n := a.str(0), a.num(1, 0)
		if n <= 0 || len(s) == 0 {
			return 0
		}
		if n > room/len(s) {
			return room + 1
		}
		return len(s) * n
	case "join":
		return joinCost(a, room)
	case "replace":
		return replaceCost(a.str(0), a.str(1), a.str(2), a.num(3, -1), room)
	case "split", "splitAfter":
		return 16 * countParts(a.str(0), a.str(1), a.num(2, -1))
	}
	return 0
}

// replaceCost is the length of replace(s, old, repl) with at most n
// replacements (n < 0: all).
func replaceCost(s, old, repl string, n, room int) int {
	if len(repl) <= len(old) {
		return len(s)
	}
	k := strings.Count(s, old) // for "", one more than the runes of s
	if n >= 0 && k > n {
		k = n
	}
	if k > (room-len(s))/(len(repl)-len(old)) {
		return room + 1
	}
	return len(s) + k*(len(repl)-len(old))
}

// printedCost is the cost of toJSON, string and flatten, which walk their
// operand.
func (a operands) printedCost(op string, room int) int {
	w := walker{room: room}
	switch op {
	case "toJSON":
		w.json(a.arg(0), 0)
	case "string":
		w.fmt(a.arg(0))
	default:
		w.leaves(a.arg(0))
	}
	return w.used
}

// countParts returns how many parts strings.SplitN(s, sep, n) gives,
// counting no further than needed.
func countParts(s, sep string, n int) int {
	if n == 0 {
		return 0
	}
	k := 1
	if sep == "" {
		k = utf8.RuneCountInString(s)
	} else {
		k += strings.Count(s, sep)
	}
	if n > 0 && k > n {
		k = n
	}
	return k
}

// joinCost is the length of join(list, sep).
func joinCost(args []any, room int) int {
	if len(args) == 0 {
		return 0
	}
	sep := ""
	if len(args) > 1 {
		sep, _ = args[1].(string)
	}
	v := reflect.ValueOf(args[0])
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 0
	}
	n := 0
	for i := 0; i < v.Len() && n <= room; i++ {
		if e := v.Index(i); e.Kind() == reflect.Interface || e.Kind() == reflect.String {
			if s, ok := e.Interface().(string); ok {
				n += len(s)
			}
		}
		if i > 0 {
			n += len(sep)
		}
	}
	return n
}

// length is the number of elements of a list or map, 0 for anything else.
func length(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case nil, string:
		return 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len()
	}
	return 0
}

// walker measures a value as toJSON, string or flatten would write it,
// giving up once it has counted more than room bytes: a value may share
// one list many times over, so its printed size can be far above the
// memory it holds, and the walk stops before counting all of it.
type walker struct {
	room, used int
}

func (w *walker) full() bool { return w.used > w.room }

// style is how toJSON or string prints values: the bytes of a string,
// and the bytes a list, a list element, a map and a map entry add at a
// depth (each base + perDepth*depth).
type style struct {
	str                     func(s string) int
	list, elem, dict, entry frame
	keyString               bool // a map key prints as a string
}

type frame struct{ base, perDepth int }

func (f frame) at(depth int) int { return f.base + f.perDepth*depth }

var (
	// jsonStyle is toJSON's indented JSON.
	jsonStyle = &style{str: jsonStringLen, list: frame{3, 2}, elem: frame{4, 2}, dict: frame{3, 2}, entry: frame{6, 2}, keyString: true}
	// fmtStyle is fmt.Sprint's, which expr's string uses.
	fmtStyle = &style{str: func(s string) int { return len(s) }, list: frame{2, 0}, elem: frame{1, 0}, dict: frame{5, 0}, entry: frame{2, 0}}
)

// json adds the length of v in toJSON's indented JSON at the given depth.
func (w *walker) json(v any, depth int) { w.print(jsonStyle, v, depth) }

// fmt adds the length of v as fmt.Sprint (expr's string) writes it.
func (w *walker) fmt(v any) { w.print(fmtStyle, v, 0) }

// print adds the length of v printed in style st at the given depth.
func (w *walker) print(st *style, v any, depth int) {
	if w.full() {
		return
	}
	switch x := v.(type) {
	case string:
		w.used += st.str(x)
		return
	case nil, bool, int, float64, Dec:
		w.used += 32
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		w.used += st.list.at(depth)
		for i := 0; i < rv.Len() && !w.full(); i++ {
			w.used += st.elem.at(depth)
			w.print(st, rv.Index(i).Interface(), depth+1)
		}
	case reflect.Map:
		w.used += st.dict.at(depth)
		it := rv.MapRange()
		for it.Next() && !w.full() {
			w.used += st.entry.at(depth)
			key := it.Key().Interface()
			if st.keyString {
				key = fmt.Sprint(key)
			}
			w.print(st, key, depth+1)
			w.print(st, it.Value().Interface(), depth+1)
		}
	default:
		w.used += 64
	}
}

// leaves adds 16 bytes per element flatten gives for v.
func (w *walker) leaves(v any) {
	if w.full() {
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len() && !w.full(); i++ {
			w.leaves(rv.Index(i).Interface())
		}
	default:
		w.used += 16
	}
}

// jsonStringLen is the length of s as encoding/json writes it, quotes included.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}
