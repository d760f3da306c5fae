package explain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"pipeline/engine"
	"pipeline/engine/stage"
)

// NotFound is Record's error when no ruleset evaluated a record with the
// key (in the stages asked for).
type NotFound struct {
	Key    string
	Stages []string // the stages asked for; none for all
}

func (e *NotFound) Error() string {
	where := ""
	if len(e.Stages) > 0 {
		where = " in stage " + strings.Join(e.Stages, ", ")
	}
	return fmt.Sprintf("no ruleset evaluated a record with key %s%s (is it in the data? a record that went to the dead letters before its rules ran is not explained)",
		e.Key, where)
}

// Record dry-runs plan (engine.DryRunAside: memory connectors, no file
// kept) and returns every ruleset evaluation of the
// record whose key is key, in the order they ran, in the stages only
// (every stage still runs; all when only is empty). opts gives the
// registry and the log; Record sets the dry-run and trace options. It
// returns a *NotFound when no evaluation was seen.
func Record(ctx context.Context, plan *stage.Plan, key string, only []string, opts engine.Options) ([]stage.Trace, error) {
	if err := engine.CheckStages(plan, only); err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		traces []stage.Trace
	)
	opts.TraceKey = key
	opts.Trace = func(t stage.Trace) {
		if len(only) > 0 && !slices.Contains(only, t.Stage) {
			return
		}
		mu.Lock()
		traces = append(traces, t)
		mu.Unlock()
	}
	if err := engine.DryRunAside(ctx, plan, opts); err != nil {
		return nil, err
	}
	if len(traces) == 0 {
		return nil, &NotFound{Key: key, Stages: only}
	}
	return traces, nil
}
