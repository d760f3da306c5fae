package stage

import (
	"context"
	"fmt"

	"pipeline/engine/schema"
)

// write writes the batch's output rows and changed state, without a store.
func (r *streamRun) write(ctx context.Context) error {
	r.takeWindows() // without a store, window state lives in the cache
	outs := len(r.outs)
	if len(r.outs) > 0 {
		if err := r.tables[r.s.out.String()].Upsert(ctx, r.outs); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, r.s.out, err)
		}
		r.st.Out += int64(len(r.outs))
		r.outs = make([]schema.Row, 0, cap(r.outs))
	}
	if len(r.shadowOuts) > 0 {
		if err := r.tables[r.s.shadowOut.String()].Upsert(ctx, r.shadowOuts); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, r.s.shadowOut, err)
		}
		r.shadowOuts = make([]schema.Row, 0, cap(r.shadowOuts))
	}
	if len(r.s.sinks) > 0 {
		writes, entries := r.takeSinks()
		for _, w := range writes {
			if err := r.tables[r.s.sinkTable(w.Table)].Upsert(ctx, w.Rows); err != nil {
				return fmt.Errorf("stage %s: writing %s: %w", r.s.name, w.Table, err)
			}
		}
		if len(entries) > 0 {
			if err := r.relay.box.AddOutbox(ctx, entries); err != nil {
				return fmt.Errorf("stage %s: writing %d records to the outbox: %w", r.s.name, len(entries), err)
			}
			r.relay.notify()
		}
	}
	for id, rows := range r.dirty {
		if len(rows) == 0 {
			continue
		}
		// The table keeps the rows it is given, and the cache keeps
		// changing them: hand it copies, made in one block.
		copies := make([]schema.Row, len(rows))
		w := len(rows[0])
		block := make([]any, len(rows)*w)
		for i, row := range rows {
			c := schema.Row(block[i*w : (i+1)*w : (i+1)*w])
			copy(c, row)
			copies[i] = c
		}
		if err := r.tables[id].Upsert(ctx, copies); err != nil {
			return fmt.Errorf("stage %s: writing %s: %w", r.s.name, id, err)
		}
		r.dirty[id] = rows[:0]
	}
	r.dead = r.dead[:0] // the engine writes them when the run ends
	r.wrote(outs, r.offsets)
	return nil
}
