package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// badInput is one case of TestBadInputs: the testdata/badinput folder with
// some files replaced or edited, and the command to run on it.
type badInput struct {
	name  string
	files map[string]string    // files written over the folder's
	edit  map[string][2]string // file: replace old with new (once, must match)
	env   map[string]string
	args  []string // default: dry-run spec.yaml --out out
}

const (
	ordersHeader = "order_id,account_id,amount,at,note\n"
	goodOrders   = ordersHeader + "1,1,10.00,2025-01-01 00:00:01,\n2,2,20.50,2025-01-01 00:00:02,first\n"
)

// badInputs are the bad inputs of issue #4 that need no service: CSV files,
// specs and rules. Messages on a topic are in TestBadMessages.
func badInputs() []badInput {
	big := strings.Repeat("0123456789", 1<<20) // 10 MiB
	return []badInput{
		{name: "good", files: map[string]string{"in/orders.csv": goodOrders}},
		// CSV files
		{name: "csv_wrong_column_count", files: map[string]string{"in/orders.csv": goodOrders +
			"3,1,5.00,2025-01-01 00:00:03\n4,1,5.00,2025-01-01 00:00:04,,extra\n5,1,5.00,2025-01-01 00:00:05,\n"}},
		{name: "csv_non_numeric_amount", files: map[string]string{"in/orders.csv": goodOrders +
			"3,1,12.5x,2025-01-01 00:00:03,\n4,1,\"1,000.00\",2025-01-01 00:00:04,\n5,1,,2025-01-01 00:00:05,\n6,1,0.001,2025-01-01 00:00:06,\n7,x,1.00,2025-01-01 00:00:07,\n"}},
		{name: "csv_bad_date", files: map[string]string{
			"in/orders.csv":   goodOrders + "3,1,5.00,2025-02-30 10:00:00,\n4,1,5.00,2025-01-01,\n5,1,5.00,01/02/2025 10:00:00,\n",
			"in/accounts.csv": "id,owner,limit,opened\n1,ann,500.00,2020-01-31\n2,bob,1000.00,2021-13-01\n3,cyd,100.00,2022-02-28\n",
		}},
		{name: "csv_empty_file", files: map[string]string{"in/orders.csv": ""}},
		{name: "csv_header_only", files: map[string]string{"in/orders.csv": ordersHeader}},
		{name: "csv_header_missing_column", files: map[string]string{"in/orders.csv": "order_id,account_id,amount,note\n1,1,10.00,\n"}},
		{name: "csv_utf8_bom", files: map[string]string{"in/orders.csv": "\uFEFF" + goodOrders}},
		{name: "csv_lf", files: map[string]string{"in/orders.csv": goodOrders + "3,1,bad,2025-01-01 00:00:03,\n"}},
		{name: "csv_crlf", files: map[string]string{"in/orders.csv": strings.ReplaceAll(goodOrders+"3,1,bad,2025-01-01 00:00:03,\n", "\n", "\r\n")}},
		{name: "csv_quoted_newlines", files: map[string]string{"in/orders.csv": ordersHeader +
			"1,1,10.00,2025-01-01 00:00:01,\"two\nlines\"\n2,1,5.00,2025-01-01 00:00:02,\"three\r\nlines\nhere\"\n3,1,bad,2025-01-01 00:00:03,\n4,1,5.00,2025-01-01 00:00:04,\"unclosed\n5,1,5.00,2025-01-01 00:00:05,\n"}},
		{name: "csv_10mb_field", files: map[string]string{"in/orders.csv": ordersHeader +
			"1,1,10.00,2025-01-01 00:00:01,\"" + big + "\"\n2,1," + big + ",2025-01-01 00:00:02,\n3,1,5.00,2025-01-01 00:00:03,\n"}},
		// Specs
		{name: "spec_unknown_key", edit: map[string][2]string{"spec.yaml": {"rules: rules.yaml", "rule: rules.yaml"}}},
		{name: "spec_wrong_type", edit: map[string][2]string{"spec.yaml": {"partitions: 2", "partitions: two"}}},
		{name: "spec_unknown_connector_kind", edit: map[string][2]string{"spec.yaml": {"bus: {kind: memory}", "bus: {kind: rabbitmq}"}}},
		{name: "spec_bad_option_value", edit: map[string][2]string{"spec.yaml": {"line_ending: lf", "line_ending: cr"}}, args: []string{"lint", "spec.yaml"}},
		{name: "spec_unknown_option", edit: map[string][2]string{"spec.yaml": {"line_ending: lf", "line_endings: lf"}}, args: []string{"lint", "spec.yaml"}},
		{name: "spec_unknown_connector", edit: map[string][2]string{"spec.yaml": {"from: bus:orders", "from: queue:orders"}}},
		{name: "spec_unknown_stage_kind", edit: map[string][2]string{"spec.yaml": {"kind: publish", "kind: produce"}}},
		{name: "spec_unset_variable", edit: map[string][2]string{"spec.yaml": {`"files:in/orders.csv"`, `"files:${ORDERS_FILE}"`}}},
		{name: "spec_variable_with_default", edit: map[string][2]string{"spec.yaml": {`"files:in/orders.csv"`, `"files:${ORDERS_FILE:-in/orders.csv}"`}},
			files: map[string]string{"in/orders.csv": goodOrders}},
		{name: "spec_not_yaml", files: map[string]string{"spec.yaml": "name: [unclosed\n"}},
		{name: "spec_missing_file", args: []string{"dry-run", "nowhere.yaml"}},
		// Rules
		{name: "rule_does_not_compile", edit: map[string][2]string{"rules.yaml": {"when: order.amount > account.limit,", "when: order.amount > > account.limit,"}}},
		{name: "rule_misspelt_field", edit: map[string][2]string{"rules.yaml": {"when: order.amount > account.limit,", "when: order.ammount > account.limit,"}},
			args: []string{"lint", "spec.yaml"}},
		{name: "rule_result_wrong_type", edit: map[string][2]string{"rules.yaml": {"when: order.amount > account.limit,", "when: order.amount - account.limit,"}}},
		{name: "rule_division_by_zero", files: map[string]string{"in/orders.csv": goodOrders + "3,3,5.00,2025-01-01 00:00:03,\n4,1,5.00,2025-01-01 00:00:04,\n"}},
		{name: "rule_over_budget", files: map[string]string{"in/orders.csv": goodOrders + "3,1,5.00,2025-01-01 00:00:03,\n"},
			edit: map[string][2]string{"rules.yaml": {"  order: {amount: money}\n  account: {limit: money}\nrules:\n",
				"  order: {amount: money, note: \"string?\"}\n  account: {limit: money}\nrules:\n" +
					"  # The note doubled 40 times: 1 TiB for a note of one byte.\n" +
					"  - {id: doubled, when: \"len(reduce(1..40, #acc + #acc, order.note ?? '')) > 0\", outcome: odd}\n"}}},
		{name: "rule_nullable_compare", edit: map[string][2]string{"rules.yaml": {
			"  order: {amount: money}\n  account: {limit: money}\nrules:\n",
			"  order: {amount: money, note: \"string?\"}\n  account: {limit: money}\nrules:\n" +
				"  - {id: rush, when: order.note == \"rush\", outcome: rushed}\n"}},
			args: []string{"lint", "spec.yaml"}},
		{name: "rule_shadowed", edit: map[string][2]string{"rules.yaml": {"  # A limit of exactly 100",
			"  - {id: big, when: order.amount > 1000, outcome: review}\n  - {id: huge, when: order.amount > 5000, outcome: rejected}\n  # A limit of exactly 100"}},
			args: []string{"lint", "spec.yaml"}},
		{name: "rule_shadowed_strict", edit: map[string][2]string{"rules.yaml": {"  # A limit of exactly 100",
			"  - {id: big, when: order.amount > 1000, outcome: review}\n  - {id: huge, when: order.amount > 5000, outcome: rejected}\n  # A limit of exactly 100"}},
			args: []string{"lint", "--strict", "spec.yaml"}},
		{name: "rule_missing_key", files: map[string]string{"in/orders.csv": goodOrders + "3,99,5.00,2025-01-01 00:00:03,\n"}},
		{name: "strict", files: map[string]string{"in/orders.csv": goodOrders + "3,99,5.00,2025-01-01 00:00:03,\n"},
			args: []string{"dry-run", "spec.yaml", "--out", "out", "--strict"}},
	}
}

