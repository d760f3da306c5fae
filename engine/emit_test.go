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
// but a copy that fails (a value too long for a char column) gives the
// dead letter emit evaluated whole gives. (A copy of a field that may be
// null into a column that may not fails lint.)
func TestEmitCopyFailure(t *testing.T) {
	src, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The decisions go to a table whose rule column holds 2 characters,
	// and rule copies the deciding rule's id, which is longer.
	spec := strings.Replace(string(src), "topics:\n", "  decisions:\n    key: order_id\n"+
		"    columns: {order_id: int, account_id: int, amount: money, at: datetime, status: \"string?\", rule: char(2), used: \"money?\"}\ntopics:\n", 1)
	spec = strings.Replace(spec, "    to: db:orders\n", "    to: db:decisions\n", 1)
	spec = strings.Replace(spec, "      status: decision.outcome\n", "      status: 'decision.outcome + \"!\"'\n", 1)
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
			// As emit evaluated whole words it: its one rule is "default".
			if !strings.HasPrefix(d.Reason, `emit: rule default: set _out.rule: "`) || !strings.HasSuffix(d.Reason, `" is longer than 2 characters`) {
				t.Fatalf("dead letter %q, want emit: rule default: set _out.rule: \"<the rule>\" is longer than 2 characters", d.Reason)
			}
		}
	}
	if emitLetters != 1000 {
		t.Fatalf("%d records failed emit, want all 1000 decided", emitLetters)
	}
}
