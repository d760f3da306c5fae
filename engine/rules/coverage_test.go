package rules

import (
	"slices"
	"testing"

	"pipeline/engine/yamldoc"
)

// TestCoverage: a test decides the rule whose outcome it got and reaches
// the rules whose condition ran (those before, and the deciding one); a
// failing test counts for nothing, a test expecting an error reaches up to
// the rule that failed.
func TestCoverage(t *testing.T) {
	src := `ruleset: c
inputs: {r: {amount: money, limit: money}}
rules:
  - {id: negative, when: r.amount < 0, outcome: declined}
  - {id: ratio, when: r.amount / r.limit > 2, outcome: declined}
  - {id: never, when: r.amount > 1000000, outcome: declined}
default: {outcome: ok}
tests:
  - name: negative
    given: {r: {amount: -1, limit: 10}}
    expect: {rule: negative}
  - name: ratio
    given: {r: {amount: 30, limit: 10}}
    expect: {rule: ratio}
  - name: ok
    given: {r: {amount: 1, limit: 10}}
    expect: {outcome: ok}
  - name: no limit
    given: {r: {amount: 1, limit: 0}}
    expect: {error: division by zero}
  - name: fails
    given: {r: {amount: 5, limit: 10}}
    expect: {outcome: declined}
`
	f, err := yamldoc.Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	results := rs.RunTests()
	if results[4].Passed() || !results[3].Passed() {
		t.Fatalf("results: %+v", results)
	}
	got := rs.Coverage(results)
	want := []RuleCoverage{
		{ID: "negative", Line: 4, Decided: []string{"negative"}, Reached: []string{"negative", "ratio", "ok", "no limit"}},
		{ID: "ratio", Line: 5, Decided: []string{"ratio"}, Reached: []string{"ratio", "ok", "no limit"}},
		{ID: "never", Line: 6, Reached: []string{"ok"}},
		{ID: "default", Line: 7, Default: true, Decided: []string{"ok"}, Reached: []string{"ok"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rules, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Line != w.Line || g.Default != w.Default || g.Row || !slices.Equal(g.Decided, w.Decided) || !slices.Equal(g.Reached, w.Reached) {
			t.Errorf("rule %d:\n got %+v\nwant %+v", i, g, w)
		}
	}

	table, err := Load("../../rules/credit_score.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cov := table.Coverage(table.RunTests())
	if len(cov) != 7 || !cov[0].Row || !cov[6].Row || !cov[6].Default || cov[6].ID != "default" {
		t.Fatalf("credit score rows: %+v", cov)
	}
	if !slices.Equal(cov[0].Decided, []string{"negative usage leaves the score"}) {
		t.Errorf("negative_usage decided by %q", cov[0].Decided)
	}
}
