package stage

import (
	"testing"

	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// TestDecisionTestMatchesWhere: a window's where that only compares the
// decision with a string is tested without running it (decisionTest), and
// gives what running it gives, on every outcome and rule; others run.
func TestDecisionTestMatchesWhere(t *testing.T) {
	wheres := []struct {
		src  string
		fast bool
	}{
		{`decision.outcome != "declined"`, true},
		{`decision.outcome == "declined"`, true},
		{`  decision.rule == "default" `, true},
		{`decision.rule != ""`, true},
		{`decision.outcome == "a" or decision.outcome == "b"`, false},
		{`decision.outcome != 'declined'`, true},
		{`"declined" != decision.outcome`, true},
		{`decision.outcome == "a\"b"`, true},
		{`decision.reason == "far"`, false}, // not a column it tests as is: runs, and agrees
		{`decision.outcome == "a" + "b"`, false},
	}
	decisions := []schema.Row{
		{"default", "pending", "ok", 1, "0123456789ab"},
		{"far_merchant", "declined", "far", 1, "0123456789ab"},
		{"", "", "", 1, ""},
		{"velocity_count", "declined", "", 2, "ba9876543210"},
	}
	f := &yamldoc.File{Path: "where.yaml"}
	for _, w := range wheres {
		dt := parseDecisionTest(w.src)
		if (dt != nil) != w.fast {
			t.Errorf("%s: tested as is %v, want %v", w.src, dt != nil, w.fast)
			continue
		}
		def := rules.Filter("where", yamldoc.String{Value: w.src, Pos: yamldoc.Pos{File: f.Path, Line: 1, Col: 1}})
		def.Inputs = []rules.Input{{Name: decisionVar, Record: true, Fields: decisionSchema.Columns}}
		rs, err := rules.Define(f, def)
		if err != nil {
			t.Fatalf("%s: %v", w.src, err)
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range decisions {
			got, err := e.Holds([]any{d})
			if err != nil {
				t.Fatalf("%s on %v: %v", w.src, d, err)
			}
			if dt != nil && dt.matches(d) != got {
				t.Errorf("%s on %v: tested as is %v, run %v", w.src, d, dt.matches(d), got)
			}
		}
	}
}

// TestVelocityWhereIsTestedAsIs: the banking velocity spec's where is one
// the stage tests without running it.
func TestVelocityWhereIsTestedAsIs(t *testing.T) {
	s, err := spec.Load("../../configs/banking-velocity.yaml", yamldoc.MapEnv(nil))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	plan, err := Build(s)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	st, ok := plan.Stage("validate").(*streamStage)
	if !ok || len(st.windows) != 2 {
		t.Fatalf("validate: %T with %d windows", plan.Stage("validate"), len(st.windows))
	}
	if w := st.windows[1]; w.where == nil || w.whereDecision == nil {
		t.Errorf("window %s: where compiled %v, tested as is %v; want both", w.name, w.where != nil, w.whereDecision != nil)
	}
}
