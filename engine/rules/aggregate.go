package rules

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/govalues/decimal"
)

// Aggregates over lists of decimals. expr's sum, mean and median add
// numbers as ints and floats, and fail at run time on a decimal; min and
// max of two values are the rule functions of funcs.go. The literal
// patcher (patch.go) rewrites an aggregate whose values are decimals into
// one of the functions here, which add exactly: sum([tx.amount, tx.fee]),
// sum(items, #.price), mean(a, b, c), median([...]), min([...]),
// max(a, b, c). Aggregates of ints keep expr's builtins (min and max of a
// list of ints come here too, as ints).

// aggregateOptions are the functions the rewritten aggregates call.
func aggregateOptions() []expr.Option {
	return []expr.Option{
		expr.Function("_dec_sum", decAggregate("sum", func(vals []Dec) (any, error) {
			return decSum(vals)
		}), new(func(...any) Dec)),
		expr.Function("_dec_mean", decAggregate("mean", func(vals []Dec) (any, error) {
			if len(vals) == 0 {
				return nil, errors.New("mean of no values")
			}
			s, err := decSum(vals)
			if err != nil {
				return nil, err
			}
			return s.Quo(decimal.MustNew(int64(len(vals)), 0))
		}), new(func(...any) Dec)),
		expr.Function("_dec_median", decAggregate("median", func(vals []Dec) (any, error) {
			if len(vals) == 0 {
				return nil, errors.New("median of no values")
			}
			slices.SortFunc(vals, Dec.Cmp)
			m := len(vals) / 2
			if len(vals)%2 == 1 {
				return vals[m], nil
			}
			s, err := vals[m-1].Add(vals[m])
			if err != nil {
				return nil, err
			}
			return s.Quo(decimal.MustNew(2, 0))
		}), new(func(...any) Dec)),
		expr.Function("_dec_min", decPick("min", -1), new(func(...any) Dec)),
		expr.Function("_dec_max", decPick("max", 1), new(func(...any) Dec)),
		expr.Function("_int_min", intPick("min", -1), new(func(...any) int)),
		expr.Function("_int_max", intPick("max", 1), new(func(...any) int)),
	}
}

// decAggregate is the expr function of an aggregate of decimals: fold
// computes it from the values (decValues).
func decAggregate(name string, fold func(vals []Dec) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		vals, err := decValues(name, args)
		if err != nil {
			return nil, err
		}
		return fold(vals)
	}
}

// flatten returns the values of args, the elements of a list argument in
// its place, as expr's aggregates take them.
func flatten(args []any) []any {
	var out []any
	for _, a := range args {
		if a != nil {
			if v := reflect.ValueOf(a); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
				for i := range v.Len() {
					out = append(out, v.Index(i).Interface())
				}
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// decValues returns the values of args as decimals (ints widen).
func decValues(fn string, args []any) ([]Dec, error) {
	vals := flatten(args)
	out := make([]Dec, len(vals))
	for i, v := range vals {
		d, err := toDec(v)
		if err != nil {
			if v == nil {
				return nil, fmt.Errorf("%s: value %d of %d is null (use ?? to give a default)", fn, i+1, len(vals))
			}
			return nil, fmt.Errorf("%s: value %d of %d: %w", fn, i+1, len(vals), err)
		}
		out[i] = d
	}
	return out, nil
}

func decSum(vals []Dec) (Dec, error) {
	var s Dec
	for _, v := range vals {
		var err error
		if s, err = s.Add(v); err != nil {
			return Dec{}, err
		}
	}
	return s, nil
}

// decPick returns min (sign -1) or max (sign 1) of decimals.
func decPick(fn string, sign int) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		vals, err := decValues(fn, args)
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("%s of no values", fn)
		}
		best := vals[0]
		for _, v := range vals[1:] {
			if v.Cmp(best)*sign > 0 {
				best = v
			}
		}
		return best, nil
	}
}

