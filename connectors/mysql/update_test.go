package mysql

import (
	"context"
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
	if err := c.InTx(ctx, func(ctx context.Context) error {
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
