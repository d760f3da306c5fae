package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// committer returns the store that commits this stage's batches with their
// offsets: the output table's connector, which must be a port.Committer
// (every table connector kind that port.Kind.Commits marks is; Load
// refuses a spec whose stream stage writes elsewhere, and the builder one
// that saves a lookup in another connector).
func (r *streamRun) committer(rt *Runtime) (port.Committer, error) {
	c, ok := rt.Resources.Connector(r.s.out).(port.Committer)
	if !ok {
		return nil, fmt.Errorf("stage %s: connector %s of its output %s cannot commit decisions with their offsets (port.Committer)",
			r.s.name, r.s.out.Connector, r.s.out)
	}
	return c, nil
}

// positions gives the topic the offsets committed with the stage's writes.
// Partition ownership may have changed, so the per-key state cached by the
// stage is dropped and read again from the store.
func (r *streamRun) positions(ctx context.Context, parts []int32) (map[int32]int64, error) {
	// A commit in flight lands first: its offsets are read below, and
	// the state read again must include its writes.
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	r.forget()
	all, err := r.store.Offsets(ctx, r.group, r.s.tspec.Name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: reading committed offsets: %w", r.s.name, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if o, ok := all[p]; ok {
			out[p] = o
		}
	}
	r.obs.watch.positioned(out)
	return out, nil
}

// committed reads the offsets committed with the stage's writes, for the
// topic to tell when the partitions other consumers own are decided.
func (r *streamRun) committed(ctx context.Context, parts []int32) (map[int32]int64, error) {
	all, err := r.store.Offsets(ctx, r.group, r.s.tspec.Name)
	if err != nil {
		return nil, fmt.Errorf("stage %s: reading committed offsets: %w", r.s.name, err)
	}
	return all, nil
}

// handle decides and commits msgs chunk by chunk after the chunk held in
// flight by the batch before, if any; it leaves the last chunk's commit in
// flight (held) unless final.
func (r *streamRun) handle(ctx context.Context, msgs []port.Message, final bool) error {
	var (
		prev     *pendingCommit
		prevLo   int    // where the chunk in flight starts in msgs
		mark     counts // r.st's counts before that chunk was decided
		prepared int    // where the last chunk decided ends
		lo       int    // where the next chunk starts
	)
	if h := r.held; h != nil {
		r.held = nil
		msgs = h.before(msgs)
		prev, mark, prepared, lo = h.p, h.mark, len(h.msgs), len(h.msgs)
	}
	wait := func() error {
		if prev == nil {
			return nil
		}
		err := r.settle(prev)
		prev = nil
		return err
	}
	size := r.s.chunkSize()
	for {
		var (
			b    port.Batch
			ids  *keyMap[bool]
			outs int
			dead []port.DeadLetter
		)
		hi, before := min(lo+size, len(msgs)), r.counts()
		if lo >= hi && !final && prev != nil {
			// Every chunk is decided: the last one commits while the
			// topic fetches the next batch.
			r.held = &heldCommit{p: prev, msgs: msgs[prevLo:prepared], mark: mark}
			return nil
		}
		if lo < hi {
			if err := r.prepare(ctx, msgs[lo:hi]); err != nil {
				return errors.Join(err, wait())
			}
			b, ids, outs, dead = r.take()
			prepared = hi
			if r.speculate {
				// A record that was not decided is not in the output rows,
				// so the commit cannot tell whether it was decided before:
				// ask, and if so decide the chunk again with the check.
				again, err := r.decidedBefore(ctx, ids)
				if err != nil {
					return errors.Join(err, wait())
				}
				if again {
					r.rt.monitor().Retried(r.s.name, "exists")
					err := wait()
					if err != nil && !errors.Is(err, port.ErrExists) && !errors.Is(err, port.ErrConflict) {
						return err
					}
					if err == nil {
						prevLo, mark = lo, before
					}
					r.careful(prevLo, prepared, mark)
					lo = prevLo
					continue
				}
			}
		}
		if err := wait(); err != nil {
			if err := r.retry(err, prevLo, prepared, mark); err != nil {
				return err
			}
			lo = prevLo
			continue
		}
		if lo >= hi {
			return nil
		}
		prev, r.inflight = r.startCommit(ctx, b, outs, dead), ids
		prevLo, mark, lo = lo, before, hi
	}
}

