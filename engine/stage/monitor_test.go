package stage

import (
	"maps"
	"testing"

	"pipeline/engine/port"
)

// TestLag: a partition's lag is its end offset minus the committed
// position, from its first offset when it has none or one outside the
// partition, never below zero, and only for the partitions owned.
func TestLag(t *testing.T) {
	marks := map[int32]port.Watermark{0: {Low: 0, High: 100}, 1: {Low: 40, High: 90}, 2: {Low: 10, High: 10}}
	tests := []struct {
		name  string
		owned []int32
		pos   map[int32]int64
		want  map[int32]int64
	}{
		{"caught up", []int32{0}, map[int32]int64{0: 100}, map[int32]int64{0: 0}},
		{"behind", []int32{0, 1}, map[int32]int64{0: 60, 1: 85}, map[int32]int64{0: 40, 1: 5}},
		{"no position: from the first offset", []int32{1}, nil, map[int32]int64{1: 50}},
		{"position below the first offset (records deleted)", []int32{1}, map[int32]int64{1: 3}, map[int32]int64{1: 50}},
		{"position past the end (topic created again)", []int32{1}, map[int32]int64{1: 500}, map[int32]int64{1: 50}},
		{"an emptied partition", []int32{2}, map[int32]int64{2: 10}, map[int32]int64{2: 0}},
		{"partitions not owned are left out", []int32{0}, map[int32]int64{0: 90, 1: 40}, map[int32]int64{0: 10}},
		{"a partition the topic does not list is left out", []int32{0, 7}, map[int32]int64{0: 90}, map[int32]int64{0: 10}},
		{"nothing owned", nil, map[int32]int64{0: 1}, map[int32]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Lag(tc.owned, tc.pos, marks); !maps.Equal(got, tc.want) {
				t.Errorf("Lag = %v, want %v", got, tc.want)
			}
		})
	}
}
