package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/stage"
)

func explainCommand() *cli.Command {
	return &cli.Command{
		Name:      "explain",
		Usage:     "show how each rule evaluated for one record, with the values it saw",
		ArgsUsage: "SPEC",
		Description: `Dry-runs SPEC (memory connectors, as dry-run; no result file is written) and,
for every ruleset evaluation of the record whose key is ID, prints the fields
the rules read, each let, each rule's condition and its value, the decision
and what the deciding rule set. The record sees the state it saw in the run:
the records before it in its key's order are decided first.

A stream stage traces the record whose output key is ID (its id column);
a batch step with rules traces the row of its table with key ID, so one ID
may show several evaluations (use --stage to keep some).

Examples:
   pipeline explain configs/NAME.yaml --id 45
   pipeline explain configs/NAME.yaml --id 1 --stage settle
   DATASET=/data/big pipeline explain configs/NAME.yaml --id 123456`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Required: true, Usage: "key `ID` of the record to explain, as written in the data (e.g. 45)"},
			&cli.StringSliceFlag{Name: "stage", Aliases: []string{"s"}, Usage: "show only evaluations in stage `NAME` (repeatable); every stage still runs"},
		},
		Action: explain,
	}
}

func explain(c *cli.Context) error {
	plan, err := loadPlan(c)
	if err != nil {
		return err
	}
	out, err := os.MkdirTemp("", "pipeline-explain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	var (
		mu     sync.Mutex
		traces []stage.Trace
	)
	only := c.StringSlice("stage")
	if err := engine.CheckStages(plan, only); err != nil {
		return err
	}
	opts := engine.Options{DryRun: true, ExportDir: out, Registry: registry(), Log: logger(c),
		TraceKey: c.String("id"),
		Trace: func(t stage.Trace) {
			if len(only) > 0 && !slices.Contains(only, t.Stage) {
				return
			}
			mu.Lock()
			traces = append(traces, t)
			mu.Unlock()
		}}
	p, err := engine.Open(c.Context, plan, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	if _, err := p.Run(c.Context, nil); err != nil {
		return err
	}
	if len(traces) == 0 {
		return cli.Exit(fmt.Sprintf("no ruleset evaluated a record with key %s%s (is it in the data? a record that went to the dead letters before its rules ran is not explained)",
			c.String("id"), stageNote(only)), 1)
	}
	for i, t := range traces {
		if i > 0 {
			fmt.Fprintln(c.App.Writer)
		}
		writeTrace(c.App.Writer, t)
	}
	return nil
}

func stageNote(only []string) string {
	if len(only) == 0 {
		return ""
	}
	return " in stage " + strings.Join(only, ", ")
}

// writeTrace prints one explanation for a person.
func writeTrace(w io.Writer, t stage.Trace) {
	x := t.Explanation
	where := "stage " + t.Stage
	if t.Step != "" {
		where += ", step " + t.Step
	}
	if t.Shadow {
		where += ", shadow (decided beside the live rules; changes nothing)"
	}
	fmt.Fprintf(w, "%s: %s\n", where, t.Source)
	fmt.Fprintf(w, "ruleset %s version %d, hash %s (%s)\n", x.Ruleset, x.Version, x.Hash, x.Path)
	writeWindows(w, t.Windows)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(x.Fields) > 0 {
		fmt.Fprintln(tw, "  values read:")
		for _, v := range x.Fields {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
	}
	if len(x.Lets) > 0 {
		fmt.Fprintln(tw, "  let:")
		for _, v := range x.Lets {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
	}
	if len(x.Rules) > 0 {
		fmt.Fprintln(tw, "  rules, in order (the first that holds decides):")
		decided := false
		for _, r := range x.Rules {
			when := r.When
			if when == "" {
				when = "(default)"
			}
			mark := ""
			switch {
			case r.Decided:
				mark = "\t<- decides"
				if r.Outcome != "" {
					mark += ": " + r.Outcome
				}
				decided = true
			case decided:
				mark = "\t(not reached)"
			}
			fmt.Fprintf(tw, "    %s\tline %d\t%s\t%s%s\n", r.ID, r.Line, when, r.Result, mark)
		}
	}
	tw.Flush()
	if x.Err != nil {
		fmt.Fprintf(w, "  error: %v (the record goes to the dead letters)\n", x.Err)
		return
	}
	d := x.Decision
	if d.Rule == "" {
		fmt.Fprintln(w, "  decision: no rule holds and there is no default")
		return
	}
	if d.Outcome != "" {
		fmt.Fprintf(w, "  decision: %s by %s", d.Outcome, d.Rule)
	} else {
		fmt.Fprintf(w, "  decided by %s", d.Rule)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, ": %s", d.Reason)
	}
	fmt.Fprintln(w)
	if len(x.Sets) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if t.Shadow {
			fmt.Fprintln(tw, "  would set (on copies; nothing is kept):")
		} else {
			fmt.Fprintln(tw, "  set:")
		}
		for _, v := range x.Sets {
			fmt.Fprintf(tw, "    %s\t= %s\n", v.Name, v)
		}
		tw.Flush()
	}
}

// maxWindowRecords is how many of a window's records explain lists.
const maxWindowRecords = 20

// writeWindows prints what each window of a stream stage held for the
// record: its values and the records they were made of.
func writeWindows(w io.Writer, ws []stage.WindowTrace) {
	for _, wt := range ws {
		fmt.Fprintf(w, "  window %s (key %s, span %s up to %s): %s decided before this one\n",
			wt.Name, wt.Key, spanText(wt.Span), wt.Time.Format(time.DateTime), plural(len(wt.Records), "record"))
		for _, v := range wt.Values {
			fmt.Fprintf(w, "    %s = %s\n", v.Name, v)
		}
		for i, r := range wt.Records {
			if i == maxWindowRecords {
				fmt.Fprintf(w, "    ... and %d more\n", len(wt.Records)-i)
				break
			}
			fmt.Fprintf(w, "    record %s at %s\n", r.ID, r.Time.Format(time.DateTime))
		}
	}
}

// spanText writes a span as a spec would: 10m, 24h, 7d, 1h30m.
func spanText(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
