package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// errFound stops a scan at the first row a guard matches.
var errFound = errors.New("found")

// due reports whether the guard lets the stage run: some row matches.
func (g *guard) due(ctx context.Context, rt *Runtime) (bool, error) {
	t, err := rt.Resources.Table(ctx, g.ref, g.schema)
	if err != nil {
		return false, err
	}
	e := g.where.evaluator()
	vars := make([]any, 1)
	err = t.Scan(ctx, func(r schema.Row) error {
		vars[0] = r
		ok, err := e.matches(vars)
		if err != nil {
			return err
		}
		if ok {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// Run runs the stage's steps. When the tables live in a port.Transactor,
// the stage is one serializable tx (what it reads cannot change under it,
// and stream stages that read what it writes decide again after it), and
// when that connector is a port.Locker, no other run of the same stage
// overlaps it: a second run waits for the first, then finds its only_if
// false if the first did the work. See docs/ARCHITECTURE.md.
func (s *batchStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	// Open every table first: opening one may create it, which the
	// database does outside the stage's tx.
	for _, ref := range s.tables() {
		if _, err := rt.Resources.Table(ctx, ref.ref, ref.schema); err != nil {
			return st, fmt.Errorf("stage %s: %w", s.name, err)
		}
	}
	tx := s.transactor(rt)
	if l, ok := tx.(port.Locker); ok {
		release, err := l.Lock(ctx, "stage "+s.name, func(holder string) {
			if rt.Log != nil {
				rt.Log.Warn("another run of this stage is running: waiting for it to end", "stage", s.name, "holder", holder)
			}
		})
		if err != nil {
			return st, fmt.Errorf("stage %s: waiting for another run of it to end: %w", s.name, err)
		}
		defer release()
	}
	// Dead letters reach the runtime once the stage is done: a tx run
	// again after a deadlock finds them again.
	var dead []port.DeadLetter
	local := *rt
	local.DeadLetter = func(d port.DeadLetter) { dead = append(dead, d) }
	skipped := false
	run := func(ctx context.Context) error {
		st, dead, skipped = Stats{}, dead[:0], false
		if s.guard != nil {
			// Inside the tx: a run that waited for another finds the work
			// done (and locks what it read, so the answer holds).
			due, err := s.guard.due(ctx, &local)
			if err != nil {
				return fmt.Errorf("stage %s: only_if: %w", s.name, err)
			}
			if !due {
				skipped = true
				return nil
			}
		}
		for i, p := range s.steps {
			rt.Progress.SetStep(i+1, len(s.steps), p.name)
			if err := p.run(ctx, &local, s.name, &st); err != nil {
				return fmt.Errorf("stage %s, step %s: %w", s.name, p.name, err)
			}
		}
		return nil
	}
	var err error
	if tx != nil {
		err = tx.InTx(ctx, s.writes(), run)
	} else {
		err = run(ctx)
	}
	if err == nil && rt.DeadLetter != nil {
		for _, d := range dead {
			rt.DeadLetter(d)
		}
	}
	if err == nil && skipped && rt.Log != nil {
		rt.Log.Info("nothing to do: no row meets only_if", "stage", s.name)
	}
	st.Elapsed = time.Since(start)
	return st, err
}

// transactor returns the connector that can make the whole stage atomic:
// the one holding every table the stage reads and writes, when it is a
// port.Transactor. Otherwise nil.
func (s *batchStage) transactor(rt *Runtime) port.Transactor {
	refs := s.tables()
	if len(refs) == 0 {
		return nil
	}
	for _, r := range refs[1:] {
		if r.ref.Connector != refs[0].ref.Connector {
			return nil
		}
	}
	tx, _ := rt.Resources.Connector(refs[0].ref).(port.Transactor)
	return tx
}

// run executes one step: every row of the target table that passes the
// filter is evaluated, and the rows it changed are written back in batches.
func (p *step) run(ctx context.Context, rt *Runtime, stage string, st *Stats) error {
	table, err := rt.Resources.Table(ctx, p.target, p.schema)
	if err != nil {
		return err
	}
	if u, ok := table.(port.Updater); ok && p.push != nil && rt.Wrote == nil {
		n, err := u.UpdateWhere(ctx, p.push.set, p.push.where)
		if err != nil {
			return fmt.Errorf("updating %s: %w", p.target, err)
		}
		st.In += n
		st.Out += n
		rt.Progress.Add(n)
		return nil
	}
	var groups map[any][]any
	if p.agg != nil {
		if groups, err = p.agg.run(ctx, rt); err != nil {
			return err
		}
	}
	var where *evaluator
	if p.where != nil {
		where = p.where.evaluator()
	}
	// Collect the rows to evaluate first: lookups are then read in batches,
	// and the table is not written while it is scanned.
	var vars [][]any
	v := make([]any, len(p.sc.names)) // the row in hand; kept rows get their own copy
	// The kept scope values and the rows' copies, many to one allocation
	// each: apart, so that the rows written to the table keep no scope alive.
	var varBlock, rowCopies rowBlock
	err = table.Scan(ctx, func(r schema.Row) error {
		st.In++
		rt.Progress.Add(1)
		v[0] = r
		if p.agg != nil {
			p.agg.bind(v, groups[r[p.schema.Key]])
		}
		if where != nil {
			ok, err := where.matches(v)
			if err != nil {
				deadLetter(rt, st, stage, p.source(r), payloadOf(p.schema, r), fmt.Sprintf("step %s: where: %v", p.name, err))
				return nil
			}
			if !ok {
				return nil
			}
		}
		kept := []any(varBlock.row(len(v)))
		copy(kept, v)
		kept[0] = rowCopies.clone(r)
		vars = append(vars, kept)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", p.target, err)
	}
	if vars, err = p.fetchLookups(ctx, rt, stage, st, vars); err != nil {
		return err
	}
	return p.apply(ctx, rt, stage, st, table, vars)
}

// fetchLookups binds each lookup's rows, one Get per lookup and batch of keys.
func (p *step) fetchLookups(ctx context.Context, rt *Runtime, stage string, st *Stats, vars [][]any) ([][]any, error) {
	for _, l := range p.lookups {
		t, err := rt.Resources.Table(ctx, l.ref, l.schema)
		if err != nil {
			return nil, err
		}
		found := map[any]schema.Row{}
		var keys []any
		for _, v := range vars {
			k := keyOf(v[l.from], l.field)
			if _, ok := found[k]; !ok && k != nil {
				found[k] = nil
				keys = append(keys, k)
			}
		}
		for lo := 0; lo < len(keys); lo += writeBatch {
			chunk := keys[lo:min(lo+writeBatch, len(keys))]
			rows, err := t.Get(ctx, chunk)
			if err != nil {
				return nil, fmt.Errorf("looking up %s: %w", l.ref, err)
			}
			for i, r := range rows {
				found[chunk[i]] = r
			}
		}
		kept := vars[:0]
		for _, v := range vars {
			k := keyOf(v[l.from], l.field)
			if r := found[k]; r != nil || l.optional {
				v[l.v] = nil // an optional lookup with no row: a null record
				if r != nil {
					v[l.v] = r
				}
				kept = append(kept, v)
				continue
			}
			deadLetter(rt, st, stage, p.source(v[0].(schema.Row)), payloadOf(p.schema, v[0].(schema.Row)),
				fmt.Sprintf("step %s: lookup %s: no row in %s with %s = %s (from %s)", p.name, l.name, l.schema.Name, l.schema.KeyName(), keyText(k), l.expr))
		}
		vars = kept
	}
	return vars, nil
}

// apply evaluates the ruleset and assignments for every collected row and
// writes the changed rows.
func (p *step) apply(ctx context.Context, rt *Runtime, stage string, st *Stats, table port.Table, vars [][]any) error {
	var rulesEval *evaluator
	if p.rules != nil {
		rulesEval = p.rules.evaluator()
	}
	set := p.set.evaluator()
	changed := make([]schema.Row, 0, min(len(vars), writeBatch))
	for _, v := range vars {
		row := v[0].(schema.Row)
		if rulesEval != nil && rulesEval.bd.absent {
			continue // the version of the rules built has no such file: nothing is decided
		}
		if rulesEval != nil {
			if _, err := rulesEval.evalObserved(v, rt, p.schema.KeyOf(row), stage, p.name, p.source(row)); err != nil {
				deadLetter(rt, st, stage, p.source(row), payloadOf(p.schema, row), fmt.Sprintf("step %s: ruleset %s: %v", p.name, rulesEval.bd.rs.Name, err))
				continue
			}
			for i, o := range p.outVars {
				v[o] = rulesEval.Output(i)
			}
		}
		if _, err := set.eval(v); err != nil {
			deadLetter(rt, st, stage, p.source(row), payloadOf(p.schema, row), fmt.Sprintf("step %s: set: %v", p.name, err))
			continue
		}
		if rt.Wrote != nil {
			rt.Wrote(Written{Stage: stage, Step: p.name, Table: p.schema, Key: keyText(p.schema.KeyOf(row)), Columns: p.setCols, Row: row})
		}
		changed = append(changed, row)
		if len(changed) == writeBatch {
			if err := table.Upsert(ctx, changed); err != nil {
				return fmt.Errorf("writing %s: %w", p.target, err)
			}
			st.Out += int64(len(changed))
			changed = make([]schema.Row, 0, writeBatch)
		}
	}
	if len(changed) > 0 {
		if err := table.Upsert(ctx, changed); err != nil {
			return fmt.Errorf("writing %s: %w", p.target, err)
		}
		st.Out += int64(len(changed))
	}
	return nil
}

// source names a row of the step's table by its key, for dead letters.
func (p *step) source(r schema.Row) port.Source {
	return port.Source{Table: p.schema.Name, Key: keyText(p.schema.KeyOf(r))}
}
