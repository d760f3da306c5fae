package stage

import (
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

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
