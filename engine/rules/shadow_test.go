package rules

import (
	"strings"
	"testing"

	"pipeline/engine/yamldoc"
)

// TestShadowWarnings: lint warns of a rule or table row that the ones
// before it always decide first, where constant bounds on one value (or the
// same condition as written) tell, and of no other.
func TestShadowWarnings(t *testing.T) {
	tests := []struct {
		name  string
		whens []string // rules in order; the default follows
		table bool
		want  []string // warnings, in order
	}{
		{"narrower bound after", []string{"x <= 10", "x <= 5"}, false,
			[]string{"s.yaml:9:21: warning: rule r2 never decides: rule r1 (line 8), before it, holds whenever it does"}},
		{"greater than after a lower one", []string{"x > 30", "x > 50"}, true,
			[]string{"s.yaml:10:19: warning: row r2 never decides: row r1 (line 9), before it, holds whenever it does"}},
		{"the other way is fine", []string{"x <= 5", "x <= 10", "x > 50", "x > 30"}, false, nil},
		{"constant on the left", []string{"10 >= x", "x < 10"}, false,
			[]string{"rule r2 never decides: rule r1 (line 8)"}},
		{"closed and open ends", []string{"x < 10", "x <= 10", "x >= 10", "x > 10"}, false,
			[]string{"rule r4 never decides: rule r3 (line 10)", "the default never decides: rules r1 (line 8), r2 (line 9), r3 (line 10) and r4 (line 11), before it, cover every value of x"}},
		{"equal to a bound", []string{"x >= 0", "x == 5"}, false, []string{"rule r2 never decides: rule r1"}},
		{"decimals and negatives", []string{"x <= -0.5", "x < -1", "x < -0.4"}, false,
			[]string{"rule r2 never decides: rule r1"}},
		{"a range inside a bound", []string{"x > 100", "x > 200 and x < 300"}, false,
			[]string{"rule r2 never decides: rule r1"}},
		{"a bound with another condition", []string{"x > 100 and y == \"a\"", "x > 200 and y == \"a\" and z"}, false,
			[]string{"rule r2 never decides: rule r1"}},
		{"another condition missing", []string{"x > 100 and y == \"a\"", "x > 200"}, false, nil},
		{"different values", []string{"x > 100", "w > 200"}, false, nil},
		{"the same condition twice", []string{"y == \"a\" and z", "y == \"a\" and z"}, false,
			[]string{"rule r2 never decides: rule r1"}},
		{"or is not understood", []string{"x > 1 or z", "x > 5"}, false, nil},
		{"rows together", []string{"x < 0", "x >= 0 and x <= 10", "x > -5 and x < 5"}, true,
			[]string{"row r3 never decides: rows r1 (line 9) and r2 (line 10), before it, cover every value of x"}},
		{"rows that leave a gap", []string{"x < 0", "x > 0", "x > -1 and x < 1"}, true,
			[]string{"the default never decides: rows r1 (line 9), r2 (line 10) and r3 (line 11), before it, cover every value of x"}},
		{"rows that cover every value", []string{"x < 0", "x >= 0 and x <= 70", "x > 70"}, true,
			[]string{"s.yaml:8:29: warning: the default never decides: rows r1 (line 9), r2 (line 10) and r3 (line 11), before it, cover every value of x"}},
		{"a gap at one point", []string{"x < 0", "x > 0"}, true, nil},
		{"the shipped credit score bands", []string{"x < 0", "x <= 10", "x <= 20", "x <= 30", "x <= 50", "x <= 70"}, true, nil},
		{"a contradiction", []string{"x > 5 and x < 3"}, false,
			[]string{"rule r1 never holds: no value of x meets all its bounds"}},
		{"one point", []string{"x >= 5 and x <= 5", "x == 5"}, false, []string{"rule r2 never decides: rule r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("ruleset: s\ninputs:\n  x: decimal\n  w: decimal\n  y: string\n  z: bool\n")
			if tt.table {
				b.WriteString("outputs: {o: int}\ntable:\n  output: o\n  rows:\n")
			} else {
				b.WriteString("rules:\n")
			}
			for i, w := range tt.whens {
				id := "r" + string(rune('1'+i))
				if tt.table {
					b.WriteString("    - {id: " + id + ", when: '" + w + "', value: 1}\n")
				} else {
					b.WriteString("  - {id: " + id + ", when: '" + w + "', outcome: x}\n")
				}
			}
			if tt.table {
				b.WriteString("  default: 0\n")
			} else {
				b.WriteString("default:\n  outcome: y\n")
			}
			src := b.String()
			if tt.table {
				// rows start a line later (outputs:): shift the test's lines
				src = strings.Replace(src, "outputs: {o: int}\ntable:\n  output: o\n  rows:\n", "outputs: {o: int}\ntable: {output: o, default: 0, rows: [\n", 1)
				src = strings.ReplaceAll(src, "    - {id:", "  {id:")
				src = strings.ReplaceAll(src, "value: 1}\n", "value: 1},\n")
				src = strings.Replace(src, "  default: 0\n", "  ]}\n", 1)
			}
			f, err := yamldoc.Parse("s.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Compile(f)
			if err != nil {
				t.Fatalf("%s\n%s", src, yamldoc.Details(err))
			}
			got := rs.Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("%s\ngot %d warnings, want %d:\n%v", src, len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].Error(), w) {
					t.Errorf("%s\nwarning %d:\n got %s\nwant it to contain %s", src, i, got[i].Error(), w)
				}
			}
		})
	}
}
