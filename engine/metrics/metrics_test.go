package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"pipeline/engine/stage"
)

// value returns the value of the metric called name (without the
// namespace) whose labels include want, summed over the series that match;
// found is false when none does.
func value(t *testing.T, m *Metrics, name string, want map[string]string) (v float64, found bool) {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != Namespace+"_"+name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !matches(s, want) {
				continue
			}
			found = true
			switch {
			case s.Counter != nil:
				v += s.Counter.GetValue()
			case s.Gauge != nil:
				v += s.Gauge.GetValue()
			case s.Histogram != nil:
				v += float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return v, found
}

func matches(s *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range s.GetLabel() {
		if w, ok := want[l.GetName()]; ok {
			if w != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// TestCountersAddUp: what stages count as they run, and what their end
// brings in, adds up to the summary's figures, and never more.
func TestCountersAddUp(t *testing.T) {
	tests := []struct {
		name    string
		counted []stage.Stats // Counted calls while the stage runs
		final   stage.Stats   // what StageEnded gets
	}{
		{name: "a stream stage counts every chunk as it commits", final: stage.Stats{In: 10, Out: 7, Dead: 1, Dup: 2},
			counted: []stage.Stats{{In: 4, Out: 3, Dup: 1}, {In: 6, Out: 4, Dead: 1, Dup: 1}}},
		{name: "a stage that counts nothing gets its summary at its end", final: stage.Stats{In: 94, Out: 94}},
		{name: "what a failed stage had not counted is added at its end", final: stage.Stats{In: 10, Out: 3, Dead: 2},
			counted: []stage.Stats{{In: 5, Out: 3}}},
		{name: "nothing is taken back from counters", final: stage.Stats{In: 3},
			counted: []stage.Stats{{In: 5, Out: 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			m.StageStarted("s", "stream")
			var sum stage.Stats
			for _, c := range tc.counted {
				m.Counted("s", c)
				sum.In, sum.Out, sum.Dead, sum.Dup = sum.In+c.In, sum.Out+c.Out, sum.Dead+c.Dead, sum.Dup+c.Dup
			}
			if got, _ := value(t, m, "records_in_total", map[string]string{"stage": "s"}); got != float64(sum.In) {
				t.Errorf("records in while running: %v, want %d", got, sum.In)
			}
			m.StageEnded("s", tc.final, nil)
			for _, c := range []struct {
				name       string
				final, got int64
			}{{"records_in_total", tc.final.In, sum.In}, {"records_out_total", tc.final.Out, sum.Out},
				{"records_dead_total", tc.final.Dead, sum.Dead}, {"records_duplicate_total", tc.final.Dup, sum.Dup}} {
				want := max(c.final, c.got)
				if got, _ := value(t, m, c.name, map[string]string{"stage": "s"}); got != float64(want) {
					t.Errorf("%s: %v, want %d", c.name, got, want)
				}
			}
			if _, found := value(t, m, "stage_running", map[string]string{"stage": "s"}); found {
				t.Error("stage_running is still set after the stage ended")
			}
		})
	}
}

// TestDecisionsAndBatches: decisions add up by ruleset, rule and outcome;
// commits, retries and latencies count one each.
func TestDecisionsAndBatches(t *testing.T) {
	m := New()
	m.StageStarted("v", "stream")
	m.Decided("v", stage.Tally{{Ruleset: "r", Rule: "a", Outcome: "declined"}: 2, {Ruleset: "r", Rule: "default", Outcome: "pending"}: 5})
	m.Decided("v", stage.Tally{{Ruleset: "r", Rule: "a", Outcome: "declined"}: 1})
	m.Committed("v", 3*time.Millisecond)
	m.Committed("v", 4*time.Millisecond)
	m.DecideTime("v", time.Millisecond)
	m.Retried("v", "conflict")
	m.Reloaded("rules/x.yaml", true)
	m.Reloaded("rules/x.yaml", false)
	m.Reloaded("rules/x.yaml", false)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"decisions_total", map[string]string{"stage": "v", "rule": "a", "outcome": "declined", "ruleset": "r"}, 3},
		{"decisions_total", map[string]string{"stage": "v", "outcome": "pending"}, 5},
		{"decisions_total", map[string]string{"stage": "v"}, 8},
		{"batches_committed_total", map[string]string{"stage": "v"}, 2},
		{"commit_latency_seconds", map[string]string{"stage": "v"}, 2},
		{"decision_latency_seconds", map[string]string{"stage": "v"}, 1},
		{"batches_retried_total", map[string]string{"stage": "v", "reason": "conflict"}, 1},
		{"rule_reloads_total", map[string]string{"result": "ok"}, 1},
		{"rule_reloads_total", map[string]string{"result": "failed", "file": "rules/x.yaml"}, 2},
	} {
		if got, _ := value(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestLagGauge: the lag of each partition is the latest reported, a
// partition no longer reported (revoked) is dropped, and so is all of it
// once the stage ends.
func TestLagGauge(t *testing.T) {
	m := New()
	m.StageStarted("v", "stream")
	m.Lag("v", "t", map[int32]int64{0: 5, 1: 7, 2: 0})
	m.Lag("v", "t", map[int32]int64{0: 3, 2: 1})
	for _, c := range []struct {
		part  string
		want  float64
		found bool
	}{{"0", 3, true}, {"1", 0, false}, {"2", 1, true}} {
		got, found := value(t, m, "consumer_lag", map[string]string{"stage": "v", "topic": "t", "partition": c.part})
		if got != c.want || found != c.found {
			t.Errorf("lag of partition %s: %v (found %v), want %v (found %v)", c.part, got, found, c.want, c.found)
		}
	}
	m.StageEnded("v", stage.Stats{}, nil)
	if _, found := value(t, m, "consumer_lag", map[string]string{"stage": "v"}); found {
		t.Error("the lag of a stage that ended is still shown")
	}
}

// TestReadiness: /readyz and /ready answer 200 only when the services
// answer and every running consuming stage owns partitions, and otherwise
// 503 saying what is missing; /healthz and /ping always 200.
func TestReadiness(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(m *Metrics)
		ping   []string
		status int
		says   string
	}{
		{name: "nothing running yet", setup: func(*Metrics) {}, status: 503, says: "no stage is running"},
		{name: "a stream stage before its assignment", setup: func(m *Metrics) { m.StageStarted("validate", "stream") },
			status: 503, says: "stage validate: not consuming yet"},
		{name: "a stream stage with no partition", setup: func(m *Metrics) {
			m.StageStarted("validate", "stream")
			m.Assigned("validate", "transactions", nil)
		}, status: 503, says: "no partition of topic transactions assigned"},
		{name: "a stream stage with partitions", setup: func(m *Metrics) {
			m.StageStarted("validate", "stream")
			m.Assigned("validate", "transactions", []int32{0, 3})
		}, status: 200, says: "ready"},
		{name: "partitions, but the database does not answer", setup: func(m *Metrics) {
			m.StageStarted("validate", "stream")
			m.Assigned("validate", "transactions", []int32{0})
		}, ping: []string{"connector db: mysql on root@127.0.0.1:3306/x does not answer"}, status: 503, says: "connector db: mysql"},
		{name: "partitions revoked in a rebalance", setup: func(m *Metrics) {
			m.StageStarted("validate", "stream")
			m.Assigned("validate", "transactions", []int32{0, 1})
			m.Assigned("validate", "transactions", []int32{})
		}, status: 503, says: "no partition of topic transactions"},
		{name: "a batch stage needs no partition", setup: func(m *Metrics) { m.StageStarted("settle", "batch") }, status: 200, says: "ready"},
		{name: "the stage ended", setup: func(m *Metrics) {
			m.StageStarted("validate", "stream")
			m.Assigned("validate", "transactions", []int32{0})
			m.StageEnded("validate", stage.Stats{}, nil)
		}, status: 503, says: "no stage is running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			tc.setup(m)
			ping := func(context.Context) []string { return slices.Clone(tc.ping) }
			srv := httptest.NewServer(m.Handler(func(ctx context.Context) []string { return append(ping(ctx), m.Problems()...) }))
			defer srv.Close()
			for _, path := range []string{"/readyz", "/ready"} {
				status, body := get(t, srv.URL+path)
				if status != tc.status || !strings.Contains(body, tc.says) {
					t.Errorf("%s: %d %q, want %d saying %q", path, status, body, tc.status, tc.says)
				}
			}
			for _, path := range []string{"/healthz", "/ping"} {
				if status, body := get(t, srv.URL+path); status != 200 || body != "ok\n" {
					t.Errorf("%s: %d %q, want 200 ok", path, status, body)
				}
			}
		})
	}
}

// TestMetricsEndpoint: /metrics serves every metric with its HELP text,
// the stages' under the pipeline_ prefix.
func TestMetricsEndpoint(t *testing.T) {
	m := New()
	m.StageStarted("validate", "stream")
	m.Counted("validate", stage.Stats{In: 3, Out: 2, Dup: 1})
	m.Decided("validate", stage.Tally{{Ruleset: "validation", Rule: "default", Outcome: "pending"}: 2})
	m.Committed("validate", time.Millisecond)
	m.DecideTime("validate", time.Millisecond)
	m.Retried("validate", "exists")
	m.Assigned("validate", "transactions", []int32{0})
	m.Lag("validate", "transactions", map[int32]int64{0: 4})
	m.Reloaded("rules/validation.yaml", true)
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	status, body := get(t, srv.URL+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`pipeline_records_in_total{stage="validate"} 3`,
		`pipeline_records_out_total{stage="validate"} 2`,
		`pipeline_records_dead_total{stage="validate"} 0`,
		`pipeline_records_duplicate_total{stage="validate"} 1`,
		`pipeline_decisions_total{outcome="pending",rule="default",ruleset="validation",stage="validate"} 2`,
		`pipeline_batches_committed_total{stage="validate"} 1`,
		`pipeline_batches_retried_total{reason="exists",stage="validate"} 1`,
		`pipeline_commit_latency_seconds_count{stage="validate"} 1`,
		`pipeline_decision_latency_seconds_count{stage="validate"} 1`,
		`pipeline_consumer_lag{partition="0",stage="validate",topic="transactions"} 4`,
		`pipeline_partitions_assigned{stage="validate",topic="transactions"} 1`,
		`pipeline_stage_running{kind="stream",stage="validate"} 1`,
		`pipeline_rule_reloads_total{file="rules/validation.yaml",result="ok"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = strings.Fields(name)[0]
			if !strings.Contains(body, "# HELP "+name+" ") {
				t.Errorf("%s has no HELP text", name)
			}
		}
	}
}

// TestServe: Serve listens on a free port when asked for port 0, says
// which, and stops on Close.
func TestServe(t *testing.T) {
	m := New()
	s, err := Serve("127.0.0.1:0", m.Handler(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(s.Addr, ":0") {
		t.Fatalf("Addr %s: want the port picked", s.Addr)
	}
	if status, _ := get(t, "http://"+s.Addr+"/healthz"); status != 200 {
		t.Errorf("/healthz: %d", status)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr + "/healthz"); err == nil {
		t.Error("the server answers after Close")
	}
	if _, err := Serve(s.Addr+"x", nil); err == nil || !strings.Contains(err.Error(), "--http") {
		t.Errorf("Serve on a bad address: %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
