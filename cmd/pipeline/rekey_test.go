package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tests of the intake topic of the banking spec: records produced the way
// the legacy producer did (JSON objects of strings, no key, in file order)
// to the intake topic, re-keyed by card_id onto transactions by the rekey
// stage, are decided as records published keyed are; the rekey stage killed
// part-way loses and doubles no decision.

// produceUnkeyed sends every row of the CSV file path, in file order, to
// topic on broker as a JSON object of column name to string ("" for an
// empty field) with no key, as the legacy producer did, and returns how
// many it sent once the broker has them all.
func produceUnkeyed(t *testing.T, broker, topic, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			row[h] = rec[i]
		}
		value, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		})
		n++
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("producing to %s: %v", topic, first)
	}
	return n
}

// topicRecords returns the number of records topic holds, over its partitions.
func topicRecords(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	var n int64
	for _, o := range endOffsets(t, adm, topic) {
		n += o
	}
	return n
}

// groupOffset returns the next offset group has committed in Kafka for
// partition 0 of topic (0 when none), or -1 when the broker does not answer.
func groupOffset(adm *kadm.Client, group, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return -1
	}
	if o, ok := resp.Lookup(topic, 0); ok && o.Err == nil && o.At >= 0 {
		return o.At
	}
	return 0
}

// TestFaultRekeyKilled: 50,000 transactions produced unkeyed to the intake
// topic; the rekey stage is killed with SIGKILL at 3 random points while a
// batch it produced is not yet committed, and started again each time; then
// validate runs. The records produced since the last commit are produced
// again after each kill (the documented equivalent of a Kafka transaction),
// and validate skips those copies as duplicates: every transaction is
// decided once, and MySQL ends as after an uninterrupted run of publish and
// validate on the same data.
func TestFaultRekeyKilled(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 50_000
	began := time.Now()
	rng := faultSeed(t)
	w := newWorld(t, n)
	ref := w.database(t)
	ref.stages(t, "reset", "load", "publish")
	want := uninterrupted(t, n, w.base)

	// The rekeyed run, on a broker of its own.
	broker := startBroker(t)
	db := w.database(t)
	db.env = append(db.env, "KAFKA_BROKERS="+broker) // the later value wins
	db.stages(t, "reset", "load")
	if got := produceUnkeyed(t, broker, "intake", filepath.Join(w.data, "transactions.csv")); got != n {
		t.Fatalf("produced %d records to intake, want %d", got, n)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var (
		again  int64 // records produced before a kill and not committed: produced again
		points []string
	)
kills:
	for i, pct := range []float64{20, 50, 80} {
		target := int64((pct + 10*rng.Float64() - 5) / 100 * n)
		p := db.start(t, nil, "--stage", "rekey")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			produced := topicRecords(t, adm, "transactions")
			if produced >= target+again && produced-again > groupOffset(adm, "rekey", "intake") {
				break // a batch is produced, at least in part, and not committed
			}
			if p.exited() {
				if p.err == nil && i > 0 {
					// Once the killed member's session is over, the rest
					// can take a few milliseconds: done before a moment
					// with a batch produced and not committed was seen.
					// The kills before it left such batches (checked below).
					t.Logf("kill %d: the rekey stage finished the topic before it could be killed mid-batch", i+1)
					break kills
				}
				t.Fatalf("kill %d: the rekey stage ended (%v) before %d records were produced:\n%s", i+1, p.err, target, tail(p.out.String()))
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: fewer than %d records produced within 2 minutes", i+1, target)
			}
			time.Sleep(2 * time.Millisecond)
		}
		p.kill()
		produced, committed := topicRecords(t, adm, "transactions"), groupOffset(adm, "rekey", "intake")
		for committed < 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			committed = groupOffset(adm, "rekey", "intake")
		}
		uncommitted := produced - again - committed
		if uncommitted < 0 {
			t.Fatalf("kill %d: %d records committed of intake but only %d produced to transactions: committed before produced", i+1, committed, produced-again)
		}
		again += uncommitted
		points = append(points, fmt.Sprintf("%d committed + %d produced and not committed", committed, uncommitted))
		t.Logf("kill %d: SIGKILL %v after the start, with %d records of intake committed and %d more produced",
			i+1, time.Since(p.started).Round(time.Millisecond), committed, uncommitted)
	}
	if again == 0 {
		t.Errorf("no kill left records produced and not committed: nothing was produced twice, which this test is to show")
	}
	last := db.start(t, nil, "--stage", "rekey").finish(t, 2*time.Minute, "rekey")
	produced := topicRecords(t, adm, "transactions")
	if committed := groupOffset(adm, "rekey", "intake"); committed != n {
		t.Errorf("rekey committed %d records of intake, want all %d", committed, n)
	}
	if produced != n+again {
		t.Errorf("transactions holds %d records, want the %d of intake and the %d produced again after the kills", produced, n, again)
	}
	st := db.start(t, nil, "--stage", "validate").finish(t, 2*time.Minute, "validate")
	if st.in != produced || st.out != n || st.dup != produced-n || st.dead != 0 {
		t.Errorf("validate: %s; want in %d, out %d, dup %d, dead 0", st, produced, n, produced-n)
	}
	got := validated(t, db.DB)
	same(t, want, got, n)
	t.Logf("figures: records %d; kills at %s; last rekey run %s; produced %d (%d twice); validate %s; decided %d, lost 0, doubled 0; test %v",
		n, strings.Join(points, ", "), last, produced, again, st, got.counts["transactions"], time.Since(began).Round(time.Millisecond))
}

