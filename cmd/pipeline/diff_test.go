package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// blocklistStep is the step a spec gains to use testdata/diff/blocklist.yaml.
const blocklistStep = `    steps:
      - name: blocklist
        update: db:transactions
        as: tx
        where: (tx.status ?? "") == "pending"
        rules: ../rules/blocklist.yaml
        set: {status: new_status}
`

// scratchRepo commits the specs, rules and data of the repository (and the
// velocity fixtures, as velocity/) in a scratch git repository, and returns
// it with a function that runs git in it.
func scratchRepo(t *testing.T) (string, func(args ...string)) {
	t.Helper()
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
	gitDo := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitDo("init", "-q")
	gitDo("add", ".")
	gitDo("commit", "-qm", "rules")
	return repo, gitDo
}

// TestDiff commits the banking spec, rules and data in a scratch git
// repository, edits the working tree, and pins what `pipeline diff`
// shows, as text and as JSON (testdata/diff/NAME.txt and NAME.json; -update
// rewrites them): a threshold moved (the README's example), a value of a
// decision table changed (same rules decide, scores move), a rule file the
// base revision lacks (and its mirror, one the working tree lacks), and a
// spec whose rule file exists nowhere.
func TestDiff(t *testing.T) {
	repo, gitDo := scratchRepo(t)
	blocklist, err := os.ReadFile("testdata/diff/blocklist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A branch that has the blocklist rule file, which the working tree
	// (back on the first branch) lacks.
	gitDo("checkout", "-qb", "with-blocklist")
	writeFile(t, filepath.Join(repo, "rules/blocklist.yaml"), string(blocklist))
	gitDo("add", ".")
	gitDo("commit", "-qm", "blocklist")
	gitDo("checkout", "-q", "-")

	spec := filepath.Join(repo, "configs/banking.yaml")
	velocity := filepath.Join(repo, "configs/banking-velocity.yaml")
	// edit replaces old by new in file; with old "", it writes a new file.
	type edit struct{ file, old, new string }
	threshold := []edit{{"rules/validation.yaml", ">= 0.5 * card.credit_limit", ">= 0.6 * card.credit_limit"}}
	band := []edit{{"rules/credit_score.yaml", "{id: usage_10, when: usage <= 10, value: 15}", "{id: usage_10, when: usage <= 10, value: 20}"}}
	useBlocklist := edit{"configs/banking.yaml", "    steps:\n", blocklistStep}
	newFile := []edit{useBlocklist, {"rules/blocklist.yaml", "", string(blocklist)}}
	nowhere := []edit{{"configs/banking.yaml", "    steps:\n", strings.Replace(blocklistStep, "blocklist.yaml", "nosuch.yaml", 1)}}
	for _, c := range []struct {
		name    string
		edits   []edit
		dataset string
		args    []string
	}{
		{"unchanged", nil, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--exit-code"}},
		{"threshold_60", threshold, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--exit-code"}},
		{"threshold_60", threshold, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--format", "json"}},
		{"band_value", band, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--exit-code"}},
		{"band_value", band, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--format", "json"}},
		{"new_rule_file", newFile, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--limit", "3"}},
		{"new_rule_file", newFile, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--format", "json", "--limit", "3"}},
		{"removed_rule_file", []edit{useBlocklist}, "dataset_16", []string{"diff", spec, "--base", "with-blocklist", "--limit", "2"}},
		{"rule_file_nowhere", nowhere, "dataset_16", []string{"diff", spec, "--base", "HEAD"}},
		{"unknown_revision", nil, "dataset_16", []string{"diff", spec, "--base", "nosuchbranch"}},
		{"bad_format", nil, "dataset_16", []string{"diff", spec, "--base", "HEAD", "--format", "xml"}},
		// A spec with windows: four transactions in 10 minutes are allowed.
		{"velocity_count_4", []edit{{"rules/validation-velocity.yaml", "when: card_10m.count >= 3", "when: card_10m.count >= 4"}},
			"velocity", []string{"diff", velocity, "--base", "HEAD", "--exit-code"}},
	} {
		json := strings.Contains(strings.Join(c.args, " "), "--format json")
		name := c.name
		if json {
			name += "_json"
		}
		t.Run(name, func(t *testing.T) {
			t.Setenv("DATASET", c.dataset)
			for _, e := range c.edits {
				path := filepath.Join(repo, e.file)
				if e.old == "" {
					writeFile(t, path, e.new)
					defer os.Remove(path)
					continue
				}
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				edited := strings.Replace(string(orig), e.old, e.new, 1)
				if edited == string(orig) {
					t.Fatalf("%s has no %q to edit", e.file, e.old)
				}
				writeFile(t, path, edited)
				defer writeFile(t, path, string(orig))
			}
			out, err := pipeline(t, c.args...)
			if json {
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata/diff", c.name+".json"), strings.ReplaceAll(out, repo, "$REPO"))
				return
			}
			var msg bytes.Buffer
			status := report(&msg, err, nil)
			got := fmt.Sprintf("$ pipeline %s\n%s%sexit status %d\n", strings.Join(c.args, " "), out, msg.String(), status)
			golden(t, filepath.Join("testdata/diff", c.name+".txt"), strings.ReplaceAll(got, repo, "$REPO"))
		})
	}
}

// TestReadmeExamples: the diff and statistics examples of the README are
// what the commands print (testdata/diff/threshold_60.txt and
// testdata/stats/banking.txt, pinned by TestDiff and TestDryRunStats): each
// line of the example is there, in order; "..." skips lines.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	hash := regexp.MustCompile(`\([0-9a-f]{12}\)`)
	for _, c := range []struct{ after, golden string }{
		{"What does a rule edit change?", "testdata/diff/threshold_60.txt"},
		{"How often does each rule fire", "testdata/stats/banking.txt"},
	} {
		_, rest, ok := strings.Cut(string(readme), c.after)
		if !ok {
			t.Fatalf("the README has no %q", c.after)
		}
		_, block, ok := strings.Cut(rest, "```\n")
		block, _, ok2 := strings.Cut(block, "```")
		if !ok || !ok2 {
			t.Fatalf("no example after %q", c.after)
		}
		want, err := os.ReadFile(c.golden)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(want), "\n")
		at := 0
		for _, l := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
			if l == "..." {
				continue
			}
			l = hash.ReplaceAllString(l, "(HASH)")
			for at < len(lines) && lines[at] != l {
				at++
			}
			if at == len(lines) {
				t.Errorf("README example after %q: %q is not in %s (in order)", c.after, l, c.golden)
				break
			}
		}
	}
}
