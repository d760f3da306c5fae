package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestPublishConsumeKeyOrder(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "orders", 6)
	const n, keys = 10_000, 50
	publish(t, tp, eventRows(n, keys))
	msgs := consumeAll(t, tp, port.ConsumeOptions{})
	checkEvents(t, msgs, "orders", n, keys)
	parts := map[int32]bool{}
	for _, m := range msgs {
		parts[m.Source.Partition] = true
		if m.Key == nil || string(m.Key) != m.Row[0].(string) {
			t.Fatalf("message %s: key %q, want its account %q", m.Source, m.Key, m.Row[0])
		}
	}
	if len(parts) != 6 {
		t.Errorf("records went to %d partitions, want 6", len(parts))
	}
	// Alone again: everything from the start once more.
	checkEvents(t, consumeAll(t, tp, port.ConsumeOptions{BatchSize: 777}), "orders", n, keys)
	// In a group, from the start, in batches of at most BatchSize.
	var col collector
	ctx := context.Background()
	err := tp.Consume(ctx, port.ConsumeOptions{Group: "g1", BatchSize: 333}, func(ctx context.Context, msgs []port.Message) error {
		if len(msgs) > 333 {
			t.Errorf("batch of %d messages, want at most 333", len(msgs))
		}
		return col.handle(t)(ctx, msgs)
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, col.all(), "orders", n, keys)
}

func TestPublishKeylessAndEmpty(t *testing.T) {
	c := newConnector(t)
	tp, err := c.Topic(context.Background(), port.TopicSpec{Name: "plain", Schema: events, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, tp, nil)
	publish(t, tp, eventRows(100, 7))
	msgs := consumeAll(t, tp, port.ConsumeOptions{})
	if len(msgs) != 100 {
		t.Fatalf("got %d messages, want 100", len(msgs))
	}
	for _, m := range msgs {
		if m.Key != nil {
			t.Fatalf("message %s of a topic with no key column has key %q", m.Source, m.Key)
		}
	}
	// Keyed by an empty text: an empty key, not none.
	keyed := openTopic(t, c, "keyed", 1)
	row := eventRows(1, 1)[0]
	row[0] = ""
	publish(t, keyed, []schema.Row{row})
	msgs = consumeAll(t, keyed, port.ConsumeOptions{})
	if len(msgs) != 1 || msgs[0].Key == nil || len(msgs[0].Key) != 0 {
		t.Fatalf("a row keyed by empty text: %d messages, the first keyed %#v; want one, keyed by empty text", len(msgs), msgs[0].Key)
	}
}

func TestPublishRejectsBadRows(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "strict", 1)
	good := eventRows(1, 1)[0]
	tests := []struct {
		name string
		row  schema.Row
		want string
	}{
		{"short", good[:3], "kafka topic strict: publish row 1: has 3 values, want 5 (account, seq, amount, at, note)"},
		{"null", schema.Row{"k", nil, good[2], good[3], nil}, "kafka topic strict: publish row 1: column seq is null but not nullable"},
		{"float", schema.Row{"k", 1, 1.5, good[3], nil}, "kafka topic strict: publish row 1: column amount holds a float64, want a money"},
		{"string for int", schema.Row{"k", "1", good[2], good[3], nil}, "kafka topic strict: publish row 1: column seq holds a string, want a int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tp.Publish(context.Background(), []schema.Row{good, tc.row})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Publish error %v, want %q", err, tc.want)
			}
		})
	}
	// Nothing was published: the checks come before producing.
	if msgs := consumeAll(t, tp, port.ConsumeOptions{}); len(msgs) != 0 {
		t.Fatalf("topic has %d messages, want 0", len(msgs))
	}
	// An int in a decimal column is fine.
	publish(t, tp, []schema.Row{{"k", 1, 5, good[3], nil}})
	msgs := consumeAll(t, tp, port.ConsumeOptions{})
	if len(msgs) != 1 || msgs[0].Row[2] != decimal.MustParse("5.00") {
		t.Fatalf("got %v, want one row with amount 5.00", msgs)
	}
}

