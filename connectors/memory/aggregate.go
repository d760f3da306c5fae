package memory

import (
	"context"
	"fmt"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

var _ port.Aggregator = (*Table)(nil)

// Aggregate groups the rows whose column where.Column equals where.Value
// (every row when where.Column is "") by the column by, and folds each
// group as port.Aggregator says: sum, min and max of a decimal or int
// column give a decimal.Decimal (null when the group holds only nulls),
// count gives the number of rows. Rows are folded in key order.
func (t *Table) Aggregate(ctx context.Context, by string, where port.ColumnValue, folds []port.Fold) (map[any][]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory table %s: aggregate: %w", t.schema.Name, err)
	}
	q, err := t.aggregateQuery(by, where, folds)
	if err != nil {
		return nil, fmt.Errorf("memory table %s: aggregate: %w", t.schema.Name, err)
	}
	g := newGroups(q, t.schema.Columns[q.by].Type.Kind == schema.Int)
	for i, r := range t.snapshot() {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("memory table %s: aggregate: %w", t.schema.Name, err)
			}
		}
		if q.where >= 0 && (r[q.where] == nil || where.Value == nil || schema.Compare(r[q.where], where.Value) != 0) {
			continue
		}
		if err := g.fold(r); err != nil {
			return nil, fmt.Errorf("memory table %s: aggregate: %w", t.schema.Name, err)
		}
	}
	return g.result(), nil
}

// aggQuery is an aggregate's columns, checked against the table's schema.
type aggQuery struct {
	byName string
	by     int // the column grouped by
	where  int // the column compared, or -1 for every row
	folds  []port.Fold
	cols   []int // per fold, the column folded, or -1 for count
}

// aggregateQuery checks an aggregate's columns and functions.
func (t *Table) aggregateQuery(by string, where port.ColumnValue, folds []port.Fold) (aggQuery, error) {
	q := aggQuery{byName: by, by: t.schema.Index(by), where: -1, folds: folds, cols: make([]int, len(folds))}
	if q.by < 0 {
		return q, fmt.Errorf("no column %q", by)
	}
	if where.Column != "" {
		if q.where = t.schema.Index(where.Column); q.where < 0 {
			return q, fmt.Errorf("no column %q", where.Column)
		}
	}
	for i, f := range folds {
		q.cols[i] = -1
		switch f.Func {
		case "count":
		case "sum", "min", "max":
			c := t.schema.Index(f.Column)
			if c < 0 {
				return q, fmt.Errorf("no column %q", f.Column)
			}
			if k := t.schema.Columns[c].Type.Kind; k != schema.Decimal && k != schema.Int {
				return q, fmt.Errorf("%s(%s): column is %s, not a number", f.Func, f.Column, t.schema.Columns[c].Type)
			}
			q.cols[i] = c
		default:
			return q, fmt.Errorf("unknown function %q", f.Func)
		}
	}
	return q, nil
}

// groups folds rows into groups. Groups are numbered in the order their
// first row came; their values are kept unboxed in flat slices (group g,
// fold j at g*len(folds)+j) and boxed once, in result. Int keys, the common
// case (rows grouped by an id), are found in a map keyed by int, which
// hashes no interface; other keys in a map keyed by the value as stored.
type groups struct {
	q    aggQuery
	keys []any             // per group, its key as stored in the rows
	ints map[int]int32     // group of each int key, when the column is an int column
	anys map[any]int32     // group of every other key
	dec  []decimal.Decimal // the sum, min or max so far
	n    []int             // the count so far
	seen []bool            // whether a non-null value was folded
}

// newGroups returns empty groups for q; intKeys says the column grouped by is an int column.
func newGroups(q aggQuery, intKeys bool) *groups {
	g := &groups{q: q, anys: map[any]int32{}}
	if intKeys {
		g.ints = map[int]int32{}
	}
	return g
}

// group returns the number of key's group, adding the group if it is new.
func (g *groups) group(key any) int {
	if x, ok := key.(int); ok && g.ints != nil {
		if i, ok := g.ints[x]; ok {
			return int(i)
		}
		g.ints[x] = int32(len(g.keys))
	} else {
		if i, ok := g.anys[key]; ok {
			return int(i)
		}
		g.anys[key] = int32(len(g.keys))
	}
	g.keys = append(g.keys, key)
	nf := len(g.q.folds)
	g.dec = append(g.dec, make([]decimal.Decimal, nf)...)
	g.n = append(g.n, make([]int, nf)...)
	g.seen = append(g.seen, make([]bool, nf)...)
	return len(g.keys) - 1
}

// fold folds row r into its group.
func (g *groups) fold(r schema.Row) error {
	key := r[g.q.by]
	at := g.group(key) * len(g.q.folds)
	for j, f := range g.q.folds {
		if f.Func == "count" {
			g.n[at+j]++
			continue
		}
		var x decimal.Decimal
		switch v := r[g.q.cols[j]].(type) {
		case decimal.Decimal:
			x = v
		case int:
			d, err := decimal.New(int64(v), 0)
			if err != nil {
				return fmt.Errorf("%s(%s): %w", f.Func, f.Column, err)
			}
			x = d
		default:
			continue // null: ignored, as SQL aggregates do
		}
		if err := g.add(at+j, f, x); err != nil {
			return fmt.Errorf("sum(%s) for %s = %s: %w", f.Column, g.q.byName, valueText(key), err)
		}
	}
	return nil
}

// add folds x into the value at i of fold f, a sum, min or max.
func (g *groups) add(i int, f port.Fold, x decimal.Decimal) error {
	if !g.seen[i] {
		g.seen[i] = true
		if f.Func == "sum" {
			// A sum starts at 0, as the stage's own fold does: its scale is never below 0.
			var err error
			if x, err = (decimal.Decimal{}).Add(x); err != nil {
				return err
			}
		}
		g.dec[i] = x
		return nil
	}
	cur := g.dec[i]
	switch {
	case f.Func == "sum":
		s, err := cur.Add(x)
		if err != nil {
			return err
		}
		g.dec[i] = s
	case (f.Func == "min" && x.Cmp(cur) < 0) || (f.Func == "max" && x.Cmp(cur) > 0):
		g.dec[i] = x
	}
	return nil
}

// result boxes the groups' values, by key: every group's values cut from one block.
func (g *groups) result() map[any][]any {
	nf := len(g.q.folds)
	out := make(map[any][]any, len(g.keys))
	block := make([]any, len(g.keys)*nf)
	for k, key := range g.keys {
		vals := block[k*nf : (k+1)*nf : (k+1)*nf]
		for j, f := range g.q.folds {
			switch i := k*nf + j; {
			case f.Func == "count":
				if g.n[i] > 0 {
					vals[j] = g.n[i]
				}
			case g.seen[i]:
				vals[j] = g.dec[i]
			}
		}
		out[key] = vals
	}
	return out
}

// valueText formats a value for messages: null for nil.
func valueText(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}
