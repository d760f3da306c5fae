package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// eventSchema has a partitioning column k and a sequence number seq.
var eventSchema = schema.MustNew("events", []schema.Column{
	{Name: "k", Type: schema.StringType},
	{Name: "seq", Type: schema.IntType},
}, "")

func openTopic(t testing.TB, c *Connector, name, key string, partitions int) *Topic {
	t.Helper()
	tp, err := c.Topic(context.Background(), port.TopicSpec{Name: name, Schema: eventSchema, Key: key, Partitions: partitions})
	if err != nil {
		t.Fatalf("Topic(%s): %v", name, err)
	}
	return tp.(*Topic)
}

// events returns n rows whose k cycles through keys distinct values and whose seq is 0..n-1.
func events(n, keys int) []schema.Row {
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Row{fmt.Sprintf("key-%d", i%keys), i}
	}
	return rows
}

func publish(t testing.TB, tp port.Topic, rows []schema.Row) {
	t.Helper()
	for i := 0; i < len(rows); i += 700 {
		if err := tp.Publish(context.Background(), rows[i:min(len(rows), i+700)]); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

// tally records what handlers saw, safely for concurrent handlers.
type tally struct {
	mu      sync.Mutex
	batches [][]port.Message
	seen    map[int]int // seq -> times handled
}

func (l *tally) add(msgs []port.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[int]int{}
	}
	l.batches = append(l.batches, msgs)
	for _, m := range msgs {
		l.seen[m.Row[1].(int)]++
	}
}

func (l *tally) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// checkBatches asserts that each batch is from one partition in consecutive
// offsets with sources naming the topic, and that each partition's batches
// continue one another.
func checkBatches(t *testing.T, name string, batches [][]port.Message, size int) {
	t.Helper()
	next := map[int32]int64{}
	for b, msgs := range batches {
		if len(msgs) == 0 || len(msgs) > size {
			t.Fatalf("batch %d has %d messages, want 1 to %d", b, len(msgs), size)
		}
		p := msgs[0].Source.Partition
		for i, m := range msgs {
			want := port.Source{Topic: name, Partition: p, Offset: next[p]}
			if m.Source != want {
				t.Fatalf("batch %d message %d source %v, want %v", b, i, m.Source, want)
			}
			next[p]++
		}
	}
}

func TestTopicKeyOrder(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		partitions int
		batch      int
		reuse      bool // the handler keeps copies of the reused batches
	}{
		{"keyed over 6 partitions", "k", 6, 100, false},
		{"keyed on seq", "seq", 6, 1000, false},
		{"round-robin", "", 6, 64, false},
		{"default partitions", "k", 0, 0, false},
		{"batch larger than topic", "k", 3, 50_000, false},
		{"reused batches", "k", 6, 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n, keys = 10_000, 50
			tp := openTopic(t, New(), "events", tc.key, tc.partitions)
			want := max(tc.partitions, 1)
			if tp.Partitions() != want {
				t.Fatalf("Partitions = %d, want %d", tp.Partitions(), want)
			}
			publish(t, tp, events(n, keys))
			if tp.Len() != n {
				t.Fatalf("Len = %d, want %d", tp.Len(), n)
			}
			var l tally
			err := tp.Consume(context.Background(), port.ConsumeOptions{BatchSize: tc.batch, Reuse: tc.reuse}, func(_ context.Context, msgs []port.Message) error {
				if tc.reuse {
					msgs = slices.Clone(msgs)
				}
				l.add(msgs)
				return nil
			})
			if err != nil {
				t.Fatalf("Consume: %v", err)
			}
			size := tc.batch
			if size <= 0 {
				size = 1000
			}
			checkBatches(t, "events", l.batches, size)
			if len(l.seen) != n {
				t.Fatalf("consumed %d distinct rows, want %d", len(l.seen), n)
			}
			for seq, times := range l.seen {
				if times != 1 {
					t.Fatalf("row %d consumed %d times", seq, times)
				}
			}
			last := map[string]int{}   // key -> last seq seen
			lastIn := map[int32]int{}  // partition -> last seq seen
			part := map[string]int32{} // key -> partition
			perPart := map[int32]int{} // partition -> rows
			for _, msgs := range l.batches {
				for _, m := range msgs {
					k, seq, p := m.Row[0].(string), m.Row[1].(int), m.Source.Partition
					if prev, ok := lastIn[p]; ok && seq <= prev {
						t.Fatalf("partition %d: row %d after row %d", p, seq, prev)
					}
					lastIn[p] = seq
					perPart[p]++
					if tc.key != "k" {
						continue
					}
					if prev, ok := last[k]; ok && seq <= prev {
						t.Fatalf("key %s: row %d after row %d", k, seq, prev)
					}
					last[k] = seq
					if q, ok := part[k]; ok && q != p {
						t.Fatalf("key %s in partitions %d and %d", k, q, p)
					}
					part[k] = p
				}
			}
			if len(perPart) != want {
				t.Fatalf("rows went to %d partitions, want all %d", len(perPart), want)
			}
			if tc.key == "" {
				for p, c := range perPart {
					if c < n/want || c > n/want+1 {
						t.Fatalf("round-robin put %d rows in partition %d, want about %d", c, p, n/want)
					}
				}
			}
			if want > 1 && len(l.batches) > want && l.batches[0][0].Source.Partition == l.batches[1][0].Source.Partition {
				t.Fatalf("first two batches both from partition %d: partitions do not interleave", l.batches[0][0].Source.Partition)
			}
		})
	}
}