func TestConsumeUndecodableRecords(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "mixed", 1)
	ctx := context.Background()
	raw := [][]byte{
		[]byte(`{"account":"a","seq":"1","amount":"2.50","at":"2024-01-02 03:04:05","note":""}`),
		[]byte(`not json`),
		[]byte(`{"account":"a","seq":"x","amount":"2.50","at":"2024-01-02 03:04:05"}`),
		nil,
		[]byte(`{"account":"a","seq":2,"amount":2.5,"at":"2024-01-02T03:04:05","extra":[1]}`),
	}
	for _, v := range raw {
		if err := c.client.ProduceSync(ctx, &kgo.Record{Topic: "mixed", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	msgs := consumeAllAllowingErrors(t, tp, port.ConsumeOptions{Group: "g"})
	if len(msgs) != len(raw) {
		t.Fatalf("got %d messages, want %d", len(msgs), len(raw))
	}
	wantErr := []string{
		"",
		"payload is not JSON: invalid character 'o' in literal null (expecting 'u')",
		`field "seq": "x" is not an integer`,
		"payload is empty, want a JSON object",
		"",
	}
	for i, m := range msgs {
		if m.Source.Offset != int64(i) || string(m.Payload) != string(raw[i]) {
			t.Errorf("message %d: source %s payload %q, want offset %d payload %q", i, m.Source, m.Payload, i, raw[i])
		}
		got := ""
		if m.Err != nil {
			got = m.Err.Error()
		}
		if got != wantErr[i] || (m.Err == nil) != (m.Row != nil) {
			t.Errorf("message %d: row %s error %q, want error %q", i, show(m.Row), got, wantErr[i])
		}
	}
	if want := (schema.Row{"a", 1, decimal.MustParse("2.50"), msgs[0].Row[3], nil}); !sameRow(msgs[0].Row, want) || msgs[0].Row[4] != nil {
		t.Errorf("message 0: row %s, want %s", show(msgs[0].Row), show(want))
	}
	// The bad messages were committed like the good ones.
	if again := consumeAllAllowingErrors(t, tp, port.ConsumeOptions{Group: "g"}); len(again) != 0 {
		t.Errorf("the group got %d messages again, want 0", len(again))
	}
}

// consumeAllAllowingErrors is consumeAll for messages that may not decode.
func consumeAllAllowingErrors(t *testing.T, tp port.Topic, opts port.ConsumeOptions) []port.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var msgs []port.Message
	err := tp.Consume(ctx, opts, func(_ context.Context, batch []port.Message) error {
		msgs = append(msgs, batch...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestGroupResumesAfterCommit(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "resume", 4)
	rows := eventRows(3000, 10)
	publish(t, tp, rows[:1000])
	first := consumeAll(t, tp, port.ConsumeOptions{Group: "g", BatchSize: 100})
	if len(first) != 1000 {
		t.Fatalf("first Consume got %d messages, want 1000", len(first))
	}
	if again := consumeAll(t, tp, port.ConsumeOptions{Group: "g"}); len(again) != 0 {
		t.Fatalf("Consume after everything was committed got %d messages, want 0", len(again))
	}
	publish(t, tp, rows[1000:])
	second := consumeAll(t, tp, port.ConsumeOptions{Group: "g", BatchSize: 100})
	checkEvents(t, append(first, second...), "resume", 3000, 10)
	// Another group starts from the beginning.
	checkEvents(t, consumeAll(t, tp, port.ConsumeOptions{Group: "other"}), "resume", 3000, 10)
}

func TestHandlerErrorLeavesBatchUncommitted(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "fail", 3)
	publish(t, tp, eventRows(2000, 20))
	boom := errors.New("boom")
	var handled []port.Message
	var failed []port.Message
	batches := 0
	err := tp.Consume(context.Background(), port.ConsumeOptions{Group: "g", BatchSize: 100}, func(_ context.Context, msgs []port.Message) error {
		batches++
		if batches == 3 {
			failed = msgs
			return boom
		}
		handled = append(handled, msgs...)
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Consume returned %v, want boom", err)
	}
	want := "kafka topic fail: consume " + describeMessages(failed) + ": boom"
	if err.Error() != want {
		t.Fatalf("Consume error %q, want %q", err, want)
	}
	rest := consumeAll(t, tp, port.ConsumeOptions{Group: "g", BatchSize: 100})
	if !containsAll(rest, failed) {
		t.Fatalf("the failed batch (%s) was not delivered again", describeMessages(failed))
	}
	checkEvents(t, sortBySource(append(handled, rest...)), "fail", 2000, 20)
}

// describeMessages names the partitions and offsets of msgs as describeBatch does.
func describeMessages(msgs []port.Message) string {
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Partition: m.Source.Partition, Offset: m.Source.Offset}
	}
	return describeBatch(recs)
}

// containsAll reports whether every source in sub is in msgs.
func containsAll(msgs, sub []port.Message) bool {
	have := map[port.Source]bool{}
	for _, m := range msgs {
		have[m.Source] = true
	}
	for _, m := range sub {
		if !have[m.Source] {
			return false
		}
	}
	return true
}

// sortBySource orders messages by partition and offset, which keeps each key's order.
func sortBySource(msgs []port.Message) []port.Message {
	slices.SortStableFunc(msgs, func(a, b port.Message) int {
		if a.Source.Partition != b.Source.Partition {
			return int(a.Source.Partition - b.Source.Partition)
		}
		return int(a.Source.Offset - b.Source.Offset)
	})
	return msgs
}

func TestPositions(t *testing.T) {
	long(t)
	for _, group := range []string{"", "g"} {
		t.Run("group="+group, func(t *testing.T) {
			c := newConnector(t)
			tp := openTopic(t, c, "pos", 4)
			publish(t, tp, eventRows(400, 40))
			all := consumeAll(t, tp, port.ConsumeOptions{})
			count := map[int32]int64{}
			for _, m := range all {
				count[m.Source.Partition]++
			}
			var mu sync.Mutex
			var asked [][]int32
			// 0 from offset 3; 1 at its end, so nothing; 2 past its end, so
			// from the earliest; 3 not returned, so from the earliest.
			start := map[int32]int64{0: 3, 1: count[1], 2: count[2] + 10}
			positions := func(_ context.Context, ps []int32) (map[int32]int64, error) {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, slices.Clone(ps))
				out := map[int32]int64{}
				for _, p := range ps {
					if o, ok := start[p]; ok {
						out[p] = o
					}
				}
				return out, nil
			}
			msgs := consumeAll(t, tp, port.ConsumeOptions{Group: group, Positions: positions})
			got := map[int32][]int64{}
			for _, m := range msgs {
				got[m.Source.Partition] = append(got[m.Source.Partition], m.Source.Offset)
			}
			if len(got[0]) != int(count[0]-3) || got[0][0] != 3 {
				t.Errorf("partition 0: offsets %v, want %d from 3", got[0], count[0]-3)
			}
			if len(got[1]) != 0 {
				t.Errorf("partition 1: offsets %v, want none", got[1])
			}
			for _, p := range []int32{2, 3} {
				if len(got[p]) != int(count[p]) || got[p][0] != 0 {
					t.Errorf("partition %d: offsets %v, want %d from 0", p, got[p], count[p])
				}
			}
			mu.Lock()
			if len(asked) != 1 || !slices.Equal(asked[0], []int32{0, 1, 2, 3}) {
				t.Errorf("Positions asked for %v, want [[0 1 2 3]]", asked)
			}
			mu.Unlock()
			if group != "" {
				offs, err := c.admin.FetchOffsets(context.Background(), group)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(offs[tp.name]); n != 0 {
					t.Errorf("group %s has %d committed offsets in Kafka, want none: %v", group, n, offs)
				}
			}
		})
	}
}

func TestPositionsError(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "poserr", 2)
	publish(t, tp, eventRows(10, 2))
	down := errors.New("store is down")
	for _, group := range []string{"", "g"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := tp.Consume(ctx, port.ConsumeOptions{Group: group, Positions: func(context.Context, []int32) (map[int32]int64, error) {
			return nil, down
		}}, func(context.Context, []port.Message) error { return nil })
		cancel()
		want := "kafka topic poserr: consume: positions of partitions 0,1: store is down"
		if !errors.Is(err, down) || err.Error() != want {
			t.Errorf("group %q: Consume returned %v, want %q", group, err, want)
		}
	}
}