// TestBadInputs runs the pipeline on each bad input and compares what a
// user sees (the summary, the dead letters, the error and the exit status)
// with testdata/badinput/golden/NAME.txt. Run with -update to rewrite them.
func TestBadInputs(t *testing.T) {
	for _, c := range badInputs() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("testdata/badinput")); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(filepath.Join(dir, "golden"))
			for name, data := range c.files {
				writeFile(t, filepath.Join(dir, name), data)
			}
			for name, e := range c.edit {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(data), e[0]) {
					t.Fatalf("%s holds no %q", name, e[0])
				}
				writeFile(t, filepath.Join(dir, name), strings.Replace(string(data), e[0], e[1], 1))
			}
			args := c.args
			if args == nil {
				args = []string{"dry-run", "spec.yaml", "--out", "out"}
			}
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			got := seenByUser(t, dir, args)
			golden(t, filepath.Join("testdata/badinput/golden", c.name+".txt"), got)
		})
	}
}

// seenByUser runs the pipeline in dir and returns what its user sees,
// normalised: the folder is $DIR and the summary has no timings.
func seenByUser(t *testing.T, dir string, args []string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	out, runErr := pipeline(t, args...)
	var msg bytes.Buffer
	status := report(&msg, runErr, nil)
	if err := os.Chdir(wd); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "$ pipeline %s\n", strings.Join(args, " "))
	b.WriteString(withoutTimings(out))
	b.WriteString(msg.String())
	fmt.Fprintf(&b, "exit status %d\n", status)
	if rows := deadLetterFile(t, filepath.Join(dir, "out", "dead_letters.csv")); rows != "" {
		b.WriteString("--- out/dead_letters.csv (stage | source | reason | payload, cut to 60 bytes)\n" + rows)
	}
	return strings.ReplaceAll(b.String(), dir, "$DIR")
}

