package diff

import (
	"context"
	"sync"

	"pipeline/engine"
	"pipeline/engine/schema"
	"pipeline/engine/stage"
)

// place is a stream stage, or a step of a batch stage.
type place struct{ stage, step string }

// rowID names a row a place decided or wrote: the record's own row
// (lookup "") or a row of a lookup a stream stage saves.
type rowID struct {
	lookup string
	key    string
}

// row is what one run did to one row.
type row struct {
	decided bool
	outcome string
	rule    string
	dead    bool
	measure any // the stage's measure for the record, when it has one
	table   *schema.Schema
	cols    []int // the columns written, when written
	vals    []any // their values
}

// run is everything one dry-run decided and wrote, by place.
type run struct {
	mu     sync.Mutex
	places map[place]map[rowID]*row
}

func (r *run) row(p place, id rowID) *row {
	rows := r.places[p]
	if rows == nil {
		rows = map[rowID]*row{}
		r.places[p] = rows
	}
	x := rows[id]
	if x == nil {
		x = &row{}
		rows[id] = x
	}
	return x
}

// observe keeps a record's decision and measure.
func (r *run) observe(o stage.Observed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.row(place{o.Stage, o.Step}, rowID{"", o.Key})
	x.decided, x.measure = true, o.Measure
	x.outcome, x.rule, x.dead = o.Outcome, o.Rule, o.Err != nil
}

// wrote keeps the values a row was written with (the last time, for the
// rows a stream stage saves).
func (r *run) wrote(w stage.Written) {
	vals := make([]any, len(w.Columns))
	for i, c := range w.Columns {
		vals[i] = w.Row[c]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.row(place{w.Stage, w.Step}, rowID{w.Lookup, w.Key})
	x.table, x.cols, x.vals = w.Table, w.Columns, vals
}

// dryRun runs plan with memory connectors and returns what it did.
func dryRun(ctx context.Context, plan *stage.Plan, opts engine.Options) (*run, error) {
	r := &run{places: map[place]map[rowID]*row{}}
	opts.Decided, opts.Observe, opts.Wrote = nil, r.observe, r.wrote
	if err := engine.DryRunAside(ctx, plan, opts); err != nil {
		return nil, err
	}
	return r, nil
}
