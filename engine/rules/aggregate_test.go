package rules

import (
	"strings"
	"testing"

	"pipeline/engine/schema"
)

// TestDecimalAggregates is the regression test of sum() over decimals,
// which passed lint and failed at run time: the aggregate builtins over
// decimals add exactly, and keep ints ints.
func TestDecimalAggregates(t *testing.T) {
	row := schema.Row{dec("909.78"), dec("0.1"), 7, "x", nil}
	tests := []struct{ expr, want string }{
		{"sum([r.m, r.d])", "909.88"},
		{"sum([r.d, r.d, r.d]) == 0.3", "true"}, // exact: no float drift
		{"sum([r.m, r.d, 1])", "910.88"},
		{"sum([r.m, 1.5])", "911.28"},
		{"sum([r.m, r.i])", "916.78"},
		{"sum([r.m, r.n ?? 0])", "909.78"},
		{"sum(map([r.m, r.d], # * 2))", "1819.76"},
		{"sum([r.m, r.d], # * 2)", "1819.76"},
		{"sum(filter([r.m, r.d], # > 1))", "909.78"},
		{"sum([r.m, r.d]) > 909.87", "true"},
		{"mean([r.m, r.d])", "454.94"},
		{"mean(r.m, r.d, 2)", "303.96"},
		{"median([r.m, r.d, 1])", "1"},
		{"median([r.m, r.d, 1, 2])", "1.5"},
		{"min([r.m, r.d])", "0.1"},
		{"max([r.m, r.d, 1000])", "1000"},
		{"min(r.m, 3, r.d)", "0.1"},
		{"max([r.m])", "909.78"},
		{"min(r.m, r.d)", "0.1"},
		// ints stay ints
		{"sum([1, 2])", "3"},
		{"sum([1, 2], # * 2)", "6"},
		{"min([3, 1, 2])", "1"},
		{"max(3, 1, r.i)", "7"},
		{"sum([])", "0"},
	}
	for _, tt := range tests {
		got, err := evalLet(t, tt.expr, row)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if s := formatValue(got); s != tt.want {
			t.Errorf("%s = %s (%T), want %s", tt.expr, s, got, tt.want)
		}
		if strings.HasPrefix(tt.want, "9") || strings.Contains(tt.want, ".") {
			if _, ok := got.(Dec); !ok {
				t.Errorf("%s is %T, want a decimal", tt.expr, got)
			}
		}
	}
	errs := []struct{ expr, want string }{
		{"sum([r.m, r.n])", "r.n may be null"}, // lint: a list may not hold null
		{"min([])", "not enough arguments to call min"},
	}
	for _, tt := range errs {
		if _, err := evalLet(t, tt.expr, row); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.expr, err, tt.want)
		}
	}
}
