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

// TestWindowNullTimeMessage: a record whose window time is null goes to the
// dead letters with a message that says so, not Go's <nil>.
func TestWindowNullTimeMessage(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"spec.yaml": `name: nulltime
connectors:
  db: {kind: memory}
  bus: {kind: memory}
  files: {kind: csv, line_ending: lf}
tables:
  orders: {key: id, columns: {id: int, acct: int, at: "datetime?"}}
  decided: {key: id, columns: {id: int, outcome: string}}
topics:
  orders: {schema: orders, key: acct, partitions: 1}
stages:
  - {name: publish, kind: publish, from: "files:orders.csv", to: bus:orders}
  - name: decide
    kind: stream
    from: bus:orders
    as: o
    windows:
      w: {key: o.acct, time: o.at, span: 1h, values: {n: count()}}
    rules: r.yaml
    to: db:decided
    emit: {outcome: decision.outcome}
`,
		"r.yaml": `ruleset: r
inputs: {w: {n: int}}
default: {outcome: ok}
`,
		"orders.csv": "id,acct,at\n1,1,2025-01-01 00:00:00\n2,1,\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(nil), registry())
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
	if len(sum.DeadLetters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(sum.DeadLetters), sum.DeadLetters)
	}
	if r := sum.DeadLetters[0].Reason; r != "window w: the record has no time (its time is null)" || strings.Contains(r, "nil") {
		t.Errorf("dead letter %q", r)
	}
}
