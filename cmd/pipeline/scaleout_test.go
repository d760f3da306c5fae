package main

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"testing"
	"time"
)

// TestScaleOutOneKilled: two validators in one consumer group, one killed
// with SIGKILL at a random point. The other must not exit until it has
// taken over the dead one's partitions (once the broker drops it) and
// decided them: it exits 0 with every record decided exactly once, the
// MySQL state of an uninterrupted run, without anything being restarted.
func TestScaleOutOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 100_000
	dbOne, two, dbTwo := againstReference(t, n)
	a := run(t, two, "run", spec, "--stage", "validate", "--group", "two")
	b := run(t, two, "run", spec, "--stage", "validate", "--group", "two")
	at := int64(10_000 + rand.IntN(60_000))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		var done sql.NullInt64
		dbTwo.QueryRowContext(ctx, "SELECT SUM(next_offset) FROM _pipeline_offsets WHERE group_name = 'two'").Scan(&done)
		if done.Int64 >= at {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the validators committed fewer than %d records within 2 minutes", at)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.Process.Kill()
	a.Wait()
	killed := time.Now()
	_, partial := state(t, dbTwo)
	if err := b.Wait(); err != nil {
		t.Fatalf("the surviving validator: %v", err)
	}
	want, m := state(t, dbOne)
	got, k := state(t, dbTwo)
	if m != n || k != n {
		t.Fatalf("decided %d (one validator) and %d (two, one killed at %d decided), want %d each", m, k, partial, n)
	}
	if got != want {
		t.Errorf("two validators, one killed at %d decided, left a different MySQL state than one", partial)
	}
	t.Logf("killed one validator at %d of %d decided; the other finished the rest %v later", partial, n, time.Since(killed).Round(time.Millisecond))
}
