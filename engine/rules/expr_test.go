package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// evalLet compiles a one-let ruleset over a record `r` and returns the let's value.
func evalLet(t *testing.T, expr string, row schema.Row) (any, error) {
	t.Helper()
	src := fmt.Sprintf(`ruleset: t
inputs:
  r: {m: money, d: decimal, i: int, s: string, n: "money?"}
outputs: {out: "decimal?"}
let:
  x: %q
default:
  set: {out: "decimal(0)"}
`, expr)
	f, err := yamldoc.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		return nil, err
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bind([]any{row}); err != nil {
		return nil, err
	}
	if err := e.setLets(); err != nil {
		return nil, err
	}
	return e.env["x"], nil
}

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func TestExpressions(t *testing.T) {
	row := schema.Row{dec("909.78"), dec("0.1"), 7, "7320 Harrison Haven, New York, NY 16433", nil}
	tests := []struct {
		expr string
		want string // formatted result
	}{
		{"r.d + r.d + r.d == 0.3", "true"}, // exact: no float drift
		{"r.d * 3", "0.3"},
		{"r.m - 0.78", "909.00"},
		{"0.5 * r.m", "454.890"},
		{"abs(-r.m)", "909.78"},
		{"-r.m < 0", "true"},
		{"r.m >= 909.78", "true"},
		{"r.m > 909.78", "false"},
		{"r.m + r.i", "916.78"},
		{"r.i + r.m", "916.78"},
		{"r.m / 2", "454.89"},
		{"round(r.m, 1)", "909.8"},
		{"round(r.m, -2)", "900"},
		{"round(decimal(\"6750\"), -2)", "6800"}, // tie to even
		{"round(decimal(\"6850\"), -2)", "6800"}, // tie to even
		{"round(decimal(\"0.125\"), 2)", "0.12"},
		{"min(r.m, 100)", "100"},
		{"max(r.m, 100)", "909.78"},
		{"min(3, 4)", "3"},
		{"clamp(r.i, 10, 20)", "10"},
		{"clamp(r.m, 0, 500)", "500"},
		{"r.n ?? r.m", "909.78"},
		{"zip5(r.s)", "16433"},
		{"zip5(r.s)[0:1]", "1"},
		{"zip5(r.s)[1:3]", "64"},
		{"zip5(r.s)[-2:99]", "33"},
		{"zip5(\"none\")[0:1]", ""},
		{"r.s[5:2]", ""},
		{"r.i * 2", "14"},
		{"decimal(\"1.10\") == decimal(\"1.1\")", "true"},
		{"r.d != 0.1", "false"},
		{"(r.i > 5 ? r.m : 0) > 900", "true"}, // a literal beside a decimal branch is a decimal
		{"(r.i > 9 ? r.m : 0) + 1", "1"},
		{"(r.n != nil ? r.n : 0) + 1", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalLet(t, tt.expr, row)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if s := formatValue(got); s != tt.want {
				t.Errorf("got %s (%T), want %s", s, got, tt.want)
			}
		})
	}
}

func TestExpressionRunTimeErrors(t *testing.T) {
	row := schema.Row{dec("1"), dec("0"), 0, "", nil}
	tests := []struct{ expr, want string }{
		{"r.m / r.d", "division by zero"},
		// r.n + 1 fails lint (r.n may be null); a null out of a map, which
		// the null check does not follow, reaches arithmetic at run time,
		// and is reported so.
		{`abs({"k": r.n}.k)`, "null value in arithmetic"},
	}
	for _, tt := range tests {
		_, err := evalLet(t, tt.expr, row)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.expr, err, tt.want)
		}
	}
}

func TestZip5(t *testing.T) {
	tests := []struct{ in, want string }{
		{"7320 Harrison Haven, New York, NY 16433", "16433"},
		{"16433", "16433"},
		{"NY 16433-1234", "16433"},
		{"Suite 123456, NY", ""},
		{"A12345 B", ""},
		{"12345_6", ""},
		{"4 x 12345", "12345"},
		{"", ""},
		{"online", ""},
		{"café 54321", "54321"},
		{"é12345", ""},
		{"1234 98765 11111", "98765"},
	}
	for _, tt := range tests {
		if got := zip5(tt.in); got != tt.want {
			t.Errorf("zip5(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNullRunTimeMessages: a null that reaches an operator at run time (in
// a way the null check does not follow) is worded without Go's <nil>.
func TestNullRunTimeMessages(t *testing.T) {
	row := schema.Row{dec("1"), dec("0"), 0, "", nil}
	tests := []struct{ expr, want string }{
		{`{"k": r.n}.k > 1`, "invalid operation: null > int (use ?? to give a default)"},
		{`upper({"k": r.n}.k)`, "null value where a string is due (use ?? to give a default)"},
		{`{"k": r.n}.k + 1`, "invalid operation: null + int (use ?? to give a default)"},
		{`len({"k": r.n}.k)`, "invalid argument for len (type null) (use ?? to give a default)"},
	}
	for _, tt := range tests {
		_, err := evalLet(t, tt.expr, row)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "nil") {
			t.Errorf("%s: got %v, want an error containing %q and no nil", tt.expr, err, tt.want)
		}
	}
}