func TestTopicGroupResume(t *testing.T) {
	const n = 5_000
	ctx := context.Background()
	tp := openTopic(t, New(), "events", "k", 6)
	publish(t, tp, events(n, 50))
	opts := port.ConsumeOptions{Group: "g", BatchSize: 300}
	boom := errors.New("boom")
	var committed tally
	var failed []port.Message
	calls := 0
	err := tp.Consume(ctx, opts, func(_ context.Context, msgs []port.Message) error {
		calls++
		if calls == 3 {
			failed = msgs
			return boom
		}
		committed.add(msgs)
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "memory topic events") {
		t.Fatalf("Consume = %v, want boom wrapped with the topic name", err)
	}
	var rest tally
	handle := func(_ context.Context, msgs []port.Message) error {
		rest.add(msgs)
		return nil
	}
	if err := tp.Consume(ctx, opts, handle); err != nil {
		t.Fatalf("second Consume: %v", err)
	}
	for _, m := range failed {
		if rest.seen[m.Row[1].(int)] != 1 {
			t.Fatalf("failed batch row %d was not redelivered", m.Row[1])
		}
	}
	for seq := range n {
		if got := committed.seen[seq] + rest.seen[seq]; got != 1 {
			t.Fatalf("row %d handled %d times over both runs, want once", seq, got)
		}
	}
	// A third Consume of the group finds nothing; another group starts over.
	before := len(rest.batches)
	if err := tp.Consume(ctx, opts, handle); err != nil || len(rest.batches) != before {
		t.Fatalf("third Consume = %v with %d new batches, want nil and none", err, len(rest.batches)-before)
	}
	var other tally
	if err := tp.Consume(ctx, port.ConsumeOptions{Group: "other"}, func(_ context.Context, msgs []port.Message) error {
		other.add(msgs)
		return nil
	}); err != nil || len(other.seen) != n {
		t.Fatalf("other group Consume = %v with %d rows, want nil and %d", err, len(other.seen), n)
	}
}

func TestTopicHandlerPanicReleasesPartition(t *testing.T) {
	ctx := context.Background()
	tp := openTopic(t, New(), "events", "", 1)
	publish(t, tp, events(10, 1))
	opts := port.ConsumeOptions{Group: "g"}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the handler's panic did not reach the caller")
			}
		}()
		_ = tp.Consume(ctx, opts, func(context.Context, []port.Message) error { panic("handler bug") })
	}()
	var l tally
	done := make(chan error, 1)
	go func() {
		done <- tp.Consume(ctx, opts, func(_ context.Context, msgs []port.Message) error { l.add(msgs); return nil })
	}()
	select {
	case err := <-done:
		if err != nil || len(l.seen) != 10 {
			t.Fatalf("Consume after a panic = %v with %d rows, want nil and 10", err, len(l.seen))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Consume after a handler panic hangs: the partition stayed busy")
	}
}

