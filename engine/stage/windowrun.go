package stage

import (
	"context"
	"fmt"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/window"
)

// The windows of a running stream stage. Their state is per key and
// belongs to the stage like the pending balance of a saved lookup: the
// member owning the key's partition reads it from the store when it first
// meets the key (or after its cache was dropped), changes it as it decides,
// and writes what a chunk changed with the chunk's decisions and offsets
// (port.Batch.State). Without a store (a dry-run) it lives in the cache.

// winState is a window's state for one key.
type winState struct {
	key any
	st  *window.State
}

// windowRun is what a stream run keeps for one window.
type windowRun struct {
	cache *keyMap[*window.State] // by key
	dirty []winState             // changed in the chunk, in first-change order
}

// windowDecider is what a decider keeps for one window.
type windowDecider struct {
	row    schema.Row // the values the record in hand sees
	boxed  any        // row as a scope value, boxed once
	t      int64      // the record's time, Unix nanoseconds
	st     *window.State
	enter  bool  // the record enters, once decided
	args   []any // its arguments, when it enters
	time   *evaluator
	where  *evaluator
	argx   *evaluator
	dirty  []winState
	marked *keyMap[bool]
}

// newWindowRuns returns the run state of the stage's windows.
func (s *streamStage) newWindowRuns() []*windowRun {
	out := make([]*windowRun, len(s.windows))
	for i := range out {
		out[i] = &windowRun{cache: newKeyMap[*window.State]()}
	}
	return out
}

// newWindowDeciders returns a decider's state of the stage's windows.
func (s *streamStage) newWindowDeciders() []*windowDecider {
	out := make([]*windowDecider, len(s.windows))
	for i, w := range s.windows {
		d := &windowDecider{row: make(schema.Row, len(w.schema.Columns)), marked: newKeyMap[bool]()}
		d.boxed = d.row
		if w.timeExpr != nil {
			d.time = w.timeExpr.evaluator()
		}
		if w.where != nil {
			d.where = w.where.evaluator()
		}
		if w.argExpr != nil {
			d.argx = w.argExpr.evaluator()
		}
		out[i] = d
	}
	return out
}

// stateKey is the key a window's state for key k is stored under.
func (w *streamWindow) stateKey(k any) string {
	s := w.name + "/" + keyText(k)
	if len(s) > port.MaxStateKey {
		s = s[:port.MaxStateKey-17] + "/" + fmt.Sprintf("%016x", keyHash(s))
	}
	return s
}