func TestTwoConsumersShareGroup(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := "together"
		if late {
			name = "late joiner"
		}
		t.Run(name, func(t *testing.T) { testTwoConsumers(t, late) })
	}
}

// testTwoConsumers runs two members of one group on one topic; with late the
// second joins once the first has handled some batches, so partitions move
// from one to the other while the first is consuming them.
func testTwoConsumers(t *testing.T, late bool) {
	c := newConnector(t)
	tp := openTopic(t, c, "shared", 6)
	const n, keys = 10_000, 50
	publish(t, tp, eventRows(n, keys))
	var (
		wg      sync.WaitGroup
		cols    [2]collector
		errs    [2]error
		started = make(chan struct{})
		once    sync.Once
	)
	for i := range cols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 && late {
				<-started
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			handle := cols[i].handle(t)
			errs[i] = tp.Consume(ctx, port.ConsumeOptions{Group: "shared", BatchSize: 50}, func(ctx context.Context, msgs []port.Message) error {
				time.Sleep(5 * time.Millisecond) // slow enough for both members to take part
				err := handle(ctx, msgs)
				cols[i].mu.Lock()
				if cols[i].batches == 10 {
					once.Do(func() { close(started) })
				}
				cols[i].mu.Unlock()
				return err
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
	}
	a, b := cols[0].all(), cols[1].all()
	t.Logf("consumer 0 got %d messages, consumer 1 %d", len(a), len(b))
	if len(a) == 0 || len(b) == 0 {
		t.Errorf("consumers got %d and %d messages, want both some", len(a), len(b))
	}
	checkEvents(t, sortBySource(append(a, b...)), "shared", n, keys)
}

func TestFollowStopsOnCancel(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "follow", 3)
	rows := eventRows(600, 6)
	publish(t, tp, rows[:300])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var col collector
	got := make(chan int, 100)
	done := make(chan error, 1)
	go func() {
		handle := col.handle(t)
		done <- tp.Consume(ctx, port.ConsumeOptions{Group: "f", Follow: true}, func(ctx context.Context, msgs []port.Message) error {
			err := handle(ctx, msgs)
			got <- len(msgs)
			return err
		})
	}()
	wait := func(n int) {
		t.Helper()
		total := len(col.all())
		deadline := time.After(30 * time.Second)
		for total < n {
			select {
			case <-got:
				total = len(col.all())
			case err := <-done:
				t.Fatalf("Consume returned %v while following", err)
			case <-deadline:
				t.Fatalf("got %d messages, want %d", total, n)
			}
		}
	}
	wait(300)
	// Drained, it keeps waiting for more.
	select {
	case err := <-done:
		t.Fatalf("Consume returned %v while following", err)
	case <-time.After(500 * time.Millisecond):
	}
	publish(t, tp, rows[300:])
	wait(600)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Consume returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Consume did not return after cancel")
	}
	checkEvents(t, sortBySource(col.all()), "follow", 600, 6)
	// Everything handled was committed.
	if again := consumeAll(t, tp, port.ConsumeOptions{Group: "f"}); len(again) != 0 {
		t.Errorf("the group got %d messages again, want 0", len(again))
	}
}