func TestTopicFollow(t *testing.T) {
	for _, group := range []string{"", "g"} {
		t.Run("group="+group, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tp := openTopic(t, New(), "events", "k", 4)
			rows := events(3000, 20)
			publish(t, tp, rows[:1000])
			var l tally
			got := make(chan int, 100)
			done := make(chan error, 1)
			go func() {
				done <- tp.Consume(ctx, port.ConsumeOptions{Group: group, BatchSize: 128, Follow: true},
					func(_ context.Context, msgs []port.Message) error {
						l.add(msgs)
						got <- l.count()
						return nil
					})
			}()
			waitFor := func(n int) {
				t.Helper()
				deadline := time.After(5 * time.Second)
				for {
					select {
					case c := <-got:
						if c == n {
							return
						}
					case err := <-done:
						t.Fatalf("Consume returned %v while following", err)
					case <-deadline:
						t.Fatalf("saw %d rows, want %d", l.count(), n)
					}
				}
			}
			waitFor(1000)
			// Consume now waits; these arrive while it does.
			publish(t, tp, rows[1000:2000])
			waitFor(2000)
			publish(t, tp, rows[2000:])
			waitFor(3000)
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Consume after cancel = %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Consume did not stop when its context was cancelled")
			}
			for seq, times := range l.seen {
				if times != 1 {
					t.Fatalf("row %d handled %d times", seq, times)
				}
			}
		})
	}
}

func TestTopicCancelledWithoutFollow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tp := openTopic(t, New(), "events", "k", 2)
	publish(t, tp, events(10, 3))
	err := tp.Consume(ctx, port.ConsumeOptions{}, func(context.Context, []port.Message) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
}

func TestTopicConcurrentGroup(t *testing.T) {
	const n = 20_000
	tests := []struct {
		follow    bool
		consumers int
	}{{false, 2}, {true, 2}, {false, 3}, {true, 3}}
	for _, tc := range tests {
		follow := tc.follow
		t.Run(fmt.Sprintf("follow=%v/consumers=%d", tc.follow, tc.consumers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tp := openTopic(t, New(), "events", "k", 6)
			rows := events(n, 50)
			if !follow {
				publish(t, tp, rows)
			}
			var l tally
			var consumers sync.WaitGroup
			for range tc.consumers {
				consumers.Go(func() {
					err := tp.Consume(ctx, port.ConsumeOptions{Group: "g", BatchSize: 50, Follow: follow},
						func(_ context.Context, msgs []port.Message) error {
							l.add(msgs)
							if follow && l.count() == n {
								cancel()
							}
							return nil
						})
					if err != nil {
						t.Errorf("Consume: %v", err)
					}
				})
			}
			if follow {
				publish(t, tp, rows)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("consumers saw %d rows, want %d", l.count(), n)
				}
			}
			consumers.Wait()
			if len(l.seen) != n {
				t.Fatalf("consumers saw %d distinct rows, want %d", len(l.seen), n)
			}
			for seq, times := range l.seen {
				if times != 1 {
					t.Fatalf("row %d handled %d times", seq, times)
				}
			}
			// Batches of a partition were handled one at a time, in order.
			checkBatches(t, "events", l.batches, 50)
		})
	}
}

