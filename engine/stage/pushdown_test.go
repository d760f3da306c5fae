package stage

import (
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

func TestColumnEquals(t *testing.T) {
	s := schema.MustNew("tx", []schema.Column{
		{Name: "status", Type: schema.StringType},
		{Name: "n", Type: schema.IntType},
		{Name: "amount", Type: schema.MoneyType},
	}, "")
	tests := []struct {
		src  string
		ok   bool
		col  string
		want string
	}{
		{`tx.status == "pending"`, true, "status", "pending"},
		{`"pending" == tx.status`, true, "status", "pending"},
		{`tx.n == 3`, true, "n", "3"},
		{`tx.amount == 1.5`, true, "amount", "1.5"},
		{`tx.status != "pending"`, false, "", ""},
		{`tx.status == "a" and tx.n == 1`, false, "", ""},
		{`other.status == "pending"`, false, "", ""},
		{`tx.missing == 1`, false, "", ""},
		{`tx.n == tx.n`, false, "", ""},
		{`tx.n == "x"`, false, "", ""},
		{`tx.status == nil`, false, "", ""},
		{`(tx.status ?? "") == "pending"`, true, "status", "pending"},
		{`"pending" == (tx.status ?? "")`, true, "status", "pending"},
		{`(tx.n ?? 0) == 3`, true, "n", "3"},
		{`(tx.status ?? "pending") == "pending"`, false, "", ""}, // a null matches here, not in SQL
		{`(tx.n ?? 3) == 3`, false, "", ""},
		{`(tx.status ?? tx.status) == "pending"`, false, "", ""},
		{`(other.status ?? "") == "pending"`, false, "", ""},
		{`tx.status != nil and tx.status == "pending"`, true, "status", "pending"},
		{`nil != tx.status and tx.status == "pending"`, true, "status", "pending"},
		{`tx.status != nil or tx.status == "pending"`, false, "", ""},
		{`tx.n != nil and tx.status == "pending"`, false, "", ""}, // the guard is part of the filter
		{`tx.status != nil and tx.n == 3`, false, "", ""},
		{`other.n != nil and tx.status == "pending"`, false, "", ""},
	}
	for _, tt := range tests {
		cv, ok := columnEquals(tt.src, "tx", s)
		if ok != tt.ok {
			t.Errorf("%s: pushable %v, want %v", tt.src, ok, tt.ok)
			continue
		}
		if ok {
			col, _ := s.Column(cv.Column)
			if cv.Column != tt.col || col.Type.Format(cv.Value) != col.Type.Format(mustParse(t, col.Type, tt.want)) {
				t.Errorf("%s: got %s = %v", tt.src, cv.Column, cv.Value)
			}
		}
	}
}

func mustParse(t *testing.T, typ schema.Type, s string) any {
	t.Helper()
	v, err := typ.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConstant(t *testing.T) {
	if v, ok := constant(`"approved"`, schema.StringType); !ok || v != "approved" {
		t.Errorf("string constant: %v %v", v, ok)
	}
	if _, ok := constant(`tx.status`, schema.StringType); ok {
		t.Error("a field is not a constant")
	}
	if _, ok := constant(`"x"`, schema.IntType); ok {
		t.Error("a string is not an int constant")
	}
	if v, ok := constant(`nil`, schema.Type{Kind: schema.String, Nullable: true}); !ok || v != nil {
		t.Errorf("nil for a nullable column: %v %v", v, ok)
	}
}

// TestNullSumSpecPushesDown pins what engine/testdata/nullsum relies on:
// its first step's aggregate is folded by the table, its second by the stage.
func TestNullSumSpecPushesDown(t *testing.T) {
	s := schema.MustNew("items", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "group_id", Type: schema.IntType},
		{Name: "k", Type: schema.StringType},
		{Name: "v", Type: schema.Type{Kind: schema.Decimal, Scale: 2, Nullable: true}},
	}, "id")
	for _, tt := range []struct {
		where string
		push  bool
	}{{`i.k == "x"`, true}, {`i.k == "x" and i.id > 0`, false}} {
		a := &spec.Aggregate{Where: yamldoc.String{Value: tt.where, Pos: yamldoc.Pos{Line: 1}}, Values: yamldoc.Map[yamldoc.String]{
			{Key: "s", Value: yamldoc.String{Value: "sum(i.v)"}},
			{Key: "m", Value: yamldoc.String{Value: "max(i.v)"}},
		}}
		if got := pushableAggregate(a, "i", s) != nil; got != tt.push {
			t.Errorf("where %s: pushed down %v, want %v", tt.where, got, tt.push)
		}
	}
}
