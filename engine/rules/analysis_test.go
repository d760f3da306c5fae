package rules

import (
	"slices"
	"testing"

	"pipeline/engine/schema"
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
		name, v, ok := ColumnEquals(tt.src, "tx", s)
		if ok != tt.ok {
			t.Errorf("%s: pushable %v, want %v", tt.src, ok, tt.ok)
			continue
		}
		if ok {
			col, _ := s.Column(name)
			if name != tt.col || col.Type.Format(v) != col.Type.Format(mustParse(t, col.Type, tt.want)) {
				t.Errorf("%s: got %s = %v", tt.src, name, v)
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
	if v, ok := Constant(`"approved"`, schema.StringType); !ok || v != "approved" {
		t.Errorf("string constant: %v %v", v, ok)
	}
	if _, ok := Constant(`tx.status`, schema.StringType); ok {
		t.Error("a field is not a constant")
	}
	if _, ok := Constant(`"x"`, schema.IntType); ok {
		t.Error("a string is not an int constant")
	}
	if v, ok := Constant(`nil`, schema.Type{Kind: schema.String, Nullable: true}); !ok || v != nil {
		t.Errorf("nil for a nullable column: %v %v", v, ok)
	}
}

func TestPlainField(t *testing.T) {
	tests := []struct {
		src  string
		want FieldRef
		ok   bool
	}{
		{"order.id", FieldRef{"order", "id"}, true},
		{"  order.id ", FieldRef{"order", "id"}, true},
		{`order["id"]`, FieldRef{"order", "id"}, true}, // the same member node
		{"order?.id", FieldRef{}, false},
		{"order.id.x", FieldRef{}, false},
		{"order.id + 1", FieldRef{}, false},
		{"order", FieldRef{}, false},
		{"order.", FieldRef{}, false},
		{"f(order.id)", FieldRef{}, false},
	}
	for _, tt := range tests {
		got, ok := PlainField(tt.src)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%q: %v %v, want %v %v", tt.src, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCopiedFields(t *testing.T) {
	tests := []struct {
		src  string
		want []FieldRef // nil: not a copy
	}{
		{"a.x", []FieldRef{{"a", "x"}}},
		{"a.x ?? b.y", []FieldRef{{"a", "x"}, {"b", "y"}}},
		{"a.x ?? b.y ?? a.x", []FieldRef{{"a", "x"}, {"b", "y"}, {"a", "x"}}},
		{"a.x ?? 0", nil},
		{"a.x + b.y", nil},
		{"a?.x", nil},
		{"a.x ??", nil},
		{"n", nil},
	}
	for _, tt := range tests {
		got, ok := CopiedFields(tt.src)
		if ok != (tt.want != nil) || (ok && !slices.Equal(got, tt.want)) {
			t.Errorf("%q: %v %v, want %v", tt.src, got, ok, tt.want)
		}
	}
}

func TestParseStringTest(t *testing.T) {
	tests := []struct {
		src  string
		want StringTest
		ok   bool
	}{
		{`decision.outcome == "declined"`, StringTest{FieldRef{"decision", "outcome"}, true, "declined"}, true},
		{` decision.rule != "" `, StringTest{FieldRef{"decision", "rule"}, false, ""}, true},
		{`"declined" != decision.outcome`, StringTest{FieldRef{"decision", "outcome"}, false, "declined"}, true},
		{`decision.outcome == "a\"b"`, StringTest{FieldRef{"decision", "outcome"}, true, `a"b`}, true},
		{`decision.outcome == 'x'`, StringTest{FieldRef{"decision", "outcome"}, true, "x"}, true},
		{`decision.outcome == "a" or decision.outcome == "b"`, StringTest{}, false},
		{`decision.outcome == 1`, StringTest{}, false},
		{`decision.outcome < "a"`, StringTest{}, false},
		{`decision.outcome == decision.rule`, StringTest{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseStringTest(tt.src)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%q: %+v %v, want %+v %v", tt.src, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseFold(t *testing.T) {
	tests := []struct {
		src     string
		fn, arg string
		at      int // column of the argument, the expression at column 1
		ok      bool
	}{
		{"sum(r.amount)", "sum", "r.amount", 5, true},
		{"  count( ) ", "count", " ", 9, true},
		{"count_distinct(r.merchant ?? \"\")", "count_distinct", "r.merchant ?? \"\"", 16, true},
		{"r.amount", "", "", 0, false},
		{"sum r.amount", "", "", 0, false},
	}
	for _, tt := range tests {
		fn, arg, ok := ParseFold(yamldoc.String{Value: tt.src, Pos: yamldoc.Pos{File: "s.yaml", Line: 3, Col: 1}})
		if ok != tt.ok || fn != tt.fn || arg.Value != tt.arg || (ok && arg.Pos.Col != tt.at) {
			t.Errorf("%q: %q %q at %d %v, want %q %q at %d %v", tt.src, fn, arg.Value, arg.Pos.Col, ok, tt.fn, tt.arg, tt.at, tt.ok)
		}
	}
}

// TestFilterHolds: a filter holds where its expression is true, and not
// where it is false or null.
func TestFilterHolds(t *testing.T) {
	f := &yamldoc.File{Path: "spec.yaml"}
	def := Filter("where", yamldoc.String{Value: "(r.n ?? 0) > 1", Pos: yamldoc.Pos{File: f.Path, Line: 1, Col: 1}})
	def.Inputs = []Input{{Name: "r", Record: true, Fields: []schema.Column{{Name: "n", Type: schema.Type{Kind: schema.Int, Nullable: true}}}}}
	rs, err := Define(f, def)
	if err != nil {
		t.Fatal(err)
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		n    any
		want bool
	}{{int64(2), true}, {int64(1), false}, {nil, false}} {
		got, err := e.Holds([]any{schema.Row{tt.n}})
		if err != nil || got != tt.want {
			t.Errorf("n = %v: holds %v (%v), want %v", tt.n, got, err, tt.want)
		}
	}
}
