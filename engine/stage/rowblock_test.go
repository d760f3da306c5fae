package stage

import (
	"testing"

	"pipeline/engine/schema"
)

// TestRowBlock checks that rows cut from a block are what Clone gives (the
// reference) and stay apart, and that the block is the fast path it is for:
// a few allocations for a thousand rows instead of one per row.
func TestRowBlock(t *testing.T) {
	src := make([]schema.Row, 1000)
	for i := range src {
		src[i] = schema.Row{i, "x", nil, i * 2, int64(i)}[:1+i%5]
	}
	var b rowBlock
	got := make([]schema.Row, len(src))
	for i, r := range src {
		got[i] = b.clone(r)
	}
	for i, r := range got {
		want := src[i].Clone()
		if len(r) != len(want) || cap(r) != len(want) {
			t.Fatalf("row %d has len %d cap %d, want %d", i, len(r), cap(r), len(want))
		}
		for j := range r {
			if r[j] != want[j] {
				t.Fatalf("row %d = %v, want %v", i, r, want)
			}
		}
	}
	// An append to one row must not reach the next, nor a write the source.
	_ = append(got[0], "spill")
	got[2][0] = "changed"
	if got[1][0] != 1 || src[2][0] != 2 {
		t.Fatalf("rows of one block share values: %v, %v", got[1], src[2])
	}
	if b.clone(nil) != nil {
		t.Fatal("clone(nil) is not nil")
	}
	if n := len(b.row(rowBlockValues + 1)); n != rowBlockValues+1 {
		t.Fatalf("a row wider than a block has %d values", n)
	}
	allocs := testing.AllocsPerRun(5, func() {
		var b rowBlock
		for _, r := range src {
			b.clone(r)
		}
	})
	if allocs > 3 {
		t.Fatalf("1000 rows took %.0f allocations, want at most 3", allocs)
	}
}
