package stage

import (
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
)

// decider decides records: its own evaluators, output rows and changed
// state, so that several can work on one batch at once.
type decider struct {
	r      *streamRun
	rules  *evaluator
	emit   *evaluator
	dec    schema.Row // the decision record, reused: emit copies its values out
	decVar any        // dec as a scope value, boxed once
	outs   []schema.Row
	dirty  map[string][]schema.Row
	marked map[string]*keyMap[bool]
	todo   []int // indexes of the batch's messages this decider takes
	tally  Tally // the decisions it made, with a Monitor
	// dead holds the dead letters of the records decided, in order, and
	// deadAt the index of each one's message in the batch, so that they
	// reach the sink in record order whatever the timing of the deciders.
	dead   []port.DeadLetter
	deadAt []int
	// block is where output rows are cut from, many to one allocation.
	block []any

	emitRest *evaluator // of streamStage.emitRest, or nil

	windows  []*windowDecider // per window of the stage
	winDirty []*keyWindows    // the keys whose window states it changed

	// The shadow ruleset (shadow.go): its evaluator (nil without one), the
	// scope values it sees, the copies of the records it may assign (by
	// scope variable, nil for the others) boxed once, its decision as a
	// row, the rows of the shadow decisions table and their block.
	shadow      *evaluator
	shadowVars  []any
	shadowRows  []schema.Row
	shadowBoxed []any
	shadowDec   schema.Row
	shadowOuts  []schema.Row
	shadowBlock []any
	heldTrace   *Trace // the shadow's explanation of a traced record, sent after the live one's

	sinks    []sinkDecider // per sink of the stage
	sinkOuts [][]sinkRow   // per sink, the rows made
}

// parallel reports whether records may be decided on several CPUs: every
// record of a key stays with one decider, in order, so this is safe when the
// topic is keyed and every saved lookup is keyed by the record's key too
// (the state a decider changes then belongs to its keys alone).
func (s *streamStage) parallel() bool {
	key := s.tspec.Schema.Index(s.tspec.Key)
	if key < 0 {
		return false
	}
	for _, l := range s.lookups {
		if l.save && (l.from != 0 || l.field != key) {
			return false
		}
	}
	return true
}

// minParallel is the smallest batch worth splitting across CPUs.
const minParallel = 256

// decideAll decides the batch's messages that are still ok: split by key
// across the deciders when there are several, in order within each key.
func (r *streamRun) decideAll(msgs []port.Message) {
	ws := r.workers
	for _, w := range ws {
		w.todo = w.todo[:0]
	}
	key := r.s.tspec.Schema.Index(r.s.tspec.Key)
	for i, m := range msgs {
		if !r.ok[i] {
			continue
		}
		w := ws[0]
		if len(ws) > 1 && len(msgs) >= minParallel {
			w = ws[keyHash(m.Row[key])%uint64(len(ws))]
		}
		w.todo = append(w.todo, i)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		if len(w.todo) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range w.todo {
				w.decide(i, msgs[i], r.vars[i])
			}
		}()
	}
	wg.Wait()
	r.sendDead()
	r.gather()
	r.gatherWindows()
	r.gatherSinks()
	r.outs = r.outs[:0]
	r.shadowOuts = r.shadowOuts[:0]
	for _, w := range ws {
		r.outs = append(r.outs, w.outs...)
		w.outs = w.outs[:0]
		r.shadowOuts = append(r.shadowOuts, w.shadowOuts...)
		w.shadowOuts = w.shadowOuts[:0]
		for id, rows := range w.dirty {
			r.dirty[id] = append(r.dirty[id], rows...)
			w.dirty[id] = rows[:0]
			w.marked[id].clear()
		}
	}
}

// sendDead sends the dead letters of the deciders to the runtime's sink in
// the order of their records in the batch, and empties the deciders' lists.
func (r *streamRun) sendDead() {
	next := make([]int, len(r.workers)) // per decider, its next letter
	for {
		var w *decider
		k := -1
		for j, x := range r.workers {
			if next[j] < len(x.dead) && (w == nil || x.deadAt[next[j]] < w.deadAt[next[k]]) {
				w, k = x, j
			}
		}
		if w == nil {
			break
		}
		r.st.Dead++
		if r.rt.DeadLetter != nil {
			r.rt.DeadLetter(w.dead[next[k]])
		}
		next[k]++
	}
	for _, w := range r.workers {
		clear(w.dead)
		w.dead, w.deadAt = w.dead[:0], w.deadAt[:0]
	}
}

// deadLetter keeps a dead letter for the message at index i of the batch, to be sent by sendDead.
func (d *decider) deadLetter(i int, src port.Source, payload, reason string) {
	d.dead = append(d.dead, port.DeadLetter{Stage: d.r.s.name, Source: src, Reason: reason, Payload: payload, Time: time.Now().UTC(), Run: d.r.rt.RunID})
	d.deadAt = append(d.deadAt, i)
}

// keyHash spreads keys over deciders.
func keyHash(k any) uint64 {
	switch x := k.(type) {
	case int:
		return uint64(x) * 0x9E3779B97F4A7C15 >> 7
	case string:
		h := fnv.New64a()
		h.Write([]byte(x))
		return h.Sum64()
	}
	h := fnv.New64a()
	fmt.Fprint(h, k)
	return h.Sum64()
}

