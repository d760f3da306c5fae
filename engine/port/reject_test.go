package port

import (
	"errors"
	"fmt"
	"testing"
)

func TestRejectedRows(t *testing.T) {
	big := errors.New("record of 9 bytes is over the limit of 8 bytes")
	for _, tc := range []struct {
		err     error
		want    string
		indexes []int
	}{
		{&RejectedRows{Rows: []RejectedRow{{Index: 3, Err: big}}}, "row 3 rejected: record of 9 bytes is over the limit of 8 bytes", []int{3}},
		{fmt.Errorf("publish: %w", &RejectedRows{Rows: []RejectedRow{{Index: 1, Err: big}, {Index: 7, Err: big}}}),
			"publish: 2 rows rejected; the first, row 1: record of 9 bytes is over the limit of 8 bytes", []int{1, 7}},
		{big, big.Error(), nil},
		{nil, "", nil},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
		}
		var indexes []int
		for _, r := range Rejected(tc.err) {
			indexes = append(indexes, r.Index)
		}
		if got != tc.want || fmt.Sprint(indexes) != fmt.Sprint(tc.indexes) {
			t.Errorf("got %q, rejected %v; want %q, %v", got, indexes, tc.want, tc.indexes)
		}
	}
}
