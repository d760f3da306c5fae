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
		spec    string   // in testdata/shop
		sub     string   // SUB, for overlap.yaml's export "before"
		stage   string   // the stage that fails
		errText string   // in its error
		done    []string // stages logged as done before it
	}{
		// The last stage runs in the foreground (Run): its folder cannot be made.
		{"foreground", "spec.yaml", "", "export", "blocker", []string{"reset", "load", "publish", "decide", "settle"}},
		// An export followed by a batch stage runs in the background: it
		// fails in its finish, and is logged when the run joins it.
		{"background", "overlap.yaml", "/blocker/sub", "before", "blocker", []string{"reset", "load", "publish", "decide"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := t.TempDir(), t.TempDir()
			for _, f := range []string{"accounts.csv", "orders.csv"} {
				b, err := os.ReadFile(filepath.Join("testdata/shop/in", f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(in, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A file where the failing export wants a folder.
			if err := os.WriteFile(filepath.Join(out, "blocker"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"IN": in, "OUT": out, "SUB": tc.sub}
			if tc.sub == "" {
				vars["OUT"] = filepath.Join(out, "blocker")
			}
			plan, err := engine.Load(filepath.Join("testdata/shop", tc.spec), yamldoc.MapEnv(vars), registry())
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
				t.Fatalf("the run succeeded with %s in the way", filepath.Join(out, "blocker"))
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
