package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "kafka" || !k.Service || k.New == nil {
		t.Fatalf("Kind() = %+v", k)
	}
	var names []string
	for _, o := range k.Options {
		names = append(names, o.Name+"="+o.Default)
	}
	if got := strings.Join(names, " "); got != "brokers=embedded data_dir=.pipeline/kafka partitions=6 session_timeout=6s rejoin=30s max_record_bytes=1048576" {
		t.Errorf("options %s", got)
	}
	tests := []struct {
		cfg  port.Config
		want Options
		err  string
	}{
		{cfg: port.Config{Name: "k"}, want: Options{DataDir: ".pipeline/kafka"}},
		{cfg: port.Config{Name: "k", Dir: "/specs", Options: map[string]string{"brokers": "embedded"}}, want: Options{DataDir: "/specs/.pipeline/kafka"}},
		{cfg: port.Config{Name: "k", Dir: "/specs", Options: map[string]string{"brokers": " a:1, b:2 ,", "data_dir": "/abs", "partitions": "3"}},
			want: Options{Brokers: []string{"a:1", "b:2"}, DataDir: "/abs", Partitions: 3}},
		{cfg: port.Config{Name: "k", Options: map[string]string{"partitions": "0"}}, err: `connector k: option partitions: "0" is not a whole number of at least 1`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"partitions": "six"}}, err: `connector k: option partitions: "six" is not a whole number of at least 1`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"session_timeout": " 10s "}}, want: Options{DataDir: ".pipeline/kafka", SessionTimeout: 10 * time.Second}},
		{cfg: port.Config{Name: "k", Options: map[string]string{"session_timeout": "6"}}, err: `connector k: option session_timeout: "6" is not a duration of at least 1s, such as 30s or 5m`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"session_timeout": "500ms"}}, err: `connector k: option session_timeout: "500ms" is not a duration of at least 1s, such as 30s or 5m`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"rejoin": "2m"}}, want: Options{DataDir: ".pipeline/kafka", Rejoin: 2 * time.Minute}},
		{cfg: port.Config{Name: "k", Options: map[string]string{"rejoin": "soon"}}, err: `connector k: option rejoin: "soon" is not a duration, such as 30s or 5m`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"max_record_bytes": "4194304"}}, want: Options{DataDir: ".pipeline/kafka", MaxRecordBytes: 4 << 20}},
		{cfg: port.Config{Name: "k", Options: map[string]string{"max_record_bytes": "4MB"}}, err: `connector k: option max_record_bytes: "4MB" is not a whole number from 1024 to 67108864`},
		{cfg: port.Config{Name: "k", Options: map[string]string{"max_record_bytes": "100"}}, err: `connector k: option max_record_bytes: "100" is not a whole number from 1024 to 67108864`},
	}
	for _, tc := range tests {
		got, err := configOptions(tc.cfg)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%+v: error %v, want %s", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got.Brokers, ",") != strings.Join(tc.want.Brokers, ",") ||
			got.DataDir != tc.want.DataDir || got.Partitions != tc.want.Partitions || got.SessionTimeout != tc.want.SessionTimeout || got.Rejoin != tc.want.Rejoin ||
			got.MaxRecordBytes != tc.want.MaxRecordBytes {
			t.Errorf("%+v: options %+v, %v, want %+v", tc.cfg, got, err, tc.want)
		}
	}
	// New through the kind: an embedded broker in the spec's folder.
	dir := t.TempDir()
	conn, err := k.New(context.Background(), port.Config{Name: "k", Dir: dir, Options: map[string]string{"brokers": "", "partitions": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := os.Stat(filepath.Join(dir, ".pipeline", "kafka", "meta.json")); err != nil {
		t.Errorf("the embedded broker keeps no state in the spec's folder: %v", err)
	}
	tp, err := conn.(*Connector).Topic(context.Background(), port.TopicSpec{Name: "two", Schema: events})
	if err != nil {
		t.Fatal(err)
	}
	ends, err := conn.(*Connector).admin.ListEndOffsets(context.Background(), tp.(*Topic).Name())
	if err != nil || len(ends["two"]) != 2 {
		t.Errorf("topic created with %d partitions (%v), want the option's 2", len(ends["two"]), err)
	}
}

func TestUnreachableBrokers(t *testing.T) {
	addr := freeAddr(t) // nothing listens there
	start := time.Now()
	_, err := New(context.Background(), Options{Brokers: []string{addr, "127.0.0.1:1"}})
	if err == nil {
		t.Fatal("New with unreachable brokers succeeded")
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("New took %v to give up", took)
	}
	for _, want := range []string{"kafka: cannot reach brokers " + addr + ",127.0.0.1:1: ",
		"(start one with 'pipeline broker' or unset KAFKA_BROKERS to use the embedded broker)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestEmbeddedBrokerKeepsData closes a connector, which stops its embedded
// broker, and opens another on the same folder: the topic's records and the
// group's committed offsets are still there.
func TestEmbeddedBrokerKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	rows := eventRows(300, 5)
	c1, err := New(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tp := openTopic(t, c1, "kept", 3)
	publish(t, tp, rows[:200])
	if got := consumeAll(t, tp, port.ConsumeOptions{Group: "g"}); len(got) != 200 {
		t.Fatalf("group got %d messages, want 200", len(got))
	}
	publish(t, tp, rows[200:])
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	c2, err := New(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	tp2 := openTopic(t, c2, "kept", 0)
	checkEvents(t, consumeAll(t, tp2, port.ConsumeOptions{}), "kept", 300, 5)
	rest := consumeAll(t, tp2, port.ConsumeOptions{Group: "g"})
	if len(rest) != 100 {
		t.Fatalf("group resumed with %d messages, want the 100 published after its commit", len(rest))
	}
	for _, m := range rest {
		if m.Row[1].(int) < 40 {
			t.Fatalf("group resumed with %s, published before its commit", show(m.Row))
		}
	}
}

func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	c, err := New(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = New(context.Background(), Options{DataDir: dir})
	want := "kafka: embedded broker: kafka broker: data folder " + dir + ": in use by another broker"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("second broker on one folder: %v, want %s", err, want)
	}
}

// legacy is the schema of the records the legacy producer writes.
var legacy = schema.MustNew("legacy", []schema.Column{
	{Name: "account", Type: schema.StringType},
	{Name: "seq", Type: schema.IntType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "at", Type: schema.DateTimeType},
	{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
}, "")

// TestExternalClients produces legacy records (every value a string, no key)
// to a RunBroker broker with clients other than ours, kcat and kafka-python,
// and consumes them with a Topic that has no key column, as an intake topic.
// Where the clients are not installed it is skipped, saying how to install
// them, except in CI (PIPELINE_CI=1), which installs them.
func TestExternalClients(t *testing.T) {
	const install = "install the external clients with: apt-get install -y kcat python3-kafka (.ci/run does)"
	// Missing clients skip the test on a developer's machine; in CI
	// (PIPELINE_CI=1, set by .ci/run, which installs them) they fail it.
	missing := func(what string) {
		t.Helper()
		if os.Getenv("PIPELINE_CI") == "1" {
			t.Fatalf("%s; %s", what, install)
		}
		t.Skipf("%s: %s to run this test", what, install)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if kcat, err = exec.LookPath("kafkacat"); err != nil {
			missing("kcat is not installed")
		}
	}
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import kafka").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		missing("no python3 with kafka-python (import kafka)")
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- RunBroker(ctx, BrokerOptions{
			Addr:    addr,
			DataDir: t.TempDir(),
			Topics:  []port.TopicSpec{{Name: "legacy.events", Partitions: 3}, {Name: "other"}},
			Log:     slog.New(slog.NewTextHandler(&logs, nil)),
		})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "broker listening on "+addr) {
		select {
		case err := <-done:
			t.Fatalf("RunBroker returned %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", "broker listening on "+addr, logs.String())
		}
	}

	// kcat: one record per line, no key.
	cmd := exec.Command(kcat, "-P", "-b", addr, "-t", "legacy.events")
	cmd.Stdin = strings.NewReader(`{"account": "acc-1", "seq": "1", "amount": "12.5", "at": "2024-03-01 12:00:00", "note": ""}` + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	// kafka-python, as the legacy producer sends: json.dumps of a dict of strings.
	script := `
import json, sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], value_serializer=lambda v: json.dumps(v).encode("utf-8"))
p.send(sys.argv[2], {"account": "acc-2", "seq": "2", "amount": "-0.5", "at": "2024-03-01 12:00:01", "note": "caf\u00e9"}).get(timeout=30)
p.flush()
p.close()
`
	cmd = exec.Command(python, "-c", script, addr, "legacy.events")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kafka-python: %v\n%s", err, out)
	}

	c, err := New(ctx, Options{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Unkeyed, as the legacy producer writes: a topic with no key column,
	// like the intake topic a rekey stage re-keys (a stream stage reading
	// a keyed topic sends records without their key to the dead letters).
	tp, err := c.Topic(ctx, port.TopicSpec{Name: "legacy.events", Schema: legacy})
	if err != nil {
		t.Fatal(err)
	}
	msgs := consumeAll(t, tp, port.ConsumeOptions{Group: "pipeline"})
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	want := map[string]schema.Row{
		"acc-1": {"acc-1", 1, decimal.MustParse("12.50"), at, nil},
		"acc-2": {"acc-2", 2, decimal.MustParse("-0.50"), at.Add(time.Second), "café"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		w := want[m.Row[0].(string)]
		if !sameRow(m.Row, w) || (m.Row[4] == nil) != (w[4] == nil) {
			t.Errorf("message %s: row %s, want %s", m.Source, show(m.Row), show(w))
		}
		if m.Key != nil {
			t.Errorf("message %s: key %q, want none (produced without one)", m.Source, m.Key)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunBroker returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("RunBroker did not return after cancel")
	}
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
