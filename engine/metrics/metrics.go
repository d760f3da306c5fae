package metrics

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"pipeline/engine/spec"
	"pipeline/engine/stage"
)

// Namespace prefixes every metric's name.
const Namespace = "pipeline"

// consumerKinds are the stage kinds that consume a topic: readiness wants
// each running one to own partitions.
var consumerKinds = []string{spec.KindStream, spec.KindRekey}

// Metrics holds a Prometheus registry and the metrics of a pipeline's
// stages. It implements stage.Monitor and is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	in, out, dead, dup *prometheus.CounterVec // by stage
	decisions          *prometheus.CounterVec // by stage, ruleset, rule, outcome
	decideTime         *prometheus.HistogramVec
	commitTime         *prometheus.HistogramVec
	committed          *prometheus.CounterVec // by stage
	retried            *prometheus.CounterVec // by stage, reason
	lag                *prometheus.GaugeVec   // by stage, topic, partition
	assigned           *prometheus.GaugeVec   // by stage, topic
	running            *prometheus.GaugeVec   // by stage, kind
	reloads            *prometheus.CounterVec // by file, result

	mu     sync.Mutex
	stages map[string]*stageState // running stages, by name
}

// stageState is what Metrics keeps of a running stage.
type stageState struct {
	kind    string
	counted stage.Stats // what Counted added during this run of it
	// topics maps each topic the stage consumes to the partitions it
	// owns (nil before its first assignment) and lags, the partitions
	// whose lag is set.
	topics map[string][]int32
	lags   map[string][]int32
}

// New returns metrics registered in a registry of their own, with the Go
// runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), stages: map[string]*stageState{}}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(g)
		return g
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, labels) // 0.5 ms to 16 s
		m.reg.MustRegister(h)
		return h
	}
	m.in = counter("records_in_total", "Records a stage read (the summary's in column): a stream stage counts a chunk once it is committed.", "stage")
	m.out = counter("records_out_total", "Records a stage wrote (the summary's out column).", "stage")
	m.dead = counter("records_dead_total", "Records a stage sent to the dead letters (the summary's dead column).", "stage")
	m.dup = counter("records_duplicate_total", "Records a stage skipped as decided before (the summary's dup column).", "stage")
	m.decisions = counter("decisions_total", "Decisions committed by a stream stage, by ruleset, deciding rule (or default) and outcome.", "stage", "ruleset", "rule", "outcome")
	m.decideTime = histogram("decision_latency_seconds", "Seconds a stream stage took to decide one chunk of records: duplicates, lookups, windows, rules and output rows.", "stage")
	m.commitTime = histogram("commit_latency_seconds", "Seconds one commit of a chunk took: its rows, state and offsets committed together.", "stage")
	m.committed = counter("batches_committed_total", "Chunks of records a stream stage committed with their offsets.", "stage")
	m.retried = counter("batches_retried_total", "Chunks a stream stage decided again, by reason: conflict (a table it read changed) or exists (a record was decided meanwhile).", "stage", "reason")
	m.lag = gauge("consumer_lag", "Records of a partition past the stage's committed position: the topic's end offset minus the next offset to decide.", "stage", "topic", "partition")
	m.assigned = gauge("partitions_assigned", "Partitions of a topic the stage owns in its consumer group.", "stage", "topic")
	m.running = gauge("stage_running", "1 while the stage runs.", "stage", "kind")
	m.reloads = counter("rule_reloads_total", "Changed rule files taken (ok) or refused (failed) under --follow.", "file", "result")
	return m
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var _ stage.Monitor = (*Metrics)(nil)

// StageStarted implements stage.Monitor.
func (m *Metrics) StageStarted(name, kind string) {
	m.mu.Lock()
	m.stages[name] = &stageState{kind: kind, topics: map[string][]int32{}, lags: map[string][]int32{}}
	m.mu.Unlock()
	for _, c := range []*prometheus.CounterVec{m.in, m.out, m.dead, m.dup} {
		c.WithLabelValues(name) // shown at 0 from the start
	}
	m.running.WithLabelValues(name, kind).Set(1)
}

