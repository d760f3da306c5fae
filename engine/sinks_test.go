package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// TestSinksAndOutbox: testdata/shop/sinks.yaml routes the rejected orders
// to a table and its other refusals to a topic, besides every decision to
// the orders table. The table holds exactly the rejected orders, the topic
// (through the memory connector's outbox, emptied by the relay) exactly the
// records its where holds for, each keyed by its order id, and the export's
// where keeps only the rejected orders. Every decision is the one spec.yaml
// makes: sinks change nothing else.
func TestSinksAndOutbox(t *testing.T) {
	_, plain := runShop(t)
	out := t.TempDir()
	plan, err := engine.Load("testdata/shop/sinks.yaml", yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	ctx := context.Background()
	p, err := engine.Open(ctx, plan, engine.Options{Registry: registry(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// The decisions, as spec.yaml's export writes them before settling.
	orders := readRows(t, filepath.Join(plain, "orders.csv"))
	var rejected, refusedTopic []string
	for _, r := range orders[1:] {
		if r[4] == "rejected" {
			rejected = append(rejected, r[0])
		}
		if amount, _ := strconv.ParseFloat(r[2], 64); r[4] != "accepted" && r[4] != "done" && amount > 2.5 {
			refusedTopic = append(refusedTopic, r[0])
		}
	}
	if len(refusedTopic) == 0 || len(refusedTopic) >= len(rejected) {
		t.Fatalf("the shop data rejects %d orders, %d of them over 2.5: want some of each", len(rejected), len(refusedTopic))
	}

	var csvIDs []string
	for _, r := range readRows(t, filepath.Join(out, "refused.csv"))[1:] {
		csvIDs = append(csvIDs, r[0])
		if len(r) != 2 || r[1] != "too_much" {
			t.Errorf("refused.csv row %q: want order_id and the rule", r)
		}
	}
	if !slices.Equal(csvIDs, rejected) {
		t.Errorf("refused.csv holds %v\nwant the rejected orders %v", csvIDs, rejected)
	}
	var tableIDs []string
	for _, r := range readRows(t, filepath.Join(out, "refusals.csv"))[1:] {
		tableIDs = append(tableIDs, r[0])
		if r[1] == "" || strings.ToUpper(r[1]) == r[1] {
			t.Errorf("refusals row %q: want the owner as the table's emit makes it", r)
		}
	}
	if !slices.Equal(tableIDs, rejected) {
		t.Errorf("the refusals table holds %v\nwant the rejected orders %v", tableIDs, rejected)
	}

	bus := p.Connector(spec.Ref{Connector: "bus"}).(*memory.Connector)
	db := p.Connector(spec.Ref{Connector: "db"}).(*memory.Connector)
	if n := db.Outboxed(); n != 0 {
		t.Errorf("the outbox holds %d records after the run, want 0", n)
	}
	ts := plan.Topics["refused"]
	topic, err := bus.Topic(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = topic.Consume(ctx, port.ConsumeOptions{}, func(_ context.Context, ms []port.Message) error {
		for _, m := range ms {
			id := schema.IntType.Format(m.Row[0])
			if string(m.Key) != id || m.Row[1] != strings.ToUpper(m.Row[1].(string)) {
				t.Errorf("%s: key %q, row %v: want the order id as key and the topic's emit", m.Source, m.Key, m.Row)
			}
			got = append(got, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	if !slices.Equal(got, refusedTopic) {
		t.Errorf("topic refused holds %v\nwant %v", got, refusedTopic)
	}
}

// readRows reads a CSV file written by the csv connector (no quoted commas in these).
func readRows(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		rows = append(rows, strings.Split(l, ","))
	}
	return rows
}

// TestSinksFollow: under Follow, the relay publishes a topic sink's records
// as they are decided, wave after wave, and a stage told to stop (Ctrl-C)
// ends without an error, its outbox empty.
func TestSinksFollow(t *testing.T) {
	conn := memory.New()
	ctx := context.Background()
	if _, err := shopSpec(t, "testdata/shop/sinks.yaml", conn, t.TempDir()).Run(ctx, []string{"reset", "load"}); err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Load("testdata/shop/sinks.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	p, err := engine.Open(ctx, plan, engine.Options{Registry: reg, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(run, []string{"decide"})
		done <- err
	}()
	orders, err := conn.Topic(ctx, plan.Topics["orders"])
	if err != nil {
		t.Fatal(err)
	}
	refused, err := conn.Topic(ctx, plan.Topics["refused"])
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Account 1 has a limit of 150.00: its first order of 100.00 is
	// accepted, every later one rejected.
	for wave := 1; wave <= 3; wave++ {
		rows := []schema.Row{
			{wave * 10, 1, decimalOf(t, "100.00"), at, nil, nil, nil},
			{wave*10 + 1, 1, decimalOf(t, "100.00"), at, nil, nil, nil},
		}
		if err := orders.Publish(ctx, rows); err != nil {
			t.Fatal(err)
		}
		want := 2*wave - 1
		deadline := time.Now().Add(30 * time.Second)
		for refused.(*memory.Topic).Len() < want {
			select {
			case err := <-done:
				t.Fatalf("the following stage ended: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("wave %d: %d records on the refused topic within 30 s, want %d", wave, refused.(*memory.Topic).Len(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a following stage with a topic sink stopped: %v, want no error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the following stage did not stop within 30 s of being told")
	}
	if n, m := refused.(*memory.Topic).Len(), conn.Outboxed(); n != 5 || m != 0 {
		t.Errorf("refused topic %d records, outbox %d; want 5 and 0", n, m)
	}
}
