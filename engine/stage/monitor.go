package stage

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
)

// Monitor receives what running stages do, as they do it: the counts of a
// run's summary, decisions, latencies, commits, partitions and lag. The
// metrics package (engine/metrics) implements it; see docs/ARCHITECTURE.md,
// Observability. Every method must be quick and safe for concurrent use.
type Monitor interface {
	// StageStarted and StageEnded bracket one run of a stage. StageEnded
	// gets the stage's final Stats, as the summary prints them, and the
	// error that ended it (nil when it ended well).
	StageStarted(stage, kind string)
	StageEnded(stage string, st Stats, err error)
	// Counted adds records a stage is done with (Elapsed is not used). A
	// stream stage counts a chunk once it is committed, so a chunk decided
	// again after a conflict counts once; other stages count at their end.
	Counted(stage string, delta Stats)
	// Decided adds committed decisions, by ruleset, rule and outcome.
	Decided(stage string, t Tally)
	// DecideTime is how long deciding one chunk of records took: its
	// duplicates, lookups, windows, rules and output rows.
	DecideTime(stage string, d time.Duration)
	// Committed says a chunk was committed with its offsets, in d.
	Committed(stage string, d time.Duration)
	// Retried says a chunk is decided again, and why: "conflict" (a table
	// it read changed), "exists" (a record of it was decided meanwhile).
	Retried(stage, reason string)
	// Assigned gives the partitions of topic the stage owns now.
	Assigned(stage, topic string, partitions []int32)
	// Lag gives, for each partition of topic the stage owns, how many
	// records it holds past the stage's committed position.
	Lag(stage, topic string, lag map[int32]int64)
	// Reloaded says a changed rule file was taken (ok) or refused.
	Reloaded(file string, ok bool)
}

// TallyKey is a decision as Monitor.Decided counts it.
type TallyKey struct{ Ruleset, Rule, Outcome string }

// Tally counts decisions by ruleset, rule and outcome.
type Tally map[TallyKey]int64

// add counts one decision of ruleset rs.
func (t Tally) add(rs string, d rules.Decision) {
	t[TallyKey{Ruleset: rs, Rule: d.Rule, Outcome: d.Outcome}]++
}

// merge adds o to t and empties o.
func (t Tally) merge(o Tally) {
	for k, n := range o {
		t[k] += n
	}
	clear(o)
}

// nopMonitor is the Monitor of a runtime without one.
type nopMonitor struct{}

func (nopMonitor) StageStarted(string, string)         {}
func (nopMonitor) StageEnded(string, Stats, error)     {}
func (nopMonitor) Counted(string, Stats)               {}
func (nopMonitor) Decided(string, Tally)               {}
func (nopMonitor) DecideTime(string, time.Duration)    {}
func (nopMonitor) Committed(string, time.Duration)     {}
func (nopMonitor) Retried(string, string)              {}
func (nopMonitor) Assigned(string, string, []int32)    {}
func (nopMonitor) Lag(string, string, map[int32]int64) {}
func (nopMonitor) Reloaded(string, bool)               {}

// monitor returns the runtime's Monitor, or one that does nothing.
func (rt *Runtime) monitor() Monitor {
	if rt.Monitor == nil {
		return nopMonitor{}
	}
	return rt.Monitor
}

// DefaultStatusEvery is how often a following stage logs its status when
// Runtime.StatusEvery is not set.
const DefaultStatusEvery = 30 * time.Second

// lagEvery is how often, at most, a consuming stage reads its topic's end
// offsets for the lag it reports to a Monitor.
const lagEvery = 5 * time.Second

// Lag returns, for each partition in owned, how many records of it lie
// past pos, its committed position (the next offset to decide), given the
// partition's watermarks: High - pos. A partition without a position, or
// whose position lies outside [Low, High] (the topic was emptied or
// created again), is consumed from its first record: High - Low. A
// partition the watermarks do not list is left out.
func Lag(owned []int32, pos map[int32]int64, marks map[int32]port.Watermark) map[int32]int64 {
	out := make(map[int32]int64, len(owned))
	for _, p := range owned {
		m, ok := marks[p]
		if !ok {
			continue
		}
		at, ok := pos[p]
		if !ok || at < m.Low || at > m.High {
			at = m.Low
		}
		out[p] = max(m.High-at, 0)
	}
	return out
}

// consumerWatch follows where a consuming stage stands in its topic: the
// partitions it owns, its committed position in each, and when records
// last came. It reports the lag to the runtime's Monitor and, under
// Follow, logs a status line every Runtime.StatusEvery while the stage is
// idle or behind.
type consumerWatch struct {
	rt      *Runtime
	stage   string
	topic   string
	marks   port.Describer // nil when the topic cannot tell its end offsets
	started time.Time

	mu    sync.Mutex
	owned []int32
	pos   map[int32]int64
	seen  map[int32]port.Watermark // the watermarks last read
	last  time.Time                // when records last came (zero: none yet)
}

// newConsumerWatch returns the watch of stage, consuming topic (its name).
func newConsumerWatch(rt *Runtime, stage, topic string, t port.Topic) *consumerWatch {
	w := &consumerWatch{rt: rt, stage: stage, topic: topic, started: time.Now(), pos: map[int32]int64{}}
	w.marks, _ = t.(port.Describer)
	return w
}

// assigned is port.ConsumeOptions.Assigned: the partitions owned now.
func (w *consumerWatch) assigned(ps []int32) {
	w.mu.Lock()
	w.owned = slices.Clone(ps)
	for p := range w.pos {
		if !slices.Contains(ps, p) {
			delete(w.pos, p) // its next owner moves it on
		}
	}
	w.mu.Unlock()
	w.rt.monitor().Assigned(w.stage, w.topic, ps)
}

