package rules

import (
	"math"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/yamldoc"
)

// TestMinMaxAtExtremes checks min and max against plain Go at the ends of
// int and decimal ranges, on the fast path and through expr's VM alike
// (a difference used to overflow: max(9223372036854775807, -1) was -1).
func TestMinMaxAtExtremes(t *testing.T) {
	src := []byte(`ruleset: minmax
inputs:
  a: int
  b: int
  p: decimal
  q: decimal
outputs: {hi: int, lo: int, dhi: decimal, dlo: decimal}
default:
  outcome: ok
  set:
    hi: max(a, b)
    lo: min(a, b)
    dhi: max(p, q)
    dlo: min(p, q)
`)
	file, err := yamldoc.Parse("minmax.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fast.fast == nil {
		t.Fatal("min/max ruleset is not on the fast path")
	}
	slow, err := Compile(file)
	if err != nil {
		t.Fatal(err)
	}
	vmOnly(slow)
	ints := []int{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	decs := []decimal.Decimal{
		decimal.MustNew(math.MinInt64, 0), decimal.MustNew(-1, 19), decimal.Zero,
		decimal.MustNew(1, 19), decimal.MustNew(math.MaxInt64, 0), decimal.MustNew(math.MaxInt64, 2),
	}
	for name, rs := range map[string]*Ruleset{"fast": fast, "vm": slow} {
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range ints {
			for j, b := range ints {
				p, q := decs[i%len(decs)], decs[j%len(decs)]
				if _, err := e.Eval([]any{a, b, p, q}); err != nil {
					t.Fatalf("%s: max/min(%d, %d): %v", name, a, b, err)
				}
				wantHi, wantLo := max(a, b), min(a, b)
				wantDhi, wantDlo := p, q
				if p.Cmp(q) < 0 {
					wantDhi, wantDlo = q, p
				}
				if got := e.Output(0); got != wantHi {
					t.Errorf("%s: max(%d, %d) = %v, want %d", name, a, b, got, wantHi)
				}
				if got := e.Output(1); got != wantLo {
					t.Errorf("%s: min(%d, %d) = %v, want %d", name, a, b, got, wantLo)
				}
				if got, ok := e.Output(2).(decimal.Decimal); !ok || got.Cmp(wantDhi) != 0 {
					t.Errorf("%s: max(%s, %s) = %v, want %s", name, p, q, e.Output(2), wantDhi)
				}
				if got, ok := e.Output(3).(decimal.Decimal); !ok || got.Cmp(wantDlo) != 0 {
					t.Errorf("%s: min(%s, %s) = %v, want %s", name, p, q, e.Output(3), wantDlo)
				}
			}
		}
	}
}
