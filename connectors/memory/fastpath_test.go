package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// aggregateReference is Aggregate written plainly: every row of a Scan, one
// map of boxed keys, the folds as port.Aggregator defines them. The fast
// Aggregate must answer exactly as it does.
func aggregateReference(t *testing.T, tb *Table, by string, where port.ColumnValue, folds []port.Fold) map[any][]any {
	t.Helper()
	s := tb.Schema()
	bi, wi := s.Index(by), s.Index(where.Column)
	out := map[any][]any{}
	for _, r := range scanAll(t, tb) {
		if where.Column != "" && (r[wi] == nil || schema.Compare(r[wi], where.Value) != 0) {
			continue
		}
		vals, ok := out[r[bi]]
		if !ok {
			vals = make([]any, len(folds))
			out[r[bi]] = vals
		}
		for j, f := range folds {
			if f.Func == "count" {
				n, _ := vals[j].(int)
				vals[j] = n + 1
				continue
			}
			var x decimal.Decimal
			switch v := r[s.Index(f.Column)].(type) {
			case decimal.Decimal:
				x = v
			case int:
				x = decimal.MustNew(int64(v), 0)
			default:
				continue
			}
			cur, seen := vals[j].(decimal.Decimal)
			switch {
			case f.Func == "sum" && !seen:
				vals[j], _ = (decimal.Decimal{}).Add(x)
			case f.Func == "sum":
				vals[j], _ = cur.Add(x)
			case !seen || (f.Func == "min" && x.Cmp(cur) < 0) || (f.Func == "max" && x.Cmp(cur) > 0):
				vals[j] = x
			}
		}
	}
	return out
}

// ledgerRows returns n random rows of ledgerSchema in random key order,
// spread over accounts accounts, with nulls, several scales and ties.
func ledgerRows(rnd *rand.Rand, n, accounts int) []schema.Row {
	states := []any{"open", "done", nil}
	rows := make([]schema.Row, n)
	for i, id := range rnd.Perm(n) {
		var amount any
		if rnd.IntN(5) > 0 {
			amount = decimal.MustNew(int64(rnd.IntN(2001)-1000), 2)
		}
		rows[i] = schema.Row{id + 1, rnd.IntN(accounts), amount, rnd.IntN(7) - 3, states[rnd.IntN(len(states))]}
	}
	return rows
}

func TestAggregateMatchesReference(t *testing.T) {
	ctx := context.Background()
	folds := []port.Fold{{Func: "sum", Column: "amount"}, {Func: "min", Column: "amount"}, {Func: "max", Column: "amount"},
		{Func: "count"}, {Func: "sum", Column: "units"}, {Func: "max", Column: "units"}}
	for _, tc := range []struct {
		name        string
		n, accounts int
		by          string
		where       port.ColumnValue
	}{
		{"int groups, every row", 3000, 200, "account", port.ColumnValue{}},
		{"int groups, where", 3000, 200, "account", port.ColumnValue{Column: "state", Value: "open"}},
		{"one group per row", 1000, 100000, "account", port.ColumnValue{Column: "state", Value: "done"}},
		{"string groups with nulls", 2000, 50, "state", port.ColumnValue{}},
		{"no row matches", 500, 10, "account", port.ColumnValue{Column: "state", Value: "gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.accounts)))
			tb := openTable(t, New(), ledgerSchema())
			if err := tb.Upsert(ctx, ledgerRows(rnd, tc.n, tc.accounts)); err != nil {
				t.Fatal(err)
			}
			got, err := tb.Aggregate(ctx, tc.by, tc.where, folds)
			if err != nil {
				t.Fatal(err)
			}
			want := aggregateReference(t, tb, tc.by, tc.where, folds)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Aggregate gave %d groups, the reference %d; they differ", len(got), len(want))
			}
		})
	}
}

// TestAggregateFastPath checks that grouping by an int column takes the
// path that boxes nothing but the results: about one allocation per group
// (its sum; the count is a small int, the key the row's own), where one map
// entry and four slices per group were allocated before.
func TestAggregateFastPath(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), ledgerSchema())
	const groups = 2000
	if err := tb.Upsert(ctx, ledgerRows(rand.New(rand.NewPCG(1, 2)), 20000, groups)); err != nil {
		t.Fatal(err)
	}
	folds := []port.Fold{{Func: "sum", Column: "units"}, {Func: "count"}}
	if g := newGroups(aggQuery{}, true); g.ints == nil {
		t.Fatal("groups by an int column have no int map")
	}
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := tb.Aggregate(ctx, "account", port.ColumnValue{}, folds); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1.2*groups {
		t.Fatalf("Aggregate of %d groups made %.0f allocations, want at most %d", groups, allocs, 12*groups/10)
	}
}