// positioned notes the committed positions a stage resumes from.
func (w *consumerWatch) positioned(pos map[int32]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, o := range pos {
		w.pos[p] = o
	}
}

// arrived notes that records came.
func (w *consumerWatch) arrived() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// committed notes the positions a commit moved the stage to, and reports
// the lag against the watermarks last read (never below zero).
func (w *consumerWatch) committed(offs []port.Offset) {
	w.mu.Lock()
	for _, o := range offs {
		if o.Topic == w.topic || o.Topic == "" {
			w.pos[o.Partition] = max(w.pos[o.Partition], o.Next)
		}
	}
	var lag map[int32]int64
	if w.seen != nil {
		marks := make(map[int32]port.Watermark, len(w.seen))
		for p, m := range w.seen {
			m.High = max(m.High, w.pos[p])
			marks[p] = m
		}
		lag = Lag(w.owned, w.pos, marks)
	}
	w.mu.Unlock()
	if lag != nil {
		w.rt.monitor().Lag(w.stage, w.topic, lag)
	}
}

// start runs the watch until ctx ends or the returned stop is called:
// every lagEvery (or Runtime.StatusEvery, when shorter) it reads the
// topic's watermarks and reports the lag; under Follow it logs the status.
// It does nothing without a Monitor and without Follow.
func (w *consumerWatch) start(ctx context.Context) (stop func()) {
	if w.rt.Monitor == nil && !w.rt.Follow {
		return func() {}
	}
	status := w.rt.StatusEvery
	if status <= 0 {
		status = DefaultStatusEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(min(lagEvery, status))
		defer tick.Stop()
		logged := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lag, err := w.refresh(ctx)
			if ctx.Err() != nil {
				return
			}
			if w.rt.Follow && time.Since(logged) >= status {
				logged = time.Now()
				w.status(lag, err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// refresh reads the watermarks and reports the lag; nil lag when the
// topic cannot tell.
func (w *consumerWatch) refresh(ctx context.Context) (map[int32]int64, error) {
	if w.marks == nil {
		return nil, nil
	}
	rctx, cancel := context.WithTimeout(ctx, lagEvery)
	defer cancel()
	info, err := w.marks.Describe(rctx)
	if err != nil {
		return nil, err
	}
	marks := info.Watermarks()
	w.mu.Lock()
	w.seen = marks
	lag := Lag(w.owned, w.pos, marks)
	w.mu.Unlock()
	w.rt.monitor().Lag(w.stage, w.topic, lag)
	return lag, nil
}

// status logs where a following stage stands when it is idle (no records
// for a status period) or behind (lag), or when its lag cannot be read.
func (w *consumerWatch) status(lag map[int32]int64, err error) {
	log := w.rt.Log
	if log == nil {
		return
	}
	w.mu.Lock()
	owned := slices.Clone(w.owned)
	last := w.last
	w.mu.Unlock()
	since := last
	if since.IsZero() {
		since = w.started
	}
	idle := time.Since(since).Round(time.Second)
	parts := make([]string, len(owned))
	var total int64
	for i, p := range owned {
		parts[i] = strconv.Itoa(int(p))
		total += lag[p]
	}
	args := []any{"stage", w.stage, "topic", w.topic, "partitions", strings.Join(parts, ","), "idle", idle.String()}
	switch {
	case err != nil:
		log.Warn("following: cannot read the topic's end offsets for the lag", append(args, "error", err.Error())...)
	case len(owned) == 0:
		log.Info("following: no partition assigned (more members in the group than partitions, or a rebalance)", args...)
	case total > 0:
		log.Info("following: behind", append(args, "lag", total)...)
	case time.Since(since) >= w.statusEvery():
		log.Info("following: idle, nothing to decide", append(args, "lag", total)...)
	}
}

// statusEvery is the runtime's status period.
func (w *consumerWatch) statusEvery() time.Duration {
	if w.rt.StatusEvery <= 0 {
		return DefaultStatusEvery
	}
	return w.rt.StatusEvery
}

// streamObs is what a stream stage's run keeps for its Monitor and its
// status: the watch of its topic, the tally of the chunk being decided,
// and the counts reported so far.
type streamObs struct {
	watch    *consumerWatch
	tally    Tally  // the decisions of the chunk decided and not yet committing
	reported counts // the counts reported to the Monitor
}

// observed is what a pendingCommit carries for the Monitor: the stage's
// counts once its chunk was decided, the chunk's decisions and offsets,
// and how long its commit took.
type observed struct {
	counts  counts
	tally   Tally
	offsets []port.Offset
	took    time.Duration
}

// committing takes what the chunk about to commit carries for the Monitor.
func (r *streamRun) committing(offsets []port.Offset) observed {
	o := observed{counts: r.counts(), offsets: offsets}
	if len(r.obs.tally) > 0 {
		o.tally, r.obs.tally = r.obs.tally, Tally{}
	}
	return o
}

// landed reports a chunk committed: its counts, decisions, commit time and
// the positions it moved the stage to.
func (r *streamRun) landed(o observed, outs int) {
	m := r.rt.monitor()
	c := o.counts
	m.Counted(r.s.name, Stats{In: c.in - r.obs.reported.in, Out: int64(outs), Dead: c.dead - r.obs.reported.dead, Dup: c.dup - r.obs.reported.dup})
	r.obs.reported = c
	if len(o.tally) > 0 {
		m.Decided(r.s.name, o.tally)
	}
	m.Committed(r.s.name, o.took)
	r.obs.watch.committed(o.offsets)
}

// gather adds the tallies of the deciders to the chunk's.
func (r *streamRun) gather() {
	if r.obs.tally == nil {
		return
	}
	for _, w := range r.workers {
		r.obs.tally.merge(w.tally)
	}
}
