package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

// TestOutputsDoNotLeakBetweenRecords is the stage-level regression test of
// the output leak: in a dry-run, a record whose deciding rule does not set
// an output sees it null, like its rule test, not the value the record
// before it was given. The stream stage reads the output through then (into
// a field it emits), the batch step through its set.
func TestOutputsDoNotLeakBetweenRecords(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"spec.yaml": `name: leak
connectors:
  db: {kind: memory}
  bus: {kind: memory}
  files: {kind: csv, line_ending: lf}
tables:
  orders: {key: id, columns: {id: int, amount: money, tag: "string?"}}
  decided: {key: id, columns: {id: int, amount: money, tag: "string?", outcome: string, label: "string?"}}
topics:
  orders: {schema: orders, key: id, partitions: 1}
stages:
  - {name: publish, kind: publish, from: "files:orders.csv", to: bus:orders}
  - name: decide
    kind: stream
    from: bus:orders
    as: order
    rules: tag.yaml
    to: db:decided
    emit: {outcome: decision.outcome}
  - name: label
    kind: batch
    steps:
      - {name: label, update: db:decided, as: d, rules: label.yaml, set: {label: label}}
  - name: export
    kind: export
    copy: [{from: db:decided, to: "files:${OUT}/decided.csv"}]
`,
		"tag.yaml": `ruleset: tag
inputs: {order: {amount: money, tag: "string?"}}
outputs: {mark: "string?"}
rules:
  - {id: big, when: order.amount > 3, outcome: big, set: {mark: '"big"'}}
default: {outcome: small}
then:
  order.tag: mark
`,
		"label.yaml": `ruleset: label
inputs: {d: {amount: money}}
outputs: {label: "string?"}
rules:
  - {id: big, when: d.amount > 3, outcome: big, set: {label: '"big"'}}
default: {outcome: small}
`,
		"orders.csv": "id,amount,tag\n1,5.00,\n2,1.00,\n3,2.00,\n4,9.00,\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	plan, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Dead(); n > 0 {
		t.Fatalf("%d dead letters: %+v", n, sum.DeadLetters)
	}
	got, err := os.ReadFile(filepath.Join(out, "decided.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// Before the fix, orders 2 and 3 had tag and label "big", from order 1.
	want := "id,amount,tag,outcome,label\n1,5.00,big,big,big\n2,1.00,,small,\n3,2.00,,small,\n4,9.00,big,big,big\n"
	if string(got) != want {
		t.Errorf("decided.csv:\n%s\nwant:\n%s", got, want)
	}
}

// TestUnsetOutputFailsLint: since an output the deciding rule does not set
// is null, a batch step may not put it into a column that is not nullable.
func TestUnsetOutputFailsLint(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"spec.yaml": `name: unset
connectors:
  db: {kind: memory}
tables:
  decided: {key: id, columns: {id: int, amount: money, label: string}}
stages:
  - name: label
    kind: batch
    steps:
      - {name: label, update: db:decided, as: d, rules: label.yaml, set: {label: label}}
`,
		"label.yaml": `ruleset: label
inputs: {d: {amount: money}}
outputs: {label: string}
rules:
  - {id: big, when: d.amount > 3, outcome: big, set: {label: '"big"'}}
default: {outcome: small}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(nil), registry())
	want := `spec.yaml:10:82: label may be null (rule default of ruleset label does not set it), but d.label (declared "string") may not be: give it a default, e.g. label ?? ""`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error containing %s", err, want)
	}
}