var summaryRow = regexp.MustCompile(`^\s*(\S+)\s+(\S+)\s+(\d+|in)\s+(\d+|out)\s+(\d+|dead)\s+(\d+|dup)\s+\S+\s+\S+\s*$`)

// withoutTimings drops the seconds and records/s columns of the summary.
func withoutTimings(out string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if m := summaryRow.FindStringSubmatch(line); m != nil {
			fmt.Fprintf(&b, "%-8s %-8s %5s %5s %5s %5s\n", m[1], m[2], m[3], m[4], m[5], m[6])
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// deadLetterFile returns the letters of a dead-letter file without their
// time, one line each, or "" when there is no file.
func deadLetterFile(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return ""
	}
	rows := readCSV(t, path)
	if len(rows) == 0 || strings.Join(rows[0], ",") != "id,stage,source,reason,payload,time,run_id" {
		t.Fatalf("%s: header %v", path, rows)
	}
	var b strings.Builder
	for _, r := range rows[1:] {
		payload := r[4]
		if len(payload) > 60 {
			payload = fmt.Sprintf("%.60q... (%d bytes)", payload, len(payload))
		} else {
			payload = fmt.Sprintf("%q", payload)
		}
		fmt.Fprintf(&b, "%s | %s | %s | %s\n", r[1], r[2], r[3], payload)
	}
	return b.String()
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("what the user sees differs from %s (run with -update if intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// badMessage is a record TestBadMessages produces: its record key (none
// when nil) and value.
type badMessage struct {
	key   []byte
	value string
}

// badMessages are the records TestBadMessages puts on the topic, as raw
// bytes from a client other than the pipeline, in this order on one
// partition. The topic is keyed by account_id: each is keyed by its
// account_id's text (1 when it has none), but for the last two, one sent
// without a key and one with another account's.
func badMessages() []badMessage {
	keyed := func(key, value string) badMessage { return badMessage{key: []byte(key), value: value} }
	return []badMessage{
		keyed("1", `{"order_id": 1, "account_id": 1, "amount": "10.00", "at": "2025-01-01 00:00:01"}`),
		keyed("1", `not json at all`),
		keyed("1", `{"order_id": 3, "account_id": 1`),
		keyed("1", `[3, 1, "10.00"]`),
		keyed("1", `{"order_id": 4}`),
		keyed("1", `{"order_id": "five", "account_id": 1, "amount": true, "at": "2025-01-01 00:00:05"}`),
		keyed("1", `{"order_id": 6, "account_id": 1, "amount": "6.001", "at": "yesterday"}`),
		keyed("1", ``),
		keyed("1", `null`),
		keyed("1", `{"order_id": 7, "account_id": 1, "amount": "7.00", "at": "2025-01-01 00:00:07", "note": "`+strings.Repeat("x", 1<<20)+`"}`),
		keyed("99", `{"order_id": 8, "account_id": 99, "amount": "8.00", "at": "2025-01-01 00:00:08"}`),
		keyed("2", `{"order_id": 9, "account_id": 2, "amount": 9.5, "at": "2025-01-01 00:00:09", "colour": "red"}`),
		keyed("1", `{"order_id": 1, "account_id": 1, "amount": "10.00", "at": "2025-01-01 00:00:01"}`),
		keyed("3", `{"order_id": 10, "account_id": 3, "amount": "1.00", "at": "2025-01-01 00:00:10"}`),
		keyed("2", `{"order_id": 11, "account_id": 2, "amount": "11.00", "at": "2025-01-01 00:00:11"}`),
		{value: `{"order_id": 12, "account_id": 2, "amount": "12.00", "at": "2025-01-01 00:00:12"}`},
		keyed("2", `{"order_id": 13, "account_id": 1, "amount": "13.00", "at": "2025-01-01 00:00:13"}`),
	}
}

// TestBadMessages feeds bad records to the stream stage in run mode, on a
// Kafka broker (kfake) and MariaDB: each goes to the dead-letter table with
// its topic/partition/offset, payload and reason, the partition keeps
// moving, and a re-sent record counts as a duplicate. A record without its
// key, or with another, is bad too: it would be decided out of order.
func TestBadMessages(t *testing.T) {
	dsn, db := newDatabase(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/badinput")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "golden"))
	specPath := filepath.Join(dir, "spec.yaml")
	src, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.NewReplacer(
		"db: {kind: memory}", "db: {kind: mysql, dsn: \"${MYSQL_DSN}\"}",
		"bus: {kind: memory}", "bus: {kind: kafka, brokers: \"${KAFKA_BROKERS}\"}",
		"partitions: 2", "partitions: 1",
	).Replace(string(src))
	writeFile(t, specPath, spec)
	t.Setenv("MYSQL_DSN", dsn)
	t.Setenv("KAFKA_BROKERS", strings.Join(cluster.ListenAddrs(), ","))

	var b strings.Builder
	b.WriteString(seenByUser(t, dir, []string{"run", "spec.yaml", "--stage", "reset", "--stage", "load"}))

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, m := range badMessages() {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Key: m.key, Value: []byte(m.value)}).FirstErr(); err != nil {
			t.Fatalf("produce %.40q: %v", m.value, err)
		}
	}
	b.WriteString(seenByUser(t, dir, []string{"run", "spec.yaml", "--stage", "decide", "--stage", "export"}))

	b.WriteString("--- MySQL dead_letters (stage | source | reason | payload, cut to 60 bytes)\n")
	rows, err := db.Query("SELECT stage, source, reason, payload FROM dead_letters ORDER BY LENGTH(source), source")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var stage, source, reason, payload string
		if err := rows.Scan(&stage, &source, &reason, &payload); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s | %s | %s | %.60q\n", stage, source, reason, payload)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	b.WriteString("--- MySQL orders\n")
	orders, err := db.Query("SELECT order_id, account_id, amount, status, rule FROM orders ORDER BY order_id")
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	for orders.Next() {
		var id, account int
		var amount, status, rule string
		if err := orders.Scan(&id, &account, &amount, &status, &rule); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %d %s %s %s\n", id, account, amount, status, rule)
	}
	if err := orders.Err(); err != nil {
		t.Fatal(err)
	}
	dbName := dsn[strings.LastIndex(dsn, "/")+1:]
	seen := strings.NewReplacer(dbName, "$DATABASE", strings.Join(cluster.ListenAddrs(), ","), "$KAFKA_BROKERS").Replace(b.String())
	golden(t, "testdata/badinput/golden/messages.txt", seen)
}
