// Package porttest holds the contract tests of engine/port: what every
// connector's tables, topics, committer and transactor must do, whatever
// holds the data (docs/ARCHITECTURE.md, "Connectors"). A connector's tests
// run them against fresh instances, as testing/fstest does for file systems:
//
//	func TestConformance(t *testing.T) {
//		porttest.Tables(t, func(t *testing.T) port.Tables { return New() })
//	}
//
// Where a connector legitimately differs, a test takes an option rather
// than being skipped.
package porttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// item returns a row of Items.
func item(id int, name string, cents int64) schema.Row {
	return schema.Row{id, name, decimal.MustNew(cents, 2)}
}

// Items is the schema of the suite's tables: an int key, a name and a
// nullable amount.
var Items = schema.MustNew("porttest_items", []schema.Column{
	{Name: "id", Type: schema.IntType},
	{Name: "name", Type: schema.StringType},
	{Name: "amount", Type: schema.Type{Kind: schema.Decimal, Scale: 2, Nullable: true}},
}, "id")

// show formats rows as the schema's text, one row a line, to compare rows
// whatever Go values a connector hands back.
func show(s *schema.Schema, rows []schema.Row) string {
	var b strings.Builder
	for _, r := range rows {
		if r == nil {
			b.WriteString("<nil>\n")
			continue
		}
		for i, v := range r {
			if i > 0 {
				b.WriteByte('|')
			}
			if v == nil {
				b.WriteString("null")
				continue
			}
			b.Write(s.Columns[i].Type.Append(nil, v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// openTable opens Items (or s) on c, failing the test on an error.
func openTable(t *testing.T, c port.Tables, s *schema.Schema) port.Table {
	t.Helper()
	tb, err := c.Table(context.Background(), s)
	if err != nil {
		t.Fatalf("Table(%s): %v", s.Name, err)
	}
	return tb
}

// scan returns every row of tb in key order.
func scan(t *testing.T, tb port.Table) []schema.Row {
	t.Helper()
	var out []schema.Row
	err := tb.Scan(context.Background(), func(r schema.Row) error {
		out = append(out, r.Clone())
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

// wantRows fails the test unless tb holds exactly want, in key order.
func wantRows(t *testing.T, tb port.Table, want ...schema.Row) {
	t.Helper()
	if got, w := show(tb.Schema(), scan(t, tb)), show(tb.Schema(), want); got != w {
		t.Errorf("table %s holds\n%swant\n%s", tb.Schema().Name, got, w)
	}
}

// upsert upserts rows into tb, failing the test on an error.
func upsert(t *testing.T, tb port.Table, rows ...schema.Row) {
	t.Helper()
	if err := tb.Upsert(context.Background(), rows); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
}

// Tables runs the contract tests of port.Table on tables of connectors
// open returns, a fresh one for each test.
func Tables(t *testing.T, open func(t *testing.T) port.Tables) {
	ctx := context.Background()
	t.Run("UpsertGetScan", func(t *testing.T) {
		tb := openTable(t, open(t), Items)
		wantRows(t, tb)
		upsert(t, tb, item(3, "c", 300), item(1, "a", 100), item(2, "b", 200))
		upsert(t, tb, item(2, "b2", 250), item(4, "d", 400), item(4, "d2", 450))
		wantRows(t, tb, item(1, "a", 100), item(2, "b2", 250), item(3, "c", 300), item(4, "d2", 450))
		got, err := tb.Get(ctx, []any{4, 9, 1})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if g, w := show(Items, got), show(Items, []schema.Row{item(4, "d2", 450), nil, item(1, "a", 100)}); g != w {
			t.Errorf("Get(4, 9, 1) =\n%swant\n%s", g, w)
		}
		if got, err := tb.Get(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("Get() = %v, %v; want nothing", got, err)
		}
	})
	t.Run("NullValue", func(t *testing.T) {
		tb := openTable(t, open(t), Items)
		upsert(t, tb, schema.Row{1, "a", nil})
		wantRows(t, tb, schema.Row{1, "a", nil})
	})
	t.Run("BadRowWritesNothing", func(t *testing.T) {
		tb := openTable(t, open(t), Items)
		if err := tb.Upsert(ctx, []schema.Row{item(1, "a", 1), {2, "b"}}); err == nil {
			t.Error("Upsert of a row with too few values: no error")
		}
		wantRows(t, tb)
	})
	t.Run("Truncate", func(t *testing.T) {
		tb := openTable(t, open(t), Items)
		upsert(t, tb, item(1, "a", 100), item(2, "b", 200))
		if err := tb.Truncate(ctx); err != nil {
			t.Fatalf("Truncate: %v", err)
		}
		wantRows(t, tb)
		upsert(t, tb, item(5, "e", 500))
		wantRows(t, tb, item(5, "e", 500))
	})
	t.Run("SameTableTwice", func(t *testing.T) {
		c := open(t)
		upsert(t, openTable(t, c, Items), item(1, "a", 100))
		wantRows(t, openTable(t, c, Items), item(1, "a", 100))
	})
}

// events is the schema of the suite's topics: a key and a sequence number
// per key.
var events = schema.MustNew("porttest_events", []schema.Column{
	{Name: "key", Type: schema.StringType},
	{Name: "seq", Type: schema.IntType},
}, "")

// eventRows returns n rows over keys keys, each key's seqs counting up from 0.
func eventRows(n, keys int) []schema.Row {
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Row{fmt.Sprintf("k%d", i%keys), i / keys}
	}
	return rows
}

// Topics runs the contract tests of port.Topic on topics of connectors
// open returns, a fresh one for each test; each test names its topic after itself.
func Topics(t *testing.T, open func(t *testing.T) port.Topics) {
	name := func(t *testing.T) string {
		return strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	}
	topic := func(t *testing.T, parts int) port.Topic {
		t.Helper()
		tp, err := open(t).Topic(context.Background(), port.TopicSpec{Name: name(t), Schema: events, Key: "key", Partitions: parts})
		if err != nil {
			t.Fatalf("Topic: %v", err)
		}
		return tp
	}
	t.Run("KeyOrder", func(t *testing.T) {
		tp := topic(t, 3)
		publish(t, tp, eventRows(300, 7))
		msgs := consume(t, tp, port.ConsumeOptions{BatchSize: 16}, nil)
		checkEvents(t, msgs, 300, 7)
	})
	t.Run("GroupResumes", func(t *testing.T) {
		tp := topic(t, 2)
		publish(t, tp, eventRows(50, 5))
		checkEvents(t, consume(t, tp, port.ConsumeOptions{Group: "g"}, nil), 50, 5)
		if msgs := consume(t, tp, port.ConsumeOptions{Group: "g"}, nil); len(msgs) != 0 {
			t.Errorf("the group consumed %d records again, want none", len(msgs))
		}
		publish(t, tp, eventRows(60, 5)[50:])
		if msgs := consume(t, tp, port.ConsumeOptions{Group: "g"}, nil); len(msgs) != 10 {
			t.Errorf("the group consumed %d new records, want 10", len(msgs))
		}
		checkEvents(t, consume(t, tp, port.ConsumeOptions{}, nil), 60, 5)
	})
	t.Run("HandlerErrorKeepsBatch", func(t *testing.T) {
		tp := topic(t, 1)
		publish(t, tp, eventRows(20, 2))
		fail := fmt.Errorf("handler fails")
		err := tp.Consume(context.Background(), port.ConsumeOptions{Group: "g", BatchSize: 5},
			func(context.Context, []port.Message) error { return fail })
		if err == nil || !strings.Contains(err.Error(), fail.Error()) {
			t.Errorf("Consume = %v, want the handler's error", err)
		}
		checkEvents(t, consume(t, tp, port.ConsumeOptions{Group: "g"}, nil), 20, 2)
	})
	t.Run("Positions", func(t *testing.T) {
		tp := topic(t, 1)
		publish(t, tp, eventRows(20, 1))
		positions := func(_ context.Context, ps []int32) (map[int32]int64, error) {
			return map[int32]int64{0: 15}, nil
		}
		msgs := consume(t, tp, port.ConsumeOptions{Group: "g", Positions: positions}, nil)
		if len(msgs) != 5 || msgs[0].Source.Offset != 15 {
			t.Errorf("consumed %d records from offset %v, want 5 from 15", len(msgs), offsets(msgs))
		}
	})
}

// publish publishes rows to tp, failing the test on an error.
func publish(t *testing.T, tp port.Topic, rows []schema.Row) {
	t.Helper()
	if err := tp.Publish(context.Background(), rows); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// consume consumes tp until drained and returns the messages, copied,
// calling each, when set, with every batch.
func consume(t *testing.T, tp port.Topic, opts port.ConsumeOptions, each func([]port.Message) error) []port.Message {
	t.Helper()
	var out []port.Message
	err := tp.Consume(context.Background(), opts, func(_ context.Context, msgs []port.Message) error {
		if each != nil {
			if err := each(msgs); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			m.Key = slices.Clone(m.Key)
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	return out
}

// offsets lists the offsets of msgs, for messages.
func offsets(msgs []port.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Source.Offset
	}
	return out
}

// checkEvents checks that msgs are the n rows of eventRows(n, keys), each
// once, each key's in order, in one partition, with its key.
func checkEvents(t *testing.T, msgs []port.Message, n, keys int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("consumed %d records, want %d", len(msgs), n)
	}
	next := map[string]int{}
	part := map[string]int32{}
	for _, m := range msgs {
		if m.Err != nil || len(m.Row) != 2 {
			t.Fatalf("record at %s: %v %v", m.Source, m.Row, m.Err)
		}
		k, _ := m.Row[0].(string)
		if seq, _ := m.Row[1].(int); seq != next[k] {
			t.Errorf("key %s: seq %d at %s, want %d", k, seq, m.Source, next[k])
		}
		next[k]++
		if p, ok := part[k]; ok && p != m.Source.Partition {
			t.Errorf("key %s in partitions %d and %d", k, p, m.Source.Partition)
		}
		part[k] = m.Source.Partition
		if string(m.Key) != k {
			t.Errorf("record at %s has key %q, want %q", m.Source, m.Key, k)
		}
	}
	if len(next) != keys {
		t.Errorf("consumed %d keys, want %d", len(next), keys)
	}
}
