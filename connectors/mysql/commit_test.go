package mysql

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestCommit(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	totals := openTable(t, c, schema.MustNew("totals", []schema.Column{
		{Name: "name", Type: schema.StringType},
		{Name: "total", Type: schema.DecimalType},
	}, "name"))

	offsets := func(want map[int32]int64) {
		t.Helper()
		got, err := c.Offsets(ctx, "g", "events")
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("Offsets = %v, want %v", got, want)
		}
	}
	state := func() []schema.Row {
		return append(scanAll(t, ctx, items), scanAll(t, ctx, totals)...)
	}
	offsets(map[int32]int64{})

	first := port.Batch{Group: "g",
		Writes: []port.TableWrite{
			{Table: "items", Rows: []schema.Row{item(1, "one", "909.78"), item(2, "two", "-0.01")}},
			{Table: "totals", Rows: []schema.Row{{"all", dec("909.77")}}},
		},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 0, Next: 2}, {Topic: "events", Partition: 3, From: 10, Next: 11}},
	}
	if err := c.Commit(ctx, first); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	offsets(map[int32]int64{0: 2, 3: 11})
	want := []schema.Row{item(1, "one", "909.78"), item(2, "two", "-0.01"), {"all", dec("909.77")}}
	checkRows(t, "after first batch", state(), want)

	// A replay of the batch (after an unknown outcome) writes nothing: the
	// changed rows prove it.
	replay := first
	replay.Writes = []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "changed", "0")}}}
	if err := c.Commit(ctx, replay); err != nil {
		t.Fatalf("Commit replay: %v", err)
	}
	checkRows(t, "after replay", state(), want)
	offsets(map[int32]int64{0: 2, 3: 11})

	// A stale batch (another consumer moved partition 0 on) changes nothing.
	stale := port.Batch{Group: "g",
		Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(9, "stale", "1")}}},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 1, Next: 3}, {Topic: "events", Partition: 3, From: 11, Next: 12}},
	}
	err := c.Commit(ctx, stale)
	if !errors.Is(err, port.ErrStale) || !strings.Contains(err.Error(), "topic events partition 0 is at 2, batch covers 1..3") {
		t.Fatalf("Commit stale: %v, want ErrStale naming partition 0", err)
	}
	checkRows(t, "after stale batch", state(), want)
	offsets(map[int32]int64{0: 2, 3: 11})

	// The next batch applies; a new partition starts wherever the batch says.
	next := port.Batch{Group: "g",
		Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "ONE", "12345678901234.56")}}},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 2, Next: 5}, {Topic: "events", Partition: 1, From: 7, Next: 8}},
	}
	if err := c.Commit(ctx, next); err != nil {
		t.Fatalf("Commit next: %v", err)
	}
	offsets(map[int32]int64{0: 5, 1: 8, 3: 11})
	want[0] = item(1, "ONE", "12345678901234.56")
	checkRows(t, "after next batch", state(), want)

	// Other groups and topics are separate.
	if err := c.Commit(ctx, port.Batch{Group: "h", Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 0, Next: 1}}}); err != nil {
		t.Fatal(err)
	}
	offsets(map[int32]int64{0: 5, 1: 8, 3: 11})
	if got, err := c.Offsets(ctx, "g", "other"); err != nil || len(got) != 0 {
		t.Fatalf("Offsets of another topic: %v %v", got, err)
	}
}

func TestCommitErrors(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	good := []schema.Row{item(1, "one", "1")}
	tests := []struct {
		name string
		b    port.Batch
		want string
	}{
		{"unknown table", port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: good}, {Table: "nope", Rows: good}},
			Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}}, `table "nope", which was not opened with Table (open: items)`},
		{"bad row", port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{{1, "x"}}}},
			Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}}, "row 0 has 2 values"},
		{"no group", port.Batch{Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}}}, "no consumer group"},
		{"partition twice", port.Batch{Group: "g", Offsets: []port.Offset{{Topic: "t", Partition: 0, From: 0, Next: 1}, {Topic: "t", Partition: 0, From: 1, Next: 2}}}, "partition 0 twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Commit(ctx, tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "mysql commit of group") {
				t.Fatalf("Commit: %v, want an error containing %q", err, tc.want)
			}
			checkRows(t, "items", scanAll(t, ctx, items), nil)
			if got, _ := c.Offsets(ctx, "g", "t"); len(got) != 0 {
				t.Fatalf("offsets stored: %v", got)
			}
		})
	}
}

