package kafka

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// recordSize returns the size of r's record on tp: key and value.
func recordSize(tp *Topic, r schema.Row) int {
	recs, _ := tp.records([]schema.Row{r}, nil)
	return len(recs[0].Key) + len(recs[0].Value)
}

// withNoteOfSize returns a copy of r whose note makes its record on tp
// exactly size bytes.
func withNoteOfSize(t *testing.T, tp *Topic, r schema.Row, size int) schema.Row {
	t.Helper()
	r = append(schema.Row(nil), r...)
	r[4] = ""
	n := size - recordSize(tp, r)
	if n < 0 {
		t.Fatalf("a record of %d bytes cannot hold the row", size)
	}
	r[4] = strings.Repeat("n", n)
	if got := recordSize(tp, r); got != size {
		t.Fatalf("record of %d bytes, want %d", got, size)
	}
	return r
}

// checkPublished checks that tp holds exactly rows in order per key, and
// returns the messages.
func checkPublished(t *testing.T, tp *Topic, rows []schema.Row) []port.Message {
	t.Helper()
	msgs := consumeAll(t, tp, port.ConsumeOptions{})
	if len(msgs) != len(rows) {
		t.Fatalf("the topic holds %d records, want %d", len(msgs), len(rows))
	}
	next := map[string]int{} // per key, the index in rows of the next row of that key
	byKey := map[string][]schema.Row{}
	for _, r := range rows {
		byKey[r[0].(string)] = append(byKey[r[0].(string)], r)
	}
	for _, m := range msgs {
		if m.Err != nil {
			t.Fatalf("message %s: %v", m.Source, m.Err)
		}
		key := m.Row[0].(string)
		want := byKey[key][next[key]]
		if !sameRow(m.Row, want) {
			t.Fatalf("message %s: row %.80s, want %.80s", m.Source, show(m.Row), show(want))
		}
		next[key]++
	}
	return msgs
}

// TestPublishRejectsOversizedRecords: a row whose record is over the
// topic's limit (the connector's max_record_bytes) is not produced; the
// others are, in order, and Publish names the rejected ones with their
// size, the limit and the option that raises it. A record of exactly the
// limit is produced and consumed: the broker takes it alone in a batch.
func TestPublishRejectsOversizedRecords(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxRecord int // connector option; 0 for the default
	}{
		{"default limit", 0},
		{"max_record_bytes 2 MiB", 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(context.Background(), Options{DataDir: t.TempDir(), MaxRecordBytes: tc.maxRecord})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tp := openTopic(t, c, "big", 3)
			limit := tc.maxRecord
			if limit == 0 {
				limit = DefaultMaxRecordBytes
			}
			if tp.limit.bytes != limit {
				t.Fatalf("limit %d, want %d", tp.limit.bytes, limit)
			}
			rows := eventRows(60, 3)
			wantRejected := map[int]int{} // row index: record size
			for i, size := range map[int]int{5: limit + 1, 17: 2 * limit, 40: limit, 41: limit - 1, 59: limit + 100} {
				rows[i] = withNoteOfSize(t, tp, rows[i], size)
				if size > limit {
					wantRejected[i] = size
				}
			}
			err = tp.Publish(context.Background(), rows)
			var rr *port.RejectedRows
			if !errors.As(err, &rr) {
				t.Fatalf("Publish: %v, want *port.RejectedRows", err)
			}
			var kept []schema.Row
			for i, r := range rows {
				if _, ok := wantRejected[i]; !ok {
					kept = append(kept, r)
				}
			}
			if len(rr.Rows) != len(wantRejected) {
				t.Fatalf("rejected %v, want rows %v", err, wantRejected)
			}
			for j, rej := range rr.Rows {
				size, ok := wantRejected[rej.Index]
				if !ok || (j > 0 && rej.Index <= rr.Rows[j-1].Index) {
					t.Fatalf("rejected row %d (%v), want rows %v in order", rej.Index, rej.Err, wantRejected)
				}
				msg := rej.Err.Error()
				for _, want := range []string{"record of " + strconv.Itoa(size) + " bytes", "over the limit of " + strconv.Itoa(limit) + " bytes",
					"topic big", "max_record_bytes"} {
					if !strings.Contains(msg, want) {
						t.Errorf("row %d: reason %q does not say %q", rej.Index, msg, want)
					}
				}
			}
			t.Logf("%v", err)
			checkPublished(t, tp, kept)
		})
	}
}

