package rules

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/yamldoc"
)

// Every declared function (funcs.go), in every signature, is checked on
// both paths (expr's VM and the fast path's closures) against a plain Go
// reference written apart from it: math/big for numbers, a regular
// expression for zip5. Arguments go to the ends of int64 and of decimals
// (19 digits, scale 0 to 19, negative).

// callCase is one signature of one function, compiled into a ruleset that
// assigns f(a, b, c) to an output, with the fast path and through the VM
// alone.
type callCase struct {
	f          *function
	sig        *signature
	fast, slow *Ruleset
}

// schemaName is the rule-file type of a signature's argument or result type.
var schemaName = map[reflect.Type]string{decType: "decimal", intType: "int", stringType: "string", boolType: "bool"}

// callCases compiles every signature whose types a rule file can declare
// (not decimal's float form, which only a literal reaches).
func callCases(tb testing.TB) []callCase {
	var out []callCase
	for _, f := range functions {
		for i := range f.sigs {
			s := &f.sigs[i]
			var ins, args []string
			ok := schemaName[s.out] != ""
			for j, t := range s.in {
				name := string(rune('a' + j))
				ins = append(ins, name+": "+schemaName[t])
				args = append(args, name)
				ok = ok && schemaName[t] != ""
			}
			if !ok {
				continue
			}
			src := fmt.Sprintf("ruleset: fn\ninputs: {%s}\noutputs: {o: %s}\ndefault:\n  outcome: ok\n  set: {o: %q}\n",
				strings.Join(ins, ", "), schemaName[s.out], f.name+"("+strings.Join(args, ", ")+")")
			file, err := yamldoc.Parse("fn.yaml", []byte(src))
			if err != nil {
				tb.Fatal(err)
			}
			fast, err := Compile(file)
			if err != nil {
				tb.Fatalf("%s: %v", src, err)
			}
			slow, err := Compile(file)
			if err != nil {
				tb.Fatal(err)
			}
			vmOnly(slow)
			for _, r := range fast.rules {
				for _, a := range r.sets {
					if a.fast == nil {
						tb.Fatalf("%s%v: not on the fast path", f.name, s.in)
					}
				}
			}
			out = append(out, callCase{f: f, sig: s, fast: fast, slow: slow})
		}
	}
	return out
}

// check evaluates the call on args through both rulesets and the
// reference: the two paths give the same value or the same error, and the
// value the reference gives (or an error where it has none).
func (c callCase) check(t *testing.T, args []any) {
	t.Helper()
	var got [2]any
	var errs [2]error
	for i, rs := range []*Ruleset{c.fast, c.slow} {
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, errs[i] = e.Eval(append([]any(nil), args...))
		got[i] = e.Output(0)
	}
	call := fmt.Sprintf("%s%v on %v", c.f.name, c.sig.in, args)
	if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) || !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("%s: fast %v (%v), VM %v (%v)", call, got[0], errs[0], got[1], errs[1])
	}
	want, wantErr := reference(c.f.name, args)
	switch {
	case wantErr && errs[0] == nil:
		t.Fatalf("%s = %v, want an error", call, got[0])
	case !wantErr && errs[0] != nil:
		t.Fatalf("%s: %v, want %v", call, errs[0], want)
	case !wantErr && !same(got[0], want):
		t.Fatalf("%s = %v, want %v", call, got[0], want)
	}
}

// same compares a result with the reference's: numbers by value.
func same(got, want any) bool {
	if r, ok := want.(*big.Rat); ok {
		d, ok := got.(Dec)
		return ok && ratOf(d).Cmp(r) == 0
	}
	return got == want
}

var (
	maxCoef = new(big.Int).SetUint64(9_999_999_999_999_999_999)
	ten     = big.NewInt(10)
)

func ratOf(v any) *big.Rat {
	switch x := v.(type) {
	case int:
		return new(big.Rat).SetInt64(int64(x))
	case Dec:
		r, ok := new(big.Rat).SetString(x.String())
		if !ok {
			panic(x.String())
		}
		return r
	}
	panic(fmt.Sprintf("%T is not a number", v))
}