func TestConnectorTopic(t *testing.T) {
	ctx := context.Background()
	c := New()
	a := openTopic(t, c, "events", "k", 3)
	b := openTopic(t, c, "events", "", 8) // another handle: own key, the topic's partitions
	if b.Partitions() != 3 {
		t.Fatalf("second handle has %d partitions, want the topic's 3", b.Partitions())
	}
	publish(t, a, events(5, 5))
	publish(t, b, events(5, 5))
	if a.Len() != 10 || b.Len() != 10 {
		t.Fatalf("handles see %d and %d rows, want 10 each", a.Len(), b.Len())
	}
	other := schema.MustNew("events", []schema.Column{{Name: "k", Type: schema.IntType}}, "")
	bad := []struct {
		name string
		spec port.TopicSpec
		want string
	}{
		{"other columns", port.TopicSpec{Name: "events", Schema: other}, "memory topic events: already open"},
		{"unknown key", port.TopicSpec{Name: "x", Schema: eventSchema, Key: "nope"}, `memory topic x: key column "nope"`},
		{"no schema", port.TopicSpec{Name: "x"}, "memory topic x: no schema"},
		{"no name", port.TopicSpec{Schema: eventSchema}, "memory topic: no name"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Topic(ctx, tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Topic error = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("bad publish", func(t *testing.T) {
		err := a.Publish(ctx, []schema.Row{{"k", 1}, {"k"}})
		if err == nil || !strings.Contains(err.Error(), "publish row 1: has 1 values, want 2") {
			t.Fatalf("Publish error = %v", err)
		}
		if a.Len() != 10 {
			t.Fatalf("a failed Publish appended rows: Len %d, want 10", a.Len())
		}
	})
	t.Run("no handler", func(t *testing.T) {
		if err := a.Consume(ctx, port.ConsumeOptions{}, nil); err == nil {
			t.Fatal("Consume without a handler succeeded")
		}
	})
}

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "memory" || k.Service {
		t.Fatalf("Kind = %s service %v, want memory, not a service", k.Name, k.Service)
	}
	var r port.Registry
	r.Register(k)
	cfg := port.Config{Name: "db", Kind: "memory", Options: map[string]string{"dsn": "user@tcp(x)/y", "brokers": "a:9092"}}
	if err := r.Check(cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}
	conn, err := k.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(port.Tables); !ok {
		t.Fatal("memory connector does not serve tables")
	}
	if _, ok := conn.(port.Topics); !ok {
		t.Fatal("memory connector does not serve topics")
	}
}

func BenchmarkPublishConsume(b *testing.B) {
	const n = 1_000_000
	s := schema.MustNew("events", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "v", Type: schema.StringType}}, "")
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Row{i, "x"}
	}
	ctx := context.Background()
	for _, key := range []string{"id", ""} {
		b.Run("key="+key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tp, err := New().Topic(ctx, port.TopicSpec{Name: "events", Schema: s, Key: key, Partitions: 6})
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < n; i += 1000 {
					if err := tp.Publish(ctx, rows[i:i+1000]); err != nil {
						b.Fatal(err)
					}
				}
				got := 0
				err = tp.Consume(ctx, port.ConsumeOptions{Group: "g"}, func(_ context.Context, msgs []port.Message) error {
					got += len(msgs)
					return nil
				})
				if err != nil || got != n {
					b.Fatalf("Consume = %v after %d rows", err, got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1M-rows")
		})
	}
}

