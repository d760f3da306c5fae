package rules

import (
	"cmp"
	"errors"
	"fmt"
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

func decPair(args []any) (Dec, Dec, error) {
	a, err := toDec(args[0])
	if err != nil {
		return a, a, err
	}
	b, err := toDec(args[1])
	return a, b, err
}

// binary returns an expr function applying op to two decimals (ints widen).
func binary(op func(a, b Dec) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		a, b, err := decPair(args)
		if err != nil {
			return nil, err
		}
		return op(a, b)
	}
}

// decSignatures are the operand types a decimal operator accepts.
func decSignatures(out reflect.Type) []any {
	mk := func(a, b reflect.Type) any {
		return reflect.New(reflect.FuncOf([]reflect.Type{a, b}, []reflect.Type{out}, false)).Interface()
	}
	return []any{mk(decType, decType), mk(decType, intType), mk(intType, decType)}
}

var boolType = reflect.TypeOf(false)

// decimalOptions teach expr exact decimal arithmetic and comparison.
func decimalOptions() []expr.Option {
	arith := []struct {
		op, fn string
		f      func(a, b Dec) (any, error)
	}{
		{"+", "_dec_add", func(a, b Dec) (any, error) { return a.Add(b) }},
		{"-", "_dec_sub", func(a, b Dec) (any, error) { return a.Sub(b) }},
		{"*", "_dec_mul", func(a, b Dec) (any, error) { return a.Mul(b) }},
		{"/", "_dec_div", func(a, b Dec) (any, error) {
			if b.IsZero() {
				return nil, errors.New("division by zero")
			}
			return a.Quo(b)
		}},
	}
	cmp := []struct {
		op, fn string
		f      func(c int) bool
	}{
		{"<", "_dec_lt", func(c int) bool { return c < 0 }},
		{"<=", "_dec_le", func(c int) bool { return c <= 0 }},
		{">", "_dec_gt", func(c int) bool { return c > 0 }},
		{">=", "_dec_ge", func(c int) bool { return c >= 0 }},
		{"==", "_dec_eq", func(c int) bool { return c == 0 }},
		{"!=", "_dec_ne", func(c int) bool { return c != 0 }},
	}
	var opts []expr.Option
	for _, a := range arith {
		opts = append(opts, expr.Function(a.fn, binary(a.f), decSignatures(decType)...), expr.Operator(a.op, a.fn))
	}
	for _, c := range cmp {
		test := c.f
		opts = append(opts, expr.Function(c.fn, binary(func(a, b Dec) (any, error) { return test(a.Cmp(b)), nil }),
			decSignatures(boolType)...), expr.Operator(c.op, c.fn))
	}
	opts = append(opts, expr.Function("_dec_neg", func(args ...any) (any, error) {
		a, err := toDec(args[0])
		return a.Neg(), err
	}, new(func(Dec) Dec)))
	return opts
}

// functionOptions are the functions rules may call beyond expr's builtins.
func functionOptions() []expr.Option {
	return []expr.Option{
		expr.Function("zip5", func(args ...any) (any, error) {
			s, _ := args[0].(string)
			return zip5(s), nil
		}, new(func(string) string)),
		expr.Function("abs", func(args ...any) (any, error) {
			switch x := args[0].(type) {
			case int:
				if x < 0 {
					return -x, nil
				}
				return x, nil
			case nil:
				return nil, errNull
			}
			d, err := toDec(args[0])
			return d.Abs(), err
		}, new(func(Dec) Dec), new(func(int) int)),
		expr.Function("round", func(args ...any) (any, error) {
			d, err := toDec(args[0])
			if err != nil {
				return nil, err
			}
			places := 0
			if len(args) > 1 {
				places = args[1].(int)
			}
			return roundHalfEven(d, places)
		}, new(func(Dec) Dec), new(func(Dec, int) Dec)),
		expr.Function("clamp", func(args ...any) (any, error) {
			if x, ok := args[0].(int); ok {
				lo, hi := args[1].(int), args[2].(int)
				return min(max(x, lo), hi), nil
			}
			x, err := toDec(args[0])
			if err != nil {
				return nil, err
			}
			lo, err := toDec(args[1])
			if err != nil {
				return nil, err
			}
			hi, err := toDec(args[2])
			if err != nil {
				return nil, err
			}
			if x.Cmp(lo) < 0 {
				x = lo
			}
			if x.Cmp(hi) > 0 {
				x = hi
			}
			return x, nil
		}, new(func(int, int, int) int), new(func(Dec, Dec, Dec) Dec), new(func(Dec, int, int) Dec)),
		expr.Function("_substr", func(args ...any) (any, error) {
			str, _ := args[0].(string)
			from, _ := args[1].(int)
			to, _ := args[2].(int)
			s := substr(str, from, to)
			if len(s) == 1 {
				return oneByte[s[0]], nil
			}
			return s, nil
		}, new(func(string, int, int) string)),
		expr.Function("min", pick(-1), minMaxSignatures()...),
		expr.Function("max", pick(1), minMaxSignatures()...),
		expr.Function("decimal", func(args ...any) (any, error) {
			switch x := args[0].(type) {
			case string:
				return decimal.Parse(x)
			case float64:
				return decimal.NewFromFloat64(x)
			}
			return toDec(args[0])
		}, new(func(string) Dec), new(func(int) Dec), new(func(float64) Dec), new(func(Dec) Dec)),
	}
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

// pick returns min (sign -1) or max (sign 1) of two numbers; ints stay ints.
func pick(sign int) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf("want 2 arguments, got %d", len(args))
		}
		if a, ok := args[0].(int); ok {
			if b, ok := args[1].(int); ok {
				return pickInt(a, b, sign), nil
			}
		}
		a, b, err := decPair(args)
		if err != nil {
			return nil, err
		}
		return pickDec(a, b, sign), nil
	}
}

// pickInt is min (sign -1) or max (sign 1) of two ints, for both the VM
// and the fast path. It compares rather than subtracts: a-b overflows at
// the extremes (max(9223372036854775807, -1) was -1).
func pickInt(a, b, sign int) int {
	if cmp.Compare(a, b)*sign >= 0 {
		return a
	}
	return b
}

// pickDec is min (sign -1) or max (sign 1) of two decimals.
func pickDec(a, b Dec, sign int) Dec {
	if a.Cmp(b)*sign >= 0 {
		return a
	}
	return b
}

func minMaxSignatures() []any {
	return append(decSignatures(decType), new(func(int, int) int))
}
