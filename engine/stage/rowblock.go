package stage

import "pipeline/engine/schema"

// rowBlock cuts rows from blocks of values: many rows, one allocation, and
// the rows of a block side by side in memory. A block lives as long as any
// of its rows, so it suits rows that live and die together: the rows a
// stream stage caches (dropped together), the rows a batch step keeps for
// its pass.
type rowBlock struct{ free []any }

// rowBlockValues is how many values a block holds (a 9-column row: 455 rows).
const rowBlockValues = 4096

// row returns an empty row of n values. Its capacity is n, so appending to
// it never writes into the next row.
func (b *rowBlock) row(n int) schema.Row {
	if len(b.free) < n {
		b.free = make([]any, max(n, rowBlockValues))
	}
	r := schema.Row(b.free[:n:n])
	b.free = b.free[n:]
	return r
}

// clone returns a copy of r cut from the block, as r.Clone() does.
func (b *rowBlock) clone(r schema.Row) schema.Row {
	if r == nil {
		return nil
	}
	c := b.row(len(r))
	copy(c, r)
	return c
}
