package rules

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/govalues/decimal"
)

// Rule functions and decimal operators are declared once, in the table of
// funcs.go: each function is a list of typed signatures, and each signature
// wraps one plain Go function (func(Dec, Dec) (Dec, error), func(string)
// string...). Both ways of evaluating a call derive from that declaration:
//
//   - the expr binding (expr.Function with the signatures' types, and
//     expr.Operator for an operator), whose body converts the boxed
//     arguments and calls the Go function;
//   - the fast path's closure (fast.go), which reads the compiled arguments
//     unboxed and calls the same Go function.
//
// So a function's body exists once, and the two paths cannot disagree on
// what it computes (docs/ARCHITECTURE.md, "Rules").

// function is one rule function or decimal operator.
type function struct {
	name string
	doc  string // what it computes, for readers of the table
	op   string // the operator it implements (+, <...), or ""
	// nullAsZero: an argument that is null (or of another type) reads as
	// its type's zero value instead of failing, so lint lets a value that
	// may be null reach it (nullable.go).
	nullAsZero bool
	sigs       []signature
}

// signature is one typed form of a function.
type signature struct {
	in     []reflect.Type // the argument types expr's checker sees
	out    reflect.Type   // the result type
	params []param        // the Go function's parameters (an int widens to a decimal one)
	// call converts the boxed arguments (when lenient, one the params do
	// not accept reads as its zero value, else it is the error) and calls
	// the Go function: the VM's path.
	call func(args []any, lenient bool) (any, error)
	// fast builds the closure over compiled arguments whose kinds are in.
	fast func(args []code) code
}

// param is what the declarations need of a parameter's Go type, untyped.
type param struct {
	t       reflect.Type
	accepts func(v any) bool  // a boxed value reads as this type
	why     func(v any) error // why a boxed value does not
}

// goType is what the declarations need of a Go type T that functions take
// or give.
type goType[T any] struct {
	param
	read func(v any) (T, bool)                    // a boxed value as T; ints widen to decimals
	get  func(c code) func(*Evaluator) (T, error) // a compiled argument as T
	box  func(v T) any                            // a result as the VM holds it
	wrap func(f func(*Evaluator) (T, error)) code // a closure giving T as compiled code
}

// typeOf describes T, one of the types rule functions take or give: Dec,
// int, string, bool, or float64 (which only literals are, so the fast path
// has none).
func typeOf[T any]() goType[T] {
	g := goType[T]{read: readAs[T], box: func(v T) any { return v }}
	g.t = reflect.TypeFor[T]()
	g.why = notA(g.t)
	g.get = func(c code) func(*Evaluator) (T, error) {
		if f := slot[T](&c); f != nil {
			return *f
		}
		return nil
	}
	g.wrap = func(f func(*Evaluator) (T, error)) code {
		c := code{k: kindOf(g.t)}
		if p := slot[T](&c); p != nil {
			*p = f
			return c
		}
		return code{}
	}
	switch x := any(&g).(type) {
	case *goType[Dec]:
		x.read, x.get = readDec, asDec
		x.why = func(v any) error { _, err := toDec(v); return err }
	case *goType[string]:
		x.box = boxString
	}
	g.accepts = func(v any) bool { _, ok := g.read(v); return ok }
	return g
}

// slot is the field of c that holds a closure giving T, or nil.
func slot[T any](c *code) *func(*Evaluator) (T, error) {
	var p any
	switch any(*new(T)).(type) {
	case Dec:
		p = &c.d
	case int:
		p = &c.i
	case string:
		p = &c.s
	case bool:
		p = &c.b
	default:
		return nil
	}
	return p.(*func(*Evaluator) (T, error))
}

func readAs[T any](v any) (T, bool) {
	x, ok := v.(T)
	return x, ok
}

// readDec reads a decimal, or an int widened to one.
func readDec(v any) (Dec, bool) {
	switch x := v.(type) {
	case Dec:
		return x, true
	case int:
		d, err := decimal.New(int64(x), 0) // every int fits in 19 digits
		return d, err == nil
	}
	return Dec{}, false
}

// notA words a value that is not of type t as Go's failed conversion
// does; nullWords (eval.go) rewords a null so.
func notA(t reflect.Type) func(v any) error {
	return func(v any) error {
		if v == nil {
			return fmt.Errorf("interface conversion: interface {} is nil, not %s", t)
		}
		return fmt.Errorf("interface conversion: interface {} is %T, not %s", v, t)
	}
}

// boxString boxes a result string; a one-byte one (s[0:1]) costs nothing.
func boxString(s string) any {
	if len(s) == 1 {
		return oneByte[s[0]]
	}
	return s
}

// arg reads a boxed argument as T: when it is not one, its zero value if
// lenient, else the error.
func arg[T any](g goType[T], v any, lenient bool) (T, error) {
	x, ok := g.read(v)
	if !ok && !lenient {
		return x, g.why(v)
	}
	return x, nil
}

