package rules

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine/yamldoc"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestLintErrors compiles broken rule files and compares the errors a
// person sees (file:line:col, the line, a caret) with golden files.
func TestLintErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/lint/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no lint cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			got := yamldoc.Details(err) + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestMisspeltFieldPosition pins the acceptance case: a misspelt field is
// reported at its own line and column.
func TestMisspeltFieldPosition(t *testing.T) {
	_, err := Load("testdata/lint/misspelt_field.yaml")
	if err == nil {
		t.Fatal("want an error")
	}
	want := "testdata/lint/misspelt_field.yaml:7:18: tx has no field ammount"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start with %q", err, want)
	}
}

// TestShippedRules runs the tests written in every shipped rule file.
func TestShippedRules(t *testing.T) {
	files, _ := filepath.Glob("../../rules/*.yaml")
	legacy, _ := filepath.Glob("../../rules/legacy/*.yaml")
	files = append(files, legacy...)
	if len(files) < 6 {
		t.Fatalf("found %d rule files, want the 4 rulesets and 2 legacy ones", len(files))
	}
	for _, f := range files {
		rs, err := Load(f)
		if err != nil {
			t.Errorf("%s: %s", f, yamldoc.Details(err))
			continue
		}
		if rs.NumTests() == 0 {
			t.Errorf("%s has no tests", f)
		}
		for _, r := range rs.RunTests() {
			if !r.Passed() {
				t.Errorf("%s: %s: %s", r.Pos, r.Name, yamldoc.Details(r.Err))
			}
		}
	}
}
