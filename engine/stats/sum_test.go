package stats

import (
	"testing"

	"github.com/govalues/decimal"
)

func TestSum(t *testing.T) {
	for _, c := range []struct {
		name  string
		add   []string
		scale int
		want  string
	}{
		{"nothing", nil, 2, "0.00"},
		{"nothing, no scale", nil, 0, "0"},
		{"money", []string{"10.25", "-0.50", "100.00"}, 0, "109.75"},
		{"the largest scale added wins", []string{"1.5", "0.125"}, 2, "1.625"},
		{"negative below one", []string{"-0.75"}, 2, "-0.75"},
		{"ints", []string{"3", "-5"}, 0, "-2"},
		{"past 19 digits it goes on exactly", []string{"9999999999999999.99", "9999999999999999.99", "0.01"}, 2, "19999999999999999.99"},
		{"a finer scale after the overflow", []string{"9999999999999999999", "9999999999999999999", "0.001"}, 0, "19999999999999999998.001"},
		{"back under the limit", []string{"9999999999999999999", "1", "-9999999999999999999"}, 0, "1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s Sum
			for _, a := range c.add {
				s.Add(decimal.MustParse(a))
			}
			if got := s.String(c.scale); got != c.want {
				t.Errorf("sum of %v = %s, want %s", c.add, got, c.want)
			}
			if s.Count() != int64(len(c.add)) {
				t.Errorf("count %d, want %d", s.Count(), len(c.add))
			}
		})
	}
}
