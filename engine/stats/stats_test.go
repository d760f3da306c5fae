package stats

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govalues/decimal"

	"pipeline/engine/rules"
	"pipeline/engine/spec"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

func compile(t *testing.T, name, src string) *rules.Ruleset {
	t.Helper()
	f, err := yamldoc.Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	return rs
}

const liveRules = `ruleset: checks
version: 3
inputs:
  tx: {amount: money}
rules:
  - {id: negative, when: tx.amount < 0, outcome: declined}
  - {id: large, when: tx.amount > 100, outcome: declined}
default: {outcome: pending}
`

// TestCollector feeds hand-made observations, as a stream stage with a
// shadow ruleset would give them, and pins the report: rule and outcome
// counts with exact amounts, dead records, and live/shadow agreement with
// the transitions where they disagree.
func TestCollector(t *testing.T) {
	live := compile(t, "checks.yaml", liveRules)
	shadow := compile(t, "checks-next.yaml", `ruleset: checks-next
version: 4
inputs:
  tx: {amount: money}
rules:
  - {id: large, when: tx.amount > 50, outcome: declined}
default: {outcome: pending}
`)
	type obs struct {
		amount string
		rule   string // "" for a failed evaluation
		fired  string
		shadow string // the shadow's rule, "" without one
	}
	outcomes := map[string]string{"negative": "declined", "large": "declined", "default": "pending"}
	c := New(&stage.Plan{})
	for _, o := range []obs{
		{"10.00", "default", "001", "default"},
		{"60.00", "default", "001", "large"},
		{"70.50", "default", "001", "large"},
		{"150.00", "large", "011", "large"},
		{"-5.25", "negative", "101", "default"},
		{"1.00", "", "000", ""},
		{"20.00", "default", "001", ""}, // before the shadow was there
	} {
		x := stage.Observed{Decided: stage.Decided{Stage: "validate", Key: o.amount}, Ruleset: live,
			Measure: decimal.MustParse(o.amount)}
		x.Decision = rules.Decision{Rule: o.rule, Outcome: outcomes[o.rule], Version: live.Version}
		if o.rule == "" {
			x.Err = errors.New("evaluation failed")
		}
		for _, f := range o.fired {
			x.Fired = append(x.Fired, f == '1')
		}
		if o.shadow != "" {
			x.Shadow = &rules.Decision{Rule: o.shadow, Outcome: outcomes[o.shadow], Version: shadow.Version}
			x.ShadowRuleset = shadow
		}
		c.Observe(x)
	}
	got, err := json.Marshal(c.Report("spec.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":"spec.yaml","records":7,"rulesets":[{"stage":"validate","step":"","ruleset":"checks","version":3,"hash":"` + live.Hash + `","records":7,"dead":1,` +
		`"outcomes":[{"outcome":"declined","records":2},{"outcome":"pending","records":4}],` +
		`"rules":[{"rule":"negative","line":6,"decided":1,"fired":1},{"rule":"large","line":7,"decided":1,"fired":1},{"rule":"default","line":8,"decided":4,"fired":6}],` +
		`"shadow":{"ruleset":"checks-next","version":4,"hash":"` + shadow.Hash + `","agree":2,"disagree":3,"transitions":[` +
		`{"from":"pending/default","to":"declined/large","records":2},{"from":"declined/negative","to":"pending/default","records":1}]}}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("without a measure in the plan, no amounts (-want +got):\n%s", diff)
	}

	// With the stage's measure named, amounts are exact sums, at the
	// measure's scale even where nothing was summed.
	c.entries[0].place.Measure = "tx.amount"
	r := c.Report("spec.yaml").Rulesets[0]
	amounts := map[string]string{}
	for _, x := range r.Rules {
		amounts["rule "+x.Rule] = x.Amount
	}
	for _, x := range r.Outcomes {
		amounts["outcome "+x.Outcome] = x.Amount
	}
	for _, x := range r.Shadow.Transitions {
		amounts[x.From+" -> "+x.To] = x.Amount
	}
	wantAmounts := map[string]string{"rule negative": "-5.25", "rule large": "150.00", "rule default": "160.50",
		"outcome declined": "144.75", "outcome pending": "160.50",
		"pending/default -> declined/large": "130.50", "declined/negative -> pending/default": "-5.25"}
	if diff := cmp.Diff(wantAmounts, amounts); diff != "" {
		t.Errorf("amounts (-want +got):\n%s", diff)
	}
}

// TestCollectorPlan: the stages and steps with rules of a plan are
// reported in its order, with zeros when no record reached them; steps
// without rules are not.
func TestCollectorPlan(t *testing.T) {
	sp, err := spec.Load("../testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	plan, err := stage.Build(sp)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	got, err := json.Marshal(New(plan).Report("shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":"shop.yaml","records":0,"rulesets":[{"stage":"decide","step":"","ruleset":"orders","version":2,"hash":"` + plan.Places()[0].Ruleset.Hash + `",` +
		`"records":0,"dead":0,"outcomes":[],"rules":[{"rule":"too_much","line":9,"decided":0,"fired":0},{"rule":"ratio","line":10,"decided":0,"fired":0},` +
		`{"rule":"default","line":12,"decided":0,"fired":0}]}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if h := plan.Places()[0].Ruleset.Hash; len(h) != 12 {
		t.Errorf("hash %q, want 12 hex digits", h)
	}
}
