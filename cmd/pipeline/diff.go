package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/rules"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "dry-run two versions of the rules over the same data; list every record whose outcome changed",
		ArgsUsage: "SPEC",
		Description: `Dry-runs SPEC twice over the same data: once with the rule files as they are
in the git revision --base, once as they are in the working tree. The spec,
the data and the code are the same for both; only the rules differ. Then it
lists, stage by stage, every record whose outcome or deciding rule changed,
and counts the changes by kind. No result file is written.

Examples:
   pipeline diff configs/NAME.yaml --base HEAD        uncommitted rule edits
   pipeline diff configs/NAME.yaml --base main~3 --limit 0
   DATASET=/data/big pipeline diff configs/NAME.yaml --base v1.4.0`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "git revision (commit, branch, tag) holding the rules to compare with"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list at most `N` changed records per stage (0: all)"},
			&cli.BoolFlag{Name: "exit-code", Usage: "exit with status 1 when any record changed, as git diff --exit-code"},
		},
		Action: runDiff,
	}
}

// decisions are a run's decisions by stage, step and key.
type decisions struct {
	mu    sync.Mutex
	by    map[decisionKey]outcome
	order []string // stage/step labels in the order first seen
}

type decisionKey struct{ where, key string }

// outcome is what a record got: its outcome and deciding rule, or the
// error that sent it to the dead letters.
type outcome struct{ outcome, rule, err string }

func (o outcome) String() string {
	switch {
	case o.err != "":
		return "dead letter"
	case o.outcome == "":
		return o.rule
	}
	return o.outcome + " (" + o.rule + ")"
}

func (d *decisions) add(x stage.Decided) {
	where := "stage " + x.Stage
	if x.Step != "" {
		where += ", step " + x.Step
	}
	o := outcome{outcome: x.Outcome, rule: x.Rule}
	if x.Err != nil {
		o = outcome{err: x.Err.Error()}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.order, where) {
		d.order = append(d.order, where)
	}
	d.by[decisionKey{where, x.Key}] = o
}

func runDiff(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: pipeline diff SPEC --base REV", 2)
	}
	specPath := c.Args().First()
	base := c.String("base")
	root, err := gitRoot(filepath.Dir(specPath))
	if err != nil {
		return err
	}
	if _, err := git(root, "rev-parse", "--verify", "--quiet", base+"^{commit}"); err != nil {
		return cli.Exit(fmt.Sprintf("pipeline: --base %s: no such revision in the git repository at %s (try HEAD, a branch, a tag or a commit)", base, root), 1)
	}
	env, err := yamldoc.NewEnv(c.String("env-file"))
	if err != nil {
		return err
	}
	basePlan, err := engine.Load(specPath, env, registry(), stage.LoadRules(func(path string) (*rules.Ruleset, error) {
		return gitRules(root, base, path)
	}))
	if err != nil {
		return cli.Exit(yamldoc.Details(err), 1)
	}
	plan, err := loadPlan(c)
	if err != nil {
		return err
	}
	before, err := decide(c, basePlan)
	if err != nil {
		return fmt.Errorf("dry-run with the rules of %s: %w", base, err)
	}
	after, err := decide(c, plan)
	if err != nil {
		return fmt.Errorf("dry-run with the rules of the working tree: %w", err)
	}
	changed := writeDiff(c.App.Writer, base, before, after, c.Int("limit"))
	if changed > 0 && c.Bool("exit-code") {
		return cli.Exit("", 1)
	}
	return nil
}

// decide dry-runs plan and returns every decision it made.
func decide(c *cli.Context, plan *stage.Plan) (*decisions, error) {
	out, err := os.MkdirTemp("", "pipeline-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	d := &decisions{by: map[decisionKey]outcome{}}
	p, err := engine.Open(c.Context, plan, engine.Options{DryRun: true, ExportDir: out, Registry: registry(), Log: logger(c), Decided: d.add})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if _, err := p.Run(c.Context, nil); err != nil {
		return nil, err
	}
	return d, nil
}

// writeDiff prints the changed records stage by stage and a count by kind
// of change, and returns how many records changed.
func writeDiff(w io.Writer, base string, before, after *decisions, limit int) int {
	fmt.Fprintf(w, "rules at %s -> rules in the working tree, same spec and data\n", base)
	order := append([]string(nil), before.order...)
	for _, o := range after.order {
		if !slices.Contains(order, o) {
			order = append(order, o)
		}
	}
	type change struct {
		key      string
		old, new outcome
	}
	total := 0
	kinds := map[string]int{}
	var kindOrder []string
	for _, where := range order {
		var changes []change
		n := 0
		seen := map[string]bool{}
		for _, d := range []*decisions{before, after} {
			for k := range d.by {
				if k.where != where || seen[k.key] {
					continue
				}
				seen[k.key] = true
				n++
				o, ok1 := before.by[k]
				a, ok2 := after.by[k]
				if !ok1 {
					o = outcome{rule: "not decided"}
				}
				if !ok2 {
					a = outcome{rule: "not decided"}
				}
				if o != a {
					changes = append(changes, change{k.key, o, a})
				}
			}
		}
		slices.SortFunc(changes, func(a, b change) int { return compareKeys(a.key, b.key) })
		fmt.Fprintf(w, "\n%s: %d records, %d changed\n", where, n, len(changes))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, ch := range changes {
			kind := fmt.Sprintf("%s: %s -> %s", where, ch.old, ch.new)
			if kinds[kind] == 0 {
				kindOrder = append(kindOrder, kind)
			}
			kinds[kind]++
			if limit > 0 && i == limit {
				fmt.Fprintf(tw, "  ... and %d more (--limit 0 lists all)\n", len(changes)-limit)
			}
			if limit > 0 && i >= limit {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t-> %s\n", ch.key, ch.old, ch.new)
		}
		tw.Flush()
		total += len(changes)
	}
	fmt.Fprintf(w, "\n%d records changed", total)
	if total == 0 {
		fmt.Fprintln(w)
		return 0
	}
	fmt.Fprintln(w, ":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, k := range kindOrder {
		fmt.Fprintf(tw, "%d\t  %s\n", kinds[k], k)
	}
	tw.Flush()
	return total
}

// compareKeys orders keys as numbers when both are, else as text.
func compareKeys(a, b string) int {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 == nil && err2 == nil && x != y {
		if x < y {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// gitRoot returns the top folder of the git work tree holding dir.
func gitRoot(dir string) (string, error) {
	out, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("diff compares with a git revision, but %s is not in a git work tree: %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// gitRules compiles the rule file at path as it is in revision rev.
func gitRules(root, rev, path string) (*rules.Ruleset, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("rules %s are outside the git work tree %s", path, root)
	}
	rel = filepath.ToSlash(rel)
	data, err := git(root, "show", rev+":"+rel)
	if err != nil {
		return nil, fmt.Errorf("rules %s at %s: %w", rel, rev, err)
	}
	f, err := yamldoc.Parse(rev+":"+rel, data)
	if err != nil {
		return nil, err
	}
	return rules.Compile(f)
}

// git runs git in dir and returns its output; its error says what git said.
func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
		}
		return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}
