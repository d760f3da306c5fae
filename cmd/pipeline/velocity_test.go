package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of configs/banking-velocity.yaml: windows in a stream stage.

const (
	velocitySpec = "../../configs/banking-velocity.yaml"
	customerSpec = "../../configs/banking-customer.yaml"
)

// TestVelocityBoundaries: on the hand-made transactions of
// testdata/velocity (its README says why each decides as it does), the
// dry-run decides exactly on the edges of the windows: a record exactly a
// span back is in, one a nanosecond more is out, records of any outcome
// count, declined amounts do not.
func TestVelocityBoundaries(t *testing.T) {
	out := t.TempDir()
	t.Setenv("DATASET", "cmd/pipeline/testdata/velocity")
	mustPipeline(t, "dry-run", velocitySpec, "--out", out)
	var b strings.Builder
	for _, r := range readCSV(t, filepath.Join(out, "stream_transactions.csv")) {
		b.WriteString(strings.Join([]string{r[0], r[8], r[9], r[10]}, ",") + "\n")
	}
	golden(t, "testdata/velocity/decided.golden", b.String())
}

// TestVelocityRunEqualsDryRun: pipeline run (MySQL, the embedded broker,
// window state committed with the offsets) gives the dry-run's files, on
// the hand-made boundaries and on generated transactions dense enough to
// trip the velocity rules thousands of times; a second run, which starts
// from reset, too. So does the customer-keyed window of
// configs/banking-customer.yaml, read from a re-keyed topic.
func TestVelocityRunEqualsDryRun(t *testing.T) {
	_, gen := binaries(t)
	dense := t.TempDir()
	if out, err := exec.Command(gen, "-out", dense, "-transactions", "20000", "-customers", "400", "-cards", "8", "-seed", "3").CombinedOutput(); err != nil {
		t.Fatalf("gendata: %v\n%s", err, out)
	}
	abs, err := filepath.Abs("testdata/velocity")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec, data string
		files      []string
		decided    string // counts the decisions the windows made
	}{
		{velocitySpec, abs, resultFiles, "SELECT COUNT(*) FROM transactions WHERE rule LIKE 'velocity%'"},
		{velocitySpec, dense, resultFiles, "SELECT COUNT(*) FROM transactions WHERE rule LIKE 'velocity%'"},
		{customerSpec, dense, append(resultFiles[:len(resultFiles):len(resultFiles)], "customer_reviews.csv"),
			"SELECT COUNT(*) FROM customer_reviews WHERE status = 'review'"},
	} {
		name := filepath.Base(c.spec) + " on " + filepath.Base(c.data)
		db := testDatabase(t)
		t.Setenv("DATASET", c.data)
		dry := t.TempDir()
		mustPipeline(t, "dry-run", c.spec, "--out", dry)
		for run := 1; run <= 2; run++ {
			out := t.TempDir()
			t.Setenv("RESULTS", out)
			mustPipeline(t, "run", c.spec)
			for _, f := range c.files {
				got, _ := os.ReadFile(filepath.Join(out, f))
				want, _ := os.ReadFile(filepath.Join(dry, f))
				if !bytes.Equal(got, want) || len(want) == 0 {
					t.Errorf("%s, run %d: %s differs from the dry-run's", name, run, f)
				}
			}
		}
		var states, windowed int
		db.QueryRow("SELECT COUNT(*) FROM _pipeline_state").Scan(&states)
		db.QueryRow(c.decided).Scan(&windowed)
		if states == 0 || windowed == 0 {
			t.Errorf("%s: %d window states stored, %d decisions by a window: want both", name, states, windowed)
		}
		t.Logf("%s: %d decisions by a window, %d window states stored", name, windowed, states)
	}
}

// TestLintStateKeys: state kept under a key that is not the topic's (a
// customer window on the card-keyed topic) fails lint, with the fix.
func TestLintStateKeys(t *testing.T) {
	for _, name := range []string{"window_by_customer", "window_unkeyed_topic"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata/velocity", name+".yaml")
			out, err := pipeline(t, "lint", path)
			var msg bytes.Buffer
			status := report(&msg, err, nil)
			golden(t, filepath.Join("testdata/velocity", name+".golden"), fmt.Sprintf("%s%sexit status %d\n", out, msg.String(), status))
		})
	}
}