// roundRat rounds r to places digits after the point (negative: tens...), ties to even.
func roundRat(r *big.Rat, places int) *big.Rat {
	unit := new(big.Rat).SetInt(new(big.Int).Exp(ten, big.NewInt(int64(abs(places))), nil))
	if places < 0 {
		unit.Inv(unit)
	}
	x := new(big.Rat).Mul(r, unit)
	q, m := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int)) // floor, 0 <= m < denom
	switch c := new(big.Int).Lsh(m, 1).Cmp(x.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return new(big.Rat).Quo(new(big.Rat).SetInt(q), unit)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// decimalOf is what a decimal can hold of r: r rounded to 19 digits (no
// more than 19 after the point), or false when its integer part needs more.
func decimalOf(r *big.Rat) (*big.Rat, bool) {
	whole := new(big.Int).Quo(new(big.Int).Abs(r.Num()), r.Denom())
	digits := 0
	if whole.Sign() > 0 {
		digits = len(whole.String())
	}
	if digits > 19 {
		return nil, false
	}
	out := roundRat(r, 19-digits)
	whole.Quo(new(big.Int).Abs(out.Num()), out.Denom())
	return out, whole.Cmp(maxCoef) <= 0
}

// reference computes a function plainly: a *big.Rat for a decimal result,
// and whether it fails.
func reference(name string, args []any) (any, bool) {
	num := func(i int) *big.Rat { return ratOf(args[i]) }
	dec := func(r *big.Rat) (any, bool) {
		v, ok := decimalOf(r)
		return v, !ok
	}
	switch name {
	case "_dec_add":
		return dec(new(big.Rat).Add(num(0), num(1)))
	case "_dec_sub":
		return dec(new(big.Rat).Sub(num(0), num(1)))
	case "_dec_mul":
		return dec(new(big.Rat).Mul(num(0), num(1)))
	case "_dec_div":
		if num(1).Sign() == 0 {
			return nil, true
		}
		return dec(new(big.Rat).Quo(num(0), num(1)))
	case "_dec_lt", "_dec_le", "_dec_gt", "_dec_ge", "_dec_eq", "_dec_ne":
		c := num(0).Cmp(num(1))
		return map[string]bool{"_dec_lt": c < 0, "_dec_le": c <= 0, "_dec_gt": c > 0, "_dec_ge": c >= 0,
			"_dec_eq": c == 0, "_dec_ne": c != 0}[name], false
	case "_dec_neg":
		return dec(new(big.Rat).Neg(num(0)))
	case "abs":
		return ofKind(args[0], new(big.Rat).Abs(num(0)))
	case "round":
		places := 0
		if len(args) > 1 {
			places = args[1].(int)
		}
		if places < -18 {
			return nil, true
		}
		return dec(roundRat(num(0), min(places, 19)))
	case "clamp":
		x := num(0)
		if x.Cmp(num(1)) < 0 {
			x = num(1)
		}
		if x.Cmp(num(2)) > 0 {
			x = num(2)
		}
		return ofKind(args[0], x)
	case "min", "max":
		a, b := num(0), num(1)
		if (a.Cmp(b) > 0) == (name == "min") {
			a = b
		}
		_, ints := args[1].(int)
		return ofKind(args[0], a, ints)
	case "decimal":
		return decimalRef(args[0])
	case "zip5":
		return zip5Ref(args[0].(string)), false
	case "_substr":
		return substrRef(args[0].(string), args[1].(int), args[2].(int)), false
	}
	panic("no reference for " + name)
}

// ofKind gives r as an int when the arguments are ints (an error when it
// does not fit), else as a decimal.
func ofKind(first any, r *big.Rat, alsoInt ...bool) (any, bool) {
	_, isInt := first.(int)
	for _, b := range alsoInt {
		isInt = isInt && b
	}
	if !isInt {
		v, ok := decimalOf(r)
		return v, !ok
	}
	if !r.IsInt() || !r.Num().IsInt64() {
		return nil, true
	}
	return int(r.Num().Int64()), false
}

// numeric is the syntax decimal.Parse takes (its documented grammar).
var numeric = regexp.MustCompile(`^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$`)

// parseRef reads a decimal string by that grammar: the value, false when
// it is not one or out of Parse's bounds (330 bytes, exponent within ±330).
func parseRef(s string) (*big.Rat, bool) {
	m := numeric.FindStringSubmatch(s)
	if m == nil || m[2]+m[3] == "" || len(s) > 330 {
		return nil, false
	}
	exp := 0
	if m[4] != "" {
		e, err := strconv.Atoi(m[4])
		if err != nil || e < -330 || e > 330 {
			return nil, false
		}
		exp = e
	}
	digits, _ := new(big.Int).SetString("0"+m[2]+m[3], 10)
	r := new(big.Rat).SetInt(digits)
	shift := new(big.Rat).SetInt(new(big.Int).Exp(ten, big.NewInt(int64(abs(exp-len(m[3])))), nil))
	if exp-len(m[3]) < 0 {
		r.Quo(r, shift)
	} else {
		r.Mul(r, shift)
	}
	if m[1] == "-" {
		r.Neg(r)
	}
	return r, true
}

func decimalRef(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		r, ok := parseRef(x)
		if !ok {
			return nil, true
		}
		v, ok := decimalOf(r)
		return v, !ok
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, true
		}
		r, _ := new(big.Rat).SetString(strconv.FormatFloat(x, 'f', -1, 64))
		v, ok := decimalOf(r)
		return v, !ok
	}
	v, ok := decimalOf(ratOf(v))
	return v, !ok
}