// TestPublishLimitFromTheTopic: a topic whose max.message.bytes on the
// broker allows less than the connector's limit gets less: Publish rejects
// what the broker would refuse before producing it, and never sends it a
// batch bigger than it takes, however many rows fit in one.
func TestPublishLimitFromTheTopic(t *testing.T) {
	c := newConnector(t)
	const mmb = 4096
	resp, err := c.admin.CreateTopic(context.Background(), 2, 1, map[string]*string{"max.message.bytes": kadm.StringPtr(strconv.Itoa(mmb))}, "small")
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v, %v", err, resp.Err)
	}
	tp := openTopic(t, c, "small", 2)
	limit := mmb - recordOverhead
	if tp.limit.bytes != limit {
		t.Fatalf("limit %d, want %d (max.message.bytes %d less %d)", tp.limit.bytes, limit, mmb, recordOverhead)
	}
	rows := eventRows(2000, 4) // about 150 kB: many batches of 4 kB
	rows[100] = withNoteOfSize(t, tp, rows[100], limit)
	rows[200] = withNoteOfSize(t, tp, rows[200], limit+1)
	err = tp.Publish(context.Background(), rows)
	rej := port.Rejected(err)
	if len(rej) != 1 || rej[0].Index != 200 {
		t.Fatalf("Publish: %v, want row 200 rejected", err)
	}
	if msg := rej[0].Err.Error(); !strings.Contains(msg, "max.message.bytes of 4096 bytes on the broker") || !strings.Contains(msg, "over the limit of 3968 bytes") {
		t.Errorf("reason %q does not name the topic's max.message.bytes and the limit", msg)
	}
	checkPublished(t, tp, append(append([]schema.Row(nil), rows[:200]...), rows[201:]...))
	if n := tp.refused.Load(); n != 0 {
		t.Errorf("the broker refused %d records as too large: batches are bigger than the topic takes", n)
	}
}

// TestPublishBrokerRefusesAsTooLarge: when the broker refuses records as
// too large all the same (its max.message.bytes lowered after the topic was
// opened), the records of the batches it refused are produced again one at
// a time: those that fit go on, in order, and those it still refuses are
// rejected with the broker's reason.
func TestPublishBrokerRefusesAsTooLarge(t *testing.T) {
	c := newConnector(t)
	tp := openTopic(t, c, "shrunk", 1)
	const mmb = 20000
	resp, err := c.admin.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr(strconv.Itoa(mmb))}}, "shrunk")
	if err == nil {
		err = resp[0].Err
	}
	if err != nil {
		t.Fatalf("alter topic config: %v", err)
	}
	// Small rows (a batch of them stays under 20 kB) and, last, one of
	// 50 kB: the broker refuses its batch, with whatever rows share it.
	rows := eventRows(100, 3)
	rows = append(rows, withNoteOfSize(t, tp, eventRows(101, 3)[100], 50000))
	err = tp.Publish(context.Background(), rows)
	rej := port.Rejected(err)
	if len(rej) != 1 || rej[0].Index != 100 {
		t.Fatalf("Publish: %v, want row 100 rejected", err)
	}
	if !errors.Is(rej[0].Err, kerr.MessageTooLarge) || !strings.Contains(rej[0].Err.Error(), "refused by the broker as too large") {
		t.Errorf("reason %q: want the broker's MESSAGE_TOO_LARGE", rej[0].Err)
	}
	t.Logf("%v", err)
	checkPublished(t, tp, rows[:100])
	if n := tp.refused.Load(); n < 1 {
		t.Errorf("the broker refused %d records, want the big one at least", n)
	}
}
