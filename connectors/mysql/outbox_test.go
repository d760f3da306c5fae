package mysql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// relayed runs one Relay of group with limit and returns the keys it handed
// to publish, in order.
func relayed(t *testing.T, c *Connector, group string, limit int) []string {
	t.Helper()
	var keys []string
	n, err := c.Relay(context.Background(), group, limit, func(_ context.Context, es []port.OutboxEntry) error {
		for _, e := range es {
			keys = append(keys, e.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(keys) {
		t.Fatalf("Relay returned %d, handed out %d", n, len(keys))
	}
	return keys
}

func entries(group, from string, keys ...string) []port.OutboxEntry {
	var es []port.OutboxEntry
	for _, k := range keys {
		es = append(es, port.OutboxEntry{Group: group, From: from, Topic: "alerts", Key: k, Value: fmt.Sprintf(`{"id":%q}`, k)})
	}
	return es
}

// TestOutbox: a commit stores its outbox records with its writes and
// offsets, all or none, and a replay stores none again; the relay hands
// them out oldest first, per group, removes only what was published, never
// hands the same record to two relays at once, and ResetOffsets of the
// topic consumed forgets them.
func TestOutbox(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	openTable(t, c, itemSchema("items"))

	b := port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "one", "1.00")}, Insert: true}},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 0, Next: 3}}, Outbox: entries("g", "events", "1", "2", "3")}
	if err := c.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, b); err != nil { // a replay after an unknown outcome
		t.Fatal(err)
	}
	// A batch that fails (its insert meets a key) stores no record.
	bad := port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "again", "1.00")}, Insert: true}},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 3, Next: 4}}, Outbox: entries("g", "events", "x")}
	if err := c.Commit(ctx, bad); !errors.Is(err, port.ErrExists) {
		t.Fatalf("Commit of an existing key: %v, want ErrExists", err)
	}
	if err := c.AddOutbox(ctx, append(entries("g", "events", "4"), entries("other", "elsewhere", "o1")...)); err != nil {
		t.Fatal(err)
	}

	// A publish that fails leaves its records in place.
	boom := errors.New("broker down")
	if _, err := c.Relay(ctx, "g", 10, func(context.Context, []port.OutboxEntry) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Relay with a failing publish: %v, want it to wrap %v", err, boom)
	}

	// Two relays at once: the second skips what the first has in hand.
	inHand, release := make(chan []string), make(chan struct{})
	go func() {
		var keys []string
		_, err := c.Relay(ctx, "g", 2, func(_ context.Context, es []port.OutboxEntry) error {
			for _, e := range es {
				keys = append(keys, e.Key)
			}
			inHand <- keys
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		close(inHand)
	}()
	if first := <-inHand; !slices.Equal(first, []string{"1", "2"}) {
		t.Errorf("first relay got %q, want the oldest two", first)
	}
	if got := relayed(t, c, "g", 10); !slices.Equal(got, []string{"3", "4"}) {
		t.Errorf("second relay got %q, want 3 and 4 (1 and 2 are in the first's hands)", got)
	}
	close(release)
	<-inHand
	if got := relayed(t, c, "g", 10); len(got) != 0 {
		t.Errorf("a relay after both got %q, want nothing", got)
	}

	// ResetOffsets forgets the records of the stages that consumed the topic.
	if err := c.AddOutbox(ctx, entries("g", "events", "5")); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetOffsets(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if got := relayed(t, c, "g", 10); len(got) != 0 {
		t.Errorf("after ResetOffsets(events) the relay got %q, want nothing", got)
	}
	if got := relayed(t, c, "other", 10); !slices.Equal(got, []string{"o1"}) {
		t.Errorf("another group's relay got %q, want its own record", got)
	}
}
