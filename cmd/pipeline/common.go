package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// loadPlan loads and checks the spec named by the only argument.
func loadPlan(c *cli.Context) (*stage.Plan, error) {
	if c.NArg() != 1 {
		return nil, cli.Exit(fmt.Sprintf("usage: pipeline %s SPEC (one spec file, e.g. configs/NAME.yaml)", c.Command.Name), 2)
	}
	return loadPlanAt(c, c.Args().First())
}

// loadPlanAt loads and checks the spec at path.
func loadPlanAt(c *cli.Context, path string) (*stage.Plan, error) {
	env, err := yamldoc.NewEnv(c.String("env-file"))
	if err != nil {
		return nil, err
	}
	plan, err := engine.Load(path, env, registry())
	if err != nil {
		return nil, cli.Exit(yamldoc.Details(err), 1)
	}
	return plan, nil
}

// logger logs to the app's error output (stderr, with secrets hidden), as
// --log-format and --log-level say (serve.go): stage events with -v or as
// a service, warnings otherwise. It is also the default logger, which
// connectors log to. A bad flag value was refused in the app's Before.
func logger(c *cli.Context) *slog.Logger {
	log, err := newLogger(c)
	if err != nil {
		log = slog.New(slog.NewTextHandler(errWriter(c.App), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	slog.SetDefault(log)
	return log
}

// printSummary prints one line per stage, the dead letters, and where the
// data went: each connector's place and the folders files were written to.
func printSummary(w io.Writer, sum engine.Summary) {
	if len(sum.Stages) == 0 {
		return // no stage ran: the error says why
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tkind\tin\tout\tdead\tdup\tseconds\trecords/s\t")
	for _, s := range sum.Stages {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.3f\t%.0f\t\n", s.Name, s.Kind, s.Stats.In, s.Stats.Out, s.Stats.Dead, s.Stats.Dup, s.Stats.Elapsed.Seconds(), s.Stats.Rate())
	}
	tw.Flush()
	for _, s := range sum.Stages {
		if s.Stats.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", s.Name, s.Stats.Note)
		}
	}
	if n := sum.Dead(); n > 0 {
		fmt.Fprintf(w, "%s:\n", plural(n, "dead letter"))
		for i, d := range sum.DeadLetters {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more (see the dead-letter file)\n", n-10)
				break
			}
			fmt.Fprintf(w, "  %s [%s]: %s\n", d.Source, d.Stage, d.Reason)
		}
	}
	for _, pl := range sum.Places {
		fmt.Fprintf(w, "%s: %s\n", pl.Connector, pl.Where)
	}
	if len(sum.Folders) > 0 {
		fmt.Fprintf(w, "files written to %s\n", strings.Join(sum.Folders, ", "))
	}
}

// plural returns "1 thing" or "N things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// command builds a verb from its parts: its name, the arguments it takes,
// what it does in a line and in full (the help's description), and the
// rest (flags, action) in c.
func command(name, args, usage, description string, c cli.Command) *cli.Command {
	c.Name, c.ArgsUsage, c.Usage, c.Description = name, args, usage, description
	return &c
}