func TestConsumeWithoutFollowStopsOnCancel(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "cancel", 1)
	publish(t, tp, eventRows(10, 1))
	ctx, cancel := context.WithCancel(context.Background())
	err := tp.Consume(ctx, port.ConsumeOptions{Group: "g", BatchSize: 1}, func(context.Context, []port.Message) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "kafka topic cancel: consume: ") {
		t.Fatalf("Consume returned %v, want a wrapped context.Canceled", err)
	}
	// The batch handled before the cancel was committed.
	if rest := consumeAll(t, tp, port.ConsumeOptions{Group: "g"}); len(rest) != 9 {
		t.Fatalf("the group got %d messages after the cancel, want 9", len(rest))
	}
}

func TestConsumeAfterClose(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "closing", 1)
	publish(t, tp, eventRows(10, 1))
	done := make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		done <- tp.Consume(context.Background(), port.ConsumeOptions{Group: "g", Follow: true}, func(context.Context, []port.Message) error {
			once.Do(func() { close(started) })
			return nil
		})
	}()
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "connector is closed") {
			t.Fatalf("Consume returned %v, want connector is closed", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Consume did not return after Close")
	}
	if err := tp.Publish(context.Background(), eventRows(1, 1)); err == nil || err.Error() != "kafka topic closing: publish: connector is closed" {
		t.Fatalf("Publish after Close returned %v", err)
	}
}

