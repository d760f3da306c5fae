package explain_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"pipeline/connectors/csv"
	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/explain"
	"pipeline/engine/port"
	"pipeline/engine/yamldoc"
)

// TestRecord explains orders of the engine's shop spec: the evaluations
// of the key in the stages asked for, their text, and the errors for a
// key nothing evaluated and a stage the spec lacks.
func TestRecord(t *testing.T) {
	var reg port.Registry
	reg.Register(csv.Kind())
	reg.Register(memory.Kind())
	plan, err := engine.Load("../testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}), &reg)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	for _, c := range []struct {
		name   string
		key    string
		only   []string
		stages []string // of the evaluations returned
		text   []string // lines the first one's text holds
		err    string   // what the error says, "" for none
	}{
		{"order 1", "1", []string{"decide"}, []string{"decide"},
			[]string{"stage decide: ", "ruleset orders version 2, hash ", "    order.amount", "  rules, in order (the first that holds decides):", "  decision: "}, ""},
		{"unknown key", "nope", nil, nil, nil, "no ruleset evaluated a record with key nope (is it in the data?"},
		{"unknown key in a stage", "nope", []string{"decide"}, nil, nil, "no ruleset evaluated a record with key nope in stage decide"},
		{"unknown stage", "1", []string{"nosuch"}, nil, nil, "nosuch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			traces, err := explain.Record(context.Background(), plan, c.key, c.only, engine.Options{Registry: &reg})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one that says %q", err, c.err)
				}
				var nf *explain.NotFound
				if errors.As(err, &nf) != strings.HasPrefix(c.err, "no ruleset") {
					t.Errorf("err %v: *NotFound %v", err, nf != nil)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var stages []string
			for _, tr := range traces {
				stages = append(stages, tr.Stage)
			}
			if strings.Join(stages, ",") != strings.Join(c.stages, ",") {
				t.Fatalf("evaluations in stages %v, want %v", stages, c.stages)
			}
			var b strings.Builder
			explain.Write(&b, traces[0])
			for _, l := range c.text {
				if !strings.Contains(b.String(), l) {
					t.Errorf("the explanation lacks %q:\n%s", l, b.String())
				}
			}
		})
	}
}