// TestCommitConcurrent has several committers race for the same partition:
// each batch applies exactly once, whichever of them wins.
func TestCommitConcurrent(t *testing.T) {
	c, dsn := openTest(t)
	ctx := context.Background()
	openTable(t, c, itemSchema("items"))
	const workers, batches = 4, 10
	conns := []*Connector{c}
	for range workers - 1 {
		other := openDSN(t, dsn)
		openTable(t, other, itemSchema("items"))
		conns = append(conns, other)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*batches)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				err := conns[w].Commit(ctx, port.Batch{Group: "g",
					Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(b, "batch", "1")}}},
					Offsets: []port.Offset{{Topic: "t", Partition: 0, From: int64(b), Next: int64(b + 1)}},
				})
				if err != nil && !errors.Is(err, port.ErrStale) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, err := c.Offsets(ctx, "g", "t"); err != nil || got[0] != batches {
		t.Fatalf("Offsets = %v %v, want partition 0 at %d", got, err, batches)
	}
}

// TestCommitInsert: a write marked Insert inserts new rows, and a batch
// whose Insert write meets an existing key fails with ErrExists and writes
// nothing at all, offsets included.
func TestCommitInsert(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	items := openTable(t, c, itemSchema("items"))
	others := openTable(t, c, itemSchema("others"))
	ok := port.Batch{Group: "g",
		Writes:  []port.TableWrite{{Table: "items", Rows: []schema.Row{item(1, "one", "1"), item(2, "two", "2")}, Insert: true}},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 0, Next: 2}},
	}
	if err := c.Commit(ctx, ok); err != nil {
		t.Fatalf("Commit of new rows: %v", err)
	}
	again := port.Batch{Group: "g",
		Writes: []port.TableWrite{
			{Table: "others", Rows: []schema.Row{item(7, "seven", "7")}},
			{Table: "items", Rows: []schema.Row{item(3, "three", "3"), item(2, "changed", "0")}, Insert: true},
		},
		Offsets: []port.Offset{{Topic: "events", Partition: 0, From: 2, Next: 4}},
	}
	if err := c.Commit(ctx, again); !errors.Is(err, port.ErrExists) {
		t.Fatalf("Commit inserting an existing key: %v, want ErrExists", err)
	}
	checkRows(t, "items", scanAll(t, ctx, items), []schema.Row{item(1, "one", "1"), item(2, "two", "2")})
	checkRows(t, "others", scanAll(t, ctx, others), nil)
	if got, err := c.Offsets(ctx, "g", "events"); err != nil || !maps.Equal(got, map[int32]int64{0: 2}) {
		t.Fatalf("Offsets = %v, %v; want partition 0 at 2", got, err)
	}
}

// TestCommitTopicIDs: offsets are stored with the ID of the topic they were
// taken on; a batch of another topic of the same name is refused, writing
// nothing, and an offsets table made before IDs were kept gets the column.
func TestCommitTopicIDs(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	// An offsets table as older versions made it, with a row.
	if _, err := c.db.ExecContext(ctx, "CREATE TABLE `"+OffsetsTable+"` (group_name VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, "+
		"part INT NOT NULL, next_offset BIGINT NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (group_name, topic, part))"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.ExecContext(ctx, "INSERT INTO `"+OffsetsTable+"` VALUES ('g', 'events', 1, 7, NOW())"); err != nil {
		t.Fatal(err)
	}
	items := openTable(t, c, itemSchema("items"))
	batch := func(id string, part int32, from, next int64, row schema.Row) port.Batch {
		return port.Batch{Group: "g", Writes: []port.TableWrite{{Table: "items", Rows: []schema.Row{row}}},
			Offsets: []port.Offset{{Topic: "events", Partition: part, From: from, Next: next, TopicID: id}}}
	}
	if err := c.Commit(ctx, batch("AAA", 0, 0, 2, item(1, "one", "1"))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := c.Commit(ctx, batch("AAA", 1, 7, 8, item(2, "two", "2"))); err != nil {
		t.Fatalf("Commit after an offset stored without an ID: %v", err)
	}
	got, err := c.StoredOffsets(ctx, "g", "events")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]port.StoredOffset{0: {Next: 2, TopicID: "AAA"}, 1: {Next: 8, TopicID: "AAA"}}
	if !maps.Equal(got, want) {
		t.Errorf("StoredOffsets = %v, want %v", got, want)
	}
	err = c.Commit(ctx, batch("BBB", 0, 2, 3, item(3, "three", "3")))
	var other *OtherTopicError
	if !errors.Is(err, port.ErrOtherTopic) || !errors.As(err, &other) {
		t.Fatalf("Commit of another topic: %v, want an OtherTopicError", err)
	}
	if want := `the offsets of group "g" for topic events in ` + other.Database + ` were taken on the topic with ID AAA, but the batch comes from the topic with ID BBB`; other.Error() != want {
		t.Errorf("error %q, want %q", other.Error(), want)
	}
	checkRows(t, "after the refused commit", scanAll(t, ctx, items), []schema.Row{item(1, "one", "1"), item(2, "two", "2")})
	if err := c.ResetOffsets(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, batch("BBB", 0, 0, 1, item(3, "three", "3"))); err != nil {
		t.Fatalf("Commit after a reset: %v", err)
	}
}
