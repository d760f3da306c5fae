package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"pipeline/engine/schema"
)

// TestTableDenseAndSparseKeys exercises the dense index of int keys: keys
// out of order within a range, keys past either end that grow it, and keys
// so far apart that the table falls back to a map, at the ends of int's range too.
func TestTableDenseAndSparseKeys(t *testing.T) {
	batches := [][]int{
		{10, 11, 12},
		{5, 20, 7},              // out of order: dense index over 10..12, grown both ways
		{1000, -300, 13},        // still dense enough
		{6, 1000},               // replacements
		{math.MaxInt, 14},       // far too sparse: a map from here on
		{math.MinInt, 15, 4, 4}, // and the other end
	}
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	want := map[any]schema.Row{}
	for b, keys := range batches {
		rows := make([]schema.Row, len(keys))
		for i, k := range keys {
			rows[i] = schema.Row{k, fmt.Sprint(b, "/", i)}
			want[k] = rows[i]
		}
		if err := tb.Upsert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		checkTable(t, tb, want)
	}
	// Keys at the ends of int's range from the start of a dense index.
	for _, keys := range [][]int{{math.MaxInt - 1, math.MaxInt - 3, math.MaxInt}, {math.MinInt + 2, math.MinInt, math.MinInt + 1}} {
		tb := openTable(t, New(), itemSchema(fmt.Sprint("ends", keys[0]), schema.IntType))
		want := map[any]schema.Row{}
		for _, k := range keys {
			r := schema.Row{k, "x"}
			want[k] = r
			if err := tb.Upsert(ctx, []schema.Row{r}); err != nil {
				t.Fatal(err)
			}
		}
		checkTable(t, tb, want)
	}
}

func TestTableDenseRandom(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[any]schema.Row{}
	for b := range 50 {
		rows := make([]schema.Row, 100)
		for i := range rows {
			k := 5000 - rng.IntN(10000) + b*300
			rows[i] = schema.Row{k, fmt.Sprint(b, "/", i)}
			want[k] = rows[i]
		}
		if err := tb.Upsert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if b%7 == 0 {
			checkTable(t, tb, want)
		}
	}
	checkTable(t, tb, want)
}

func TestTableScanBatches(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	var rows []schema.Row
	for _, k := range rand.New(rand.NewPCG(5, 6)).Perm(2500) {
		rows = append(rows, schema.Row{k, fmt.Sprint(k)})
	}
	if err := tb.Upsert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var got []schema.Row
	calls := 0
	if err := tb.ScanBatches(ctx, 1000, func(b []schema.Row) error {
		calls++
		if len(b) > 1000 {
			t.Fatalf("batch of %d rows, want at most 1000", len(b))
		}
		got = append(got, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := scanAll(t, tb)
	if calls != 3 || len(got) != len(want) {
		t.Fatalf("%d calls, %d rows; want 3 calls, %d rows", calls, len(got), len(want))
	}
	for i := range got {
		if got[i][0] != want[i][0] {
			t.Fatalf("row %d has key %v, Scan gives %v", i, got[i][0], want[i][0])
		}
	}
	stop := fmt.Errorf("stop")
	if err := tb.ScanBatches(ctx, 0, func([]schema.Row) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ScanBatches = %v, want the error of fn", err)
	}
}

// TestTableAscendingIntKeys: keys that ascend, with and without gaps, at
// the ends of int's range too, are found while the table needs no index.
func TestTableAscendingIntKeys(t *testing.T) {
	for _, keys := range [][]int{
		{1, 2, 3, 4, 5},
		{3, 4, 10, 11, 12, 40},
		{-5, -4, 0, 7},
		{math.MinInt, -1, 0, math.MaxInt},
		{math.MaxInt - 2, math.MaxInt},
	} {
		ctx := context.Background()
		tb := openTable(t, New(), itemSchema("items", schema.IntType))
		want := map[any]schema.Row{}
		rows := make([]schema.Row, len(keys))
		for i, k := range keys {
			rows[i] = schema.Row{k, fmt.Sprint(k)}
			want[k] = rows[i]
		}
		if err := tb.Upsert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if !tb.ascending {
			t.Fatalf("%v: the table left key order", keys)
		}
		checkTable(t, tb, want)
		probe := []any{keys[0] + 1, keys[len(keys)-1] - 1, 2, 6, -3, math.MinInt + 1, math.MaxInt - 1}
		got, err := tb.Get(ctx, probe)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range probe {
			if w, ok := want[k]; (got[i] == nil) == ok || (ok && got[i][1] != w[1]) {
				t.Errorf("%v: Get(%v) = %v, want %v", keys, k, got[i], w)
			}
		}
	}
}

// TestTableDenseDescending grows a dense index downwards batch after batch,
// then upwards, checking every key after each batch.
func TestTableDenseDescending(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	want := map[any]schema.Row{}
	put := func(keys ...int) {
		rows := make([]schema.Row, len(keys))
		for i, k := range keys {
			rows[i] = schema.Row{k, fmt.Sprint("v", k, "/", i)}
			want[k] = rows[i]
		}
		if err := tb.Upsert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	put(100, 101)
	for k := 99; k > -3000; k -= 7 {
		put(k, k-1, k-3)
		if k%91 == 0 {
			checkTable(t, tb, want)
		}
	}
	for k := 102; k < 5000; k += 13 {
		put(k)
	}
	checkTable(t, tb, want)
	if _, ok := tb.index.(*denseIndex); !ok {
		t.Fatalf("index is a %T, want the dense index for keys this close", tb.index)
	}
}