// fetchWindows gives every record of the batch still to decide the state of
// its key in each window: from the cache, else from the store (one read for
// all the keys missing), else empty. A record whose key is null goes to the
// dead letters.
func (r *streamRun) fetchWindows(ctx context.Context, msgs []port.Message) error {
	s := r.s
	for wi, w := range s.windows {
		run := r.windows[wi]
		var keys []any
		seen := r.seen
		seen.clear()
		for i, m := range msgs {
			if !r.ok[i] {
				continue
			}
			k := m.Row[w.key]
			if k == nil {
				r.ok[i] = false
				deadLetter(r.rt, r.st, s.name, m.Source, messagePayload(s.tspec.Schema, m),
					fmt.Sprintf("window %s: the key %s is null", w.name, s.tspec.Key))
				continue
			}
			if _, hit := run.cache.get(k); hit {
				continue
			}
			if _, dup := seen.get(k); !dup {
				seen.put(k, true)
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		var stored map[string]string
		if r.store != nil {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = w.stateKey(k)
			}
			var err error
			if stored, err = r.store.State(ctx, r.group, s.tspec.Name, ids); err != nil {
				return fmt.Errorf("stage %s: reading the state of window %s: %w", s.name, w.name, err)
			}
		}
		for _, k := range keys {
			st := &window.State{}
			if text, ok := stored[w.stateKey(k)]; ok {
				var err error
				if st, err = w.spec.Decode(text); err != nil {
					return fmt.Errorf("stage %s: window %s, key %s: the stored state cannot be read (%w); "+
						"run the spec's reset stage to start over", s.name, w.name, keyText(k), err)
				}
			}
			run.cache.put(k, st)
		}
	}
	return nil
}

// windowsBefore binds what each window holds for the record before it is
// decided: the values of the records of its key decided before it, whose
// time lies within the span up to its own. It returns an error for the dead
// letters when the record's time cannot be had or a value overflows.
func (d *decider) windowsBefore(m port.Message, vars []any) error {
	var (
		lastCol = -1 // the record's time column read last, and its time
		lastT   int64
	)
	for wi, w := range d.r.s.windows {
		wd := d.windows[wi]
		if w.time >= 0 && w.time == lastCol {
			wd.t = lastT // windows of one time column share its reading
		} else if err := d.windowTime(w, wd, m, vars); err != nil {
			return err
		}
		lastCol, lastT = w.time, wd.t
		wd.st, _ = d.r.windows[wi].cache.get(m.Row[w.key])
		if err := w.spec.Aggregate(wd.st, wd.t, wd.row); err != nil {
			return fmt.Errorf("window %s: %w", w.name, err)
		}
		vars[w.v] = wd.boxed
	}
	return nil
}

// windowTime sets wd.t to the record's time for window w.
func (d *decider) windowTime(w *streamWindow, wd *windowDecider, m port.Message, vars []any) error {
	var tv any
	if w.time >= 0 {
		tv = m.Row[w.time]
	} else {
		if _, err := wd.time.eval(vars); err != nil {
			return fmt.Errorf("window %s: time: %w", w.name, err)
		}
		tv = wd.time.Output(0)
	}
	t, ok := tv.(time.Time)
	if !ok {
		return fmt.Errorf("window %s: the record has no time (%v)", w.name, tv)
	}
	wd.t = t.UnixNano()
	return nil
}

// windowTraces describes the windows as the record in hand saw them
// (windowsBefore has run), for pipeline explain.
func (d *decider) windowTraces(m port.Message) []WindowTrace {
	var out []WindowTrace
	for wi, w := range d.r.s.windows {
		wd := d.windows[wi]
		wt := WindowTrace{Name: w.name, Key: keyText(m.Row[w.key]), Time: time.Unix(0, wd.t).UTC(), Span: w.spec.Span}
		for i, v := range w.spec.Values {
			wt.Values = append(wt.Values, rules.Value{Name: v.Name, Value: wd.row[i]})
		}
		for _, e := range w.spec.Range(wd.st, wd.t) {
			wt.Records = append(wt.Records, WindowRecord{ID: keyText(e.ID), Time: time.Unix(0, e.Time).UTC()})
		}
		out = append(out, wt)
	}
	return out
}

// windowsAfter works out, for the record just decided (its decision in
// vars), which windows it enters and with what arguments, changing nothing
// yet: an error leaves the record undecided, for the dead letters.
func (d *decider) windowsAfter(vars []any) error {
	for wi, w := range d.r.s.windows {
		wd := d.windows[wi]
		wd.enter = true
		if wd.where != nil {
			ok, err := wd.where.matches(vars)
			if err != nil {
				return fmt.Errorf("window %s: where: %w", w.name, err)
			}
			wd.enter = ok
		}
		if !wd.enter {
			continue
		}
		if wd.argx != nil {
			if _, err := wd.argx.eval(vars); err != nil {
				return fmt.Errorf("window %s: values: %w", w.name, err)
			}
		}
		wd.args = nil
		for i, a := range w.args {
			var x any
			switch {
			case a.copy.v >= 0:
				x = vars[a.copy.v].(schema.Row)[a.copy.col]
			case a.out >= 0:
				x = wd.argx.Output(a.out)
			default:
				continue // count()
			}
			if wd.args == nil {
				// One allocation an entry: a block shared by many would
				// be kept whole by the last entry a quiet key holds.
				wd.args = make([]any, len(w.args))
			}
			wd.args[i] = x
		}
	}
	return nil
}

// windowsEnter enters the decided record into the windows windowsAfter
// chose, and notes its time in the others.
func (d *decider) windowsEnter(m port.Message) {
	s := d.r.s
	var id any
	for wi, w := range s.windows {
		wd := d.windows[wi]
		if wd.enter {
			if id == nil {
				id = recordID(s, m)
			}
			w.spec.Add(wd.st, window.Entry{Time: wd.t, ID: id, Args: wd.args})
		} else {
			w.spec.Observe(wd.st, wd.t)
		}
		k := m.Row[w.key]
		if _, ok := wd.marked.get(k); !ok {
			wd.marked.put(k, true)
			wd.dirty = append(wd.dirty, winState{key: k, st: wd.st})
		}
	}
}

// recordID names a record in a window: its output key, or where it came from.
func recordID(s *streamStage, m port.Message) any {
	if s.idCol >= 0 && m.Row[s.idCol] != nil {
		return m.Row[s.idCol]
	}
	return m.Source.String()
}

// gatherWindows moves the deciders' changed states into the run's lists.
func (r *streamRun) gatherWindows() {
	for wi := range r.s.windows {
		run := r.windows[wi]
		for _, w := range r.workers {
			wd := w.windows[wi]
			run.dirty = append(run.dirty, wd.dirty...)
			clear(wd.dirty)
			wd.dirty = wd.dirty[:0]
			wd.marked.clear()
		}
	}
}

// takeWindows returns the states the chunk changed, as the store keeps
// them, and empties the lists. Without a store they stay in the cache only.
func (r *streamRun) takeWindows() []port.StateEntry {
	var out []port.StateEntry
	for wi, w := range r.s.windows {
		run := r.windows[wi]
		if r.store != nil {
			for _, ws := range run.dirty {
				out = append(out, port.StateEntry{Topic: r.s.tspec.Name, Key: w.stateKey(ws.key), Value: w.spec.Encode(ws.st)})
			}
		}
		clear(run.dirty)
		run.dirty = run.dirty[:0]
	}
	return out
}

// forgetWindows drops the cached window states, to be read from the store again.
func (r *streamRun) forgetWindows() {
	for _, run := range r.windows {
		run.cache.clear()
	}
}
