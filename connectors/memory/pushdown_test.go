package memory

import (
	"context"
	"fmt"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func ledgerSchema() *schema.Schema {
	return schema.MustNew("ledger", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "account", Type: schema.IntType},
		{Name: "amount", Type: schema.Type{Kind: schema.Decimal, Scale: 2, Nullable: true}},
		{Name: "units", Type: schema.IntType},
		{Name: "state", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "id")
}

func TestTableUpdateWhere(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), ledgerSchema())
	d := decimal.MustParse
	rows := []schema.Row{
		{3, 1, d("1.50"), 1, "open"},
		{1, 1, d("2.00"), 2, "open"},
		{2, 2, nil, 3, "done"},
		{4, 2, d("-1.25"), 4, nil},
	}
	if err := tb.Upsert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	before, _ := tb.Get(ctx, []any{1})
	n, err := tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "state", Value: "closed"}, {Column: "amount", Value: nil}},
		port.ColumnValue{Column: "state", Value: "open"})
	if err != nil || n != 2 {
		t.Fatalf("UpdateWhere = %d, %v, want 2 rows", n, err)
	}
	if before[0][4] != "open" {
		t.Fatalf("a row handed out before the update changed: %v", before[0])
	}
	got := map[int]schema.Row{}
	for _, r := range scanAll(t, tb) {
		got[r[0].(int)] = r
	}
	for _, id := range []int{1, 3} {
		if got[id][4] != "closed" || got[id][2] != nil || got[id][3] == nil {
			t.Fatalf("row %d = %v, want closed with a null amount", id, got[id])
		}
	}
	if got[2][4] != "done" || got[4][4] != nil {
		t.Fatalf("rows that did not match changed: %v, %v", got[2], got[4])
	}
	// Decimals match by value, whatever their scale.
	if n, err := tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "units", Value: 9}}, port.ColumnValue{Column: "amount", Value: d("-1.250")}); err != nil || n != 1 {
		t.Fatalf("UpdateWhere by decimal = %d, %v, want 1 row", n, err)
	}
	bad := []struct {
		set   []port.ColumnValue
		where port.ColumnValue
	}{
		{[]port.ColumnValue{{Column: "nope", Value: 1}}, port.ColumnValue{Column: "state", Value: "x"}},
		{[]port.ColumnValue{{Column: "id", Value: 1}}, port.ColumnValue{Column: "state", Value: "x"}},
		{[]port.ColumnValue{{Column: "units", Value: "one"}}, port.ColumnValue{Column: "state", Value: "x"}},
		{[]port.ColumnValue{{Column: "units", Value: nil}}, port.ColumnValue{Column: "state", Value: "x"}},
		{[]port.ColumnValue{{Column: "units", Value: 1}}, port.ColumnValue{Column: "nope", Value: "x"}},
	}
	for _, b := range bad {
		if _, err := tb.UpdateWhere(ctx, b.set, b.where); err == nil {
			t.Errorf("UpdateWhere(%v, %v) succeeded", b.set, b.where)
		}
	}
}

func TestTableAggregate(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), ledgerSchema())
	d := decimal.MustParse
	if err := tb.Upsert(ctx, []schema.Row{
		{5, 1, d("1.50"), 1, "open"},
		{1, 1, d("2.25"), 2, "open"},
		{2, 2, nil, 3, "open"},
		{4, 2, d("-1.25"), 4, "done"},
		{3, 3, d("7.00"), 5, nil},
	}); err != nil {
		t.Fatal(err)
	}
	folds := []port.Fold{{Func: "sum", Column: "amount"}, {Func: "count"}, {Func: "min", Column: "amount"},
		{Func: "max", Column: "units"}, {Func: "sum", Column: "units"}}
	got, err := tb.Aggregate(ctx, "account", port.ColumnValue{Column: "state", Value: "open"}, folds)
	if err != nil {
		t.Fatal(err)
	}
	want := map[any]string{
		1: "[3.75 2 1.50 2 3]",
		2: "[<nil> 1 <nil> 3 3]", // only a null amount: sum, min and max are null
	}
	if len(got) != len(want) {
		t.Fatalf("Aggregate = %v, want groups %v", got, want)
	}
	for k, w := range want {
		if s := fmt.Sprint(got[k]); s != w {
			t.Errorf("group %v = %s, want %s", k, s, w)
		}
	}
	all, err := tb.Aggregate(ctx, "account", port.ColumnValue{}, []port.Fold{{Func: "count"}})
	if err != nil || len(all) != 3 || all[2][0] != 2 {
		t.Fatalf("Aggregate of every row = %v, %v", all, err)
	}
	for _, f := range [][]port.Fold{{{Func: "avg", Column: "amount"}}, {{Func: "sum", Column: "state"}}, {{Func: "sum", Column: "nope"}}} {
		if _, err := tb.Aggregate(ctx, "account", port.ColumnValue{}, f); err == nil {
			t.Errorf("Aggregate(%v) succeeded", f)
		}
	}
	if _, err := tb.Aggregate(ctx, "nope", port.ColumnValue{}, folds); err == nil {
		t.Error("Aggregate by a missing column succeeded")
	}
}

func TestTableSnapshotKeepsRows(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), ledgerSchema())
	d := decimal.MustParse
	if err := tb.Upsert(ctx, []schema.Row{{2, 1, d("1.00"), 1, "open"}, {1, 1, d("2.00"), 2, "open"}}); err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every kind of write after the snapshot: a replaced row, a new row, an update.
	if err := tb.Upsert(ctx, []schema.Row{{1, 9, d("9.00"), 9, "new"}, {3, 1, nil, 3, nil}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "state", Value: "closed"}}, port.ColumnValue{Column: "state", Value: "open"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := snap.Scan(ctx, func(r schema.Row) error { got = append(got, fmt.Sprintf("%v %v %v", r[0], r[1], r[4])); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := "[1 1 open 2 1 open]"; fmt.Sprint(got) != want {
		t.Errorf("snapshot scan = %v, want %s", got, want)
	}
	got = got[:0]
	if err := snap.ScanBatches(ctx, 1, func(rs []schema.Row) error {
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%v %v %v", r[0], r[1], r[4]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[1 1 open 2 1 open]"; fmt.Sprint(got) != want {
		t.Errorf("snapshot batches = %v, want %s", got, want)
	}
}
