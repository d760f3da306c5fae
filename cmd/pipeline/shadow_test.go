package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// dryRunDecided dry-runs the spec at path over dataset_16 into out and
// returns every decision the runtime reported (stage.Runtime.Decided).
func dryRunDecided(t *testing.T, path, out string) []stage.Decided {
	t.Helper()
	env := yamldoc.MapEnv(map[string]string{"DATASET": "dataset_16"})
	plan, err := engine.Load(path, env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	var (
		mu      sync.Mutex
		decided []stage.Decided
	)
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true, ExportDir: out,
		Decided: func(d stage.Decided) {
			mu.Lock()
			decided = append(decided, d)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return decided
}

// fileHash is what Ruleset.Hash is for the file at path.
func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// TestDryRunShadowChangesNothing: banking-shadow.yaml is banking.yaml with
// a challenger ruleset in the shadow of validate. Its four result files are
// banking.yaml's, byte for byte: the shadow changes no state and no output.
// Its decisions are recorded beside the live ones (shadow_decisions.csv,
// and Decided.Shadow for statistics): they disagree on transaction 75 alone,
// which the live rules decline as large (50% of the limit) and the
// challenger's 60% lets through.
func TestDryRunShadowChangesNothing(t *testing.T) {
	plain, shadowed := t.TempDir(), t.TempDir()
	liveDecided := dryRunDecided(t, "../../configs/banking.yaml", plain)
	decided := dryRunDecided(t, "../../configs/banking-shadow.yaml", shadowed)
	for _, f := range resultFiles {
		a, err := os.ReadFile(filepath.Join(plain, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(shadowed, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			sameResults(t, filepath.Join(shadowed, f), filepath.Join(plain, f), decimal.Decimal{})
			t.Errorf("%s: the shadow changed it", f)
		}
	}
	liveHash, shadowHash := fileHash(t, "../../rules/validation.yaml"), fileHash(t, "../../rules/validation-next.yaml")

	// Decided: every validate decision has its shadow; the others none.
	agree, shadows := 0, 0
	var disagree []string
	for _, d := range decided {
		if d.Stage != "validate" {
			if d.Shadow != nil {
				t.Errorf("stage %s, step %s, key %s: a shadow decision %+v outside the stage with the shadow", d.Stage, d.Step, d.Key, *d.Shadow)
			}
			continue
		}
		if d.Shadow == nil {
			t.Fatalf("validate, key %s: no shadow decision", d.Key)
		}
		shadows++
		if d.Hash != liveHash || d.Shadow.Hash != shadowHash || d.Version != 1 || d.Shadow.Version != 2 {
			t.Errorf("key %s: live version %d hash %s, shadow version %d hash %s; want 1 %s and 2 %s",
				d.Key, d.Version, d.Hash, d.Shadow.Version, d.Shadow.Hash, liveHash, shadowHash)
		}
		if d.Outcome == d.Shadow.Outcome && d.Rule == d.Shadow.Rule {
			agree++
		} else {
			disagree = append(disagree, d.Key+": "+d.Outcome+"/"+d.Rule+" -> "+d.Shadow.Outcome+"/"+d.Shadow.Rule)
		}
	}
	if len(decided) != len(liveDecided) {
		t.Errorf("%d decisions reported with the shadow, %d without", len(decided), len(liveDecided))
	}
	want := []string{"75: declined/large_amount -> pending/default"}
	if shadows != 402 || agree != 401 || strings.Join(disagree, "; ") != strings.Join(want, "; ") {
		t.Errorf("validate: %d shadow decisions, %d agree, disagree on %q; want 402, 401, %q", shadows, agree, disagree, want)
	}

	// shadow_decisions.csv: one row per transaction, beside the live decision.
	rows := readCSV(t, filepath.Join(shadowed, "shadow_decisions.csv"))
	if got := strings.Join(rows[0], ","); got != "transaction_id,card_id,amount,outcome,rule,reason,version,hash,live_outcome,live_rule,error" {
		t.Fatalf("shadow_decisions.csv header: %s", got)
	}
	status := map[string][]string{} // transaction_id -> status, rule in stream_transactions.csv
	for _, r := range readCSV(t, filepath.Join(shadowed, "stream_transactions.csv"))[1:] {
		status[r[0]] = []string{r[8], r[10]}
	}
	if len(rows)-1 != len(status) {
		t.Errorf("%d shadow decisions for %d transactions", len(rows)-1, len(status))
	}
	for _, r := range rows[1:] {
		if live := status[r[0]]; live == nil || live[0] != r[8] || live[1] != r[9] {
			t.Errorf("transaction %s: live decision %s/%s in shadow_decisions.csv, %v in stream_transactions.csv", r[0], r[8], r[9], live)
		}
		if r[6] != "2" || r[7] != shadowHash || r[10] != "" {
			t.Errorf("transaction %s: shadow version %s, hash %s, error %q; want 2, %s, none", r[0], r[6], r[7], r[10], shadowHash)
		}
		if r[0] == "75" && (r[3] != "pending" || r[4] != "default" || r[8] != "declined" || r[9] != "large_amount") {
			t.Errorf("transaction 75: %v", r)
		}
	}
}