// decide evaluates the ruleset and the output row for one message, the
// batch's message at index i.
func (d *decider) decide(i int, m port.Message, vars []any) {
	s := d.r.s
	if d.rules.bd.absent {
		return // the version of the rules built has no such file: nothing is decided
	}
	var key any
	if s.idCol >= 0 {
		key = m.Row[s.idCol]
	}
	var kw *keyWindows // the key's window states
	if len(s.windows) > 0 {
		var err error
		if kw, err = d.windowsBefore(m, vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
	}
	var traced []WindowTrace
	if kw != nil && d.r.rt.traced(key) {
		traced = d.windowTraces(m, kw)
	}
	// The shadow rules first, before the live rules assign anything: they
	// see what the live rules see.
	sdec, serr := d.shadowFirst(vars, key, m.Source, traced)
	dec, err := d.rules.evalObserved(vars, d.r.rt, key, s.name, "", m.Source, traced...)
	if d.heldTrace != nil {
		d.r.rt.Trace(*d.heldTrace)
		d.heldTrace = nil
	}
	if err != nil {
		d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), fmt.Sprintf("ruleset %s: %v", d.rules.bd.rs.Name, err))
		return
	}
	nv := len(s.sc.names)
	d.rules.DecisionValues(dec, d.dec)
	vars[nv] = d.decVar
	out := d.newRow()
	vars[nv+1] = out
	if !d.emitFast(vars, out) {
		clear(out)
		if _, err := d.emit.eval(vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), fmt.Sprintf("emit: %v", err))
			return
		}
	}
	if len(s.sinks) > 0 {
		if err := d.decideSinks(i, vars); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
	}
	if kw != nil {
		if err := d.windowsAfter(vars, d.dec); err != nil {
			d.deadLetter(i, m.Source, messagePayload(s.tspec.Schema, m), err.Error())
			return
		}
		d.windowsEnter(m, kw)
	}
	d.outs = append(d.outs, out)
	if d.tally != nil {
		d.tally.add(d.rules.bd.rs.Name, dec)
	}
	if s.shadowSchema != nil {
		d.shadowOuts = append(d.shadowOuts, d.shadowRow(m, sdec, serr))
	}
	for _, l := range s.lookups {
		if l.save && d.rules.wroteVar(l.v) {
			d.markDirty(l, vars[l.v].(schema.Row))
		}
	}
	if d.r.rt.Wrote != nil {
		d.reportWrites(key, out, vars)
	}
}

// shadowFirst evaluates the shadow rules, when the stage has some, for the
// record of the given key, and hands their decision to the live rules'
// evaluator for Runtime.Decided and Runtime.Observe.
func (d *decider) shadowFirst(vars []any, key any, src port.Source, traced []WindowTrace) (rules.Decision, error) {
	if d.shadow == nil {
		return rules.Decision{}, nil
	}
	sdec, serr := d.evalShadow(vars, key, src, traced)
	if d.r.rt.Decided != nil || d.r.rt.Observe != nil {
		d.rules.shadowDecision = shadowDecided(sdec, serr)
		d.rules.shadowRuleset = d.shadow.bd.rs
	}
	return sdec, serr
}

// reportWrites tells Runtime.Wrote the output row out of the record of the
// given key, and the rows of saved lookups the rules wrote.
func (d *decider) reportWrites(key any, out schema.Row, vars []any) {
	s, rt := d.r.s, d.r.rt
	rt.Wrote(Written{Stage: s.name, Table: s.outSchema, Key: keyText(key), Columns: s.emitCols, Row: out})
	for _, l := range s.lookups {
		if l.save && d.rules.wroteVar(l.v) {
			row := vars[l.v].(schema.Row)
			rt.Wrote(Written{Stage: s.name, Lookup: l.name, Table: l.schema, Key: keyText(l.schema.KeyOf(row)), Columns: columnIndexes(l.schema, l.owned), Row: row})
		}
	}
}

// outBlock is how many output rows a decider allocates at once.
const outBlock = 256

// newRow returns an empty output row, cut from d.block.
func (d *decider) newRow() schema.Row {
	w := len(d.r.s.outSchema.Columns)
	if len(d.block) < w {
		d.block = make([]any, outBlock*w)
	}
	row := schema.Row(d.block[:w:w])
	d.block = d.block[w:]
	return row
}

// emitFast fills out, the output row of vars, with emit split in two (see
// streamStage.emitRest). It reports false, leaving out half filled, when an
// assignment fails: emit run whole then gives the error.
func (d *decider) emitFast(vars []any, out schema.Row) bool {
	s := d.r.s
	if d.emitRest != nil {
		if _, err := d.emitRest.eval(vars); err != nil {
			return false
		}
	}
	// Copied after the rest ran: it saw the output row empty, as emit does.
	for _, c := range s.emitCopies {
		var v any
		for _, f := range c.from {
			if v = keyOf(vars[f.v], f.col); v != nil {
				break
			}
		}
		v, err := c.typ.Coerce(v)
		if err != nil {
			return false
		}
		out[c.to] = v
	}
	return true
}

func (d *decider) markDirty(l lookup, row schema.Row) {
	k := l.schema.KeyOf(row)
	if _, ok := d.marked[l.id].get(k); !ok {
		d.marked[l.id].put(k, true)
		d.dirty[l.id] = append(d.dirty[l.id], row)
	}
}
