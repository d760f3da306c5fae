package memory

import (
	"context"
	"errors"
	"slices"
	"testing"

	"pipeline/engine/port"
)

// TestOutbox: the memory outbox behaves as the mysql connector's
// (connectors/mysql/outbox_test.go): oldest first, per group, records
// removed only once published, none handed to two relays at once.
func TestOutbox(t *testing.T) {
	c := New()
	ctx := context.Background()
	add := func(group string, keys ...string) {
		var es []port.OutboxEntry
		for _, k := range keys {
			es = append(es, port.OutboxEntry{Group: group, From: "events", Topic: "alerts", Key: k, Value: k})
		}
		if err := c.AddOutbox(ctx, es); err != nil {
			t.Fatal(err)
		}
	}
	relayed := func(group string, limit int) []string {
		var keys []string
		n, err := c.Relay(ctx, group, limit, func(_ context.Context, es []port.OutboxEntry) error {
			for _, e := range es {
				keys = append(keys, e.Key)
			}
			return nil
		})
		if err != nil || n != len(keys) {
			t.Fatalf("Relay: %d, %v; handed out %q", n, err, keys)
		}
		return keys
	}
	add("g", "1", "2", "3")
	add("other", "o1")
	add("g", "4")
	if err := c.AddOutbox(ctx, []port.OutboxEntry{{Topic: "alerts"}}); err == nil {
		t.Error("AddOutbox took a record without a group")
	}
	boom := errors.New("broker down")
	if _, err := c.Relay(ctx, "g", 10, func(context.Context, []port.OutboxEntry) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Relay with a failing publish: %v", err)
	}
	if n := c.Outboxed(); n != 5 {
		t.Fatalf("after a failed publish the outbox holds %d, want 5", n)
	}
	var second []string
	n, err := c.Relay(ctx, "g", 2, func(_ context.Context, es []port.OutboxEntry) error {
		second = relayed("g", 10) // another relay, while these two are in hand
		if got := []string{es[0].Key, es[1].Key}; !slices.Equal(got, []string{"1", "2"}) {
			t.Errorf("first relay got %q, want the oldest two", got)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("Relay: %d, %v", n, err)
	}
	if !slices.Equal(second, []string{"3", "4"}) {
		t.Errorf("second relay got %q, want 3 and 4", second)
	}
	if got := relayed("g", 10); len(got) != 0 {
		t.Errorf("then %q, want nothing", got)
	}
	if got := relayed("other", 10); !slices.Equal(got, []string{"o1"}) {
		t.Errorf("other group: %q", got)
	}
}
