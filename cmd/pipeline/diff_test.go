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

// TestDiff commits the banking spec, rules and data in a scratch git
// repository, raises the large_amount threshold from 50% to 60% of the
// limit in the working tree, and pins what `pipeline diff --base HEAD`
// lists (testdata/diff/NAME.txt; -update rewrites them).
func TestDiff(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed:", err)
	}
	repo := t.TempDir()
	for _, d := range []string{"configs", "rules", "dataset_16"} {
		if err := os.CopyFS(filepath.Join(repo, d), os.DirFS(filepath.Join("../..", d))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(repo, "velocity"), os.DirFS("testdata/velocity")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rules"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	spec := filepath.Join(repo, "configs/banking.yaml")
	velocity := filepath.Join(repo, "configs/banking-velocity.yaml")
	type edit struct{ file, old, new string }
	threshold := &edit{"rules/validation.yaml", ">= 0.5 * card.credit_limit", ">= 0.6 * card.credit_limit"}
	for _, c := range []struct {
		name    string
		edit    *edit
		dataset string
		args    []string
	}{
		{"unchanged", nil, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--exit-code"}},
		{"threshold_60", threshold, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--exit-code"}},
		{"unknown_revision", nil, "dataset_16", []string{"diff", spec, "--base", "nosuchbranch"}},
		// A spec with windows: four transactions in 10 minutes are allowed.
		{"velocity_count_4", &edit{"rules/validation-velocity.yaml", "when: card_10m.count >= 3", "when: card_10m.count >= 4"},
			"velocity", []string{"diff", velocity, "--base", "HEAD", "--exit-code"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DATASET", c.dataset)
			if c.edit != nil {
				path := filepath.Join(repo, c.edit.file)
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				edited := strings.Replace(string(orig), c.edit.old, c.edit.new, 1)
				if edited == string(orig) {
					t.Fatalf("%s has no %q to edit", c.edit.file, c.edit.old)
				}
				writeFile(t, path, edited)
				defer writeFile(t, path, string(orig))
			}
			out, err := pipeline(t, c.args...)
			var msg bytes.Buffer
			status := report(&msg, err, nil)
			got := fmt.Sprintf("$ pipeline %s\n%s%sexit status %d\n", strings.Join(c.args, " "), out, msg.String(), status)
			golden(t, filepath.Join("testdata/diff", c.name+".txt"), strings.ReplaceAll(got, repo, "$REPO"))
		})
	}
}
