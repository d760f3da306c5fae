package rules

import (
	"strings"
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

func TestExplain(t *testing.T) {
	src := `ruleset: orders
version: 3
inputs:
  order: {amount: money}
  account: {limit: money, used: "money?"}
let:
  used: account.used ?? 0
rules:
  - {id: too_much, when: used + order.amount > account.limit, outcome: rejected, reason: "{{used + order.amount}} > {{account.limit}}"}
  - {id: ratio, when: order.amount / (account.limit - 100) > 100, outcome: odd}
default:
  outcome: accepted
  set: {account.used: used + order.amount}
`
	f, err := yamldoc.Parse("orders.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		amount, limit string
		used          any
		want          string // fields | lets | rule results | decision | sets
		err           string
	}{
		{"accepted", "10.00", "500.00", nil,
			`order.amount=10.00 account.limit=500.00 account.used=null | used=0 | too_much=false ratio=false default=true | accepted by default | account.used=10.00`, ""},
		{"rejected, later rules still shown", "600.00", "500.00", dec("5.00"),
			`order.amount=600.00 account.limit=500.00 account.used=5.00 | used=5.00 | too_much=true ratio=false default=true | rejected by too_much: 605.00 > 500.00 | `, ""},
		{"a condition fails", "5.00", "100.00", nil,
			`order.amount=5.00 account.limit=100.00 account.used=null | used=0 | too_much=false ratio=error: division by zero in: order.amount / (account.limit - 100) > 100 default=true |  by  | `,
			"rule ratio: division by zero"},
	} {
		t.Run(c.name, func(t *testing.T) {
			order, account := schema.Row{dec(c.amount)}, schema.Row{dec(c.limit), c.used}
			x := e.Explain([]any{order, account})
			var parts [5][]string
			for _, v := range x.Fields {
				parts[0] = append(parts[0], v.Name+"="+v.String())
			}
			for _, v := range x.Lets {
				parts[1] = append(parts[1], v.Name+"="+v.String())
			}
			for _, r := range x.Rules {
				parts[2] = append(parts[2], r.ID+"="+r.Result.String())
			}
			d := x.Decision.Outcome + " by " + x.Decision.Rule
			if x.Decision.Reason != "" {
				d += ": " + x.Decision.Reason
			}
			parts[3] = []string{d}
			for _, v := range x.Sets {
				parts[4] = append(parts[4], v.Name+"="+v.String())
			}
			var got []string
			for _, p := range parts {
				got = append(got, strings.Join(p, " "))
			}
			if g := strings.Join(got, " | "); g != c.want {
				t.Errorf("explained\n got %s\nwant %s", g, c.want)
			}
			if (x.Err == nil) != (c.err == "") || (x.Err != nil && !strings.Contains(x.Err.Error(), c.err)) {
				t.Errorf("error %v, want %q", x.Err, c.err)
			}
			// Explain applies what Eval applies.
			if c.name == "accepted" && account[1] == nil {
				t.Errorf("the default's assignment was not applied: %v", account)
			}
			if x.Ruleset != "orders" || x.Version != 3 || x.Rules[0].Line != 9 {
				t.Errorf("ruleset %s v%d, first rule at line %d", x.Ruleset, x.Version, x.Rules[0].Line)
			}
		})
	}
}

// TestValuesPrintAsWritten: lists and maps in an explanation (and a reason)
// print as a rule writes them, strings in them quoted, not as Go prints them
// ([refund cancellation]).
func TestValuesPrintAsWritten(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{[]any{"refund", "cancellation"}, `["refund", "cancellation"]`},
		{[]any{dec("1.50"), 2, nil, true}, `[1.50, 2, null, true]`},
		{[]any{[]any{"a"}, []any{}}, `[["a"], []]`},
		{map[string]any{"b": "x", "a": dec("1.0")}, `{"a": 1.0, "b": "x"}`},
		{"plain", `"plain"`},
		{nil, "null"},
	}
	for _, tt := range tests {
		if got := (Value{Value: tt.v}).String(); got != tt.want {
			t.Errorf("%#v prints %s, want %s", tt.v, got, tt.want)
		}
	}
	// A let holding a list, explained; a reason showing it.
	src := `ruleset: l
inputs: {tx: {kind: string}}
let:
  kinds: '["refund", "cancellation"]'
rules:
  - {id: back, when: tx.kind in kinds, outcome: back, reason: "{{tx.kind}} is one of {{kinds}}"}
default: {outcome: ok}
`
	f, err := yamldoc.Parse("l.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	x := e.Explain([]any{schema.Row{"refund"}})
	if got := x.Lets[0].String(); got != `["refund", "cancellation"]` {
		t.Errorf("let kinds explained as %s", got)
	}
	if want := `refund is one of ["refund", "cancellation"]`; x.Decision.Reason != want {
		t.Errorf("reason %q, want %q", x.Decision.Reason, want)
	}
}
