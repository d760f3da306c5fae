package memory

import (
	"context"
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
