package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	enginediff "pipeline/engine/diff"
	htmlreport "pipeline/engine/report"
	"pipeline/engine/yamldoc"
)

func diffCommand() *cli.Command {
	return command("diff", "SPEC", "dry-run two versions of the rules over the same data; list every record whose outcome or written values changed",
		`Dry-runs SPEC twice over the same data: once with the rule files as they are
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
   DATASET=/data/big pipeline diff configs/NAME.yaml --base v1.4.0`, cli.Command{
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "base", Required: true, Usage: "git revision `REV` (commit, branch, tag) holding the rules to compare with"},
				&cli.IntFlag{Name: "limit", Value: 50, Usage: "list at most `N` changed records per stage (0: all); JSON lists all unless it is given"},
				&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text for people, json for machines"},
				&cli.BoolFlag{Name: "exit-code", Usage: "exit with status 1 when any record changed, as git diff --exit-code"},
				&cli.StringFlag{Name: "report", Usage: "also write the changes as an HTML report to `FILE`: transitions as bar charts, changed columns, the changed records searchable"},
			},
			Action: runDiff,
		})
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
		if c.IsSet("limit") {
			r.Limit(c.Int("limit"))
		}
		err = writeJSON(c.App.Writer, r)
	} else {
		r.WriteText(c.App.Writer, c.Int("limit"))
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
