// Command pipeline runs declarative data pipelines described in YAML specs,
// with business rules written as expr expressions in rule files.
//
// It wires connectors (csv files, memory, MySQL, Kafka) to the engine and
// holds no logic of its own: see the engine package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		// A second Ctrl-C kills the process the usual way.
		signal.Stop(sigs)
		cancel(interrupted{sig})
	}()
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	os.Exit(report(errWriter(app), err, context.Cause(ctx)))
}

// interrupted is the cause of the run's end when a signal stopped it.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

// signalName returns SIGINT or SIGTERM rather than Go's "interrupt".
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// report prints err the way a user sees it and returns the exit status:
// 0 without an error, the code of a cli.ExitCoder, 128 + the signal's
// number when a signal (cause) interrupted the run, 1 otherwise.
func report(w io.Writer, err error, cause error) int {
	if err == nil {
		return 0
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		if msg := exit.Error(); msg != "" {
			fmt.Fprintln(w, prefixed(msg))
		}
		return exit.ExitCode()
	}
	var intr interrupted
	if errors.As(cause, &intr) && errors.Is(err, context.Canceled) {
		where := ""
		var se *engine.StageError
		if errors.As(err, &se) {
			where = " during stage " + se.Stage
		}
		how := "run it again to go on"
		var g *goOn
		if errors.As(err, &g) {
			how = "to go on, run: " + g.cmd
		}
		fmt.Fprintf(w, "pipeline: %s%s: what was committed is kept and nothing is half-written; %s\n", intr, where, how)
		if n, ok := intr.sig.(syscall.Signal); ok {
			return 128 + int(n)
		}
		return 1
	}
	fmt.Fprintln(w, prefixed(yamldoc.Details(err)))
	return 1
}

// prefixed returns msg with "pipeline: " in front, once: every error the
// command prints starts so, whichever part of it failed.
func prefixed(msg string) string {
	return "pipeline: " + strings.TrimPrefix(msg, "pipeline: ")
}

func newApp() *cli.App {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	app := &cli.App{
		Name:    "pipeline",
		Usage:   "run declarative data pipelines: YAML specs, expr rules, CSV, Kafka and MySQL",
		Version: version(),
		Description: `A spec (configs/*.yaml) declares connectors, table and topic schemas, and
stages in order: load, publish, stream, batch, export. Business rules live in
rule files (rules/*.yaml) as expr expressions, compiled once and type-checked
against the schemas they read.

Typical day:
   pipeline lint configs/NAME.yaml               check specs and every rule they use
   pipeline test rules                           run the tests written in rule files
   pipeline dry-run configs/NAME.yaml            run offline over CSV fixtures
   pipeline diff configs/NAME.yaml --base HEAD   what your rule edits change
   pipeline explain configs/NAME.yaml --id 45    why record 45 got its outcome
   pipeline run configs/NAME.yaml                run against Kafka and MySQL`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "env-file", Value: ".env", Usage: "read variables for ${VAR} from `FILE` when it exists (the process environment wins)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log each stage as it starts and ends"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to `FILE` (for performance work)"},
			&cli.StringFlag{Name: "memprofile", Usage: "write an allocation profile to `FILE` at exit (for performance work)"},
			logFlags()[0],
			logFlags()[1],
		},
		Before: func(c *cli.Context) error {
			hideSecrets(c)
			if _, err := newLogger(c); err != nil {
				return err
			}
			return startProfile(c)
		},
		After: stopProfile,
		Commands: []*cli.Command{
			runCommand(),
			dryRunCommand(),
			lintCommand(),
			explainCommand(),
			diffCommand(),
			testCommand(),
			brokerCommand(),
			connectorsCommand(),
			versionCommand(),
			completionCommand(),
		},
		// main reports errors and picks the exit status; the library must not exit.
		ExitErrHandler:       func(*cli.Context, error) {},
		EnableBashCompletion: true,
		HideHelpCommand:      true,
	}
	friendlyUsage(app)
	return app
}
