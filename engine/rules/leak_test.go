package rules

import (
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestOutputsStartNullEveryRecord is the regression test of the output
// leak: an output the deciding rule does not set is null for the record, as
// in a rule test, not the value the record before was given; then's
// assignments see it null too. Both evaluation paths, one evaluator for
// every record as a stage uses it.
func TestOutputsStartNullEveryRecord(t *testing.T) {
	src := `ruleset: t
inputs:
  r: {amount: money}
outputs: {label: "string?", note: string}
rules:
  - id: big
    when: r.amount > 100
    outcome: flagged
    set: {label: '"big"'}
default:
  outcome: ok
then:
  note: label ?? "none"
tests:
  - name: a small amount has no label
    given: {r: {amount: 1.00}}
    expect: {rule: default, set: {note: none}}
`
	f, err := yamldoc.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	for _, r := range rs.RunTests() {
		if !r.Passed() {
			t.Fatalf("rule test: %v", r.Err)
		}
	}
	for _, path := range []string{"fast", "vm"} {
		if path == "vm" {
			vmOnly(rs)
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		records := []struct {
			amount string
			label  any
			note   string
		}{
			{"500.00", "big", "big"},
			{"1.00", nil, "none"}, // before the fix: "big", "big"
			{"2.00", nil, "none"},
			{"300.00", "big", "big"},
		}
		for i, rec := range records {
			if _, err := e.Eval([]any{schema.Row{dec(rec.amount)}}); err != nil {
				t.Fatalf("%s, record %d: %v", path, i+1, err)
			}
			if got := e.Output(rs.Output("label")); got != rec.label {
				t.Errorf("%s, record %d (amount %s): label %v, want %v", path, i+1, rec.amount, got, rec.label)
			}
			if got := e.Output(rs.Output("note")); got != rec.note {
				t.Errorf("%s, record %d (amount %s): note %v, want %v", path, i+1, rec.amount, got, rec.note)
			}
		}
		// Explain, which a stage calls instead of Eval for traced records, too.
		e.Eval([]any{schema.Row{dec("500.00")}})
		x := e.Explain([]any{schema.Row{dec("1.00")}})
		if x.Err != nil {
			t.Fatalf("%s: explain: %v", path, x.Err)
		}
		if got := e.Output(rs.Output("label")); got != nil {
			t.Errorf("%s: explain after a labelled record: label %v, want null", path, got)
		}
	}
}
