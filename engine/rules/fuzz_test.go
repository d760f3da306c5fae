package rules

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/expr-lang/expr/parser"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// FuzzCompile feeds arbitrary rule files to the compiler: it must return a
// ruleset or errors, never panic, and a ruleset it returns must evaluate
// (perhaps with an error) without panicking.
func FuzzCompile(f *testing.F) {
	for _, p := range []string{"../../rules/validation.yaml", "../../rules/credit_score.yaml", "../../rules/credit_limit.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := yamldoc.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		rs, err := Compile(file)
		if err != nil {
			return
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			return
		}
		vals := make([]any, len(rs.Inputs))
		for i, in := range rs.Inputs {
			if in.Record {
				row := make(schema.Row, len(in.Fields))
				for j, c := range in.Fields {
					row[j] = zeroValue(c.Type)
				}
				vals[i] = row
			} else {
				vals[i] = zeroValue(in.Type)
			}
		}
		_, _ = e.Eval(vals)
		_ = rs.RunTests()
	})
}

// FuzzExpression puts arbitrary text in the `when` of a rule over typed
// inputs: compile errors are fine, panics are not, and evaluation of what
// compiles ends (expressions are bounded).
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"tx.amount < 0", "abs(tx.amount) >= 0.5 * card.limit", "zip5(tx.loc)[0:1] != \"1\"",
		"tx.amount / 0 > 1", "1..1000000 | sum() > 0", "len(tx.loc) > 3 and tx.n % 0 == 1",
		"(tx.amount ?? 1) + card.pending > 3", "round(tx.amount, -30) > 1", "-(-(-tx.amount)) > 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, when string) {
		src := fmt.Sprintf(`ruleset: f
inputs:
  tx: {amount: money, loc: string, n: int}
  card: {limit: money, pending: "money?"}
rules:
  - {id: r, when: %q, outcome: x}
default: {outcome: y}
`, when)
		file, err := yamldoc.Parse("f.yaml", []byte(src))
		if err != nil {
			return
		}
		rs, err := Compile(file)
		if err != nil {
			return
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = e.Eval([]any{schema.Row{dec("1.50"), "NY 12345", 3}, schema.Row{dec("100"), nil}})
	})
}

// FuzzNesting feeds arbitrary text to the nesting pre-scan: it must not
// panic, an offset it returns is inside the text, and what it accepts
// expr's parser parses without overflowing its stack (an overflow kills
// the fuzzer: that is the failure).
func FuzzNesting(f *testing.F) {
	for _, s := range []string{
		"tx.amount < 0", "!(!x)", "x != !y", "not not x", "a - -b", "1e-5 + -2",
		strings.Repeat("!", MaxNesting) + "x", strings.Repeat("!", MaxNesting+1) + "x",
		strings.Repeat("(", MaxNesting) + "1" + strings.Repeat(")", MaxNesting),
		strings.Repeat("-(", MaxNesting/2) + "1" + strings.Repeat(")", MaxNesting/2),
		strings.Repeat("-", 5000) + "1", strings.Repeat("[", 5000), strings.Repeat("{a: ", 5000),
		strings.Repeat("not ", 5000) + "x", `"((((" + '[[[[' + ` + "`{{{{``(`" + ` // ((((`,
		"/* (((( */ x", "'\\'(((('", strings.Repeat("a - ", 3000) + "a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		off := nestingOffset(src)
		if off < -1 || off >= len(src) {
			t.Fatalf("offset %d outside a text of %d bytes", off, len(src))
		}
		if off < 0 {
			_, _ = parser.Parse(src)
		}
	})
}
