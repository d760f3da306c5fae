package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logLines returns the JSON log lines of out (a process's stdout and
// stderr), each parsed; it fails the test on a line that looks like a log
// line but is not JSON.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "time=") || strings.Contains(line, " level=") {
			t.Errorf("a text log line among JSON ones: %s", line)
			continue
		}
		if !strings.HasPrefix(line, "{") {
			continue // the summary, on stdout
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a log line is not JSON (%v): %s", err, line)
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

// findLog returns the JSON log lines of p whose msg starts with msg and
// whose fields include want.
func findLog(t *testing.T, p *proc, msg string, want map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range logLines(t, p.out.String()) {
		m, _ := l["msg"].(string)
		if !strings.HasPrefix(m, msg) {
			continue
		}
		ok := true
		for k, v := range want {
			if fmt.Sprint(l[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits until p has logged (as JSON) a line whose msg starts with
// msg and whose fields include want, and returns it.
func waitLog(t *testing.T, p *proc, msg string, want map[string]any, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if found := findLog(t, p, msg, want); len(found) > 0 {
			return found[len(found)-1]
		}
		if p.exited() {
			t.Fatalf("pipeline %s ended (%v) before logging %q %v:\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, msg, want, tail(p.out.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline %s did not log %q %v within %v:\n%s", strings.Join(p.cmd.Args[1:], " "), msg, want, d, tail(p.out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape is one scrape of /metrics: each series ("name{labels}" as served)
// to its value.
type scrape map[string]float64

// scrapeMetrics reads /metrics at addr.
func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	status, body := httpGet(t, "http://"+addr+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	s := scrape{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		s[line[:i]] = v
	}
	return s
}

// sum adds the series of metric name whose labels include every one of
// labels (each `key="value"`).
func (s scrape) sum(name string, labels ...string) float64 {
	var total float64
	for series, v := range s {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(","+strings.TrimSuffix(rest, "}")+",", ","+l+",") {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// waitMetrics scrapes addr until cond holds, and returns that scrape.
func waitMetrics(t *testing.T, p *proc, addr, what string, d time.Duration, cond func(scrape) bool) scrape {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := scrapeMetrics(t, addr)
		if cond(s) {
			return s
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s within %v (exited: %v); last scrape: lag %v, in %v, out %v:\n%s", what, d, p.exited(),
				s.sum("pipeline_consumer_lag"), s.sum("pipeline_records_in_total"), s.sum("pipeline_records_out_total"), tail(p.out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeMetrics is the acceptance of observability: a validator
// follows the topic (run --stage validate --follow --http 127.0.0.1:0) on
// MariaDB and a broker, logging JSON lines, while the test scrapes its
// /metrics and /readyz:
//   - it becomes ready (200) once it has partitions, after 503s that say
//     what is missing, and logs that it is idle;
//   - 1,200 transactions published are counted once committed, with no lag;
//   - with the offsets rows locked by the test, 800 more cannot commit:
//     the lag is those 800 (the topic's end offsets against the committed
//     position), nothing more is counted, and it logs that it is behind;
//   - once the lock is gone, everything commits, the lag is 0, and the
//     decisions counted by rule and outcome are the rows of the table;
//   - stopped with SIGTERM, its summary equals the counters scraped last.
func TestServeMetrics(t *testing.T) {
	const n, first = 2000, 1200
	w := newWorld(t, n)
	parts := w.splitParts(t, first, n-first)
	d := w.database(t)
	d.stages(t, "reset", "load")
	v := d.start(t, nil, "--stage", "validate", "--follow", "--http", "127.0.0.1:0", "--status-every", "1s", "--log-format", "json")
	addr, _ := waitLog(t, v, "serving /metrics", nil, time.Minute)["addr"].(string)
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("the address served on is not logged: %q", addr)
	}

	// Ready once it has partitions; until then 503, saying why.
	deadline := time.Now().Add(time.Minute)
	for {
		status, body := httpGet(t, "http://"+addr+"/readyz")
		if status == http.StatusOK {
			if body != "ready\n" {
				t.Errorf("/readyz: 200 %q", body)
			}
			break
		}
		if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready:\n") {
			t.Fatalf("/readyz: %d %q; want 200, or 503 saying what is missing", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute: %s\n%s", body, tail(v.out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/ready", "/healthz", "/ping"} {
		if status, _ := httpGet(t, "http://"+addr+path); status != http.StatusOK {
			t.Errorf("%s: %d, want 200", path, status)
		}
	}
	idle := waitLog(t, v, "following: idle", map[string]any{"stage": "validate", "lag": 0}, time.Minute)
	if _, ok := idle["idle"].(string); !ok {
		t.Errorf("the idle line has no idle duration: %v", idle)
	}

	d.start(t, []string{"DATASET=" + parts[0]}, "--stage", "publish").finish(t, time.Minute, "publish")
	waitCommitted(t, d.DB, "validator", first, v, time.Minute)
	waitMetrics(t, v, addr, fmt.Sprintf("%d records in and no lag", first), time.Minute, func(s scrape) bool {
		return s.sum("pipeline_records_in_total", `stage="validate"`) == first && s.sum("pipeline_consumer_lag", `stage="validate"`) == 0 &&
			s.sum("pipeline_partitions_assigned", `stage="validate"`) > 0
	})

	// Lock the offsets rows: the next commit waits, and the lag shows it.
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT * FROM _pipeline_offsets FOR UPDATE")
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	d.start(t, []string{"DATASET=" + parts[1]}, "--stage", "publish").finish(t, time.Minute, "publish")
	blocked := waitMetrics(t, v, addr, fmt.Sprintf("a lag of %d", n-first), time.Minute, func(s scrape) bool {
		return s.sum("pipeline_consumer_lag", `stage="validate"`) == n-first
	})
	if in := blocked.sum("pipeline_records_in_total", `stage="validate"`); in != first {
		t.Errorf("records in while the commit waits: %v, want %d (counted once committed)", in, first)
	}
	waitLog(t, v, "following: behind", map[string]any{"stage": "validate", "lag": n - first}, time.Minute)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	waitCommitted(t, d.DB, "validator", n, v, time.Minute)
	last := waitMetrics(t, v, addr, fmt.Sprintf("%d records in and no lag", n), time.Minute, func(s scrape) bool {
		return s.sum("pipeline_records_in_total", `stage="validate"`) == n && s.sum("pipeline_consumer_lag", `stage="validate"`) == 0
	})
	// The decisions counted are the table's rows, by rule and outcome.
	rs, err := d.Query("SELECT rule, status, COUNT(*) FROM transactions GROUP BY rule, status")
	if err != nil {
		t.Fatal(err)
	}
	var rowsSeen float64
	for rs.Next() {
		var rule, status string
		var count float64
		if err := rs.Scan(&rule, &status, &count); err != nil {
			t.Fatal(err)
		}
		rowsSeen += count
		got := last.sum("pipeline_decisions_total", `stage="validate"`, `ruleset="validation"`, `rule="`+rule+`"`, `outcome="`+status+`"`)
		if got != count {
			t.Errorf("decisions %s/%s: %v counted, %v in the table", rule, status, got, count)
		}
	}
	rs.Close()
	if all := last.sum("pipeline_decisions_total", `stage="validate"`); all != rowsSeen || all == 0 {
		t.Errorf("%v decisions counted, %v rows in the table", all, rowsSeen)
	}
	if out := last.sum("pipeline_records_out_total", `stage="validate"`); out != rowsSeen {
		t.Errorf("records out %v, %v rows in the table", out, rowsSeen)
	}
	commits := last.sum("pipeline_batches_committed_total", `stage="validate"`)
	if commits < 2 || last.sum("pipeline_commit_latency_seconds_count", `stage="validate"`) != commits ||
		last.sum("pipeline_decision_latency_seconds_count", `stage="validate"`) < commits {
		t.Errorf("%v batches committed, %v commit latencies, %v decision latencies", commits,
			last.sum("pipeline_commit_latency_seconds_count"), last.sum("pipeline_decision_latency_seconds_count"))
	}

	// Stopped, its summary is what was scraped last.
	v.cmd.Process.Signal(syscall.SIGTERM)
	if err := v.wait(t, time.Minute); err != nil {
		t.Fatalf("validator stopped with SIGTERM: %v\n%s", err, tail(v.out.String()))
	}
	st, ok := v.stats("validate")
	if !ok {
		t.Fatalf("no summary:\n%s", tail(v.out.String()))
	}
	for _, c := range []struct {
		metric string
		want   int64
	}{{"pipeline_records_in_total", st.in}, {"pipeline_records_out_total", st.out}, {"pipeline_records_dead_total", st.dead}, {"pipeline_records_duplicate_total", st.dup}} {
		if got := last.sum(c.metric, `stage="validate"`); got != float64(c.want) {
			t.Errorf("%s scraped %v, the summary says %d", c.metric, got, c.want)
		}
	}
	// Stage start and end as JSON lines, the end with the summary's counts.
	if len(findLog(t, v, "stage starting", map[string]any{"stage": "validate", "kind": "stream"})) != 1 {
		t.Errorf("no JSON line for the stage's start:\n%s", tail(v.out.String()))
	}
	if len(findLog(t, v, "stage done", map[string]any{"stage": "validate", "in": st.in, "out": st.out, "dead": st.dead, "duplicates": st.dup})) != 1 {
		t.Errorf("no JSON line for the stage's end with the summary's counts (%s):\n%s", st, tail(v.out.String()))
	}
}

// TestBrokerServesHealth: `pipeline broker --http` serves /healthz,
// /readyz (ready once it listens) and the process's metrics.
func TestBrokerServesHealth(t *testing.T) {
	b := start(t, nil, "broker", "--addr", freePort(t), "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--log-format", "json")
	addr, _ := waitLog(t, b, "serving /metrics", nil, time.Minute)["addr"].(string)
	waitLog(t, b, "broker listening", nil, time.Minute)
	for _, path := range []string{"/readyz", "/ready", "/healthz", "/ping"} {
		if status, body := httpGet(t, "http://"+addr+path); status != http.StatusOK {
			t.Errorf("%s: %d %q, want 200", path, status, body)
		}
	}
	if s := scrapeMetrics(t, addr); s.sum("go_goroutines") == 0 {
		t.Error("/metrics has no go_goroutines")
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.wait(t, time.Minute); err != nil {
		t.Errorf("broker stopped with SIGTERM: %v", err)
	}
}