// args2 reads two boxed arguments, stopping at the first error.
func args2[A, B any](a goType[A], b goType[B], args []any, lenient bool) (A, B, error) {
	x, err := arg(a, args[0], lenient)
	if err != nil {
		var y B
		return x, y, err
	}
	y, err := arg(b, args[1], lenient)
	return x, y, err
}

// eval2 evaluates two compiled arguments in order, stopping at the first error.
func eval2[A, B any](e *Evaluator, ga func(*Evaluator) (A, error), gb func(*Evaluator) (B, error)) (A, B, error) {
	x, err := ga(e)
	if err != nil {
		var y B
		return x, y, err
	}
	y, err := gb(e)
	return x, y, err
}

// eval3 evaluates three compiled arguments in order, stopping at the first error.
func eval3[A, B, C any](e *Evaluator, ga func(*Evaluator) (A, error), gb func(*Evaluator) (B, error),
	gc func(*Evaluator) (C, error)) (A, B, C, error) {
	x, y, err := eval2(e, ga, gb)
	if err != nil {
		var z C
		return x, y, z, err
	}
	z, err := gc(e)
	return x, y, z, err
}

// result boxes the Go function's result for the VM.
func result[R any](g goType[R], v R, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return g.box(v), nil
}

// fn1 declares the signature of a Go function of one argument.
func fn1[A, R any](f func(A) (R, error)) signature {
	a, r := typeOf[A](), typeOf[R]()
	return signature{
		in: []reflect.Type{a.t}, out: r.t, params: []param{a.param},
		call: func(args []any, lenient bool) (any, error) {
			x, err := arg(a, args[0], lenient)
			if err != nil {
				return nil, err
			}
			v, err := f(x)
			return result(r, v, err)
		},
		fast: func(args []code) code {
			ga := a.get(args[0])
			return r.wrap(func(e *Evaluator) (R, error) {
				x, err := ga(e)
				if err != nil {
					var zero R
					return zero, err
				}
				return f(x)
			})
		},
	}
}

// fn2 declares the signature of a Go function of two arguments.
func fn2[A, B, R any](f func(A, B) (R, error)) signature {
	a, b, r := typeOf[A](), typeOf[B](), typeOf[R]()
	return signature{
		in: []reflect.Type{a.t, b.t}, out: r.t, params: []param{a.param, b.param},
		call: func(args []any, lenient bool) (any, error) {
			x, y, err := args2(a, b, args, lenient)
			if err != nil {
				return nil, err
			}
			v, err := f(x, y)
			return result(r, v, err)
		},
		fast: func(args []code) code {
			ga, gb := a.get(args[0]), b.get(args[1])
			return r.wrap(func(e *Evaluator) (R, error) {
				x, y, err := eval2(e, ga, gb)
				if err != nil {
					var zero R
					return zero, err
				}
				return f(x, y)
			})
		},
	}
}

// fn3 declares the signature of a Go function of three arguments.
func fn3[A, B, C, R any](f func(A, B, C) (R, error)) signature {
	a, b, c, r := typeOf[A](), typeOf[B](), typeOf[C](), typeOf[R]()
	return signature{
		in: []reflect.Type{a.t, b.t, c.t}, out: r.t, params: []param{a.param, b.param, c.param},
		call: func(args []any, lenient bool) (any, error) {
			x, y, err := args2(a, b, args, lenient)
			if err != nil {
				return nil, err
			}
			z, err := arg(c, args[2], lenient)
			if err != nil {
				return nil, err
			}
			v, err := f(x, y, z)
			return result(r, v, err)
		},
		fast: func(args []code) code {
			ga, gb, gc := a.get(args[0]), b.get(args[1]), c.get(args[2])
			return r.wrap(func(e *Evaluator) (R, error) {
				x, y, z, err := eval3(e, ga, gb, gc)
				if err != nil {
					var zero R
					return zero, err
				}
				return f(x, y, z)
			})
		},
	}
}

// pure1 declares the signature of a Go function of one argument that
// cannot fail. Its closure calls it even on an argument that failed (on
// the zero value, ignored), which saves a branch and a wrapper on the hot
// path; the VM's call goes through fn1.
func pure1[A, R any](f func(A) R) signature {
	s := fn1(func(a A) (R, error) { return f(a), nil })
	a, r := typeOf[A](), typeOf[R]()
	s.fast = func(args []code) code {
		ga := a.get(args[0])
		return r.wrap(func(e *Evaluator) (R, error) {
			x, err := ga(e)
			return f(x), err
		})
	}
	return s
}

// pure2 declares the signature of a Go function of two arguments that
// cannot fail, as pure1.
func pure2[A, B, R any](f func(A, B) R) signature {
	s := fn2(func(a A, b B) (R, error) { return f(a, b), nil })
	a, b, r := typeOf[A](), typeOf[B](), typeOf[R]()
	s.fast = func(args []code) code {
		ga, gb := a.get(args[0]), b.get(args[1])
		return r.wrap(func(e *Evaluator) (R, error) {
			x, y, err := eval2(e, ga, gb)
			return f(x, y), err
		})
	}
	return s
}