// kafkaPython returns a python3 that can import kafka-python. Without one
// it skips the test, or fails it in CI (PIPELINE_CI=1: .ci/run installs it).
func kafkaPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import kafka").Run() == nil {
			return p
		}
	}
	const msg = "no python3 with kafka-python (import kafka): apt-get install -y python3-kafka to run this test (.ci/run does)"
	if os.Getenv("PIPELINE_CI") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// legacyProducer is the legacy producer's way of sending transactions.csv,
// with kafka-python: every row, in file order, as json.dumps of the dict of
// its fields (all strings, "" when empty), with no key.
const legacyProducer = `
import csv, json, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], value_serializer=lambda v: json.dumps(v).encode("utf-8"))
n = 0
with open(sys.argv[3], newline="") as f:
    for row in csv.DictReader(f):
        p.send(sys.argv[2], row)
        n += 1
p.flush()
p.close()
print(n)
`

// TestLegacyProducerIntake is the acceptance of the intake topic: the
// legacy producer (kafka-python, unkeyed JSON of strings) sends
// dataset_16's transactions to the intake topic; the rekey and validate
// stages then leave exactly the transactions and pending balances that a
// normal run (publish and validate) leaves. Sent to the transactions topic
// itself, the same records all go to the dead letters, saying how to
// produce them, and none is decided out of order.
func TestLegacyProducerIntake(t *testing.T) {
	python := kafkaPython(t)
	dataset := mustAbsPath(t, "../../dataset_16")
	queries := []string{
		"SELECT transaction_id, card_id, merchant_name, timestamp, amount, location, transaction_type, related_transaction_id, " +
			"status, pending_balance, rule, reason, ruleset_version FROM transactions ORDER BY transaction_id",
		"SELECT card_id, current_balance, pending_balance FROM cards ORDER BY card_id",
	}
	newDB := func() *testDB {
		dsn, db := newDatabase(t)
		return &testDB{DB: db, name: dbName(dsn), dsn: dsn,
			env: []string{"KAFKA_BROKERS=" + startBroker(t), "DATASET=" + dataset, "RESULTS=" + t.TempDir(), "MYSQL_DSN=" + dsn}}
	}
	normal := newDB()
	normal.stages(t, "reset", "load", "publish", "validate")
	want := takeSnapshot(t, normal.DB, queries...)

	legacy := newDB()
	legacy.stages(t, "reset", "load")
	broker := strings.TrimPrefix(legacy.env[0], "KAFKA_BROKERS=")
	send := func(topic string) {
		t.Helper()
		out, err := exec.Command(python, "-c", legacyProducer, broker, topic, filepath.Join(dataset, "transactions.csv")).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "402" {
			t.Fatalf("kafka-python producer to %s: %v\n%s", topic, err, out)
		}
	}
	send("intake")
	p := legacy.start(t, nil, "--stage", "rekey", "--stage", "validate")
	validate := p.finish(t, 2*time.Minute, "validate")
	rekey, _ := p.stats("rekey")
	if rekey.in != 402 || rekey.out != 402 || validate.in != 402 || validate.out != 402 || validate.dead+validate.dup+rekey.dead != 0 {
		t.Errorf("rekey %s, validate %s; want 402 in and out of each, nothing dead or duplicate", rekey, validate)
	}
	got := takeSnapshot(t, legacy.DB, queries...)
	lost, extra, changed, ex := diff(want, got)
	if lost+extra+changed > 0 || got.digest != want.digest || got.counts["transactions"] != 402 {
		t.Fatalf("the legacy producer's records, re-keyed, left other transactions or balances than a normal run: %d decided, lost %d, extra %d, differing %d; first: %s",
			got.counts["transactions"], lost, extra, changed, strings.Join(ex, "; "))
	}

	// The same records sent unkeyed to the keyed topic are refused, each.
	legacy.stages(t, "reset")
	send("transactions")
	st := legacy.start(t, nil, "--stage", "validate").finish(t, 2*time.Minute, "validate")
	if st.in != 402 || st.out != 0 || st.dead != 402 {
		t.Errorf("validate of unkeyed records on transactions: %s; want 402 in, 0 out, 402 dead", st)
	}
	reason := "record has no key, but topic transactions is keyed by card_id: produce it keyed by card_id as text (\"25\"), " +
		"or write unkeyed records to a topic that a rekey stage re-keys"
	if n := legacy.count(t, "SELECT COUNT(*) FROM dead_letters WHERE stage = 'validate' AND reason LIKE 'record has no key, but topic transactions is keyed by card_id: produce it keyed by card_id as text (%'"); n != 402 {
		t.Errorf("%d dead letters say the record has no key, want 402", n)
	}
	if n := legacy.count(t, `SELECT COUNT(*) FROM dead_letters WHERE payload LIKE '{"transaction_id": "1", %' AND reason = ?`, reason); n != 1 {
		t.Errorf("%d dead letters of transaction 1 (card 25) say %q, want 1", n, reason)
	}
	if n := legacy.count(t, "SELECT COUNT(*) FROM transactions"); n != 0 {
		t.Errorf("%d transactions decided from unkeyed records on the keyed topic, want none", n)
	}
	t.Logf("figures: 402 transactions from kafka-python to intake: rekey %s, validate %s, %d transactions and %d cards identical to a normal run (digest %s); "+
		"the same sent to transactions: validate %s", rekey, validate, got.counts["transactions"], got.counts["cards"], got.digest[:12], st)
}