// StageEnded implements stage.Monitor: the stage's counters are brought to
// its final Stats, for what it did not count as it ran, and its partitions
// and lag are dropped.
func (m *Metrics) StageEnded(name string, st stage.Stats, _ error) {
	m.mu.Lock()
	s, ok := m.stages[name]
	delete(m.stages, name)
	m.mu.Unlock()
	if !ok {
		return
	}
	add := func(c *prometheus.CounterVec, final, counted int64) {
		if final > counted {
			c.WithLabelValues(name).Add(float64(final - counted))
		}
	}
	add(m.in, st.In, s.counted.In)
	add(m.out, st.Out, s.counted.Out)
	add(m.dead, st.Dead, s.counted.Dead)
	add(m.dup, st.Dup, s.counted.Dup)
	for topic, ps := range s.lags {
		for _, p := range ps {
			m.lag.DeleteLabelValues(name, topic, partition(p))
		}
	}
	for topic := range s.topics {
		m.assigned.DeleteLabelValues(name, topic)
	}
	m.running.DeleteLabelValues(name, s.kind)
}

// Counted implements stage.Monitor.
func (m *Metrics) Counted(name string, d stage.Stats) {
	m.mu.Lock()
	if s, ok := m.stages[name]; ok {
		s.counted.In += d.In
		s.counted.Out += d.Out
		s.counted.Dead += d.Dead
		s.counted.Dup += d.Dup
	}
	m.mu.Unlock()
	for _, x := range []struct {
		c *prometheus.CounterVec
		n int64
	}{{m.in, d.In}, {m.out, d.Out}, {m.dead, d.Dead}, {m.dup, d.Dup}} {
		if x.n > 0 {
			x.c.WithLabelValues(name).Add(float64(x.n))
		}
	}
}

// Decided implements stage.Monitor.
func (m *Metrics) Decided(name string, t stage.Tally) {
	for k, n := range t {
		m.decisions.WithLabelValues(name, k.Ruleset, k.Rule, k.Outcome).Add(float64(n))
	}
}

// DecideTime implements stage.Monitor.
func (m *Metrics) DecideTime(name string, d time.Duration) {
	m.decideTime.WithLabelValues(name).Observe(d.Seconds())
}

// Committed implements stage.Monitor.
func (m *Metrics) Committed(name string, d time.Duration) {
	m.committed.WithLabelValues(name).Inc()
	m.commitTime.WithLabelValues(name).Observe(d.Seconds())
}

// Retried implements stage.Monitor.
func (m *Metrics) Retried(name, reason string) {
	m.retried.WithLabelValues(name, reason).Inc()
}

// Assigned implements stage.Monitor.
func (m *Metrics) Assigned(name, topic string, ps []int32) {
	m.mu.Lock()
	if s, ok := m.stages[name]; ok {
		s.topics[topic] = slices.Clone(ps)
		if s.topics[topic] == nil {
			s.topics[topic] = []int32{}
		}
	}
	m.mu.Unlock()
	m.assigned.WithLabelValues(name, topic).Set(float64(len(ps)))
}

// Lag implements stage.Monitor: the lag of partitions the stage no longer
// reports is dropped.
func (m *Metrics) Lag(name, topic string, lag map[int32]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.stages[name]
	if !ok {
		return
	}
	for _, p := range s.lags[topic] {
		if _, still := lag[p]; !still {
			m.lag.DeleteLabelValues(name, topic, partition(p))
		}
	}
	ps := make([]int32, 0, len(lag))
	for p, n := range lag {
		m.lag.WithLabelValues(name, topic, partition(p)).Set(float64(n))
		ps = append(ps, p)
	}
	s.lags[topic] = ps
}

// Reloaded implements stage.Monitor.
func (m *Metrics) Reloaded(file string, ok bool) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.reloads.WithLabelValues(file, result).Inc()
}

// Problems returns what keeps the running stages from being ready, one
// line each: none running yet, or a stage consuming a topic (stream,
// rekey) that owns no partition of it. None when they are ready.
func (m *Metrics) Problems() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.stages) == 0 {
		return []string{"no stage is running"}
	}
	names := make([]string, 0, len(m.stages))
	for name := range m.stages {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []string
	for _, name := range names {
		s := m.stages[name]
		if !slices.Contains(consumerKinds, s.kind) {
			continue
		}
		if len(s.topics) == 0 {
			out = append(out, "stage "+name+": not consuming yet (no partition assigned)")
			continue
		}
		topics := make([]string, 0, len(s.topics))
		for t := range s.topics {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		for _, t := range topics {
			if len(s.topics[t]) == 0 {
				out = append(out, "stage "+name+": no partition of topic "+t+" assigned (more members in its group than partitions, or a rebalance)")
			}
		}
	}
	return out
}

func partition(p int32) string { return strconv.Itoa(int(p)) }
