package stage

import (
	"context"
	"fmt"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// runLoad replaces the rows of each table the stage loads with the rows
// of its file, as the loader of a fresh run must: each table ends up
// holding exactly its file, less the rows that went to the dead letters.
//
// When every table lives in one connector that is a port.Transactor, the
// whole stage is one tx: the old rows are deleted and the new inserted in
// it, so a failure (a file that breaks off, a lost server) leaves every
// table as it was. The tx may be run again whole (InTx retries transient
// failures), so the files are read again and the dead letters are held
// until it is done. Memory and mysql are both Transactors: only a load
// whose tables span connectors empties and fills each table in turn.
//
// A row the table rejects (port.RejectedRows: too big for the server)
// goes to the dead letters with its file and line; the others are written.
//
// Before anything, guardStreamState refuses a load that would replace the
// state a stream stage saved in a table.
func (s *copyStage) runLoad(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	if err := s.guardStreamState(ctx, rt); err != nil {
		return st, err
	}
	// Opened outside the tx: opening a table may run DDL, which commits.
	files := make([]port.Files, len(s.jobs))
	tables := make([]port.Table, len(s.jobs))
	for i, j := range s.jobs {
		var err error
		if files[i], tables[i], err = j.open(ctx, rt); err != nil {
			return st, err
		}
	}
	load := func(ctx context.Context, rt *Runtime, st *Stats) error {
		for i, j := range s.jobs {
			if err := s.loadOne(ctx, rt, j, files[i], tables[i], st); err != nil {
				return err
			}
		}
		return nil
	}
	tx := s.transactor(rt)
	if tx == nil {
		err := load(ctx, rt, &st)
		st.Elapsed = time.Since(start)
		return st, err
	}
	var dead []port.DeadLetter
	held := *rt
	held.DeadLetter = func(d port.DeadLetter) { dead = append(dead, d) }
	var loadErr error // of the last run of load in the tx
	var names []string
	for _, j := range s.jobs {
		names = append(names, j.schema.Name)
	}
	err := tx.InTx(ctx, names, func(ctx context.Context) error {
		st, dead = Stats{}, dead[:0]
		loadErr = load(ctx, &held, &st)
		return loadErr
	})
	if rt.DeadLetter != nil {
		for _, d := range dead {
			rt.DeadLetter(d)
		}
	}
	st.Elapsed = time.Since(start)
	switch {
	case err == nil:
		return st, nil
	case loadErr != nil:
		st.Out = 0
		return st, fmt.Errorf("%w; rolled back: every table keeps the rows it had", err)
	}
	return st, err // the commit failed
}

// transactor returns the connector that can make the whole load one tx:
// the one holding every table the stage loads, when it is a
// port.Transactor. Otherwise nil.
func (s *copyStage) transactor(rt *Runtime) port.Transactor {
	if len(s.jobs) == 0 {
		return nil
	}
	for _, j := range s.jobs[1:] {
		if j.table.Connector != s.jobs[0].table.Connector {
			return nil
		}
	}
	tx, _ := rt.Resources.Connector(s.jobs[0].table).(port.Transactor)
	return tx
}

// loadOne empties the job's table and writes the rows of its file into it.
func (s *copyStage) loadOne(ctx context.Context, rt *Runtime, j copyJob, files port.Files, table port.Table, st *Stats) error {
	r, err := files.Open(ctx, j.file.Name, j.schema)
	if err != nil {
		return fmt.Errorf("load %s: %w", j.file, err)
	}
	defer r.Close()
	fileProgress(rt.Progress, r)
	if err := table.Truncate(ctx); err != nil {
		return fmt.Errorf("load %s: emptying table %s: %w", j.file, j.table, err)
	}
	return drainFrom(ctx, rt, st, s.name, r, true, func(rows []schema.Row, srcs []port.Source) error {
		return s.write(ctx, rt, st, j, table, rows, srcs)
	})
}

// write upserts rows, read from srcs, into the job's table. Rows the
// table rejects go to the dead letters, and the others are written again.
func (s *copyStage) write(ctx context.Context, rt *Runtime, st *Stats, j copyJob, table port.Table, rows []schema.Row, srcs []port.Source) error {
	err := table.Upsert(ctx, rows)
	if rej := port.Rejected(err); validRejects(rej, len(rows)) {
		kept := make([]schema.Row, 0, len(rows)-len(rej))
		next := 0
		for i, r := range rows {
			if next < len(rej) && rej[next].Index == i {
				reason := fmt.Sprintf("cannot be written to table %s: %v", j.table, rej[next].Err)
				deadLetter(rt, st, s.name, srcs[i], payloadOf(j.schema, r), reason)
				next++
				continue
			}
			kept = append(kept, r)
		}
		rows = kept
		err = table.Upsert(ctx, rows)
	}
	if err != nil {
		return fmt.Errorf("load %s into %s: %w", j.file, j.table, err)
	}
	st.Out += int64(len(rows))
	return nil
}

// validRejects reports whether rej names rows of a write of n rows, each
// once, in increasing order.
func validRejects(rej []port.RejectedRow, n int) bool {
	if len(rej) == 0 {
		return false
	}
	last := -1
	for _, r := range rej {
		if r.Index <= last || r.Index >= n {
			return false
		}
		last = r.Index
	}
	return true
}
