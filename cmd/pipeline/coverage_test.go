package main

import (
	"path/filepath"
	"testing"
)

// TestRuleCoverage: pipeline test --coverage on the shipped rules lists
// every rule, table row and default with the tests that decide and reach
// it (golden), and --min-coverage fails below the share given.
func TestRuleCoverage(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"rules", []string{"test", "--coverage", "rules"}},
		{"min_coverage_met", []string{"test", "--min-coverage", "60", "rules/validation.yaml", "rules/legacy"}},
		{"min_coverage_below", []string{"test", "--min-coverage", "100", "rules/validation.yaml", "rules/legacy"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			golden(t, filepath.Join("testdata/coverage", c.name+".txt"), seenByUser(t, root, c.args))
		})
	}
}
