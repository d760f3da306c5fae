package rules

import (
	"fmt"
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestFired pins which conditions hold for statistics: the deciding rule,
// the default, and every later rule whose condition holds on the values
// the record was decided with, never on what the deciding rule assigned;
// and that it agrees with Explain, which evaluates every condition first.
func TestFired(t *testing.T) {
	src := `ruleset: orders
version: 1
inputs:
  order: {amount: money, kind: string}
  account: {limit: money, used: "money?"}
let:
  used: account.used ?? 0
rules:
  - {id: big, when: order.amount >= 100, outcome: review, set: {account.used: 1000}}
  - {id: over, when: used + order.amount > account.limit, outcome: rejected}
  - {id: ratio, when: order.amount / (account.limit - 100) > 100, outcome: odd}
  - {id: seen, when: account.used != nil, outcome: odd}
  - {id: listed, when: 'any(["gift", "wire"], # == order.kind)', outcome: odd}
default: {outcome: accepted}
`
	f, err := yamldoc.Parse("orders.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	if got := fmt.Sprint(rs.Rules()); got != "[{big review 9} {over rejected 10} {ratio odd 11} {seen odd 12} {listed odd 13} {default accepted 14}]" {
		t.Errorf("Rules() = %s", got)
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	explainer, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		amount, limit string
		kind          string
		used          any
		want          string // fired, as 1 and 0 in rule order
	}{
		{"the default decides", "10.00", "500.00", "card", nil, "000001"},
		{"an earlier rule decides, later ones do not hold", "100.00", "150.00", "card", nil, "100001"},
		{"later rules hold beside the decision", "600.00", "500.00", "wire", dec("5.00"), "110111"},
		{"the decision's assignment is not seen", "100.00", "5000.00", "card", nil, "100001"},
		{"a failing condition does not hold", "100.00", "100.00", "gift", nil, "100011"},
		{"a rule decided by the default after one fails", "5.00", "100.00", "card", nil, "000000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := func() []any {
				return []any{schema.Row{dec(c.amount), c.kind}, schema.Row{dec(c.limit), c.used}}
			}
			_, evalErr := e.Eval(row())
			fired := e.Fired(nil)
			got := ""
			for _, ok := range fired {
				got += map[bool]string{true: "1", false: "0"}[ok]
			}
			if got != c.want {
				t.Errorf("fired %s, want %s (eval error: %v)", got, c.want, evalErr)
			}
			x := explainer.Explain(row())
			if x.Err != nil {
				if evalErr == nil {
					t.Fatalf("Explain failed, Eval did not: %v", x.Err)
				}
				return
			}
			decided := false
			for i, r := range x.Rules {
				decided = decided || r.Decided
				if want := decided && r.Result.Value == true; fired[i] != want {
					t.Errorf("rule %s: fired %v, Explain says %v (decided so far: %v)", r.ID, fired[i], r.Result, decided)
				}
			}
		})
	}
}
