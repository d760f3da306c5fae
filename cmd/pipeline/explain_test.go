package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplain pins what `pipeline explain` prints for records of the
// banking spec (testdata/explain/NAME.txt; -update rewrites them).
// Transaction 45 is declined by large_amount although over_limit would
// hold too; card and customer 1 show every settlement ruleset; the shadow
// rules pass transaction 75, which the live ones decline.
// Transaction 197 is at a blocked merchant: the list shows as its size.
func TestExplain(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		dataset string // "" for dataset_16
	}{
		{"transaction_45", []string{"explain", "../../configs/banking.yaml", "--id", "45", "--stage", "validate"}, ""},
		{"key_1_settle", []string{"explain", "../../configs/banking.yaml", "--id", "1", "--stage", "settle"}, ""},
		{"legacy_45", []string{"explain", "../../configs/banking-legacy.yaml", "--id", "45"}, ""},
		{"unknown_key", []string{"explain", "../../configs/banking.yaml", "--id", "nope"}, ""},
		{"no_id", []string{"explain", "../../configs/banking.yaml"}, ""},
		{"unknown_stage", []string{"explain", "../../configs/banking.yaml", "--id", "45", "--stage", "nosuch"}, ""},
		{"velocity_5", []string{"explain", "../../configs/banking-velocity.yaml", "--id", "5", "--stage", "validate"}, "cmd/pipeline/testdata/velocity"},
		{"velocity_10", []string{"explain", "../../configs/banking-velocity.yaml", "--id", "10", "--stage", "validate"}, "cmd/pipeline/testdata/velocity"},
		{"shadow_75", []string{"explain", "../../configs/banking-shadow.yaml", "--id", "75", "--stage", "validate"}, ""},
		{"blocklist_197", []string{"explain", "../../configs/banking-blocklist.yaml", "--id", "197", "--stage", "validate"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DATASET", "dataset_16")
			if c.dataset != "" {
				t.Setenv("DATASET", c.dataset)
			}
			out, err := pipeline(t, c.args...)
			var msg bytes.Buffer
			status := report(&msg, err, nil)
			got := fmt.Sprintf("$ pipeline %s\n%s%sexit status %d\n", strings.Join(c.args, " "), out, msg.String(), status)
			golden(t, filepath.Join("testdata/explain", c.name+".txt"), got)
		})
	}
}
