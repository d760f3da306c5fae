package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
)

// goOn is the error of an interrupted `run`, with the command that goes on
// from where it stopped: the stages left, named one by one, since running
// the whole spec again starts with its reset stage.
type goOn struct {
	err error
	cmd string
}

func (g *goOn) Error() string { return g.err.Error() }

// Unwrap returns the run's error.
func (g *goOn) Unwrap() error { return g.err }

// withGoOn wraps err, a run's error, in a goOn when a stage ended it: the
// command names the spec, the stage that ended the run and those after it,
// and the --group and --follow of this one.
func withGoOn(c *cli.Context, err error) error {
	var se *engine.StageError
	if !errors.As(err, &se) || len(se.Rest) == 0 {
		return err
	}
	args := []string{"pipeline", c.Command.Name, shellQuote(c.Args().First())}
	for _, s := range se.Rest {
		args = append(args, "--stage", shellQuote(s))
	}
	if g := c.String("group"); g != "" {
		args = append(args, "--group", shellQuote(g))
	}
	if c.Bool("follow") {
		args = append(args, "--follow")
	}
	return &goOn{err: err, cmd: strings.Join(args, " ")}
}

// shellQuote returns s as a shell word: as is when it holds only safe
// characters, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
