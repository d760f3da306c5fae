package stage

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestSinkLint: every sink of configs/banking-alerts.yaml's validate stage,
// its where and its emit, and every export where, are checked when the
// spec is built; each mistake is reported at its line and column, with the
// fix. The messages, with their lines and carets, are in
// testdata/sink_lint.golden (go test -update rewrites it).
func TestSinkLint(t *testing.T) {
	const (
		first   = "      - db:transactions\n"
		reviews = "      - to: db:reviews\n        where: decision.outcome == \"declined\"\n        emit: {customer_id: card.customer_id, rule: decision.rule, reason: decision.reason}\n"
		alerts  = "      - to: bus:alerts\n        where: decision.outcome == \"declined\"\n        emit: {customer_id: card.customer_id, rule: decision.rule, reason: decision.reason}\n"
	)
	tests := []struct {
		name  string
		edits []string
	}{
		{"as shipped", nil},
		{"a where on the first sink", []string{first, "      - {to: db:transactions, where: 'decision.outcome == \"pending\"'}\n"}},
		{"an emit on the first sink and on the stage", []string{first, "      - {to: db:transactions, emit: {status: decision.outcome}}\n"}},
		{"no such table or topic", []string{"      - to: db:reviews\n", "      - to: db:review\n"}},
		{"a table on another connector", []string{"      - to: db:reviews\n", "      - to: files:reviews\n"}},
		{"a table twice", []string{alerts, reviews}},
		{"a lookup's table", []string{"      - to: db:reviews\n", "      - to: db:cards\n"}},
		{"the topic read", []string{"      - to: bus:alerts\n", "      - to: bus:transactions\n"}},
		{"a topic without a key", []string{"    schema: alerts\n    key: transaction_id\n", "    schema: alerts\n"}},
		{"a misspelt where", []string{reviews, strings.Replace(reviews, "decision.outcome", "decision.outcom", 1)}},
		{"a where that is not a condition", []string{reviews, strings.Replace(reviews, `decision.outcome == "declined"`, "decision.rule", 1)}},
		{"an emit column the table lacks", []string{reviews, strings.Replace(reviews, "rule: decision.rule", "rules: decision.rule", 1)}},
		{"an emit of the wrong type", []string{alerts, strings.Replace(alerts, "customer_id: card.customer_id", "customer_id: tx.merchant_name", 1)}},
		{"the stage's emit, which the table cannot take", []string{reviews, "      - {to: db:reviews, where: 'decision.outcome == \"declined\"'}\n"}},
		{"a column nothing fills", []string{alerts, strings.Replace(alerts, "customer_id: card.customer_id, ", "", 1)}},
		{"an export where on a misspelt column", []string{`where: (tx.status ?? "") == "declined"`, `where: (tx.statut ?? "") == "declined"`}},
		{"an export where that may be null", []string{`where: (tx.status ?? "") == "declined"`, `where: tx.status == "declined"`}},
		{"an export as without a where", []string{"        where: (tx.status ?? \"\") == \"declined\"\n", ""}},
		{"a load with a where", []string{`- {from: "files:${DATASET:-dataset_16}/cards.csv", to: db:cards}`,
			`- {from: "files:${DATASET:-dataset_16}/cards.csv", to: db:cards, where: "true"}`}},
	}
	var out strings.Builder
	for _, tt := range tests {
		plan, err := buildConfigVariant(t, "banking-alerts.yaml", tt.edits...)
		fmt.Fprintf(&out, "== %s\n", tt.name)
		if err != nil {
			out.WriteString(strings.ReplaceAll(yamldoc.Details(err), "../../configs/", "configs/") + "\n")
			if tt.name == "as shipped" {
				t.Errorf("as shipped: %s", yamldoc.Details(err))
			}
			continue
		}
		if tt.name != "as shipped" {
			t.Errorf("%s: built; want an error", tt.name)
			continue
		}
		s := plan.Stage("validate").(*streamStage)
		var kinds []string
		for _, k := range s.sinks {
			kind := "table"
			if k.topic != nil {
				kind = "topic keyed by " + k.topic.Key
			}
			kinds = append(kinds, fmt.Sprintf("%s (%s, where %v)", k.id, kind, k.whereDecision != nil))
		}
		fmt.Fprintf(&out, "builds: decisions to %s; then %s\n", s.out, strings.Join(kinds, "; "))
	}
	golden(t, "sink_lint.golden", out.String())
}

// TestOutboxRecordText: a record goes through the outbox as text and comes
// back the same, nulls and exact decimals included; text that is not a
// record of the schema is refused with what is wrong.
func TestOutboxRecordText(t *testing.T) {
	sch := schema.MustNew("alerts", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "amount", Type: mustType(t, "money")},
		{Name: "at", Type: schema.DateTimeType},
		{Name: "note", Type: mustType(t, "string?")},
	}, "id")
	amount, _ := mustType(t, "money").Parse("-1234.50")
	at, _ := schema.DateTimeType.Parse("2025-04-01 02:11:17")
	rows := []schema.Row{{7, amount, at, nil}, {8, amount, at, "a \"quoted\", ünïcode note"}}
	for _, r := range rows {
		text := encodeRecord(sch, r)
		got, err := decodeRecord(sch, text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if diff := cmp.Diff(fmt.Sprint(r), fmt.Sprint(got)); diff != "" {
			t.Errorf("%s came back otherwise (-want +got):\n%s", text, diff)
		}
	}
	bad := []struct{ text, err string }{
		{`{"id":"7","amount":"1.00","at":"2025-04-01 02:11:17"}`, "no column note (was the schema of alerts changed while records waited in the outbox?)"},
		{`{"id":null,"amount":"1.00","at":"2025-04-01 02:11:17","note":null}`, "column id is null, and int is not nullable"},
		{`{"id":"x","amount":"1.00","at":"2025-04-01 02:11:17","note":null}`, "column id: "},
		{`[1]`, "not a record of alerts: "},
	}
	for _, b := range bad {
		_, err := decodeRecord(sch, b.text)
		if err == nil || !strings.Contains(err.Error(), b.err) {
			t.Errorf("%s: error %v, want %q", b.text, err, b.err)
		}
	}
}

func mustType(t *testing.T, s string) schema.Type {
	t.Helper()
	typ, err := schema.ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}
