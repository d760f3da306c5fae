package mysql

import (
	"context"
	"fmt"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestUpdateWhere(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	s := schema.MustNew("items", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "status", Type: schema.StringType},
		{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "id")
	tb := openTable(t, c, s)
	upsert(t, ctx, tb, schema.Row{1, "pending", nil}, schema.Row{2, "declined", nil}, schema.Row{3, "pending", "x"})
	var u port.Updater = tb
	n, err := u.UpdateWhere(ctx, []port.ColumnValue{{Column: "status", Value: "approved"}, {Column: "note", Value: "'); DROP TABLE items; --"}},
		port.ColumnValue{Column: "status", Value: "pending"})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("changed %d rows, want 2", n)
	}
	got := scanAll(t, ctx, tb)
	want := []string{"approved", "declined", "approved"}
	for i, r := range got {
		if r[1] != want[i] {
			t.Errorf("row %d status %v, want %s", i+1, r[1], want[i])
		}
	}
	if got[0][2] != "'); DROP TABLE items; --" {
		t.Errorf("value not stored verbatim: %v", got[0][2])
	}
	if err := c.InTx(ctx, nil, func(ctx context.Context) error {
		_, err := u.UpdateWhere(ctx, []port.ColumnValue{{Column: "status", Value: "x"}}, port.ColumnValue{Column: "id", Value: 2})
		if err != nil {
			return err
		}
		return context.Canceled // roll back
	}); err == nil {
		t.Fatal("InTx returned nil after fn failed")
	}
	if r := scanAll(t, ctx, tb)[1]; r[1] != "declined" {
		t.Errorf("rolled-back update kept: %v", r)
	}
	if _, err := u.UpdateWhere(ctx, []port.ColumnValue{{Column: "nope", Value: 1}}, port.ColumnValue{Column: "id", Value: 1}); err == nil {
		t.Error("unknown column accepted")
	}
}

func TestResetOffsets(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	s := schema.MustNew("out", []schema.Column{{Name: "id", Type: schema.IntType}}, "id")
	openTable(t, c, s)
	b := port.Batch{Group: "g", Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 5}, {Topic: "u", Partition: 0, From: 0, Next: 7}}}
	if err := c.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetOffsets(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Offsets(ctx, "g", "t"); len(got) != 0 {
		t.Errorf("topic t offsets after reset: %v", got)
	}
	if got, _ := c.Offsets(ctx, "g", "u"); got[0] != 7 {
		t.Errorf("topic u offsets: %v, want untouched", got)
	}
}

func TestAggregate(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	s := schema.MustNew("moves", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "owner", Type: schema.IntType},
		{Name: "status", Type: schema.StringType},
		{Name: "amount", Type: schema.MoneyType},
	}, "id")
	tb := openTable(t, c, s)
	upsert(t, ctx, tb,
		schema.Row{1, 10, "pending", dec("1.50")}, schema.Row{2, 10, "pending", dec("2.25")},
		schema.Row{3, 10, "declined", dec("100.00")}, schema.Row{4, 20, "pending", dec("-5.00")})
	var a port.Aggregator = tb
	got, err := a.Aggregate(ctx, "owner", port.ColumnValue{Column: "status", Value: "pending"},
		[]port.Fold{{Func: "sum", Column: "amount"}, {Func: "count"}, {Func: "max", Column: "amount"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{10: "3.75 2 2.25", 20: "-5.00 1 -5.00"}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	for k, w := range want {
		vals := got[k]
		if vals == nil {
			t.Fatalf("no group %d in %v", k, got)
		}
		if s := fmt.Sprintf("%v %v %v", vals[0], vals[1], vals[2]); s != w {
			t.Errorf("group %d: %s, want %s", k, s, w)
		}
	}
	all, err := a.Aggregate(ctx, "owner", port.ColumnValue{}, []port.Fold{{Func: "count"}})
	if err != nil || all[10][0] != 3 {
		t.Errorf("without where: %v, %v", all, err)
	}
}
