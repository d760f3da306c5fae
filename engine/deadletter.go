package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// DeadLetterSchema is the shape of a dead-letter file or table.
var DeadLetterSchema = schema.MustNew("dead_letters", []schema.Column{
	{Name: "stage", Type: schema.StringType},
	{Name: "source", Type: schema.StringType},
	{Name: "reason", Type: schema.StringType},
	{Name: "payload", Type: schema.StringType},
	{Name: "time", Type: schema.DateTimeType},
}, "")

// writeDeadLetters writes the run's dead letters to the spec's
// dead_letters file (when it names one), replacing what an earlier run left.
func (p *Pipeline) writeDeadLetters(ctx context.Context, dead []port.DeadLetter) error {
	target := p.plan.Spec.DeadLetters
	if !target.Set() {
		return nil
	}
	ref, err := spec.ParseRef(target)
	if err != nil {
		return err
	}
	files, err := p.Files(ctx, ref)
	if err != nil {
		return err
	}
	path := ref.Name
	if p.opts.ExportDir != "" {
		path = filepath.Join(p.opts.ExportDir, filepath.Base(path))
	}
	w, err := files.Create(ctx, path, DeadLetterSchema)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	for _, d := range dead {
		if err := w.Write(schema.Row{d.Stage, d.Source.String(), d.Reason, d.Payload, d.Time.Truncate(time.Second)}); err != nil {
			w.Close()
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	return w.Close()
}
