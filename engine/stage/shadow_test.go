package stage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// buildVariant builds configs/banking-shadow.yaml with each of edits (old,
// new pairs) applied to its text, as if the file were in configs/.
func buildVariant(t *testing.T, edits ...string) (*Plan, error) {
	t.Helper()
	return buildConfigVariant(t, "banking-shadow.yaml", edits...)
}

// buildConfigVariant builds configs/name with each of edits (old, new
// pairs) applied to its text, as configs/variant.yaml.
func buildConfigVariant(t *testing.T, name string, edits ...string) (*Plan, error) {
	t.Helper()
	b, err := os.ReadFile("../../configs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("%q is not in %s", edits[i], name)
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	f, err := yamldoc.Parse("../../configs/variant.yaml", []byte(text))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	s, err := spec.Decode(f, yamldoc.MapEnv(nil))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	return Build(s)
}

// TestShadowLint: a shadow ruleset must bind to the stage like the live
// one, and its table must take what the stage fills it with, beside the
// stage's decisions; each mistake is reported where it is, with the fix.
func TestShadowLint(t *testing.T) {
	unbound := filepath.Join(t.TempDir(), "unbound.yaml")
	if err := os.WriteFile(unbound, []byte(`ruleset: unbound
inputs:
  tx: {amount: money}
  account: {limit: money}
rules:
  - {id: big, when: tx.amount > account.limit, outcome: declined}
default: {outcome: pending}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	const table = "      live_rule: string\n"
	tests := []struct {
		name  string
		edits []string
		want  string // "" when it builds
	}{
		{"as shipped", nil, ""},
		{"no table: decisions only counted", []string{"    shadow_to: db:shadow_decisions\n", ""}, ""},
		{"a table without a shadow", []string{"    shadow: ../rules/validation-next.yaml\n", ""},
			"variant.yaml:166:16: shadow_to: stage validate has no shadow ruleset (shadow: PATH) whose decisions it would take"},
		{"the live rules themselves", []string{"shadow: ../rules/validation-next.yaml", "shadow: ../rules/validation.yaml"},
			"shadow: ../rules/validation.yaml is the stage's live rules; name the rule file to try beside them"},
		{"a ruleset that does not bind", []string{"shadow: ../rules/validation-next.yaml", "shadow: " + unbound},
			`ruleset unbound reads input "account", but this stage has no such record or value (it has: tx, card, customer)`},
		{"a missing file", []string{"shadow: ../rules/validation-next.yaml", "shadow: ../rules/nope.yaml"}, "no such file or directory"},
		{"another connector", []string{"shadow_to: db:shadow_decisions", "shadow_to: files:shadow_decisions"},
			"shadow_to: files:shadow_decisions is on connector files, but the stage's decisions go to db: put it beside them, so that both are written in one commit"},
		{"the output table", []string{"shadow_to: db:shadow_decisions", "shadow_to: db:transactions"},
			"shadow_to: db:transactions is the stage's own output table"},
		{"a lookup's table", []string{"shadow_to: db:shadow_decisions", "shadow_to: db:cards"},
			"shadow_to: db:cards is the table of lookup card: the shadow never writes what the stage reads"},
		{"a column nothing fills", []string{table, table + "      score: int?\n"},
			"column shadow_decisions.score is none the stage fills: the shadow decision's rule, outcome, reason, version, hash, the live one's (live_outcome...), error, or a column of tx"},
		{"a column of another type", []string{"      version: int\n", "      version: string\n"},
			"column shadow_decisions.version is string, but what fills it is int"},
		{"a hash too short", []string{"      hash: char(12)\n", "      hash: char(8)\n"},
			"column shadow_decisions.hash is char(8), but what fills it is string"},
		{"an error that cannot be null", []string{"      error: string?\n", "      error: string\n"},
			"column shadow_decisions.error is string, but what fills it is string?"},
		{"a record column of another type", []string{"      amount: money\n      outcome", "      amount: int\n      outcome"},
			"column shadow_decisions.amount is int, but what fills it is money"},
		{"keyed by what the record lacks", []string{"  shadow_decisions:\n    key: transaction_id\n    columns:\n",
			"  shadow_decisions:\n    key: shadow_id\n    columns:\n      shadow_id: int\n"},
			"shadow_to: the key of table shadow_decisions, shadow_id, is not a column of the stage's record tx"},
		{"live_ columns of the live decision", []string{table, table + "      live_hash: char(12)?\n      live_version: int?\n      live_reason: string?\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := buildVariant(t, tt.edits...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want it to build: %s", yamldoc.Details(err))
			case tt.want == "":
				s := plan.Stage("validate").(*streamStage)
				if s.shadow == nil || (s.shadowSchema == nil) != strings.Contains(tt.name, "no table") {
					t.Errorf("shadow %v, shadow table %v", s.shadow != nil, s.shadowSchema != nil)
				}
			case err == nil:
				t.Fatalf("built; want %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Errorf("got:\n%s\nwant it to contain:\n%s", yamldoc.Details(err), tt.want)
			}
		})
	}
}