func TestGroupMemberWithoutPartitionsReturns(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "single", 1)
	publish(t, tp, eventRows(2000, 1))
	var (
		wg   sync.WaitGroup
		cols [3]collector
		errs [3]error
	)
	for i := range cols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			handle := cols[i].handle(t)
			errs[i] = tp.Consume(ctx, port.ConsumeOptions{Group: "one", BatchSize: 20}, func(ctx context.Context, msgs []port.Message) error {
				time.Sleep(5 * time.Millisecond)
				return handle(ctx, msgs)
			})
		}()
	}
	wg.Wait()
	var all []port.Message
	for i, err := range errs {
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		all = append(all, cols[i].all()...)
		t.Logf("consumer %d got %d messages", i, len(cols[i].all()))
	}
	checkEvents(t, sortBySource(all), "single", 2000, 1)
}

// offsetStore is what a Committer-backed stage keeps: each partition's next
// offset, checked and advanced by every batch applied, and read back as
// ConsumeOptions.Positions. It is safe for concurrent use.
type offsetStore struct {
	mu      sync.Mutex
	next    map[int32]int64
	handled []port.Message
}

func (s *offsetStore) positions(_ context.Context, ps []int32) (map[int32]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32]int64{}
	for _, p := range ps {
		if o, ok := s.next[p]; ok {
			out[p] = o
		}
	}
	return out, nil
}

// apply stores msgs, failing when one is not the next of its partition.
func (s *offsetStore) apply(msgs []port.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		if next := s.next[m.Source.Partition]; m.Source.Offset != next {
			return fmt.Errorf("message %s: the store is at offset %d", m.Source, next)
		}
		s.next[m.Source.Partition] = m.Source.Offset + 1
	}
	s.handled = append(s.handled, msgs...)
	return nil
}

// TestPositionsTwoConsumers runs two members of one group whose handler
// stores each partition's next offset and whose Positions reads it back, as
// a Committer-backed stage does: partitions move between them and still every
// record is handled exactly once.
func TestPositionsTwoConsumers(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "stored", 6)
	const n, keys = 6000, 30
	publish(t, tp, eventRows(n, keys))
	st := &offsetStore{next: map[int32]int64{}}
	handle := func(_ context.Context, msgs []port.Message) error {
		time.Sleep(3 * time.Millisecond)
		return st.apply(msgs)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			errs[i] = tp.Consume(ctx, port.ConsumeOptions{Group: "stored", BatchSize: 40, Positions: st.positions}, handle)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
	}
	checkEvents(t, sortBySource(st.handled), "stored", n, keys)
}

func TestTruncate(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "trunc", 2)
	rows := eventRows(110, 2)
	publish(t, tp, rows[:100])
	if got := consumeAll(t, tp, port.ConsumeOptions{Group: "g"}); len(got) != 100 {
		t.Fatalf("group got %d messages, want 100", len(got))
	}
	if err := tp.Truncate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := consumeAll(t, tp, port.ConsumeOptions{}); len(got) != 0 {
		t.Fatalf("after Truncate the topic has %d messages, want 0", len(got))
	}
	publish(t, tp, rows[100:])
	for _, opts := range []port.ConsumeOptions{{}, {Group: "g"}, {Group: "new"}} {
		got := consumeAll(t, tp, opts)
		if len(got) != 10 {
			t.Fatalf("%+v: got %d messages after Truncate and publish, want 10", opts, len(got))
		}
		for _, m := range got {
			if m.Source.Offset < 50 || m.Row[1].(int) < 50 {
				t.Fatalf("%+v: message %s row %s, want offsets and seqs from 50", opts, m.Source, show(m.Row))
			}
		}
	}
}