// before returns the held chunk's records followed by msgs: the held chunk
// goes first, as if it were msgs'.
func (h *heldCommit) before(msgs []port.Message) []port.Message {
	all := make([]port.Message, 0, len(h.msgs)+len(msgs))
	return append(append(all, h.msgs...), msgs...)
}

// settle waits for the commit p and, once it landed, counts its output
// rows, wakes the relay for its outbox entries and sends its dead letters.
// The chunk's records are no longer in flight either way.
func (r *streamRun) settle(p *pendingCommit) error {
	err := p.wait()
	if err == nil {
		r.conflicts = 0
		r.st.Out += int64(p.outs)
		if p.outbox && r.relay != nil {
			r.relay.notify()
		}
		r.landed(p.obs, p.outs)
		if r.deadLetter != nil {
			for _, d := range p.dead {
				r.deadLetter(d)
			}
		}
	}
	if r.inflight != nil {
		r.spareIDs = r.inflight
	}
	r.inflight = nil
	return err
}

// retry handles a commit of the records of msgs[from:to] that failed with
// err: it returns nil when nothing of the chunk was written and it is to be
// decided again, with what follows it, else err.
func (r *streamRun) retry(err error, from, to int, mark counts) error {
	switch {
	case errors.Is(err, port.ErrConflict):
		// A table the chunk read changed meanwhile: decide it again on
		// fresh rows.
		r.rt.monitor().Retried(r.s.name, "conflict")
		return r.conflicted(err, from, to, mark)
	case errors.Is(err, port.ErrExists):
		// Some record of the chunk was decided before: decide it again
		// with the check.
		r.rt.monitor().Retried(r.s.name, "exists")
		r.careful(from, to, mark)
		return nil
	}
	return err
}

// careful turns speculation off after the records of msgs[from:to] were
// decided but not committed, to be decided again with the check for records
// decided before, from the state the store holds: the counts go back to
// mark, and the cached state is dropped.
func (r *streamRun) careful(from, to int, mark counts) {
	r.speculate = false
	r.undo(from, to, mark)
}

// undo forgets that the records of msgs[from:to] were decided, to decide
// them again from the state the store holds: the counts go back to mark,
// and the cached state is dropped.
func (r *streamRun) undo(from, to int, mark counts) {
	r.st.In, r.st.Dup, r.st.Dead = mark.in, mark.dup, mark.dead
	r.rt.Progress.Add(int64(from - to))
	clear(r.obs.tally)
	r.forget()
}

// forget drops the cached state, to be read again from the store, with the
// versions of the tables it comes from.
func (r *streamRun) forget() {
	for _, c := range r.cache {
		c.clear()
	}
	r.forgetWindows()
	r.versions = nil
}

// maxConflicts is how many commits in a row may meet port.ErrConflict
// before the stage gives up: each one means another stage committed a
// change to a table the stage reads while it decided one chunk.
const maxConflicts = 50

// conflicted handles a commit that failed with port.ErrConflict: the
// records of msgs[from:to] are to be decided again from fresh state. It
// returns an error once that happened maxConflicts times in a row.
func (r *streamRun) conflicted(err error, from, to int, mark counts) error {
	r.conflicts++
	if r.conflicts > maxConflicts {
		return fmt.Errorf("stage %s: gave up after %d commits in a row found a table they read changed by another writer "+
			"(is a stage writing those tables over and over?): %w", r.s.name, maxConflicts, err)
	}
	if r.rt.Log != nil {
		r.rt.Log.Info("another stage changed a table this one had read: deciding the records again",
			"stage", r.s.name, "records", to-from, "cause", err)
	}
	r.undo(from, to, mark)
	return nil
}

