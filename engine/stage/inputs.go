package stage

import (
	"context"
	"fmt"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// InputChecker is implemented by stages that read files (load, publish).
// A run checks the inputs of every stage it will run before it runs any,
// so that a missing file stops it before a reset empties anything.
type InputChecker interface {
	Runner
	// CheckInputs checks, changing nothing, that every file the stage
	// reads is there, readable, and starts as its schema wants (see
	// port.FileChecker). It returns one *InputError per file that is not.
	CheckInputs(ctx context.Context, rt *Runtime) []error
}

// InputError is an input file of a stage that cannot be read.
type InputError struct {
	Stage string
	File  spec.Ref // as the spec names it, with its position there
	Err   error
}

// Error names the stage, the file and what is wrong.
func (e *InputError) Error() string {
	return fmt.Sprintf("stage %s cannot read its input %s: %v", e.Stage, e.File, e.Err)
}

// Unwrap returns what is wrong with the file.
func (e *InputError) Unwrap() error { return e.Err }

// CheckInputs implements InputChecker for loads; exports read no file.
func (s *copyStage) CheckInputs(ctx context.Context, rt *Runtime) []error {
	if !s.load {
		return nil
	}
	var errs []error
	for _, j := range s.jobs {
		if err := checkInput(ctx, rt, j.file, j.schema); err != nil {
			errs = append(errs, &InputError{Stage: s.name, File: j.file, Err: err})
		}
	}
	return errs
}

// CheckInputs implements InputChecker.
func (s *publishStage) CheckInputs(ctx context.Context, rt *Runtime) []error {
	if err := checkInput(ctx, rt, s.file, s.tspec.Schema); err != nil {
		return []error{&InputError{Stage: s.name, File: s.file, Err: err}}
	}
	return nil
}

// checkInput reports why the file ref, read as rows of sc, cannot be
// opened: with port.FileChecker when its connector has it, else by
// opening it and closing it again.
func checkInput(ctx context.Context, rt *Runtime, ref spec.Ref, sc *schema.Schema) error {
	files, err := rt.Resources.Files(ctx, ref)
	if err != nil {
		return err
	}
	if fc, ok := files.(port.FileChecker); ok {
		return fc.CheckFile(ctx, ref.Name, sc)
	}
	r, err := files.Open(ctx, ref.Name, sc)
	if err != nil {
		return err
	}
	return r.Close()
}
