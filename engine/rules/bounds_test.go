package rules

import (
	"strings"
	"testing"
	"time"

	"pipeline/engine/schema"
)

// TestExpressionsAreBounded: no expression can hang the pipeline or exhaust
// memory, and expressions see only their declared inputs and functions.
func TestExpressionsAreBounded(t *testing.T) {
	row := schema.Row{dec("1"), dec("1"), 1, "s", nil}
	deep := strings.Repeat("abs(", 3000) + "r.i" + strings.Repeat(")", 3000)
	parens := strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	tests := []struct {
		name, expr, want string // want "" means it must finish, error or not
	}{
		{"huge range sum", "1..1000000000 | sum()", ""}, // folded to arithmetic by expr's optimizer
		{"huge range reduce", "reduce(1..1000000000, #acc + # * r.i, 0)", "memory budget exceeded"},
		{"huge range length", "len(1..1000000000)", "memory budget exceeded"},
		{"deep parentheses", parens, ""},
		{"huge range filter", "len(filter(1..100000000, # > 0))", "memory budget exceeded"},
		{"nested ranges", "len(map(1..100000, 1..100000))", "memory budget exceeded"},
		{"deep nesting", deep, "exceeds maximum"},
		{"long expression", strings.Repeat("1 + ", 5000) + "1", "exceeds maximum"},
		{"no environment variables", `getenv("HOME")`, "unknown name getenv"},
		{"no files", `readFile("/etc/passwd")`, "unknown name readFile"},
		{"no undeclared names", "os.Args", "unknown name os"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := evalLet(t, tt.expr, row)
				done <- err
			}()
			select {
			case err := <-done:
				if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
					t.Errorf("got %v, want an error containing %q", err, tt.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("expression still running after 20 s")
			}
		})
	}
}
