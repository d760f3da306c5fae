package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// events is the schema most tests publish: a key, a sequence number per key,
// an amount, a time and a nullable note.
var events = schema.MustNew("events", []schema.Column{
	{Name: "account", Type: schema.StringType},
	{Name: "seq", Type: schema.IntType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "at", Type: schema.DateTimeType},
	{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
}, "")

// eventRows returns n rows spread over keys keys: row i has key "k<i%keys>"
// and seq i/keys, so each key's seqs count up from 0.
func eventRows(n, keys int) []schema.Row {
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := make([]schema.Row, n)
	for i := range rows {
		var note any
		if i%4 == 1 {
			note = fmt.Sprintf("note %d, \"quoted\"", i)
		}
		rows[i] = schema.Row{
			fmt.Sprintf("k%d", i%keys),
			i / keys,
			decimal.MustNew(int64(i*37%100000-500), 2),
			start.Add(time.Duration(i) * time.Second),
			note,
		}
	}
	return rows
}

// newConnector returns a connector with an embedded broker on a fresh data
// folder, closed when the test ends.
func newConnector(t testing.TB) *Connector {
	t.Helper()
	c, err := New(context.Background(), Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openTopic opens topic name of events keyed by account with parts partitions.
func openTopic(t testing.TB, c *Connector, name string, parts int) *Topic {
	t.Helper()
	tp, err := c.Topic(context.Background(), port.TopicSpec{Name: name, Schema: events, Key: "account", Partitions: parts})
	if err != nil {
		t.Fatalf("Topic(%s): %v", name, err)
	}
	return tp.(*Topic)
}

// collector gathers the messages a handler receives, safe for concurrent use.
type collector struct {
	mu      sync.Mutex
	msgs    []port.Message
	batches int
}

// handle records a batch; it fails the test on a message that did not decode.
func (c *collector) handle(t testing.TB) func(context.Context, []port.Message) error {
	return func(_ context.Context, msgs []port.Message) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range msgs {
			if m.Err != nil {
				t.Errorf("message %s: %v", m.Source, m.Err)
			}
		}
		c.msgs = append(c.msgs, msgs...)
		c.batches++
		return nil
	}
}

// all returns the messages gathered so far.
func (c *collector) all() []port.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]port.Message(nil), c.msgs...)
}

// consumeAll consumes tp with opts until drained and returns the messages.
func consumeAll(t testing.TB, tp port.Topic, opts port.ConsumeOptions) []port.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c collector
	if err := tp.Consume(ctx, opts, c.handle(t)); err != nil {
		t.Fatalf("Consume(%+v): %v", opts, err)
	}
	return c.all()
}

// publish publishes rows to tp, failing the test on error.
func publish(t testing.TB, tp port.Topic, rows []schema.Row) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tp.Publish(ctx, rows); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// show formats a row for messages.
func show(r schema.Row) string {
	if r == nil {
		return "<nil>"
	}
	s := "("
	for i, v := range r {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%v", v)
	}
	return s + ")"
}

// sameRow reports whether a and b hold equal values (decimals by value).
func sameRow(a, b schema.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if schema.Compare(a[i], b[i]) != 0 {
			return false
		}
		if (a[i] == nil) != (b[i] == nil) {
			return false
		}
	}
	return true
}

// checkEvents checks that msgs hold every row of eventRows(n, keys) exactly
// once, each key's rows in seq order, each with a source in topic.
func checkEvents(t testing.TB, msgs []port.Message, topic string, n, keys int) {
	t.Helper()
	want := eventRows(n, keys)
	if len(msgs) != n {
		t.Fatalf("got %d messages, want %d", len(msgs), n)
	}
	next := map[string]int{}      // per key, the seq expected next
	keyPart := map[string]int32{} // per key, its partition
	lastOff := map[int32]int64{}  // per partition, the last offset seen
	for _, m := range msgs {
		if m.Err != nil || m.Row == nil {
			t.Fatalf("message %s: row %v, error %v", m.Source, m.Row, m.Err)
		}
		if m.Source.Topic != topic {
			t.Fatalf("message source %s, want topic %s", m.Source, topic)
		}
		key, seq := m.Row[0].(string), m.Row[1].(int)
		if seq != next[key] {
			t.Fatalf("key %s: got seq %d, want %d (message %s)", key, seq, next[key], m.Source)
		}
		next[key]++
		if p, ok := keyPart[key]; ok && p != m.Source.Partition {
			t.Fatalf("key %s in partitions %d and %d", key, p, m.Source.Partition)
		}
		keyPart[key] = m.Source.Partition
		if o, ok := lastOff[m.Source.Partition]; ok && m.Source.Offset <= o {
			t.Fatalf("partition %d: offset %d after %d", m.Source.Partition, m.Source.Offset, o)
		}
		lastOff[m.Source.Partition] = m.Source.Offset
		var k int
		fmt.Sscanf(key, "k%d", &k)
		if w := want[seq*keys+k]; !sameRow(m.Row, w) {
			t.Fatalf("message %s: row %s, want %s", m.Source, show(m.Row), show(w))
		}
	}
}

// long marks a test that waits out session or rejoin timeouts for many
// seconds: `go test -short ./...` leaves it out, so the quick suite stays
// under two minutes (as cmd/pipeline's long does); CI (.ci/run) runs it.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("waits out Kafka session or rejoin timeouts: run without -short")
	}
}
