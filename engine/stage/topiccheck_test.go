package stage

import (
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
