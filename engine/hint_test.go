package engine

import "testing"

// TestVariableHint: the hint names the variables of the scalar at the
// column, quoted or not, and none of the other scalars on the line.
func TestVariableHint(t *testing.T) {
	tests := []struct {
		line string
		col  int
		want string
	}{
		{`  - {from: "files:${DATASET:-dataset_16}/cards.csv", to: db:${TABLE}}`, 12, " (the path comes from the variable DATASET: check its value)"},
		{`  - {from: 'files:$DIR/${NAME}.csv', to: db:cards}`, 12, " (the path comes from the variables DIR, NAME: check their values)"},
		{`    from: files:${IN}/orders.csv  # ${NOT_THIS}`, 11, " (the path comes from the variable IN: check its value)"},
		{`  - {from: files:in/${F}.csv, to: "db:${T}"}`, 12, " (the path comes from the variable F: check its value)"},
		{`  - {from: "files:in/orders.csv", to: db:${T}}`, 12, ""},
		{`    from: "files:in/orders.csv"`, 0, ""},
		{`    from: "files:in/orders.csv"`, 99, ""},
		{`    from: "files:${UNCLOSED`, 11, " (the path comes from the variable UNCLOSED: check its value)"},
	}
	for _, tt := range tests {
		if got := variableHint(tt.line, tt.col); got != tt.want {
			t.Errorf("variableHint(%q, %d) = %q, want %q", tt.line, tt.col, got, tt.want)
		}
	}
}
