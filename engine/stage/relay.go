package stage

import (
	"context"
	"fmt"
	"sync"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// The transactional outbox (docs/RELIABILITY.md, docs/ARCHITECTURE.md): a
// stream stage's records for topic sinks are written to the outbox of the
// connector its decisions go to, in the same commit as the decisions and
// offsets; a relay, run by the stage, publishes them and removes them from
// the outbox once the broker has them. A crash between the commit and the
// publish leaves them in the outbox, and the stage publishes them when it
// starts again; a crash between the publish and the removal publishes them
// twice, under the same key. Dry-runs go through the same relay: the memory
// connector keeps an outbox too.

// relayBatch is how many outbox entries one round of the relay publishes.
const relayBatch = 1000

// Fault points the relay calls Runtime.Fault at, for the fault tests.
const (
	FaultBeforePublish = "outbox-before-publish" // entries in hand, none published yet
	FaultAfterPublish  = "outbox-after-publish"  // entries published, still in the outbox
)

// relay publishes a stage's outbox entries to their topics.
type relay struct {
	stage  string
	group  string
	box    port.Outbox
	topics map[string]port.Topic // by topic name
	specs  map[string]port.TopicSpec
	fault  func(string)

	poke chan struct{} // a commit added entries
	quit chan struct{}
	done chan struct{} // closed when the goroutine ends

	mu  sync.Mutex
	err error // the first error the goroutine met
}

// newRelay opens the topics of s's topic sinks and the outbox of the
// connector its decisions go to.
func (r *streamRun) newRelay(ctx context.Context, rt *Runtime) (*relay, error) {
	s := r.s
	box, ok := rt.Resources.Connector(s.out).(port.Outbox)
	if !ok {
		return nil, fmt.Errorf("stage %s: its topic sinks go through the outbox of connector %s, whose kind keeps none: send its decisions to a database table",
			s.name, s.out.Connector)
	}
	rl := &relay{stage: s.name, group: r.group, box: box, topics: map[string]port.Topic{}, specs: map[string]port.TopicSpec{},
		fault: rt.Fault, poke: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	for _, k := range s.sinks {
		if k.topic == nil || rl.topics[k.topic.Name] != nil {
			continue
		}
		t, err := rt.Resources.Topic(ctx, k.ref, *k.topic)
		if err != nil {
			return nil, err
		}
		rl.topics[k.topic.Name], rl.specs[k.topic.Name] = t, *k.topic
	}
	return rl, nil
}

// drain publishes every entry of the group's outbox, round after round,
// until none is left.
func (rl *relay) drain(ctx context.Context) error {
	for {
		n, err := rl.box.Relay(ctx, rl.group, relayBatch, rl.publish)
		if err != nil {
			return fmt.Errorf("stage %s: publishing the outbox of group %s: %w", rl.stage, rl.group, err)
		}
		if n == 0 {
			return nil
		}
	}
}

// publish publishes entries to their topics, in order, and returns once
// the broker has them all.
func (rl *relay) publish(ctx context.Context, entries []port.OutboxEntry) error {
	if rl.fault != nil {
		rl.fault(FaultBeforePublish)
	}
	for lo := 0; lo < len(entries); {
		name := entries[lo].Topic
		t, ok := rl.topics[name]
		if !ok {
			return fmt.Errorf("outbox record %d is for topic %s, which is no sink of stage %s (was the spec changed while records waited in the outbox?)",
				entries[lo].ID, name, rl.stage)
		}
		sch := rl.specs[name].Schema
		var rows []schema.Row
		hi := lo
		for ; hi < len(entries) && entries[hi].Topic == name; hi++ {
			row, err := decodeRecord(sch, entries[hi].Value)
			if err != nil {
				return fmt.Errorf("outbox record %d for topic %s (key %s): %w", entries[hi].ID, name, entries[hi].Key, err)
			}
			rows = append(rows, row)
		}
		if err := t.Publish(ctx, rows); err != nil {
			if rej := port.Rejected(err); len(rej) > 0 {
				return fmt.Errorf("topic %s refused %d of %d outbox records (they stay in the outbox): %w", name, len(rej), len(rows), err)
			}
			return fmt.Errorf("topic %s: %w", name, err)
		}
		lo = hi
	}
	if rl.fault != nil {
		rl.fault(FaultAfterPublish)
	}
	return nil
}

// start runs the relay in the background: it drains the outbox whenever
// notify says a commit added entries, until stop.
func (rl *relay) start(ctx context.Context) {
	go func() {
		defer close(rl.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-rl.quit:
				return
			case <-rl.poke:
			}
			if err := rl.drain(ctx); err != nil {
				rl.mu.Lock()
				rl.err = err
				rl.mu.Unlock()
				return
			}
		}
	}()
}

// notify tells the relay that entries were added.
func (rl *relay) notify() {
	select {
	case rl.poke <- struct{}{}:
	default: // a round is due already
	}
}

// failed returns the error the background relay stopped with, if any.
func (rl *relay) failed() error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.err
}

// stop ends the background relay and, unless ctx has ended, publishes
// what is left: when the stage returns, everything it committed is on its
// topics.
func (rl *relay) stop(ctx context.Context) error {
	close(rl.quit)
	<-rl.done
	if ctx.Err() != nil {
		// Interrupted (the relay may have failed for that very reason):
		// the next run of the stage publishes what is left.
		return nil
	}
	if err := rl.failed(); err != nil {
		return err
	}
	return rl.drain(ctx)
}