func TestTopicTruncate(t *testing.T) {
	ctx := context.Background()
	s := schema.MustNew("t", []schema.Column{{Name: "k", Type: schema.IntType}}, "")
	tp, err := New().Topic(ctx, port.TopicSpec{Name: "t", Schema: s, Key: "k", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		err := tp.Consume(ctx, port.ConsumeOptions{Group: "g"}, func(_ context.Context, ms []port.Message) error {
			n += len(ms)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := tp.Publish(ctx, []schema.Row{{1}, {2}, {3}}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("consumed %d, want 3", n)
	}
	if err := tp.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tp.Publish(ctx, []schema.Row{{4}, {5}}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("after truncate consumed %d, want the 2 new records", n)
	}
}

// TestPublishSessionSameBatches: a consumer that starts while a publisher
// is open gets the very batches, in the same order, as one that starts
// after the publisher ended; and it does not stop before the session ends.
func TestPublishSessionSameBatches(t *testing.T) {
	const n, keys, size = 10_000, 37, 100
	rows := events(n, keys)
	batchesOf := func(tp *Topic) [][]int {
		var out [][]int
		err := tp.Consume(context.Background(), port.ConsumeOptions{BatchSize: size, Reuse: true}, func(_ context.Context, msgs []port.Message) error {
			var b []int
			for _, m := range msgs {
				b = append(b, m.Row[1].(int))
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			t.Fatalf("Consume: %v", err)
		}
		return out
	}
	after := openTopic(t, New(), "events", "k", 6)
	publish(t, after, rows)
	want := batchesOf(after)

	live := openTopic(t, New(), "events", "k", 6)
	end := live.BeginPublish()
	done := make(chan [][]int)
	go func() { done <- batchesOf(live) }()
	for i := 0; i < n; i += 333 {
		if err := live.Publish(context.Background(), rows[i:min(n, i+333)]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			time.Sleep(10 * time.Millisecond) // let the consumer wait for a full batch
		}
	}
	select {
	case <-done:
		t.Fatal("the consumer stopped before the session ended")
	case <-time.After(20 * time.Millisecond):
	}
	end()
	end() // a second end changes nothing
	got := <-done
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches with a live publisher differ:\n got %v\nwant %v", got, want)
	}
}

// TestTopicMessageKeys: each message carries the key its publishing handle
// gave it, the text of that handle's key column (as a Kafka topic's record
// key), and none when the handle has no key column or the row's key is
// null; the keys stay right across publishes, partitions and a truncation.
func TestTopicMessageKeys(t *testing.T) {
	ctx := context.Background()
	s := schema.MustNew("keyed", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "name", Type: schema.Type{Kind: schema.String, Nullable: true}},
		{Name: "amount", Type: schema.MoneyType},
	}, "")
	rows := []schema.Row{
		{17, "ann", decimal.MustNew(1250, 2)},
		{-3, "", decimal.MustNew(5, 0)},
		{17, nil, decimal.MustNew(-1, 2)},
		{100000, "bob", decimal.MustNew(0, 0)},
	}
	tests := []struct {
		key  string // the handle's key column
		want []any  // per row, its key's text, or nil for none
	}{
		{"id", []any{"17", "-3", "17", "100000"}},
		{"name", []any{"ann", "", nil, "bob"}},
		{"amount", []any{"12.50", "5.00", "-0.01", "0.00"}},
		{"", []any{nil, nil, nil, nil}},
	}
	for _, tt := range tests {
		t.Run("key="+tt.key, func(t *testing.T) {
			c := New()
			tp, err := c.Topic(ctx, port.TopicSpec{Name: "t", Schema: s, Key: tt.key, Partitions: 3})
			if err != nil {
				t.Fatal(err)
			}
			check := func() {
				t.Helper()
				got := map[int]any{} // row index (by id and amount) -> key
				err := tp.Consume(ctx, port.ConsumeOptions{}, func(_ context.Context, msgs []port.Message) error {
					for _, m := range msgs {
						i := slices.IndexFunc(rows, func(r schema.Row) bool { return r[0] == m.Row[0] && r[2] == m.Row[2] })
						if m.Key == nil {
							got[i] = nil
						} else {
							got[i] = string(m.Key)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range tt.want {
					if g, ok := got[i]; !ok || g != w {
						t.Errorf("row %d: key %#v (found %v), want %#v", i, g, ok, w)
					}
				}
			}
			// One row per call, then all at once: keys of several
			// publishes share a partition's buffer.
			for _, r := range rows[:2] {
				if err := tp.Publish(ctx, []schema.Row{r}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tp.Publish(ctx, rows[2:]); err != nil {
				t.Fatal(err)
			}
			check()
			if err := tp.Truncate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tp.Publish(ctx, rows); err != nil {
				t.Fatal(err)
			}
			check()
		})
	}
}
