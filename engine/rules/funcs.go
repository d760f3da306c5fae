package rules

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"reflect"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/govalues/decimal"
)

// Dec is the Go type of exact decimals in rule expressions.
type Dec = decimal.Decimal

var (
	decType    = reflect.TypeOf(Dec{})
	intType    = reflect.TypeOf(0)
	stringType = reflect.TypeOf("")
	boolType   = reflect.TypeOf(false)
)

// oneByte holds every one-byte string already boxed, so that functions
// returning one (s[0:1]) allocate nothing.
var oneByte = func() (b [256]any) {
	for i := range b {
		b[i] = string([]byte{byte(i)})
	}
	return b
}()

// errNull is the error of arithmetic on a null value.
var errNull = errors.New("null value in arithmetic (use ?? to give a default)")

// toDec converts an int or Dec operand to Dec.
func toDec(v any) (Dec, error) {
	switch x := v.(type) {
	case Dec:
		return x, nil
	case int:
		return decimal.New(int64(x), 0)
	case nil:
		return Dec{}, errNull
	}
	return Dec{}, fmt.Errorf("%T is not a number", v)
}

// functions are the rule functions and decimal operators, each declared
// once (function.go): expr's binding and the fast path's closure both call
// the Go functions named here. An int argument where a signature takes a
// decimal widens to one; `mixed` adds the forms with one int operand.
var functions = []*function{
	{name: "_dec_add", op: "+", doc: "a + b, exact", sigs: mixed(fn2(Dec.Add))},
	{name: "_dec_sub", op: "-", doc: "a - b, exact", sigs: mixed(fn2(Dec.Sub))},
	{name: "_dec_mul", op: "*", doc: "a * b, rounded to 19 digits", sigs: mixed(fn2(Dec.Mul))},
	{name: "_dec_div", op: "/", doc: "a / b, rounded to 19 digits; an error for b = 0", sigs: mixed(fn2(quo))},
	{name: "_dec_lt", op: "<", doc: "a < b", sigs: mixed(pure2(lt))},
	{name: "_dec_le", op: "<=", doc: "a <= b", sigs: mixed(pure2(le))},
	{name: "_dec_gt", op: ">", doc: "a > b", sigs: mixed(pure2(gt))},
	{name: "_dec_ge", op: ">=", doc: "a >= b", sigs: mixed(pure2(ge))},
	{name: "_dec_eq", op: "==", doc: "a == b (2.0 == 2)", sigs: mixed(pure2(eq))},
	{name: "_dec_ne", op: "!=", doc: "a != b", sigs: mixed(pure2(ne))},
	{name: "_dec_neg", doc: "-a, for a decimal (patch.go)", sigs: []signature{pure1(Dec.Neg)}},
	{name: "zip5", doc: "the first standalone run of five digits, or \"\"", nullAsZero: true,
		sigs: []signature{pure1(zip5)}},
	{name: "abs", doc: "x without its sign; ints stay ints", sigs: []signature{pure1(Dec.Abs), fn1(absInt)}},
	{name: "round", doc: "x rounded to places digits after the point (0 if omitted; negative: tens, hundreds...), ties to even",
		sigs: []signature{fn1(func(d Dec) (Dec, error) { return roundHalfEven(d, 0) }), fn2(roundHalfEven)}},
	{name: "clamp", doc: "x within [lo, hi]: lo when below, then hi when above (so hi when lo > hi)",
		sigs: []signature{pure3(clampInt), pure3(clampDec), pure3(clampDec).as(decType, intType, intType)}},
	{name: "_substr", doc: "s[from:to], bounds clamped, negative ones from the end (patch.go)", nullAsZero: true,
		sigs: []signature{pure3(substr)}},
	{name: "min", doc: "the smaller of a and b; two ints give an int",
		sigs: append(mixed(pure2(pickDec(-1))), pure2(pickInt(-1)))},
	{name: "max", doc: "the larger of a and b; two ints give an int",
		sigs: append(mixed(pure2(pickDec(1))), pure2(pickInt(1)))},
	{name: "decimal", doc: "a decimal from a string, an int, a float literal or a decimal",
		sigs: []signature{fn1(decimal.Parse), pure1(widen).as(intType), fn1(decimal.NewFromFloat64), pure1(widen)}},
}