// take returns the prepared chunk as a batch the store can commit while
// the next chunk is decided: the changed state rows are copies, since
// deciding goes on changing the cached ones. It also returns the ids of
// the chunk's records, the number of output rows and the dead letters,
// and empties r.
func (r *streamRun) take() (port.Batch, *keyMap[bool], int, []port.DeadLetter) {
	b := port.Batch{Group: r.group, Offsets: slices.Clone(r.offsets), State: r.takeWindows()}
	for _, t := range r.reads {
		b.Reads = append(b.Reads, port.TableRead{Table: t, Version: r.versions[t]})
	}
	if len(r.outs) > 0 {
		// Inserted, never upserted, when records carry the output's key: a
		// decision once committed is not replaced (a batch stage may have
		// changed it since). A record decided meanwhile fails the commit
		// (port.ErrExists), and the chunk is decided again with the check
		// for records decided before, which skips it.
		b.Writes = append(b.Writes, port.TableWrite{Table: r.s.outSchema.Name, Rows: r.outs, Insert: r.s.idCol >= 0})
	}
	if len(r.shadowOuts) > 0 {
		// Upserted: a record decided again (after a conflict) replaces
		// its shadow decision, which was never committed.
		b.Writes = append(b.Writes, port.TableWrite{Table: r.s.shadowSchema.Name, Rows: r.shadowOuts})
		r.shadowOuts = make([]schema.Row, 0, cap(r.shadowOuts))
	}
	if len(r.s.sinks) > 0 {
		// Table sinks are upserted, keyed: a record decided again (after
		// a conflict) replaces its row, which was never committed. Topic
		// sinks' records go to the outbox in the same commit (relay.go).
		writes, entries := r.takeSinks()
		b.Writes = append(b.Writes, writes...)
		b.Outbox = entries
	}
	var ids *keyMap[bool]
	if r.s.idCol >= 0 {
		// The ids of the chunk committed before, which no longer count as
		// in flight, hold this one's: one map per chunk costs a few percent.
		if ids, r.spareIDs = r.spareIDs, nil; ids == nil {
			ids = newKeyMap[bool]()
		}
		ids.clear()
		for _, row := range r.outs {
			ids.put(row[r.s.outSchema.Key], true)
		}
	}
	r.deadMu.Lock()
	if name := r.rt.DeadLetterTables[r.s.out.Connector]; name != "" && len(r.dead) > 0 {
		rows := make([]schema.Row, len(r.dead))
		for i, d := range r.dead {
			rows[i] = d.Row(port.MaxTablePayload)
		}
		b.Writes = append(b.Writes, port.TableWrite{Table: name, Rows: rows})
	}
	dead := slices.Clone(r.dead)
	r.dead = r.dead[:0]
	r.deadMu.Unlock()
	for _, l := range r.s.lookups {
		id := l.ref.String()
		if rows := r.dirty[id]; l.save && len(rows) > 0 {
			copies := make([]schema.Row, len(rows))
			for i, row := range rows {
				copies[i] = row.Clone()
			}
			b.Writes = append(b.Writes, port.TableWrite{Table: l.schema.Name, Rows: copies, Columns: l.owned})
		}
	}
	outs := len(r.outs)
	r.outs = make([]schema.Row, 0, cap(r.outs))
	for id := range r.dirty {
		r.dirty[id] = r.dirty[id][:0]
	}
	return b, ids, outs, dead
}

// pendingCommit is a chunk being committed by the store.
type pendingCommit struct {
	done   chan struct{}
	err    error
	outs   int
	outbox bool              // the batch has outbox entries
	dead   []port.DeadLetter // for the runtime's sink once committed
	obs    observed          // for the runtime's Monitor once committed
}

// wait returns the outcome of the commit.
func (p *pendingCommit) wait() error {
	<-p.done
	return p.err
}

// startCommit commits b in the background: its output rows, changed state
// and offsets in one commit of the store, all of it or none, and never twice.
func (r *streamRun) startCommit(ctx context.Context, b port.Batch, outs int, dead []port.DeadLetter) *pendingCommit {
	p := &pendingCommit{done: make(chan struct{}), outs: outs, dead: dead, outbox: len(b.Outbox) > 0, obs: r.committing(b.Offsets)}
	go func() {
		defer close(p.done)
		began := time.Now()
		err := r.store.Commit(ctx, b)
		p.obs.took = time.Since(began)
		if err != nil {
			p.err = fmt.Errorf("stage %s: committing a batch of %d records: %w", r.s.name, outs, err)
		}
	}()
	return p
}
