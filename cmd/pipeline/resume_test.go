package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
)

// TestInterruptedSaysHowToGoOn: an interrupted run says which command goes
// on from where it stopped: the stage it stopped in and those after it,
// not the whole spec again (which starts with reset). A dry-run keeps
// nothing, so it is run again.
func TestInterruptedSaysHowToGoOn(t *testing.T) {
	var b bytes.Buffer
	for _, tc := range []struct {
		name string
		args []string
		rest []string
		sig  syscall.Signal
	}{
		{"run, SIGTERM in validate", []string{"run", "configs/banking.yaml"}, []string{"validate", "export-stream", "settle", "export-settled"}, syscall.SIGTERM},
		{"run of two stages with a group, Ctrl-C in the first", []string{"run", "my specs/x.yaml", "--stage", "rekey", "--stage", "validate", "--group", "g1", "--follow"}, []string{"rekey", "validate"}, syscall.SIGINT},
		{"dry-run", []string{"dry-run", "configs/banking.yaml"}, []string{"settle", "export-settled"}, syscall.SIGINT},
	} {
		var got error
		app := &cli.App{Name: "pipeline", Writer: &b, ErrWriter: &b, ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{
				{Name: "run", Flags: []cli.Flag{stageFlag(), &cli.StringFlag{Name: "group"}, &cli.BoolFlag{Name: "follow"}}, Action: func(c *cli.Context) error {
					return withGoOn(c, &engine.StageError{Stage: tc.rest[0], Err: context.Canceled, Rest: tc.rest})
				}},
				{Name: "dry-run", Flags: []cli.Flag{stageFlag()}, Action: func(c *cli.Context) error {
					return &engine.StageError{Stage: tc.rest[0], Err: context.Canceled, Rest: tc.rest}
				}},
			}}
		got = app.Run(interspersed(app, append([]string{"pipeline"}, tc.args...)))
		fmt.Fprintf(&b, "--- %s\n", tc.name)
		status := report(&b, got, interrupted{tc.sig})
		fmt.Fprintf(&b, "exit status %d\n", status)
	}
	golden(t, filepath.Join("testdata", "state", "interrupted.golden"), b.String())
}
