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

// TestEmitCopyFailure: emit copies plain fields without evaluating them,
// but a copy that fails (a null into a column that is not nullable) gives
// the dead letter emit evaluated whole gives.
func TestEmitCopyFailure(t *testing.T) {
	src, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The decisions go to a table whose rule column is not nullable, and
	// rule copies the order's status, which is always null.
	spec := strings.Replace(string(src), "topics:\n", "  decisions:\n    key: order_id\n"+
		"    columns: {order_id: int, account_id: int, amount: money, at: datetime, status: \"string?\", rule: string, used: \"money?\"}\ntopics:\n", 1)
	spec = strings.Replace(spec, "    to: db:orders\n", "    to: db:decisions\n", 1)
	spec = strings.Replace(spec, "      status: decision.outcome\n      rule: decision.rule\n", "      status: 'decision.outcome + \"!\"'\n      rule: order.status\n", 1)
	spec = strings.ReplaceAll(spec, "rules.yaml", filepath.Join(mustAbs(t, "testdata/shop"), "rules.yaml"))
	spec = strings.ReplaceAll(spec, "${IN:-in}", filepath.Join(mustAbs(t, "testdata/shop"), "in"))
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": dir}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	ctx := context.Background()
	p, err := engine.Open(ctx, plan, engine.Options{Registry: registry(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(ctx, []string{"reset", "load", "publish", "decide"})
	if err != nil {
		t.Fatal(err)
	}
	emitLetters := 0
	for _, d := range sum.DeadLetters {
		if strings.HasPrefix(d.Reason, "emit:") {
			emitLetters++
			if want := "emit: rule default: set _out.rule: empty value in a column that is not nullable"; d.Reason != want {
				t.Fatalf("dead letter %q, want %q", d.Reason, want)
			}
		}
	}
	if emitLetters != 1000 {
		t.Fatalf("%d records failed emit, want all 1000 decided", emitLetters)
	}
}
