package memory

import (
	"context"
	"fmt"

	"pipeline/engine/port"
)

// outbox is the memory connector's port.Outbox: entries in the order added,
// and those a Relay call has in hand.
type outbox struct {
	entries []port.OutboxEntry
	next    int64
	inHand  map[int64]bool
}

// AddOutbox stores entries outside a Commit, giving them increasing ids.
func (c *Connector) AddOutbox(ctx context.Context, entries []port.OutboxEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		if e.Group == "" || e.Topic == "" {
			return fmt.Errorf("memory outbox: record for topic %q of group %q: want both", e.Topic, e.Group)
		}
	}
	for _, e := range entries {
		c.box.next++
		e.ID = c.box.next
		c.box.entries = append(c.box.entries, e)
	}
	return nil
}

// Relay implements port.Outbox as the mysql connector does: the oldest
// limit entries of group that no other call has in hand go to publish, and
// are removed once it returns nil.
func (c *Connector) Relay(ctx context.Context, group string, limit int, publish func(context.Context, []port.OutboxEntry) error) (int, error) {
	c.mu.Lock()
	if c.box.inHand == nil {
		c.box.inHand = map[int64]bool{}
	}
	var batch []port.OutboxEntry
	for _, e := range c.box.entries {
		if len(batch) == limit {
			break
		}
		if e.Group == group && !c.box.inHand[e.ID] {
			batch = append(batch, e)
			c.box.inHand[e.ID] = true
		}
	}
	c.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	err := publish(ctx, batch)
	c.mu.Lock()
	defer c.mu.Unlock()
	done := make(map[int64]bool, len(batch))
	for _, e := range batch {
		delete(c.box.inHand, e.ID)
		done[e.ID] = true
	}
	if err != nil {
		return 0, fmt.Errorf("memory outbox of group %q: %w", group, err)
	}
	kept := c.box.entries[:0]
	for _, e := range c.box.entries {
		if !done[e.ID] {
			kept = append(kept, e)
		}
	}
	clear(c.box.entries[len(kept):])
	c.box.entries = kept
	return len(batch), nil
}

// Outboxed returns how many entries the outbox holds.
func (c *Connector) Outboxed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.box.entries)
}
