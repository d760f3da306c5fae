package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pipeline/engine/stats"
)

// TestDryRunStats pins the statistics of the banking dry-run on dataset_16
// (testdata/stats/banking.json and banking.txt; -update rewrites them):
// per ruleset, every rule's decided and fired counts, the declined and
// pending amounts. They agree with the result file (362 pending, 40
// declined: 30 far_merchant, 9 large_amount, 1 over_limit). Content hashes
// show as HASH in the golden, so that editing a comment in a rule file
// does not break it; they are checked to be the rule files' own.
func TestDryRunStats(t *testing.T) {
	out := t.TempDir()
	js := filepath.Join(out, "stats.json")
	got := mustPipeline(t, "dry-run", "../../configs/banking.yaml", "--out", out, "--stats", "--stats-json", js)
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var r stats.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	for _, rs := range r.Rulesets {
		src, err := os.ReadFile(filepath.Join("../../rules", rs.Ruleset+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(src)
		if want := hex.EncodeToString(sum[:6]); rs.Hash != want {
			t.Errorf("ruleset %s: hash %s, want %s", rs.Ruleset, rs.Hash, want)
		}
	}
	hashes := regexp.MustCompile(`"hash": "[0-9a-f]{12}"`)
	golden(t, "testdata/stats/banking.json", hashes.ReplaceAllString(string(data), `"hash": "HASH"`))

	// The table printed after the summary says the same.
	var table strings.Builder
	printStats(&table, &r)
	if !strings.HasSuffix(got, table.String()) {
		t.Errorf("dry-run --stats does not end with the statistics table:\n%s", got)
	}
	golden(t, "testdata/stats/banking.txt", regexp.MustCompile(`\([0-9a-f]{12}\)`).ReplaceAllString(table.String(), "(HASH)"))
	counts := map[string]int64{}
	for _, o := range r.Rulesets[0].Outcomes {
		counts[o.Outcome] = o.Records
	}
	for _, x := range r.Rulesets[0].Rules {
		counts[x.Rule] = x.Decided
	}
	for _, row := range readCSV(t, filepath.Join(out, "stream_transactions.csv"))[1:] {
		counts[row[8]]--
		counts[row[10]]--
	}
	for k, n := range counts {
		if n != 0 {
			t.Errorf("%s: the statistics count %d more than the result file", k, n)
		}
	}
}