// intPick returns min (sign -1) or max (sign 1) of ints.
func intPick(fn string, sign int) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		vals := flatten(args)
		if len(vals) == 0 {
			return nil, fmt.Errorf("%s of no values", fn)
		}
		best := 0
		for i, v := range vals {
			x, ok := v.(int)
			if !ok {
				if v == nil {
					return nil, fmt.Errorf("%s: value %d of %d is null (use ?? to give a default)", fn, i+1, len(vals))
				}
				return nil, fmt.Errorf("%s: value %d of %d is %T, not a whole number", fn, i+1, len(vals), v)
			}
			if i == 0 || (x-best)*sign > 0 {
				best = x
			}
		}
		return best, nil
	}
}

// elemKind is what an aggregate's argument holds: decimals (some at
// least), only ints, or something else.
type elemKind int

const (
	elemOther elemKind = iota
	elemInt
	elemDec
)

// elemsOf returns what the argument n of an aggregate holds: a decimal or
// an int, a list of them (typed by the checker), or a list literal.
func elemsOf(n ast.Node) elemKind {
	switch n.Type() {
	case decType:
		return elemDec
	case intType:
		return elemInt
	}
	if nt := n.Nature(); nt.Ref != nil {
		switch nt.Ref.Type {
		case decType:
			return elemDec
		case intType:
			return elemInt
		}
	}
	if a, ok := n.(*ast.ArrayNode); ok && len(a.Nodes) > 0 {
		k := elemInt
		for _, e := range a.Nodes {
			switch e.Type() {
			case decType:
				k = elemDec
			case intType:
			default:
				return elemOther
			}
		}
		return k
	}
	return elemOther
}

// aggregateOf returns what the arguments of an aggregate hold together.
func aggregateOf(args []ast.Node) elemKind {
	k := elemInt
	for _, a := range args {
		switch elemsOf(a) {
		case elemDec:
			k = elemDec
		case elemOther:
			return elemOther
		}
	}
	return k
}

// patchAggregate rewrites the aggregate at node when its values are
// decimals (or, for min and max of a list, ints), reporting whether it did.
func patchAggregate(node *ast.Node) bool {
	var fn string
	var args []ast.Node
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		if (n.Name == "mean" || n.Name == "median") && aggregateOf(n.Arguments) == elemDec {
			fn, args = "_dec_"+n.Name, n.Arguments
			break
		}
		if n.Name != "sum" {
			return false
		}
		switch {
		case len(n.Arguments) == 1 && elemsOf(n.Arguments[0]) == elemDec:
			fn, args = "_dec_sum", n.Arguments
		case len(n.Arguments) == 2 && n.Type() == decType:
			// sum(list, predicate) is the sum of map(list, predicate).
			m := &ast.BuiltinNode{Name: "map", Arguments: n.Arguments}
			m.SetLocation(n.Location())
			fn, args = "_dec_sum", []ast.Node{m}
		default:
			return false
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		kind := aggregateOf(n.Arguments)
		switch {
		case (id.Value == "mean" || id.Value == "median") && kind == elemDec:
			fn = "_dec_" + id.Value
		case (id.Value == "min" || id.Value == "max") && len(n.Arguments) != 2 && kind == elemDec:
			fn = "_dec_" + id.Value
		case (id.Value == "min" || id.Value == "max") && len(n.Arguments) != 2 && kind == elemInt:
			fn = "_int_" + id.Value
		default:
			return false
		}
		args = n.Arguments
	default:
		return false
	}
	call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: args}
	if fn[1] == 'i' {
		call.SetType(intType)
	} else {
		call.SetType(decType)
	}
	ast.Patch(node, call)
	return true
}

// aggregatePatcher rewrites aggregates of decimals once before the budget
// patcher wraps the builtins it charges (median); the literal patcher does
// it again as operator overloading settles the types of closures.
type aggregatePatcher struct{}

func (aggregatePatcher) Visit(node *ast.Node) { patchAggregate(node) }
