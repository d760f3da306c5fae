package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	enginediff "pipeline/engine/diff"
	htmlreport "pipeline/engine/report"
	"pipeline/engine/stats"
)

// writeStats prints the statistics (--stats) and writes them as JSON
// (--stats-json FILE).
func writeStats(c *cli.Context, r *stats.Report) error {
	if c.Bool("stats") {
		printStats(c.App.Writer, r)
	}
	if path := c.String("stats-json"); path != "" {
		if err := createFile(path, "--stats-json", func(w io.Writer) error { return writeJSON(w, r) }); err != nil {
			return err
		}
	}
	if path := c.String("report"); path != "" {
		page := r.Page("Statistics of " + filepath.Base(r.Spec))
		return createFile(path, "--report", func(w io.Writer) error { return htmlreport.Write(w, page) })
	}
	return nil
}

// createFile creates path and writes it with write; errors name the flag
// that asked for it.
func createFile(path, flag string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return nil
}

// printStats prints, per ruleset, a table of its rules and one of its
// outcomes, and how its shadow agreed.
func printStats(w io.Writer, r *stats.Report) {
	for _, rs := range r.Rulesets {
		where := "stage " + rs.Stage
		if rs.Step != "" {
			where += ", step " + rs.Step
		}
		fmt.Fprintf(w, "\n%s: ruleset %s version %d", where, rs.Ruleset, rs.Version)
		if rs.Hash != "" {
			fmt.Fprintf(w, " (%s)", rs.Hash)
		}
		fmt.Fprintf(w, ", %d records, %d dead", rs.Records, rs.Dead)
		if rs.Measure != "" {
			fmt.Fprintf(w, ", amount = sum of %s", rs.Measure)
		}
		fmt.Fprintln(w)
		amount := func(a string) string { return a }
		if rs.Measure == "" {
			amount = func(string) string { return "" }
		}
		// Names left, numbers right: names are padded to one width first.
		width := len("outcome")
		for _, x := range rs.Rules {
			width = max(width, len(x.Rule))
		}
		for _, o := range rs.Outcomes {
			width = max(width, len(o.Outcome))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-*s\tline\tdecided\tfired\t%s\n", width, "rule", amount("amount\t"))
		for _, x := range rs.Rules {
			fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%s\n", width, x.Rule, x.Line, x.Decided, x.Fired, amount(x.Amount+"\t"))
		}
		tw.Flush()
		if len(rs.Outcomes) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "%-*s\trecords\t%s\n", width, "outcome", amount("amount\t"))
			for _, o := range rs.Outcomes {
				fmt.Fprintf(tw, "%-*s\t%d\t%s\n", width, o.Outcome, o.Records, amount(o.Amount+"\t"))
			}
			tw.Flush()
		}
		if sh := rs.Shadow; sh != nil {
			fmt.Fprintf(w, "  shadow %s version %d: %d agree, %d disagree\n", sh.Ruleset, sh.Version, sh.Agree, sh.Disagree)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, t := range sh.Transitions {
				fmt.Fprintf(tw, "    %d\t%s -> %s\t%s\n", t.Records, enginediff.LabelText(t.From), enginediff.LabelText(t.To), t.Amount)
			}
			tw.Flush()
		}
	}
}