// TestSnapshotShared checks that snapshots taken with no write between
// share one list of rows (the fast path), and that every kind of write
// leaves earlier snapshots as they were and shows in the next one, which
// equals the rows sorted afresh (the reference).
func TestSnapshotShared(t *testing.T) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, kind := range []string{"ascending", "dense", "sparse"} {
		t.Run(kind, func(t *testing.T) {
			tb := openTable(t, New(), ledgerSchema())
			rows := ledgerRows(rnd, 5000, 30)
			switch kind {
			case "ascending":
				for i := range rows {
					rows[i][0] = i + 1
				}
			case "sparse":
				for i := range rows {
					rows[i][0] = rows[i][0].(int) * 1000003
				}
			}
			for step := 0; step < 6; step++ {
				lo := step * len(rows) / 6
				if err := tb.Upsert(ctx, rows[lo:lo+len(rows)/6]); err != nil {
					t.Fatal(err)
				}
				a, b := tb.snapshot(), tb.snapshot()
				if &a[0] != &b[0] {
					t.Fatal("two snapshots with no write between are copies")
				}
				tb.mu.Lock()
				tb.sortOrder()
				fresh := tb.copyOrdered()
				tb.mu.Unlock()
				if !reflect.DeepEqual(a, fresh) {
					t.Fatalf("step %d: the kept snapshot differs from the rows sorted afresh", step)
				}
				before := append([]schema.Row(nil), a...)
				if _, err := tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "units", Value: step}}, port.ColumnValue{Column: "state", Value: "open"}); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, before) {
					t.Fatal("UpdateWhere changed a snapshot taken before it")
				}
				for _, r := range tb.snapshot() {
					if r[4] == "open" && r[3] != step {
						t.Fatalf("step %d: the snapshot after UpdateWhere holds %v", step, r)
					}
				}
			}
			if err := tb.Truncate(ctx); err != nil {
				t.Fatal(err)
			}
			if n := len(tb.snapshot()); n != 0 {
				t.Fatalf("the snapshot after Truncate holds %d rows", n)
			}
		})
	}
}

func BenchmarkAggregate(b *testing.B) {
	ctx := context.Background()
	for _, groups := range []int{2000, 60000} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			tb := openTable(b, New(), ledgerSchema())
			if err := tb.Upsert(ctx, ledgerRows(rand.New(rand.NewPCG(5, 6)), 200000, groups)); err != nil {
				b.Fatal(err)
			}
			folds := []port.Fold{{Func: "sum", Column: "amount"}}
			where := port.ColumnValue{Column: "state", Value: "open"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tb.Aggregate(ctx, "account", where, folds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	tb := openTable(b, New(), ledgerSchema())
	if err := tb.Upsert(ctx, ledgerRows(rand.New(rand.NewPCG(7, 8)), 1000000, 2000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUpdateWhereOneBlock checks that an update of many rows allocates its
// copies in one block and nothing per row (the fast path), and changes what
// a plain loop over the rows would (the reference).
func TestUpdateWhereOneBlock(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), ledgerSchema())
	rows := ledgerRows(rand.New(rand.NewPCG(9, 10)), 5000, 40)
	if err := tb.Upsert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	want := map[int]schema.Row{}
	for _, r := range rows {
		c := r.Clone()
		if c[4] == "done" {
			c[3] = 7
		}
		want[c[0].(int)] = c
	}
	var n int64
	allocs := testing.AllocsPerRun(1, func() {
		var err error
		// The same rows match every run (AllocsPerRun runs it twice).
		n, err = tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "units", Value: 7}}, port.ColumnValue{Column: "state", Value: "done"})
		if err != nil {
			t.Fatal(err)
		}
	})
	if n < 1000 || allocs > 2 {
		t.Errorf("UpdateWhere of %d rows made %.0f allocations, want at most 2 (the block of copies)", n, allocs)
	}
	for _, r := range scanAll(t, tb) {
		if !reflect.DeepEqual(r, want[r[0].(int)]) {
			t.Fatalf("row %v, want %v", r, want[r[0].(int)])
		}
	}
}

func BenchmarkUpdateWhere(b *testing.B) {
	ctx := context.Background()
	tb := openTable(b, New(), ledgerSchema())
	if err := tb.Upsert(ctx, ledgerRows(rand.New(rand.NewPCG(11, 12)), 300000, 2000)); err != nil {
		b.Fatal(err)
	}
	set := []port.ColumnValue{{Column: "units", Value: 1}}
	where := port.ColumnValue{Column: "state", Value: "open"} // a third of the rows
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.UpdateWhere(ctx, set, where); err != nil {
			b.Fatal(err)
		}
	}
}
