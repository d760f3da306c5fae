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
// (port.Batch.State), in dry-run (memory) and run alike.
// Every window is keyed by the topic's key (lint makes sure), so one cache
// entry holds a key's state in all of them.

// keyWindows is one key's state in each window of the stage.
type keyWindows struct {
	key   any
	st    []window.State // by window
	stamp uint64         // the chunk that last changed it (streamRun.stamp)
}

// windowDecider is what a decider keeps for one window.
type windowDecider struct {
	row   schema.Row // the values the record in hand sees
	boxed any        // row as a scope value, boxed once
	t     int64      // the record's time, Unix nanoseconds
	enter bool       // the record enters, once decided
	args  []any      // its arguments, when it enters
	time  *evaluator
	where *evaluator
	argx  *evaluator
}

// newWindowDeciders returns a decider's state of the stage's windows.
func (s *streamStage) newWindowDeciders() []*windowDecider {
	out := make([]*windowDecider, len(s.windows))
	for i, w := range s.windows {
		d := &windowDecider{row: make(schema.Row, len(w.schema.Columns))}
		d.boxed = d.row
		if w.timeExpr != nil {
			d.time = w.timeExpr.evaluator()
		}
		if w.where != nil && w.whereDecision == nil {
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
// its key in every window: from the cache, else from the store (one read for
// all the keys missing), else empty. A record whose key is null goes to the
// dead letters.
func (r *streamRun) fetchWindows(ctx context.Context, msgs []port.Message) error {
	s := r.s
	if len(s.windows) == 0 {
		return nil
	}
	r.stamp++ // a new chunk: what it changes is dirty anew
	col := s.windows[0].key
	var keys []any
	seen := r.seen
	seen.clear()
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		k := m.Row[col]
		if k == nil {
			r.ok[i] = false
			deadLetter(r.rt, r.st, s.name, m.Source, messagePayload(s.tspec.Schema, m),
				fmt.Sprintf("window %s: the key %s is null", s.windows[0].name, s.tspec.Key))
			continue
		}
		if _, hit := r.winCache.get(k); hit {
			continue
		}
		if _, dup := seen.get(k); !dup {
			seen.put(k, true)
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ids := make([]string, 0, len(keys)*len(s.windows))
	for _, k := range keys {
		for _, w := range s.windows {
			ids = append(ids, w.stateKey(k))
		}
	}
	stored, err := r.store.State(ctx, r.group, s.tspec.Name, ids)
	if err != nil {
		return fmt.Errorf("stage %s: reading the state of its windows: %w", s.name, err)
	}
	for _, k := range keys {
		kw := &keyWindows{key: k, st: make([]window.State, len(s.windows))}
		for wi, w := range s.windows {
			text, ok := stored[w.stateKey(k)]
			if !ok {
				continue
			}
			st, err := w.spec.Decode(text)
			if err != nil {
				return fmt.Errorf("stage %s: window %s, key %s: the stored state cannot be read (%w); "+
					"run the spec's reset stage to start over", s.name, w.name, keyText(k), err)
			}
			kw.st[wi] = *st
		}
		r.winCache.put(k, kw)
	}
	return nil
}

// windowsBefore binds what each window holds for the record before it is
// decided: the values of the records of its key decided before it, whose
// time lies within the span up to its own. It returns the key's states,
// and an error for the dead letters when the record's time cannot be had
// or a value overflows.
func (d *decider) windowsBefore(m port.Message, vars []any) (*keyWindows, error) {
	ws := d.r.s.windows
	kw, _ := d.r.winCache.get(m.Row[ws[0].key])
	var (
		lastCol = -1 // the record's time column read last, and its time
		lastT   int64
	)
	for wi, w := range ws {
		wd := d.windows[wi]
		if w.time >= 0 && w.time == lastCol {
			wd.t = lastT // windows of one time column share its reading
		} else if err := d.windowTime(w, wd, m, vars); err != nil {
			return nil, err
		}
		lastCol, lastT = w.time, wd.t
		if err := w.spec.Aggregate(&kw.st[wi], wd.t, wd.row); err != nil {
			return nil, fmt.Errorf("window %s: %w", w.name, err)
		}
		vars[w.v] = wd.boxed
	}
	return kw, nil
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
		if tv == nil {
			return fmt.Errorf("window %s: the record has no time (its time is null)", w.name)
		}
		return fmt.Errorf("window %s: the record has no time (%v is not a time)", w.name, tv)
	}
	wd.t = t.UnixNano()
	return nil
}

// windowTraces describes the windows as the record in hand saw them
// (windowsBefore has run), for pipeline explain.
func (d *decider) windowTraces(m port.Message, kw *keyWindows) []WindowTrace {
	var out []WindowTrace
	for wi, w := range d.r.s.windows {
		wd := d.windows[wi]
		wt := WindowTrace{Name: w.name, Key: keyText(m.Row[w.key]), Time: time.Unix(0, wd.t).UTC(), Span: w.spec.Span}
		for i, v := range w.spec.Values {
			wt.Values = append(wt.Values, rules.Value{Name: v.Name, Value: wd.row[i]})
		}
		for _, e := range w.spec.Range(&kw.st[wi], wd.t) {
			wt.Records = append(wt.Records, WindowRecord{ID: keyText(e.ID), Time: time.Unix(0, e.Time).UTC()})
		}
		out = append(out, wt)
	}
	return out
}

// windowsAfter works out, for the record just decided (its decision in
// vars and dec), which windows it enters and with what arguments, changing
// nothing yet: an error leaves the record undecided, for the dead letters.
func (d *decider) windowsAfter(vars []any, dec schema.Row) error {
	for wi, w := range d.r.s.windows {
		wd := d.windows[wi]
		switch {
		case w.whereDecision != nil:
			wd.enter = w.whereDecision.matches(dec)
		case wd.where != nil:
			ok, err := wd.where.matches(vars)
			if err != nil {
				return fmt.Errorf("window %s: where: %w", w.name, err)
			}
			wd.enter = ok
		default:
			wd.enter = true
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
				x = keyOf(vars[a.copy.v], a.copy.col)
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
func (d *decider) windowsEnter(m port.Message, kw *keyWindows) {
	s := d.r.s
	var id any
	for wi, w := range s.windows {
		wd := d.windows[wi]
		if wd.enter {
			if id == nil {
				id = recordID(s, m)
			}
			w.spec.Add(&kw.st[wi], window.Entry{Time: wd.t, ID: id, Args: wd.args})
		} else {
			w.spec.Observe(&kw.st[wi], wd.t)
		}
	}
	// A key is decided by one decider only, so its stamp is this one's to set.
	if kw.stamp != d.r.stamp {
		kw.stamp = d.r.stamp
		d.winDirty = append(d.winDirty, kw)
	}
}

// recordID names a record in a window: its output key, or where it came from.
func recordID(s *streamStage, m port.Message) any {
	if s.idCol >= 0 && m.Row[s.idCol] != nil {
		return m.Row[s.idCol]
	}
	return m.Source.String()
}

// gatherWindows moves the deciders' changed keys into the run's list.
func (r *streamRun) gatherWindows() {
	for _, w := range r.workers {
		r.winDirty = append(r.winDirty, w.winDirty...)
		clear(w.winDirty)
		w.winDirty = w.winDirty[:0]
	}
}

// takeWindows returns the states the chunk changed, as the store keeps
// them, and empties the list.
func (r *streamRun) takeWindows() []port.StateEntry {
	var out []port.StateEntry
	for _, kw := range r.winDirty {
		for wi, w := range r.s.windows {
			out = append(out, port.StateEntry{Topic: r.s.tspec.Name, Key: w.stateKey(kw.key), Value: w.spec.Encode(&kw.st[wi])})
		}
	}
	clear(r.winDirty)
	r.winDirty = r.winDirty[:0]
	return out
}

// forgetWindows drops the cached window states, to be read from the store again.
func (r *streamRun) forgetWindows() {
	r.winCache.clear()
}

// decisionTest is a window's where when it only compares the decision's
// outcome or rule with a string: tested on the decision record as is,
// without running the where (TestDecisionTestMatchesWhere).
type decisionTest struct {
	col   int // of decisionSchema
	equal bool
	value string
}

// parseDecisionTest returns where as a decisionTest, or nil.
func parseDecisionTest(where string) *decisionTest {
	t, ok := rules.ParseStringTest(where)
	if !ok || t.Field.Record != decisionVar || (t.Field.Field != "outcome" && t.Field.Field != "rule") {
		return nil
	}
	return &decisionTest{col: decisionSchema.Index(t.Field.Field), equal: t.Equal, value: t.Value}
}

// matches tests the decision record dec.
func (t *decisionTest) matches(dec schema.Row) bool {
	v, _ := dec[t.col].(string)
	return (v == t.value) == t.equal
}
