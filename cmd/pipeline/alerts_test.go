package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The routed outputs of configs/banking-alerts.yaml: every decision to the
// transactions table, the declines also to the reviews table (in the same
// MySQL transaction) and to the alerts topic (through the transactional
// outbox), and alerts.csv, the declines alone.

const alertsSpec = "../../configs/banking-alerts.yaml"

// alertRecord is one record of the alerts topic: its key and the fields
// the test looks at.
type alertRecord struct {
	key  string
	id   string // transaction_id in the value
	rule string
}

// readTopic reads every record topic holds on broker, from the start of each
// partition to its end offset when called.
func readTopic(t *testing.T, broker, topic string) []alertRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends := endOffsets(t, kadm.NewClient(cl), topic)
	var total int64
	for _, e := range ends {
		total += e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []alertRecord
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of the %d records of %s: %v", len(out), total, topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			var v map[string]*string
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("%s/%d/%d: %v: %s", r.Topic, r.Partition, r.Offset, err, r.Value)
			}
			a := alertRecord{key: string(r.Key)}
			if s := v["transaction_id"]; s != nil {
				a.id = *s
			}
			if s := v["rule"]; s != nil {
				a.rule = *s
			}
			out = append(out, a)
		})
	}
	return out
}

// declinedIDs returns the transaction ids of alerts.csv, in file order.
func declinedIDs(t *testing.T, path string) []string {
	t.Helper()
	rows := readCSV(t, path)
	if len(rows) == 0 || rows[0][0] != "transaction_id" {
		t.Fatalf("%s: no header", path)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

// keyCounts counts the records of each key.
func keyCounts(recs []alertRecord) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[r.key]++
	}
	return m
}

// sortedKeys returns m's keys in numeric order.
func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return keys
}

// queryIDs returns the first column of q's rows as text.
func queryIDs(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// kcatPath returns kcat's path. Without it, it skips the test, or fails
// it in CI (PIPELINE_CI=1: .ci/run installs it).
func kcatPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kcat"); err == nil {
		return p
	}
	const msg = "no kcat: apt-get install -y kcat to run this test (.ci/run does)"
	if os.Getenv("PIPELINE_CI") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestRunBankingAlerts is the acceptance of sinks: banking-alerts.yaml on
