package rules

import (
	"fmt"
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
	nests := fmt.Sprintf("nests deeper than %d levels", MaxNesting)
	tests := []struct {
		name, expr, want string // want "" means it must finish, error or not
	}{
		{"huge range sum", "1..1000000000 | sum()", ""}, // folded to arithmetic by expr's optimizer
		{"huge range reduce", "reduce(1..1000000000, #acc + # * r.i, 0)", "memory budget exceeded"},
		{"huge range length", "len(1..1000000000)", "memory budget exceeded"},
		{"deep parentheses", parens, nests},
		{"huge range filter", "len(filter(1..100000000, # > 0))", "memory budget exceeded"},
		{"nested ranges", "len(map(1..100000, 1..100000))", "memory budget exceeded"},
		{"deep nesting", deep, nests},
		{"long expression", strings.Repeat("1 + ", 5000) + "1", "exceeds maximum"},
		{"no environment variables", `getenv("HOME")`, "unknown name getenv"},
		{"no files", `readFile("/etc/passwd")`, "unknown name readFile"},
		{"no undeclared names", "os.Args", "unknown name os"},
		// ~700k nested unary operators in a file under the 1 MB limit.
		{"700k nested !", strings.Repeat("!", 700000) + "true", nests},
		{"700k nested -", strings.Repeat("-", 700000) + "r.i", nests},
		{"250k nested not", strings.Repeat("not ", 250000) + "true", nests},
		{"unary runs inside brackets", strings.Repeat(strings.Repeat("-", 99)+"(", 5000) + "1" + strings.Repeat(")", 5000), nests},
		{"deep lists", strings.Repeat("[", 300000) + strings.Repeat("]", 300000), nests},
		{"deep maps", strings.Repeat("{a: ", 200000) + "1" + strings.Repeat("}", 200000), nests},
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

// TestNestingOffset pins where the pre-scan stops an expression, and that
// strings, comments and binary operators do not count.
func TestNestingOffset(t *testing.T) {
	over := strings.Repeat("(", MaxNesting) + "(x" + strings.Repeat(")", MaxNesting+1)
	tests := []struct {
		name, src string
		want      int
	}{
		{"shipped rule", "abs(tx.amount) >= 0.5 * card.credit_limit", -1},
		{"at the limit", strings.Repeat("!", MaxNesting) + "x", -1},
		{"one over", strings.Repeat("!", MaxNesting+1) + "x", MaxNesting},
		{"brackets one over", over, MaxNesting},
		{"not is unary", strings.Repeat("not ", MaxNesting+1) + "x", 4 * MaxNesting},
		{"nothing is a name", strings.Repeat("nothing + ", 500) + "x", -1},
		{"unary held by brackets", strings.Repeat("!(", MaxNesting/2) + "!x" + strings.Repeat(")", MaxNesting/2), 2 * (MaxNesting / 2)},
		{"closed brackets release", strings.Repeat("!(x) && ", 500) + "x", -1},
		{"binary minus", strings.Repeat("a - ", 1000) + "a", -1},
		{"exponent sign", strings.Repeat("1e-5 - ", 1000) + "1", -1},
		{"not equal", strings.Repeat("a != ", 1000) + "b", -1},
		{"brackets in strings", `"` + strings.Repeat("(", 500) + `" + '` + strings.Repeat("[", 500) + `\''`, -1},
		{"brackets in raw strings", "`" + strings.Repeat("{", 500) + "``" + strings.Repeat("{", 500) + "`", -1},
		{"brackets in comments", "x // " + strings.Repeat("(", 500) + "\n/* " + strings.Repeat("[", 500) + " */ + 1", -1},
		{"second line", "x &&\n" + strings.Repeat("-", MaxNesting+1) + "1", 5 + MaxNesting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nestingOffset(tt.src); got != tt.want {
				t.Errorf("got offset %d, want %d", got, tt.want)
			}
		})
	}
	if line, col := lineCol("x +\n  -y", 6); line != 2 || col != 2 {
		t.Errorf("lineCol gives %d:%d, want 2:2", line, col)
	}
}
