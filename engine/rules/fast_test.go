package rules

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// vmOnly removes the fast path from rs, so that every expression runs
// through expr's VM as before the closures existed.
func vmOnly(rs *Ruleset) {
	rs.fast = nil
	clear := func(sets []assign) {
		for i := range sets {
			sets[i].fast, sets[i].fastLets = nil, nil
		}
	}
	for _, r := range rs.rules {
		r.reason.fast = nil
		clear(r.sets)
	}
	clear(rs.then)
}

// randomValue gives a value for a field of type t: usually of its type,
// sometimes null (even where the type says not null) or of another type,
// so that the fast path's fallbacks are exercised too.
func randomValue(r *rand.Rand, t schema.Type) any {
	switch r.IntN(20) {
	case 0:
		return nil
	case 1:
		return "oops"
	}
	switch t.Kind {
	case schema.Decimal:
		if r.IntN(8) == 0 {
			return r.IntN(2000) - 1000
		}
		scale := r.IntN(4)
		d, err := decimal.New(int64(r.IntN(4_000_000)-1_000_000), scale)
		if err != nil {
			panic(err)
		}
		if r.IntN(10) == 0 {
			return decimal.Zero
		}
		return d
	case schema.Int:
		return r.IntN(1000) - 100
	case schema.String:
		pool := []string{"", "purchase", "refund", "cancellation", "online", "Suite 123456, Miami, FL",
			"7320 Harrison Haven, New York, NY 16433", "5 Elm St, Miami, FL 33101", "1 Main St, Albany, NY 12207",
			"6049 Hill Heights, Ithaca, NY 15246", "x 99999", "é12345 12345"}
		return pool[r.IntN(len(pool))]
	case schema.Bool:
		return r.IntN(2) == 0
	}
	return nil
}