// pure3 declares the signature of a Go function of three arguments that
// cannot fail, as pure1.
func pure3[A, B, C, R any](f func(A, B, C) R) signature {
	s := fn3(func(a A, b B, c C) (R, error) { return f(a, b, c), nil })
	a, b, c, r := typeOf[A](), typeOf[B](), typeOf[C](), typeOf[R]()
	s.fast = func(args []code) code {
		ga, gb, gc := a.get(args[0]), b.get(args[1]), c.get(args[2])
		return r.wrap(func(e *Evaluator) (R, error) {
			x, y, z, err := eval3(e, ga, gb, gc)
			return f(x, y, z), err
		})
	}
	return s
}

// as returns s seen by expr's checker with other argument types: ints
// where s's Go function takes decimals, which they widen to.
func (s signature) as(in ...reflect.Type) signature {
	for i, t := range in {
		if t != s.params[i].t && !(t == intType && s.params[i].t == decType) {
			panic(fmt.Sprintf("rules: a %s argument cannot stand for a %s", t, s.params[i].t))
		}
	}
	s.in = in
	return s
}

// mixed returns s, a signature over two decimals, in the three forms expr
// checks: both decimals, or one of them an int. (Two ints are not a
// decimal operation: expr's own int arithmetic, or another signature.)
func mixed(s signature) []signature {
	return []signature{s, s.as(decType, intType), s.as(intType, decType)}
}

// options are the expr options binding f: the function with its types, and
// the operator it implements.
func (f *function) options() []expr.Option {
	types := make([]any, len(f.sigs))
	for i, s := range f.sigs {
		t := reflect.FuncOf(s.in, []reflect.Type{s.out}, false)
		types[i] = reflect.New(t).Interface()
	}
	opts := []expr.Option{expr.Function(f.name, f.vm, types...)}
	if f.op != "" {
		opts = append(opts, expr.Operator(f.op, f.name))
	}
	return opts
}

// vm is f's body in expr's VM: the first signature whose types the
// arguments have, else the first whose parameters take them (ints widen),
// else the error of the argument that none takes.
func (f *function) vm(args ...any) (any, error) {
	for i := range f.sigs {
		if s := &f.sigs[i]; s.exact(args) {
			return s.call(args, false)
		}
	}
	for i := range f.sigs {
		if s := &f.sigs[i]; s.accepts(args) {
			return s.call(args, false)
		}
	}
	return f.mismatch(args)
}

// exact reports whether the boxed args have s's argument types.
func (s *signature) exact(args []any) bool {
	if len(args) != len(s.in) {
		return false
	}
	for i, a := range args {
		if reflect.TypeOf(a) != s.in[i] {
			return false
		}
	}
	return true
}

// accepts reports whether s's parameters take the boxed args.
func (s *signature) accepts(args []any) bool {
	if len(args) != len(s.params) {
		return false
	}
	for i, a := range args {
		if !s.params[i].accepts(a) {
			return false
		}
	}
	return true
}

// mismatch answers a call no signature takes: a function that reads null as
// zero calls its first signature of that many arguments leniently; else the
// error names the first argument no signature takes, as a number where one
// of them takes a decimal there (toDec's words).
func (f *function) mismatch(args []any) (any, error) {
	var arity []*signature
	for i := range f.sigs {
		if len(f.sigs[i].params) == len(args) {
			arity = append(arity, &f.sigs[i])
		}
	}
	if len(arity) == 0 {
		return nil, fmt.Errorf("want %s arguments, got %d", f.arities(), len(args))
	}
	if f.nullAsZero {
		return arity[0].call(args, true)
	}
	for i, a := range args {
		var why error
		for _, s := range arity {
			p := s.params[i]
			if p.accepts(a) {
				why = nil
				break
			}
			if why == nil || p.t == decType {
				why = p.why(a)
			}
		}
		if why != nil {
			return nil, why
		}
	}
	return nil, fmt.Errorf("%s takes no arguments of these types", f.name)
}

// arities words the numbers of arguments f takes: "2", "1 or 2".
func (f *function) arities() string {
	var ns []string
	seen := map[int]bool{}
	for _, s := range f.sigs {
		if n := len(s.params); !seen[n] {
			seen[n] = true
			ns = append(ns, fmt.Sprint(n))
		}
	}
	return strings.Join(ns, " or ")
}

// compile builds the fast path's closure of a call of f whose result has
// kind k: the first signature whose argument kinds are those of the
// compiled args; kind kNone when none is.
func (f *function) compile(k kind, args []code) code {
	for i := range f.sigs {
		if s := &f.sigs[i]; s.fits(k, args) {
			return s.fast(args)
		}
	}
	return code{}
}

// fits reports whether compiled args of these kinds, giving kind k, call s.
func (s *signature) fits(k kind, args []code) bool {
	if len(args) != len(s.in) || kindOf(s.out) != k {
		return false
	}
	for i, a := range args {
		if a.k != kindOf(s.in[i]) {
			return false
		}
	}
	return true
}