// zip5Ref is zip5 as a regular expression: five ASCII digits with no
// letter, digit or _ on either side.
var zip5Re = regexp.MustCompile(`(?:^|[^\p{L}\p{Nd}_])([0-9]{5})(?:[^\p{L}\p{Nd}_]|$)`)

func zip5Ref(s string) string {
	if m := zip5Re.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// substrRef is s[from:to] as Python slices: negative bounds count from
// the end, then both are clamped to the string, an empty result when
// from >= to.
func substrRef(s string, from, to int) string {
	n := len(s)
	bound := func(i int) int {
		if i < 0 {
			i = max(n+i, 0) // n+i cannot overflow: i < 0
		}
		return min(i, n)
	}
	f, e := bound(from), bound(to)
	if f >= e {
		return ""
	}
	return s[f:e]
}

// decArg makes a decimal argument: the coefficient (or the largest one, 19
// nines, of its sign when big) with scale digits after the point.
func decArg(coef int64, scale int, big bool) Dec {
	digits := strconv.FormatUint(uint64(abs64(coef)), 10)
	if big {
		digits = "9999999999999999999"
	}
	digits = strings.Repeat("0", max(scale+1-len(digits), 0)) + digits
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if coef < 0 {
		s = "-" + s
	}
	return decimal.MustParse(strings.TrimSuffix(s, "."))
}

// abs64 is |x| as an unsigned number (MinInt64 included).
func abs64(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

// callArgs makes the arguments of c's signature from fuzzed values.
func (c callCase) callArgs(xs [3]int64, scales uint16, bigs uint8, s string) []any {
	args := make([]any, len(c.sig.in))
	for i, t := range c.sig.in {
		switch t {
		case intType:
			args[i] = int(xs[i])
		case decType:
			args[i] = decArg(xs[i], int(scales>>(5*i)&31)%20, bigs>>i&1 == 1)
		case stringType:
			args[i] = s
		}
	}
	return args
}

var extremes = []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64}

// TestFunctionsAtExtremes checks every signature of every declared
// function on every combination of extreme ints, of decimals with 19
// digits at scales 0, 2 and 19, and of a few strings.
func TestFunctionsAtExtremes(t *testing.T) {
	for _, c := range callCases(t) {
		n := len(c.sig.in)
		combos := int(math.Pow(float64(len(extremes)), float64(n)))
		for k := range combos {
			var xs [3]int64
			for i, r := 0, k; i < n; i, r = i+1, r/len(extremes) {
				xs[i] = extremes[r%len(extremes)]
			}
			for _, sc := range []uint16{0, 2 | 2<<5 | 2<<10, 19 | 19<<5 | 19<<10, 19 | 0<<5 | 2<<10} {
				for _, bigs := range []uint8{0, 0b101, 0b111} {
					for _, s := range []string{"", "NY 16433", "é12345 54321", "12345678"} {
						c.check(t, c.callArgs(xs, sc, bigs, s))
					}
				}
			}
		}
	}
}

// TestDecimalOfFloat checks decimal's float form, which only a literal
// reaches (so no rule file can declare its argument), on expr's binding.
func TestDecimalOfFloat(t *testing.T) {
	f := functionNamed["decimal"]
	for _, x := range []float64{0, math.Copysign(0, -1), 1.5, -2.675, 1e-30, 1e18, 9.999999999999999e18, 1e19, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.NaN()} {
		got, err := f.vm(x)
		want, wantErr := decimalRef(x)
		if (err != nil) != wantErr || (err == nil && !same(got, want)) {
			t.Errorf("decimal(%v) = %v, %v; want %v (error: %v)", x, got, err, want, wantErr)
		}
	}
}

// FuzzFunctions checks a fuzzed call of a declared function (pick chooses
// the function and signature) on both paths against the reference.
func FuzzFunctions(f *testing.F) {
	cases := callCases(f)
	for i := range cases {
		f.Add(uint8(i), int64(math.MaxInt64), int64(-1), int64(math.MinInt64), uint16(19|2<<5), uint8(1), "7320 Harrison Haven, NY 16433")
		f.Add(uint8(i), int64(4217), int64(-2), int64(100), uint16(2|2<<5|2<<10), uint8(0), "12345 x")
	}
	f.Fuzz(func(t *testing.T, pick uint8, x, y, z int64, scales uint16, bigs uint8, s string) {
		c := cases[int(pick)%len(cases)]
		c.check(t, c.callArgs([3]int64{x, y, z}, scales, bigs, s))
	})
}

// TestFunctionBindingArguments pins what expr's binding of each function
// does with arguments whose types its checker could not know (a value out
// of a map, a null where lint cannot see it): ints widen to decimals, a
// null or another type fails with the words of before the declarations,
// and zip5 and slicing read them as empty.
func TestFunctionBindingArguments(t *testing.T) {
	d := dec
	tests := []struct {
		fn   string
		args []any
		want any    // the value, when no error
		err  string // the error, else ""
	}{
		{"abs", []any{-3}, 3, ""},
		{"abs", []any{d("-1.50")}, d("1.50"), ""},
		{"abs", []any{nil}, nil, "null value in arithmetic (use ?? to give a default)"},
		{"abs", []any{"x"}, nil, "string is not a number"},
		{"abs", []any{math.MinInt}, nil, "abs(-9223372036854775808) does not fit in an int"},
		{"round", []any{7}, d("7"), ""},
		{"round", []any{d("2.5")}, d("2"), ""},
		{"round", []any{d("2.5"), nil}, nil, "interface conversion: interface {} is nil, not int"},
		{"round", []any{d("2.5"), 1, 2}, nil, "want 1 or 2 arguments, got 3"},
		{"clamp", []any{5, 1, 3}, 3, ""},
		{"clamp", []any{d("0.5"), 1, d("2")}, d("1"), ""},
		{"clamp", []any{nil, 1, 2}, nil, "null value in arithmetic (use ?? to give a default)"},
		{"clamp", []any{d("1"), nil, 2}, nil, "null value in arithmetic (use ?? to give a default)"},
		{"min", []any{1, 2}, 1, ""},
		{"min", []any{1, d("0.5")}, d("0.5"), ""},
		{"max", []any{nil, 1}, nil, "null value in arithmetic (use ?? to give a default)"},
		{"max", []any{1, 2, 3}, nil, "want 2 arguments, got 3"},
		{"_dec_add", []any{1, 2}, d("3"), ""},
		{"_dec_add", []any{"a", 1}, nil, "string is not a number"},
		{"_dec_div", []any{d("1"), 0}, nil, "division by zero"},
		{"_dec_lt", []any{1, d("1.5")}, true, ""},
		{"_dec_neg", []any{4}, d("-4"), ""},
		{"decimal", []any{"1.20"}, d("1.20"), ""},
		{"decimal", []any{2}, d("2"), ""},
		{"decimal", []any{nil}, nil, "null value in arithmetic (use ?? to give a default)"},
		{"decimal", []any{true}, nil, "bool is not a number"},
		{"zip5", []any{nil}, "", ""},
		{"zip5", []any{"NY 16433"}, "16433", ""},
		{"_substr", []any{nil, 0, 1}, "", ""},
		{"_substr", []any{"abc", nil, 2}, "ab", ""},
	}
	for _, tt := range tests {
		got, err := functionNamed[tt.fn].vm(tt.args...)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != tt.err {
			t.Errorf("%s%v: error %q, want %q", tt.fn, tt.args, msg, tt.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s%v = %#v, want %#v", tt.fn, tt.args, got, tt.want)
		}
	}
}
