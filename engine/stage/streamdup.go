package stage

import (
	"context"
	"fmt"

	"pipeline/engine/port"
)

// decidedBefore reports whether the output table holds a record of the
// chunk just decided that is not among its output rows (ids): one that
// went to the dead letters instead, or was skipped.
func (r *streamRun) decidedBefore(ctx context.Context, ids *keyMap[bool]) (bool, error) {
	var keys []any
	for _, k := range r.checked {
		if !ids.has(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	rows, err := r.tables[r.s.out.String()].Get(ctx, keys)
	if err != nil {
		return false, fmt.Errorf("stage %s: checking %s for records already decided: %w", r.s.name, r.s.out, err)
	}
	for _, row := range rows {
		if row != nil {
			return true, nil
		}
	}
	return false, nil
}

// duplicates skips records whose id the output table already holds, or
// that came earlier in the batch: a record re-sent by a producer is decided
// once, and counted as a duplicate rather than an error.
func (r *streamRun) duplicates(ctx context.Context, msgs []port.Message) error {
	if r.s.idCol < 0 {
		return nil
	}
	keys := make([]any, 0, len(msgs))
	idx := make([]int, 0, len(msgs)) // the message of each key
	ascending, prev := true, 0
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		k := m.Row[r.s.idCol]
		if r.inflight.has(k) {
			// Decided in the chunk being committed.
			r.ok[i] = false
			r.st.Dup++
			continue
		}
		x, isInt := k.(int)
		if !isInt || (len(keys) > 0 && x <= prev) {
			ascending = false
		}
		prev = x
		keys, idx = append(keys, k), append(idx, i)
	}
	if !ascending {
		// Ids that strictly ascend (as a partition's usually do) cannot
		// repeat; others go through a map of those seen earlier in the batch.
		at := r.at
		at.clear()
		n := 0
		for j, k := range keys {
			if _, dup := at.get(k); dup {
				r.ok[idx[j]] = false
				r.st.Dup++
				continue
			}
			at.put(k, idx[j])
			keys[n], idx[n] = k, idx[j]
			n++
		}
		keys, idx = keys[:n], idx[:n]
	}
	r.checked = keys
	if len(keys) == 0 || r.speculate {
		return nil // speculating, the commit checks
	}
	rows, err := r.tables[r.s.out.String()].Get(ctx, keys)
	if err != nil {
		return fmt.Errorf("stage %s: checking %s for records already decided: %w", r.s.name, r.s.out, err)
	}
	for i, row := range rows {
		if row != nil {
			r.ok[idx[i]] = false
			r.st.Dup++
		}
	}
	return nil
}
