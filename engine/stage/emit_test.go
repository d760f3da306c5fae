package stage

import (
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

func TestEmitCopy(t *testing.T) {
	rec := schema.MustNew("order", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "id")
	acct := schema.MustNew("account", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "used", Type: schema.Type{Kind: schema.Decimal, Scale: 2, Nullable: true}},
		{Name: "limit", Type: schema.MoneyType},
	}, "id")
	out := schema.MustNew("out", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "x", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "id")
	s := &streamStage{sc: &scope{}, outSchema: out}
	s.sc.addRecord("order", rec)
	s.sc.addRecord("account", acct)
	s.sc.addScalar("n", schema.IntType)
	tests := []struct {
		src  string
		want []fieldOf // nil: not a copy
	}{
		{"order.id", []fieldOf{{0, 0}}},
		{" account.limit ", []fieldOf{{1, 2}}},
		{"decision.outcome", []fieldOf{{3, 1}}},
		{"account.used ?? account.limit", []fieldOf{{1, 1}, {1, 2}}},
		{"order.note ?? decision.reason ?? order.note", []fieldOf{{0, 1}, {3, 2}, {0, 1}}},
		{"account.used ?? 0", nil},
		{"order.id + 1", nil},
		{"order?.id", nil},
		{"order.missing", nil},
		{"n", nil},
		{"nobody.id", nil},
		{"account.used ??", nil},
		{`order["id"]`, []fieldOf{{0, 0}}}, // the same member node as order.id
	}
	for _, tt := range tests {
		c, ok := s.emitCopy(yamldoc.Entry[yamldoc.String]{Key: outVar + ".x", Value: yamldoc.String{Value: tt.src}})
		if ok != (tt.want != nil) {
			t.Errorf("%q: copy %v, want %v", tt.src, ok, tt.want != nil)
			continue
		}
		if !ok {
			continue
		}
		if c.to != 1 || len(c.from) != len(tt.want) {
			t.Errorf("%q: got %+v, want fields %v into column 1", tt.src, c, tt.want)
			continue
		}
		for i := range tt.want {
			if c.from[i] != tt.want[i] {
				t.Errorf("%q: field %d is %v, want %v", tt.src, i, c.from[i], tt.want[i])
			}
		}
	}
}