// dataset_16, dry-run and run (MariaDB and a broker), gives the same
// files; the 40 declines are in alerts.csv, in the reviews table and on
// the alerts topic, keyed by transaction id, once each; the outbox is
// empty after the run. kcat, a client of another make, reads the topic
// too.
func TestRunBankingAlerts(t *testing.T) {
	dry := t.TempDir()
	mustPipeline(t, "dry-run", alertsSpec, "--out", dry)
	want := declinedIDs(t, filepath.Join(dry, "alerts.csv"))
	if len(want) != 40 {
		t.Fatalf("dry-run: alerts.csv holds %d declines, want 40", len(want))
	}
	reviews := readCSV(t, filepath.Join(dry, "reviews.csv"))
	if len(reviews) != 41 {
		t.Fatalf("dry-run: reviews.csv holds %d rows, want 40 and a header", len(reviews)-1)
	}
	for i, r := range reviews[1:] {
		if r[0] != want[i] || r[6] == "" {
			t.Errorf("dry-run: reviews.csv row %d is %q, want transaction %s with its rule", i+1, r, want[i])
		}
	}

	broker := startBroker(t)
	dsn, db := newDatabase(t)
	results := t.TempDir()
	cmd := run(t, []string{"KAFKA_BROKERS=" + broker, "MYSQL_DSN=" + dsn, "RESULTS=" + results}, "run", alertsSpec)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, f := range append(slices.Clone(resultFiles), "alerts.csv", "reviews.csv") {
		got, _ := os.ReadFile(filepath.Join(results, f))
		w, err := os.ReadFile(filepath.Join(dry, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Errorf("run: %s differs from the dry-run's", f)
		}
	}
	if got := queryIDs(t, db, "SELECT transaction_id FROM reviews ORDER BY transaction_id"); !slices.Equal(got, want) {
		t.Errorf("MySQL reviews: %v\nwant the declines %v", got, want)
	}
	if got := queryIDs(t, db, "SELECT transaction_id FROM transactions WHERE status = 'declined' ORDER BY transaction_id"); !slices.Equal(got, want) {
		t.Errorf("MySQL declined transactions: %v\nwant %v", got, want)
	}
	if got := queryIDs(t, db, "SELECT COUNT(*) FROM _pipeline_outbox"); got[0] != "0" {
		t.Errorf("the outbox holds %s records after the run, want 0", got[0])
	}
	recs := readTopic(t, broker, "alerts")
	counts := keyCounts(recs)
	if got := sortedKeys(counts); !slices.Equal(got, want) || len(recs) != len(want) {
		t.Errorf("alerts topic: %d records, keys %v\nwant one of each decline %v", len(recs), got, want)
	}
	for _, r := range recs {
		if r.key != r.id || r.rule == "" {
			t.Errorf("alert keyed %q holds transaction %q, rule %q: want its id as key and the rule that declined it", r.key, r.id, r.rule)
		}
	}

	kcat := kcatPath(t)
	out, err := exec.Command(kcat, "-b", broker, "-C", "-t", "alerts", "-e", "-q", "-f", "%k\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	kc := map[string]int{}
	for _, k := range strings.Fields(string(out)) {
		kc[k]++
	}
	if got := sortedKeys(kc); !slices.Equal(got, want) {
		t.Errorf("kcat reads the keys %v\nwant %v", got, want)
	}
}

// TestFaultAlertsKilledAroundPublish: the validate stage of
// banking-alerts.yaml is killed (SIGKILL) between the MySQL commit of the
// declines' outbox records and their publication, then, started again, is
// killed between their publication and their removal from the outbox; the
// third start finishes. The alerts topic then holds every decline, none
// missing, each key at most twice, and once after dedupe by key.
func TestFaultAlertsKilledAroundPublish(t *testing.T) {
	broker := startBroker(t)
	dsn, db := newDatabase(t)
	env := []string{"KAFKA_BROKERS=" + broker, "MYSQL_DSN=" + dsn, "RESULTS=" + t.TempDir()}
	runWait(t, env, "run", alertsSpec, "--stage", "reset", "--stage", "load", "--stage", "publish")
	outboxed := func() int {
		n, _ := strconv.Atoi(queryIDs(t, db, "SELECT COUNT(*) FROM _pipeline_outbox")[0])
		return n
	}
	// killAt runs validate until it stops at the fault point, and kills it there.
	killAt := func(point string) {
		t.Helper()
		p := start(t, append(slices.Clone(env), "PIPELINE_FAULT="+point), "run", alertsSpec, "--stage", "validate")
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(p.out.String(), "fault: stopped at "+point) {
			if p.exited() || time.Now().After(deadline) {
				p.kill()
				t.Fatalf("validate did not stop at %s (exited %v):\n%s", point, p.exited(), tail(p.out.String()))
			}
			time.Sleep(10 * time.Millisecond)
		}
		p.kill()
	}

	killAt("outbox-before-publish")
	declined := queryIDs(t, db, "SELECT transaction_id FROM transactions WHERE status = 'declined' ORDER BY transaction_id")
	decided := queryIDs(t, db, "SELECT COUNT(*) FROM transactions")[0]
	first := outboxed()
	onTopic := len(readTopic(t, broker, "alerts"))
	t.Logf("killed before publishing: %s decided, %d declined, %d in the outbox, %d on the topic", decided, len(declined), first, onTopic)
	if len(declined) == 0 || first != len(declined) || onTopic != 0 {
		t.Fatalf("killed between commit and publish: %d declined, %d in the outbox, %d on the topic; want every decline in the outbox and none on the topic",
			len(declined), first, onTopic)
	}

	killAt("outbox-after-publish")
	second, onTopic := outboxed(), len(readTopic(t, broker, "alerts"))
	t.Logf("killed after publishing: %d in the outbox, %d on the topic", second, onTopic)
	if second != len(declined) || onTopic == 0 {
		t.Fatalf("killed between publish and removal: %d in the outbox, %d on the topic; want %d still in the outbox and some on the topic",
			second, onTopic, len(declined))
	}

	st := start(t, env, "run", alertsSpec, "--stage", "validate").finish(t, time.Minute, "validate")
	recs := readTopic(t, broker, "alerts")
	counts := keyCounts(recs)
	twice := 0
	for k, n := range counts {
		if n > 2 {
			t.Errorf("alert %s is on the topic %d times; at most twice (once per kill after publishing)", k, n)
		}
		if n == 2 {
			twice++
		}
	}
	if got := sortedKeys(counts); !slices.Equal(got, declined) {
		t.Errorf("after dedupe by key the topic holds %v\nwant every decline once: %v", got, declined)
	}
	if n := outboxed(); n != 0 {
		t.Errorf("the outbox holds %d records after the last run, want 0", n)
	}
	if all := queryIDs(t, db, "SELECT COUNT(*) FROM transactions")[0]; all != "402" || st.in != 0 {
		t.Errorf("%s transactions decided, last validate %s: want 402, and nothing left to decide", all, st)
	}
	t.Logf("figures: declines %d; killed before publish (outbox %d, topic 0) and after publish (outbox %d); topic %d records, %d keys, %d twice, missing 0",
		len(declined), first, second, len(recs), len(counts), twice)
}
