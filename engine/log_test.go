package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

// TestFailedStageIsLoggedAsFailed: with -v (an info logger) a stage that
// fails is logged as "stage failed" with its error, never as "stage done";
// the stages before it are logged as done.
func TestFailedStageIsLoggedAsFailed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string // files of testdata/shop/in copied to the input folder
		stage   string   // the stage that fails
		errText string   // in its error
		done    []string // stages logged as done before it
	}{
		// load runs in the foreground (Run).
		{"load", []string{"orders.csv"}, "load", "accounts.csv", []string{"reset"}},
		// publish overlaps the stream stage after it: it fails in Start.
		{"publish", []string{"accounts.csv"}, "publish", "orders.csv", []string{"reset", "load"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			for _, f := range tc.files {
				b, err := os.ReadFile(filepath.Join("testdata/shop/in", f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(in, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			plan, err := engine.Load("testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"IN": in, "OUT": out}), registry())
			if err != nil {
				t.Fatal(yamldoc.Details(err))
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if _, err := p.Run(context.Background(), nil); err == nil {
				t.Fatalf("the run succeeded without %s", filepath.Join(in, tc.errText))
			}
			var failed []string
			for _, line := range strings.Split(logs.String(), "\n") {
				switch {
				case strings.Contains(line, `msg="stage done" stage=`+tc.stage+" "):
					t.Errorf("the failed stage is logged as done: %s", line)
				case strings.Contains(line, `msg="stage failed"`):
					failed = append(failed, line)
				}
			}
			if len(failed) != 1 || !strings.Contains(failed[0], "stage="+tc.stage+" ") ||
				!strings.Contains(failed[0], "error=") || !strings.Contains(failed[0], tc.errText) {
				t.Errorf("want one line `stage failed stage=%s ... error=...%s...`, got %q\nall logs:\n%s", tc.stage, tc.errText, failed, logs.String())
			}
			for _, s := range tc.done {
				if !strings.Contains(logs.String(), `msg="stage done" stage=`+s+" ") {
					t.Errorf("stage %s is not logged as done:\n%s", s, logs.String())
				}
			}
		})
	}
}
