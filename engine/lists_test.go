package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

// TestOptionalLookupsAndLists runs testdata/lists: optional lookups in a
// rekey stage (an order with no account is keyed by its own column), a
// stream stage (no account, no owner: null records the rules decide on)
// and a batch step (no owner: a default), and a list of blocked shops. No
// record goes to the dead letters.
func TestOptionalLookupsAndLists(t *testing.T) {
	out := t.TempDir()
	sum := dryRun(t, "testdata/lists/spec.yaml", out)
	if len(sum.DeadLetters) != 0 {
		t.Errorf("dead letters: %+v", sum.DeadLetters)
	}
	for file, want := range map[string]string{
		"orders.csv": `order_id,account_id,shop,amount,status,rule,tier
1,1,Good,10.00,accepted,default,gold
2,1,Evil,10.00,rejected,blocked_shop,gold
3,2,Good,10.00,review,no_owner,
4,9,Good,10.00,rejected,no_account,
5,2,Evil,10.00,rejected,blocked_shop,
6,1,Good,500.00,rejected,over_limit,gold
`,
		"accounts.csv": `id,owner,limit
1,ann:gold,100.00
2,bob:none,100.00
`,
	} {
		got, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", file, got, want)
		}
	}
}

// TestLintOptionalAndLists: specs and rule files that misuse optional
// lookups or lists fail lint at the place of the mistake, with the fix
// (testdata/lists/lint.golden, rewrite with -update).
func TestLintOptionalAndLists(t *testing.T) {
	spec, err := os.ReadFile("testdata/lists/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("testdata/lists/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name           string
		inSpec, inRule [][2]string // replacements
	}{
		{name: "the rule file does not declare the optional lookup optional",
			inRule: [][2]string{{"account?: {limit: money}", "account: {limit: money}"}}},
		{name: "a field of an optional record used without ?? or a test",
			inRule: [][2]string{{"order.amount > (account.limit ?? 0)", "order.amount > account.limit"}}},
		{name: "an optional lookup keys a required one",
			inSpec: [][2]string{{`owner: {from: "db:owners[account.owner]", optional: true}`, `owner: "db:owners[account.owner]"`}}},
		{name: "a list of a table that is not declared",
			inSpec: [][2]string{{"blocked: db:blocked\n", "blocked: db:blocked_shops\n"}}},
		{name: "the rules read a list the stage does not declare",
			inSpec: [][2]string{{"    lists:\n      blocked: db:blocked\n", ""}}},
		{name: "a refresh too short",
			inSpec: [][2]string{{"blocked: db:blocked\n", "blocked: {from: db:accounts, refresh: 10ms}\n"}}},
		{name: "an optional lookup that is saved",
			inSpec: [][2]string{{"    to: db:orders\n", "    save: [account]\n    to: db:orders\n"}}},
		{name: "a rule sets a field of an optional record",
			inRule: [][2]string{{"default:\n  outcome: accepted\n", "default:\n  outcome: accepted\n  set: {account.limit: 1}\n"}}},
	}
	var b strings.Builder
	for _, c := range cases {
		dir := t.TempDir()
		s, r := string(spec), string(rules)
		for _, x := range c.inSpec {
			if !strings.Contains(s, x[0]) {
				t.Fatalf("%s: spec.yaml has no %q", c.name, x[0])
			}
			s = strings.Replace(s, x[0], x[1], 1)
		}
		for _, x := range c.inRule {
			if !strings.Contains(r, x[0]) {
				t.Fatalf("%s: rules.yaml has no %q", c.name, x[0])
			}
			r = strings.Replace(r, x[0], x[1], 1)
		}
		for file, text := range map[string]string{"spec.yaml": s, "rules.yaml": r} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(map[string]string{"OUT": dir}), registry())
		if err == nil {
			t.Errorf("%s: lint passed", c.name)
			continue
		}
		b.WriteString("# " + c.name + "\n" + strings.ReplaceAll(yamldoc.Details(err), dir+string(filepath.Separator), "") + "\n")
	}
	golden := "testdata/lists/lint.golden"
	if *engine.Update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("lint output:\n%s\nwant (%s):\n%s", b.String(), golden, want)
	}
}
