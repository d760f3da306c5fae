package engine_test

import (
	"context"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"pipeline/engine"
	"pipeline/engine/metrics"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// TestMonitorCountsEqualSummary runs the shop pipeline with a metrics
// Monitor, its stream stage committing in chunks of several sizes, and
// checks that every stage's record counters equal its summary line and
// that the decisions counted are the stream stage's output rows, by
// outcome as the output table holds them.
func TestMonitorCountsEqualSummary(t *testing.T) {
	for _, chunk := range []string{"", "    batch_size: 7\n", "    batch_size: 1000\n"} {
		name := strings.TrimSpace(chunk)
		if name == "" {
			name = "default chunks"
		}
		t.Run(name, func(t *testing.T) {
			var edits []string
			if chunk != "" {
				edits = []string{"    to: db:orders\n", "    to: db:orders\n" + chunk}
			}
			path, out := editedShop(t, edits...)
			plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
			if err != nil {
				t.Fatal(yamldoc.Details(err))
			}
			m := &atEnd{Metrics: metrics.New(), t: t, before: map[string]map[string]float64{}}
			p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true, Monitor: m})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sum, err := p.Run(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := gather(t, m.Metrics)
			// The stream stage counts as it commits: its counters are
			// right before its end brings in anything.
			for _, metric := range []string{"records_in_total", "records_out_total", "records_dead_total", "records_duplicate_total"} {
				k := metric + "|stage=decide"
				if m.before["decide"][k] != got[k] {
					t.Errorf("%s: %v while the stage ran, %v once it ended", k, m.before["decide"][k], got[k])
				}
			}
			for _, s := range sum.Stages {
				for metric, want := range map[string]int64{"records_in_total": s.Stats.In, "records_out_total": s.Stats.Out,
					"records_dead_total": s.Stats.Dead, "records_duplicate_total": s.Stats.Dup} {
					if g := got[metric+"|stage="+s.Name]; g != float64(want) {
						t.Errorf("%s of stage %s: %v, the summary says %d", metric, s.Name, g, want)
					}
				}
			}
			var decided float64
			for k, v := range got {
				if strings.HasPrefix(k, "decisions_total|") {
					decided += v
				}
			}
			if decided != float64(len(readResults(t, out+"/orders.csv"))) || decided == 0 {
				t.Errorf("%v decisions counted, the output table holds %d rows", decided, len(readResults(t, out+"/orders.csv")))
			}
			if got["batches_committed_total|stage=decide"] == 0 {
				t.Error("no batch committed")
			}
		})
	}
}

// atEnd is a metrics Monitor that keeps, for each stage, the metrics as
// they were just before the stage ended.
type atEnd struct {
	*metrics.Metrics
	t      *testing.T
	before map[string]map[string]float64
}

func (a *atEnd) StageEnded(name string, st stage.Stats, err error) {
	a.before[name] = gather(a.t, a.Metrics)
	a.Metrics.StageEnded(name, st, err)
}

// gather returns every series of m's pipeline metrics as
// "name|label=value,..." (labels in the registry's order) to its value.
func gather(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		name, ok := strings.CutPrefix(f.GetName(), metrics.Namespace+"_")
		if !ok {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[name+"|"+strings.Join(labels, ",")] = sampleValue(s)
		}
	}
	return out
}

func sampleValue(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}
