package engine

import (
	"context"
	"fmt"
	"os"

	"pipeline/engine/stage"
)

// DryRunAside dry-runs every stage of plan for what its hooks see (opts's
// Observe, Wrote, Trace...), writing its result files to a temporary
// folder removed after: the runs of `pipeline diff` and `pipeline
// explain`, which keep no file. It sets opts.DryRun and opts.ExportDir.
func DryRunAside(ctx context.Context, plan *stage.Plan, opts Options) error {
	out, err := os.MkdirTemp("", "pipeline-aside-")
	if err != nil {
		return fmt.Errorf("a folder for the dry-run's files: %w", err)
	}
	defer os.RemoveAll(out)
	opts.DryRun, opts.ExportDir = true, out
	p, err := Open(ctx, plan, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.Run(ctx, nil)
	return err
}
