package stage

import (
	"strings"
	"testing"

	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// TestStateKeyed: state kept per a field is keyed by the topic's key when
// the field is the record's key column, or the key column of a lookup
// looked up by it; anything else is an error at the position given, naming
// the state, the column it is kept by and the fix.
func TestStateKeyed(t *testing.T) {
	sp, err := spec.Load("../testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	plan, err := Build(sp)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	s := plan.Stage("decide").(*streamStage)
	unkeyed := *s
	unkeyed.tspec.Key = ""
	tests := []struct {
		stage *streamStage
		expr  string
		want  string // the error, "" when the state is keyed by the topic's key
	}{
		{s, "order.account_id", ""},
		{s, "account.id", ""}, // account is looked up by order.account_id
		{s, "order.order_id", "window w: this state is kept per order.order_id, but topic orders is keyed by account_id: " +
			"the records of one order_id sit on several partitions, decided by different consumers in no set order, " +
			"so the state would follow partition order, not record order. Re-key the topic by order_id with a rekey stage " +
			"(kind: rekey, from: bus:orders, key: order.order_id, to: a topic keyed by order_id), stream from that topic, and keep the state by its records' order_id"},
		{s, "account.owner", "window w: this state is kept per account.owner, but topic orders is keyed by account_id"},
		{s, "order.amount + 1", `window w: state must be kept per a field of a record (e.g. order.account_id, the key of topic orders), not per "order.amount + 1"`},
		{s, "nobody.id", `not per "nobody.id"`},
		{&unkeyed, "order.account_id", "window w: this state is kept per order.account_id, but topic orders has no key column, so the records of one account_id " +
			"may sit on any partition and be decided by different consumers in no set order. Key the topic by it (topics: orders: {key: account_id}) " +
			"when its producers do, or re-key the topic with a rekey stage (kind: rekey, from: bus:orders, key: order.account_id, to: a topic keyed by account_id) and stream from that"},
		{&unkeyed, "account.id", "but topic orders has no key column"},
	}
	for _, tt := range tests {
		b := &builder{spec: sp, f: sp.File}
		pos := yamldoc.Pos{File: sp.File.Path, Line: 3, Col: 5}
		got := b.stateKeyedExpr(tt.stage, pos, "window w", tt.expr)
		if got != (tt.want == "") {
			t.Errorf("%s (topic key %q): keyed %v, want %v", tt.expr, tt.stage.tspec.Key, got, tt.want == "")
		}
		if tt.want == "" {
			if len(b.errs) > 0 {
				t.Errorf("%s: %v", tt.expr, b.errs)
			}
			continue
		}
		if len(b.errs) != 1 || !strings.Contains(b.errs[0].Error(), "spec.yaml:3:5: window w: ") || !strings.Contains(b.errs[0].Error(), tt.want) {
			t.Errorf("%s (topic key %q): errors %v, want one at spec.yaml:3:5 saying %s", tt.expr, tt.stage.tspec.Key, b.errs, tt.want)
		}
	}
}
