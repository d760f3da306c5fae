package stage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"pipeline/engine/port"
)

func TestOtherTopic(t *testing.T) {
	info := port.TopicInfo{ID: "AAA", Start: map[int32]int64{0: 0, 1: 5}, End: map[int32]int64{0: 10, 1: 20}}
	for _, tc := range []struct {
		name   string
		stored map[int32]port.StoredOffset
		want   string // in the error; "" for none
		left   int64  // records remaining
	}{
		{name: "nothing stored", left: 25},
		{name: "same topic", stored: map[int32]port.StoredOffset{0: {Next: 4, TopicID: "AAA"}, 1: {Next: 20, TopicID: "AAA"}}, left: 6},
		{name: "stored before IDs were kept", stored: map[int32]port.StoredOffset{0: {Next: 10}}, left: 15},
		{name: "another topic", stored: map[int32]port.StoredOffset{0: {Next: 4, TopicID: "BBB"}},
			want: "they were taken on a topic with ID BBB, and the broker's has ID AAA"},
		{name: "past the end", stored: map[int32]port.StoredOffset{0: {Next: 11}, 1: {Next: 21, TopicID: "AAA"}},
			want: "they lie beyond the topic's end (partition 0 at 11, past its end at 10; partition 1 at 21, past its end at 20)"},
		{name: "a partition the topic lacks", stored: map[int32]port.StoredOffset{7: {Next: 1, TopicID: "AAA"}},
			want: "partition 7, which the topic does not have, at 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := otherTopic("db", "bus:t", "g", info, tc.stored)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				if n := remaining(info, tc.stored); n != tc.left {
					t.Errorf("remaining %d, want %d", n, tc.left)
				}
				return
			}
			if err == nil || !errors.Is(err, port.ErrOtherTopic) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one wrapping ErrOtherTopic saying %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "the offsets db holds for group g do not belong to topic bus:t: ") {
				t.Errorf("error %q does not start by naming the store, group and topic", err)
			}
		})
	}
}

// described is a topic that only describes itself.
type described struct {
	port.Topic
	info port.TopicInfo
}

func (d described) Describe(context.Context) (port.TopicInfo, error) { return d.info, nil }

// TestProgressTotalFromEndOffsets: a stream stage that does not follow
// tells its progress counter the records between where it starts and the
// topic's end offsets, and keeps the topic's ID for its commits.
func TestProgressTotalFromEndOffsets(t *testing.T) {
	topic := described{info: port.TopicInfo{ID: "AAA", Start: map[int32]int64{0: 2, 1: 0, 2: 7}, End: map[int32]int64{0: 10, 1: 5, 2: 7}}}
	for _, follow := range []bool{false, true} {
		c := &Counter{}
		r := &streamRun{s: &streamStage{name: "s"}, rt: &Runtime{Progress: c, Follow: follow}}
		if err := r.checkTopic(context.Background(), topic); err != nil {
			t.Fatal(err)
		}
		c.Add(3)
		done, total, records := c.Progress()
		want := int64(13)
		if follow {
			want = 0 // a followed topic has no end
		}
		if done != 3 || total != want || !records {
			t.Errorf("follow %v: progress %d of %d (records %v), want 3 of %d records", follow, done, total, records, want)
		}
		if r.topicID != "AAA" {
			t.Errorf("topic ID %q, want AAA", r.topicID)
		}
	}
}