// functionOpts binds the declared functions for expr, built once.
var functionOpts = func() []expr.Option {
	var opts []expr.Option
	for _, f := range functions {
		opts = append(opts, f.options()...)
	}
	return opts
}()

// functionNamed indexes functions by name, for the fast path.
var functionNamed = func() map[string]*function {
	m := make(map[string]*function, len(functions))
	for _, f := range functions {
		m[f.name] = f
	}
	return m
}()

// functionOptions are the functions and decimal operators rules may use
// beyond expr's builtins.
func functionOptions() []expr.Option { return functionOpts }

var errDivZero = errors.New("division by zero")

// quo is a / b, an error when b is zero.
func quo(a, b Dec) (Dec, error) {
	if b.IsZero() {
		return Dec{}, errDivZero
	}
	return a.Quo(b)
}

// The comparisons of two decimals.
func lt(a, b Dec) bool { return a.Cmp(b) < 0 }
func le(a, b Dec) bool { return a.Cmp(b) <= 0 }
func gt(a, b Dec) bool { return a.Cmp(b) > 0 }
func ge(a, b Dec) bool { return a.Cmp(b) >= 0 }
func eq(a, b Dec) bool { return a.Cmp(b) == 0 }
func ne(a, b Dec) bool { return a.Cmp(b) != 0 }

// widen is decimal(x) of a decimal, or of an int its signature widens.
func widen(d Dec) Dec { return d }

// absInt is |x|; -9223372036854775808 has none among ints.
func absInt(x int) (int, error) {
	if x >= 0 {
		return x, nil
	}
	if x == math.MinInt {
		return 0, fmt.Errorf("abs(%d) does not fit in an int", x)
	}
	return -x, nil
}

func clampInt(x, lo, hi int) int { return min(max(x, lo), hi) }

func clampDec(x, lo, hi Dec) Dec {
	if x.Cmp(lo) < 0 {
		x = lo
	}
	if x.Cmp(hi) > 0 {
		x = hi
	}
	return x
}

// substr returns str[from:to] with the bounds clamped, as expr's own
// slicing does; negative bounds count from the end.
func substr(str string, from, to int) string {
	if from < 0 {
		from = max(from+len(str), 0)
	}
	if to < 0 {
		to = max(to+len(str), 0)
	}
	to = min(to, len(str))
	from = min(from, to)
	return str[from:to]
}

// roundHalfEven rounds d to places digits after the point (negative places
// round to tens, hundreds...), ties to even.
func roundHalfEven(d Dec, places int) (Dec, error) {
	if places >= 0 {
		return d.Round(places), nil
	}
	if places < -18 {
		return Dec{}, fmt.Errorf("round: %d places is out of range", places)
	}
	unit, err := decimal.New(pow10(-places), 0)
	if err != nil {
		return Dec{}, err
	}
	q, err := d.Quo(unit)
	if err != nil {
		return Dec{}, err
	}
	return q.Round(0).Mul(unit)
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// zip5 returns the first standalone run of exactly five digits in s (what
// the regular expression \b\d{5}\b finds), or "" when there is none. Word
// characters around it are letters, digits and _, as for \b. It looks only
// at runs of digits, so most bytes cost one comparison.
func zip5(s string) string {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j-i == 5 && !wordBefore(s, i) && !wordAt(s, j) {
			return s[i:j]
		}
		i = j
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isWord(r rune) bool {
	return r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') ||
		(r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
}

// wordBefore reports whether a word character ends just before s[i].
func wordBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return isWord(r)
}

// wordAt reports whether a word character starts at s[j].
func wordAt(s string, j int) bool {
	if j >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[j:])
	return isWord(r)
}

// pickInt returns min (sign -1) or max (sign 1) of two ints. It compares
// rather than subtracts: a-b overflows at the extremes
// (max(9223372036854775807, -1) was -1).
func pickInt(sign int) func(a, b int) int {
	return func(a, b int) int {
		if cmp.Compare(a, b)*sign >= 0 {
			return a
		}
		return b
	}
}

// pickDec returns min (sign -1) or max (sign 1) of two decimals.
func pickDec(sign int) func(a, b Dec) Dec {
	return func(a, b Dec) Dec {
		if a.Cmp(b)*sign >= 0 {
			return a
		}
		return b
	}
}
