package rules

import (
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestThenReadsTheDecision: then's assignments read decision.outcome and
// decision.rule of the rule that decided, on both evaluation paths; a
// ruleset with an input of that name keeps it.
func TestThenReadsTheDecision(t *testing.T) {
	src := `ruleset: t
inputs:
  r: {amount: money}
outputs: {flag: string, note: string}
rules:
  - id: big
    when: r.amount > 100
    outcome: declined
    set: {flag: '"big"'}
default:
  outcome: pending
  set: {flag: '"small"'}
then:
  note: 'decision.outcome + " by " + decision.rule + " (" + flag + ")"'
`
	f, err := yamldoc.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	for _, path := range []string{"fast", "vm"} {
		if path == "vm" {
			vmOnly(rs)
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ amount, want string }{{"500.00", "declined by big (big)"}, {"1.00", "pending by default (small)"}} {
			if _, err := e.Eval([]any{schema.Row{dec(tt.amount)}}); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if got := e.Output(rs.Output("note")); got != tt.want {
				t.Errorf("%s, amount %s: note %q, want %q", path, tt.amount, got, tt.want)
			}
		}
	}

	taken := `ruleset: t
inputs:
  decision: {outcome: string}
outputs: {note: string}
default:
  set: {note: '"x"'}
then:
  note: decision.outcome
`
	f, err = yamldoc.Parse("t.yaml", []byte(taken))
	if err != nil {
		t.Fatal(err)
	}
	rs, err = Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Eval([]any{schema.Row{"from the input"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.Output(0); got != "from the input" {
		t.Errorf("an input named decision: then read %q", got)
	}
}