// TestConsumeGivesUpWithoutBroker: without Follow, a consumer whose broker
// is gone keeps trying to rejoin its group for the connector's rejoin time,
// then fails with an error that says so, instead of hanging.
func TestConsumeGivesUpWithoutBroker(t *testing.T) {
	long(t)
	b, err := startBroker(context.Background(), BrokerOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), Options{Brokers: []string{b.addr}, Rejoin: 2 * time.Second})
	if err != nil {
		b.close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tp := openTopic(t, c, "gone", 1)
	// 50 records of 200 kB: more than the client fetches ahead, so some
	// are still on the broker when it stops.
	rows := eventRows(50, 1)
	for _, r := range rows {
		r[4] = strings.Repeat("n", 200_000)
	}
	publish(t, tp, rows)
	var once sync.Once
	began := time.Now()
	var stopped time.Time
	err = tp.Consume(context.Background(), port.ConsumeOptions{
		Group: "g", BatchSize: 1,
		Positions: func(context.Context, []int32) (map[int32]int64, error) { return nil, nil },
	}, func(context.Context, []port.Message) error {
		once.Do(func() { b.close(); stopped = time.Now() })
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "kafka topic gone: consume: group g has had no session for") {
		t.Fatalf("Consume returned %v, want the group's lost session", err)
	}
	if took := time.Since(stopped); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("Consume gave up %v after the broker stopped, want about the rejoin time of 2s", took)
	}
	t.Logf("gave up %v after the broker stopped (%v in all): %v", time.Since(stopped).Round(time.Millisecond), time.Since(began).Round(time.Millisecond), err)
}

// TestFlushTwoConsumers is TestPositionsTwoConsumers with handlers that
// leave each batch in flight, storing it only when the next batch comes or
// Flush is called: Consume must flush before a partition moves to the
// other member (which would otherwise start from a stale position) and
// before it returns. With Committed, each member waits for the other's
// partitions to be decided, so it must also flush once its own are
// consumed, or each would wait for the other's last batch for ever.
func TestFlushTwoConsumers(t *testing.T) {
	for _, committed := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) { testFlushTwoConsumers(t, committed) })
	}
}

func testFlushTwoConsumers(t *testing.T, committed bool) {
	c := newConnector(t)
	tp := openTopic(t, c, "flushed", 6)
	const n, keys = 6000, 30
	publish(t, tp, eventRows(n, keys))
	st := &offsetStore{next: map[int32]int64{}}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		var (
			fmu      sync.Mutex
			inFlight []port.Message
		)
		flush := func(context.Context) error {
			fmu.Lock()
			defer fmu.Unlock()
			msgs := inFlight
			inFlight = nil
			return st.apply(msgs)
		}
		handle := func(ctx context.Context, msgs []port.Message) error {
			time.Sleep(50 * time.Millisecond) // a while with the batch before in flight
			if err := flush(ctx); err != nil {
				return err
			}
			fmu.Lock()
			inFlight = msgs
			fmu.Unlock()
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			opts := port.ConsumeOptions{Group: "flushed", BatchSize: 200, Positions: st.positions, Flush: flush}
			if committed {
				opts.Committed = st.positions
			}
			errs[i] = tp.Consume(ctx, opts, handle)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
	}
	checkEvents(t, sortBySource(st.handled), "flushed", n, keys)
	if _, ok := any(tp).(port.Flusher); !ok {
		t.Error("a kafka topic is not a port.Flusher")
	}
}

// TestDescribe: a topic's ID is Kafka's (as its tools print it), the same
// for every handle and after a truncation, and its end offsets count what
// was published.
func TestDescribe(t *testing.T) {
	ctx := context.Background()
	c := newConnector(t)
	tp := openTopic(t, c, "described", 3)
	publish(t, tp, eventRows(90, 9))
	info, err := tp.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.ID) != 22 {
		t.Errorf("ID %q, want 22 characters of base64url", info.ID)
	}
	var n int64
	for p, end := range info.End {
		n += end - info.Start[p]
	}
	if len(info.End) != 3 || n != 90 {
		t.Errorf("ends %v, starts %v: want 3 partitions holding 90 records", info.End, info.Start)
	}
	if err := tp.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := openTopic(t, c, "described", 3).Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != info.ID || !maps.Equal(again.End, info.End) || !maps.Equal(again.Start, info.End) {
		t.Errorf("after truncating: %+v, want ID %s, starts and ends at %v", again, info.ID, info.End)
	}
}