// TestFastMatchesVM evaluates the shipped rulesets on random records through
// the fast path and through the VM alone: decisions, written fields,
// outputs and errors must be the same.
func TestFastMatchesVM(t *testing.T) {
	paths, err := filepath.Glob("../../rules/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := filepath.Glob("../../rules/legacy/*.yaml")
	paths = append(paths, legacy...)
	if len(paths) == 0 {
		t.Fatal("no rule files")
	}
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			fast, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if fast.fast == nil {
				t.Fatalf("%s has no fast path", path)
			}
			vmOnly(slow)
			ef, err := fast.NewEvaluator(nil)
			if err != nil {
				t.Fatal(err)
			}
			es, err := slow.NewEvaluator(nil)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(len(path))))
			for n := range 20000 {
				vf := make([]any, len(fast.Inputs))
				vs := make([]any, len(fast.Inputs))
				for i, in := range fast.Inputs {
					if !in.Record {
						v := randomValue(r, in.Type)
						vf[i], vs[i] = v, v
						continue
					}
					rf := make(schema.Row, len(in.Fields))
					for j, f := range in.Fields {
						rf[j] = randomValue(r, f.Type)
					}
					vf[i], vs[i] = rf, append(schema.Row(nil), rf...)
				}
				df, errF := ef.Eval(vf)
				ds, errS := es.Eval(vs)
				where := fmt.Sprintf("record %d %v", n, vs)
				if fmt.Sprint(errF) != fmt.Sprint(errS) {
					t.Fatalf("%s: fast error %v, VM error %v", where, errF, errS)
				}
				if df != ds {
					t.Fatalf("%s: fast %+v, VM %+v", where, df, ds)
				}
				if !reflect.DeepEqual(vf, vs) {
					t.Fatalf("%s: fast wrote %v, VM wrote %v", where, vf, vs)
				}
				for i := range fast.Outputs {
					if !reflect.DeepEqual(ef.Output(i), es.Output(i)) {
						t.Fatalf("%s: output %s: fast %v, VM %v", where, fast.Outputs[i].Name, ef.Output(i), es.Output(i))
					}
				}
			}
		})
	}
}

// TestFastValidationAllocs pins the allocations of the common case: a
// pending record allocates only the new pending balance it stores.
func TestFastValidationAllocs(t *testing.T) {
	rs, err := Load("../../rules/validation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	card := schema.Row{dec("1000000.00"), dec("8.36"), nil}
	in := []any{schema.Row{dec("42.17"), "purchase", "6049 Hill Heights, Ithaca, NY 15246"}, card,
		schema.Row{"7320 Harrison Haven, New York, NY 16433"}}
	allocs := testing.AllocsPerRun(100, func() {
		card[2] = nil
		if _, err := e.Eval(in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("a pending record allocates %v times, want at most 1", allocs)
	}
}

// FuzzFastMatchesVM compiles a fuzzed condition and assignment twice, one
// ruleset with the fast path and one through the VM alone, and evaluates
// both on records with fuzzed values: decisions, errors and written fields
// must be the same.
func FuzzFastMatchesVM(f *testing.F) {
	for _, s := range [][2]string{
		{"abs(tx.amount) >= 0.5 * card.limit", "card.pending + tx.amount"},
		{"zip5(tx.loc) != zip5(tx.loc2) and tx.kind in ['purchase', 'refund']", "round(tx.amount * 1.5, 2)"},
		{"(card.pending ?? 0) + tx.amount > card.limit", "clamp(tx.amount, 0, card.limit)"},
		{"tx.n % 7 == 3 or tx.loc[0:2] == 'NY'", "max(tx.amount, card.limit) - min(tx.amount, 1)"},
		{"tx.amount / (card.limit - 100) > 2", "tx.n > 3 ? tx.amount : -tx.amount"},
		{"not (tx.amount < 0) && len(tx.loc) > 3", "decimal(tx.n) * 0.01"},
		// Through the VM and its budget (budget.go) on both sides.
		{"len(tx.loc + tx.loc2) > 10 or upper(tx.kind) == 'PURCHASE'", "card.pending ?? tx.amount"},
		{"len(reduce(1..tx.n, #acc + #acc, tx.loc)) > 5", "sum(1..tx.n, sum(1..tx.n, 1)) > 3 ? tx.amount : card.limit"},
	} {
		f.Add(s[0], s[1], int64(4217), int64(100000), "7320 Harrison Haven, New York, NY 16433", 3)
	}
	// Over the budget: 2^40 bytes, then 160,400 steps.
	f.Add("len(reduce(1..tx.n, #acc + #acc, tx.loc)) > 5", "tx.amount", int64(1), int64(2), "x", 40)
	f.Add("tx.amount > 0", "sum(1..tx.n, sum(1..tx.n, 1)) > 3 ? tx.amount : card.limit", int64(1), int64(2), "x", 400)
	f.Fuzz(func(t *testing.T, when, set string, amount, limit int64, loc string, n int) {
		src := fmt.Sprintf(`ruleset: f
inputs:
  tx: {amount: money, loc: string, loc2: string, kind: string, n: int}
  card: {limit: money, pending: "money?"}
rules:
  - {id: r, when: %q, outcome: x, set: {card.pending: %q}}
default: {outcome: y}
`, when, set)
		file, err := yamldoc.Parse("f.yaml", []byte(src))
		if err != nil {
			return
		}
		fast, err := Compile(file)
		if err != nil {
			return
		}
		slow, err := Compile(file)
		if err != nil {
			t.Fatalf("compiles once, not twice: %v", err)
		}
		vmOnly(slow)
		ef, err := fast.NewEvaluator(nil)
		if err != nil {
			return
		}
		es, err := slow.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		amt, lim := decimal.MustNew(amount%1e15, 2), decimal.MustNew(limit%1e15, 2)
		for _, pending := range []any{nil, decimal.MustNew(amount%1e13, 2)} {
			vf := []any{schema.Row{amt, loc, "5 Elm St, Miami, FL 33101", "purchase", n}, schema.Row{lim, pending}}
			vs := []any{schema.Row{amt, loc, "5 Elm St, Miami, FL 33101", "purchase", n}, schema.Row{lim, pending}}
			df, errF := ef.Eval(vf)
			ds, errS := es.Eval(vs)
			if fmt.Sprint(errF) != fmt.Sprint(errS) {
				t.Fatalf("when %q set %q on %v: fast error %v, VM error %v", when, set, vs, errF, errS)
			}
			if df != ds || !reflect.DeepEqual(vf, vs) {
				t.Fatalf("when %q set %q: fast %+v wrote %v, VM %+v wrote %v", when, set, df, vf, ds, vs)
			}
		}
	})
}