// mustAbsPath returns p as an absolute path.
func mustAbsPath(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLintStateKeyedByTopicKey: a stream stage that saves a lookup keyed
// by something else than its topic's key (a customer's state on a topic
// keyed by card) fails lint at the save, with the fix.
func TestLintStateKeyedByTopicKey(t *testing.T) {
	src, err := os.ReadFile(bankingSpec)
	if err != nil {
		t.Fatal(err)
	}
	const save = "    save: [card]                  # the card's pending balance is the stream's state\n"
	if !strings.Contains(string(src), save) {
		t.Fatalf("%s has no %q", bankingSpec, save)
	}
	spec := strings.Replace(string(src), save, "    save: [card, customer]\n", 1)
	spec = strings.ReplaceAll(spec, "rules: ../rules/", "rules: "+mustAbsPath(t, "../../rules")+"/")
	path := filepath.Join(t.TempDir(), "banking.yaml")
	writeFile(t, path, spec)
	out, err := pipeline(t, "lint", path)
	if err == nil {
		t.Fatalf("lint passed a customer's state on a topic keyed by card:\n%s", out)
	}
	line := strings.Count(spec[:strings.Index(spec, "    save: [card, customer]")], "\n") + 1
	want := fmt.Sprintf("%s:%d:18: save customer: this state is kept per card.customer_id, but topic transactions is keyed by card_id: "+
		"the records of one customer_id sit on several partitions, decided by different consumers in no set order, "+
		"so the state would follow partition order, not record order. Re-key the topic by customer_id with a rekey stage "+
		"(kind: rekey, from: bus:transactions, key: card.customer_id, to: a topic keyed by customer_id), stream from that topic, "+
		"and keep the state by its records' customer_id\n        save: [card, customer]\n                     ^", path, line)
	if !strings.Contains(out, want) {
		t.Errorf("lint says:\n%s\nwant:\n%s", out, want)
	}
}

// TestRekeyDeadLettersKeptWhenKilled: the records a rekey stage cannot
// re-key go to the dead-letter table before their batch's offsets are
// committed, so a rekey stage under --follow killed with SIGKILL (whose run
// never ends, and so never writes the letters it holds) has lost none.
func TestRekeyDeadLettersKeptWhenKilled(t *testing.T) {
	broker := startBroker(t)
	dsn, sqlDB := newDatabase(t)
	db := &testDB{DB: sqlDB, name: dbName(dsn), dsn: dsn,
		env: []string{"KAFKA_BROKERS=" + broker, "DATASET=" + mustAbsPath(t, "../../dataset_16"), "RESULTS=" + t.TempDir(), "MYSQL_DSN=" + dsn}}
	db.stages(t, "reset", "load")
	n := produceUnkeyed(t, broker, "intake", "../../dataset_16/transactions.csv")
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bad := []string{`not json`, `{"transaction_id": "9001", "merchant_name": "no card", "timestamp": "2025-04-01 01:03:44", ` +
		`"amount": "1.00", "location": "", "transaction_type": "purchase"}`}
	for _, v := range bad {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "intake", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := db.start(t, nil, "--stage", "rekey", "--follow")
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(time.Minute)
	for groupOffset(adm, "rekey", "intake") < int64(n+len(bad)) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the rekey stage did not commit %d records within a minute (exited: %v):\n%s", n+len(bad), p.exited(), tail(p.out.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	if got := topicRecords(t, adm, "transactions"); got != int64(n) {
		t.Errorf("transactions holds %d records, want the %d good ones", got, n)
	}
	rows, err := db.Query("SELECT source, reason FROM dead_letters WHERE stage = 'rekey' ORDER BY source")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var src, reason string
		if err := rows.Scan(&src, &reason); err != nil {
			t.Fatal(err)
		}
		got = append(got, src+": "+reason)
	}
	want := []string{
		fmt.Sprintf("intake/0/%d: payload is not JSON: invalid character 'o' in literal null (expecting 'u')", n),
		fmt.Sprintf("intake/0/%d: field %q is missing", n+1, "card_id"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dead letters of the killed rekey stage in MySQL:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
