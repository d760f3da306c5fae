package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	enginediff "pipeline/engine/diff"
	htmlreport "pipeline/engine/report"
	"pipeline/engine/yamldoc"
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "dry-run two versions of the rules over the same data; list every record whose outcome or written values changed",
		ArgsUsage: "SPEC",
		Description: `Dry-runs SPEC twice over the same data: once with the rule files as they are
in the git revision --base, once as they are in the working tree. The spec,
the data and the code are the same for both; only the rules differ. Then it
lists, stage by stage, every record whose decision (outcome and deciding
rule) or written values changed: the emitted columns of stream stages, the
set columns of batch steps. It counts the changes by column, with the exact
sum of the change of number columns, and by transition, with the sum of the
stage's measure. A rule file that one side does not have (added or removed
since --base) decides nothing there. No result file is written.

Examples:
   pipeline diff configs/NAME.yaml --base HEAD        uncommitted rule edits
   pipeline diff configs/NAME.yaml --base main~3 --limit 0
   pipeline diff configs/NAME.yaml --base HEAD --format json > diff.json
   pipeline diff configs/NAME.yaml --base HEAD --report /tmp/diff.html
   DATASET=/data/big pipeline diff configs/NAME.yaml --base v1.4.0`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "base", Required: true, Usage: "git revision `REV` (commit, branch, tag) holding the rules to compare with"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "list at most `N` changed records per stage (0: all); JSON lists all unless it is given"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text for people, json for machines"},
			&cli.BoolFlag{Name: "exit-code", Usage: "exit with status 1 when any record changed, as git diff --exit-code"},
			&cli.StringFlag{Name: "report", Usage: "also write the changes as an HTML report to `FILE`: transitions as bar charts, changed columns, the changed records searchable"},
		},
		Action: runDiff,
	}
}

func runDiff(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: pipeline diff SPEC --base REV", 2)
	}
	format := c.String("format")
	if format != "text" && format != "json" {
		return cli.Exit(fmt.Sprintf("--format %s: want text or json", format), 2)
	}
	tuneGC(dryRunGCPercent) // two dry-runs
	specPath := c.Args().First()
	env, err := yamldoc.NewEnv(c.String("env-file"))
	if err != nil {
		return err
	}
	before, after, err := enginediff.Plans(specPath, c.String("base"), env, registry())
	if err != nil {
		var es yamldoc.Errors
		var e *yamldoc.Error
		if errors.As(err, &es) || errors.As(err, &e) {
			return cli.Exit(yamldoc.Details(err), 1)
		}
		return err
	}
	r, err := enginediff.Run(c.Context, c.String("base"), specPath, before, after, engine.Options{Registry: registry(), Log: logger(c)})
	if err != nil {
		return err
	}
	if format == "json" {
		if limit := c.Int("limit"); c.IsSet("limit") && limit > 0 {
			for i := range r.Stages {
				r.Stages[i].Changes = r.Stages[i].Changes[:min(limit, len(r.Stages[i].Changes))]
			}
		}
		err = writeJSON(c.App.Writer, r)
	} else {
		writeDiff(c.App.Writer, r, c.Int("limit"))
	}
	if err != nil {
		return err
	}
	if path := c.String("report"); path != "" {
		page := r.Page("Rule changes in " + filepath.Base(r.Spec))
		if err := createFile(path, "--report", func(w io.Writer) error { return htmlreport.Write(w, page) }); err != nil {
			return err
		}
	}
	if r.Changed > 0 && c.Bool("exit-code") {
		return cli.Exit("", 1)
	}
	return nil
}

// writeJSON writes v as indented JSON, with <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeDiff prints the changed records stage by stage with their changed
// values and the changed columns, then a count by kind of change.
func writeDiff(w io.Writer, r *enginediff.Report, limit int) {
	fmt.Fprintf(w, "rules at %s -> rules in the working tree, same spec and data\n", r.Base)
	type kind struct {
		what    string
		records int64
		amount  string
	}
	var kinds []kind
	for _, s := range r.Stages {
		where := "stage " + s.Stage
		if s.Step != "" {
			where += ", step " + s.Step
		}
		fmt.Fprintf(w, "\n%s: %d records, %d changed\n", where, s.Records, s.Changed)
		writeChanges(w, s.Changes, limit)
		if len(s.Columns) > 0 {
			fmt.Fprintln(w, "  changed columns:")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, c := range s.Columns {
				delta := ""
				if c.Delta != "" {
					delta = "\t" + signed(c.Delta)
				}
				fmt.Fprintf(tw, "    %s.%s\t%d%s\n", c.Table, c.Column, c.Changed, delta)
			}
			tw.Flush()
		}
		for _, t := range s.Transitions {
			kinds = append(kinds, kind{fmt.Sprintf("%s: %s -> %s", where, decisionText(t.From), decisionText(t.To)), t.Records, t.Amount})
		}
		var sameDecision, undecided int64 // values changed only
		for _, ch := range s.Changes {
			switch {
			case ch.From != ch.To:
			case ch.From == enginediff.NotDecided:
				undecided++
			default:
				sameDecision++
			}
		}
		if sameDecision > 0 {
			kinds = append(kinds, kind{where + ": values changed, same decision", sameDecision, ""})
		}
		if undecided > 0 {
			kinds = append(kinds, kind{where + ": values changed", undecided, ""})
		}
	}
	fmt.Fprintf(w, "\n%d records changed", r.Changed)
	if r.Changed == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, ":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range kinds {
		amount := ""
		if k.amount != "" {
			amount = "\tamount " + k.amount
		}
		fmt.Fprintf(tw, "  %d\t%s%s\n", k.records, k.what, amount)
	}
	tw.Flush()
}

// writeChanges lists changed records, at most limit (0: all): each key
// with its decision (from -> to when it changed), then its changed values.
func writeChanges(w io.Writer, changes []enginediff.Record, limit int) {
	if limit > 0 && len(changes) > limit {
		defer fmt.Fprintf(w, "  ... and %d more (--limit 0 lists all)\n", len(changes)-limit)
		changes = changes[:limit]
	}
	width := 0
	for _, ch := range changes {
		width = max(width, len(ch.Key))
	}
	for _, ch := range changes {
		decision := decisionText(ch.From)
		switch {
		case ch.From != ch.To:
			decision += " -> " + decisionText(ch.To)
		case ch.From == enginediff.NotDecided:
			decision = ""
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-*s  %s", width, ch.Key, decision), " "))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range ch.Values {
			fmt.Fprintf(tw, "  %s    %s\t%s -> %s\n", strings.Repeat(" ", width), v.Column, enginediff.ValueText(v.From), enginediff.ValueText(v.To))
		}
		tw.Flush()
	}
}

// decisionText writes a decision label (outcome/rule) as people read it:
// "declined (large_amount)".
func decisionText(l string) string {
	switch l {
	case enginediff.NotDecided:
		return "not decided"
	case enginediff.DeadLetter:
		return l
	}
	if outcome, rule, ok := strings.Cut(l, "/"); ok {
		return outcome + " (" + rule + ")"
	}
	return l
}

// signed writes a delta with its sign: +12.50, -3, 0.
func signed(d string) string {
	if strings.HasPrefix(d, "-") || strings.Trim(d, "0.") == "" {
		return d
	}
	return "+" + d
}
