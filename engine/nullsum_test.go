package engine_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSumOfNullsIsZero: a sum over a group whose values are all null is 0,
// as over an empty group, whether the table folds it (pushed down, as SQL
// would, where it is null) or the stage does; min and max stay null
// (docs/ARCHITECTURE.md, "Aggregates").
func TestSumOfNullsIsZero(t *testing.T) {
	out := t.TempDir()
	dryRun(t, "testdata/nullsum/spec.yaml", out)
	got, err := os.ReadFile(filepath.Join(out, "groups.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// Group 1: only nulls; 2: 1.50 and a null (7.00 filtered out); 3: no row passes.
	want := "id,pushed,folded,pushed_max,folded_max\n1,0.00,0.00,,\n2,1.50,1.50,1.50,1.50\n3,0.00,0.00,,\n"
	if string(got) != want {
		t.Errorf("groups.csv:\n%s\nwant:\n%s", got, want)
	}
}
