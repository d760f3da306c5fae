package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestExpressionsAreBounded: no expression can hang the pipeline or exhaust
// memory, and expressions see only their declared inputs and functions.
func TestExpressionsAreBounded(t *testing.T) {
	row := schema.Row{dec("1"), dec("1"), 1, "s", nil}
	deep := strings.Repeat("abs(", 3000) + "r.i" + strings.Repeat(")", 3000)
	parens := strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	bytes := fmt.Sprintf("per-record budget of %d bytes", MaxBytes)
	steps := fmt.Sprintf("per-record budget of %d steps", MaxSteps)
	nests := fmt.Sprintf("nests deeper than %d levels", MaxNesting)
	elements := fmt.Sprintf("memory budget exceeded: ranges, lists and maps built by one expression exceed %d elements", MaxElements)
	tests := []struct {
		name, expr, want string // want "" means it must finish, error or not
	}{
		{"huge range sum", "1..1000000000 | sum()", ""}, // folded to arithmetic by expr's optimizer
		{"huge range reduce", "reduce(1..1000000000, #acc + # * r.i, 0)", elements},
		{"huge range length", "len(1..1000000000)", elements},
		{"deep parentheses", parens, nests},
		{"huge range filter", "len(filter(1..100000000, # > 0))", elements},
		{"nested ranges", "len(map(1..100000, 1..100000))", elements},
		{"deep nesting", deep, nests},
		{"long expression", strings.Repeat("1 + ", 5000) + "1", "exceeds maximum"},
		{"no environment variables", `getenv("HOME")`, "unknown name getenv"},
		{"no files", `readFile("/etc/passwd")`, "unknown name readFile"},
		{"no undeclared names", "os.Args", "unknown name os"},
		// Issue 8, item 5: a string doubled 40 times would need 1 TiB.
		{"reduce doubling a string", `len(reduce(1..40, #acc + #acc, "x")) > 0`, bytes},
		{"reduce doubling a field", `len(reduce(1..40, #acc + #acc, r.s))`, bytes},
		{"lets doubling a string", doublingLets(40), bytes},
		{"reduce doubling a list", `len(reduce(1..40, concat(#acc, #acc), [1]))`, "budget"},
		// ~700k nested unary operators in a file under the 1 MB limit.
		{"700k nested !", strings.Repeat("!", 700000) + "true", nests},
		{"700k nested -", strings.Repeat("-", 700000) + "r.i", nests},
		{"250k nested not", strings.Repeat("not ", 250000) + "true", nests},
		{"unary runs inside brackets", strings.Repeat(strings.Repeat("-", 99)+"(", 5000) + "1" + strings.Repeat(")", 5000), nests},
		{"deep lists", strings.Repeat("[", 300000) + strings.Repeat("]", 300000), nests},
		{"deep maps", strings.Repeat("{a: ", 200000) + "1" + strings.Repeat("}", 200000), nests},
		// Loops: steps are counted however the closures nest.
		{"nested map over ranges", "len(map(1..1000, map(1..1000, #)))", steps},
		{"nested sum over a let", "let l = 1..1000; sum(l, sum(l, #))", steps},
		{"triple nested sum", "let l = 1..100; sum(l, sum(l, sum(l, #)))", steps},
		{"closure in a closure's collection", "len(map(1..1000, filter(1..200, # > 0)))", steps},
		// Builtins that build strings and lists are charged before they run.
		{"huge join", `let s = repeat("x", 100000); len(join(map(1..1000, s), ""))`, bytes},
		{"huge repeat", `len(repeat(repeat("x", 5000), 5000))`, bytes},
		{"huge replace", `len(replace(repeat("a", 10000), "a", repeat("b", 10000)))`, bytes},
		{"toJSON of a shared list", `let l = map(1..100, repeat("x", 1000)); len(toJSON(map(1..200, l)))`, bytes},
		{"string of a shared list", `let l = map(1..100, repeat("x", 1000)); len(string(map(1..200, l)))`, bytes},
		{"flatten of a shared list", `let l = 1..2000; len(flatten(map(1..1000, l)))`, bytes},
		{"split in a loop", `let s = repeat("a", 100000); len(map(1..100, split(s, "")))`, bytes},
		{"upper in a loop", `let s = repeat("a", 100000); len(map(1..1000, upper(s)))`, bytes},
		{"toBase64 nested", strings.Repeat("toBase64(", 90) + `repeat("x", 100000)` + strings.Repeat(")", 90), bytes},
		{"concatenation in a loop", `let s = repeat("a", 100000); len(map(1..1000, s + "b"))`, bytes},
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

// doublingLets is `let a1 = "x" + "x"; let a2 = a1 + a1; ... len(aN)`: no
// loop, yet 2^n bytes.
func doublingLets(n int) string {
	var b strings.Builder
	b.WriteString(`let a0 = "x"; `)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "let a%d = a%d + a%d; ", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "len(a%d)", n)
	return b.String()
}

// TestBudgetedNodesKeepTheirResults: the nodes the budget patches give the
// values expr gives without the patches (expr.Eval compiles without them).
func TestBudgetedNodesKeepTheirResults(t *testing.T) {
	row := schema.Row{dec("1"), dec("1"), 1, "s", nil}
	for _, src := range []string{
		`"a" + "b" + "c"`,
		`reduce(1..4, #acc + #acc, "x")`,
		`reduce(1..4, #acc + #, 0)`,
		`map(1..3, # * 2)`,
		`filter(1..10, # > 5)`,
		`sum(map(1..10, # * 2))`,
		`count(1..10, # % 3 == 0)`,
		`all(1..10, # > 0) && any(1..10, # > 9) && none(1..3, # > 3) && one(1..3, # == 2)`,
		`[find(1..10, # > 3), findIndex(1..10, # > 3), findLast(1..10, # < 3), findLastIndex(1..10, # < 3)]`,
		`sortBy(["bb", "a", "ccc"], len(#))`,
		`len(groupBy(1..10, # % 3))`,
		`upper("abc") + lower("DEF") + repeat("ab", 3)`,
		`join(split("a,b,c", ","), "-") + join(splitAfter("a,b", ","))`,
		`split("a,b,c", ",", 2)`,
		`replace("aaaa", "a", "bb") + replace("abab", "", "-")`,
		`toJSON({"a": [1, "x<y"], "b": nil})`,
		`fromJSON("[1, {\"a\": 2}]")`,
		`fromBase64(toBase64("hello"))`,
		`string([1, "a", [true]])`,
		`concat([1], [2, 3], [])`,
		`flatten([1, [2, [3, [4]]]])`,
		`[sort([3, 1, 2]), reverse([1, 2]), uniq([1, 1, 2]), take([1, 2, 3], 2)]`,
		`median([1, 5, 3])`,
		`fromPairs([["a", 1]])`,
		`"abc" matches "^a"`,
		`let p = "^a"; "abc" matches p`,
		`"a" + ("b" + "c") + "d" == "abcd"`,
	} {
		t.Run(src, func(t *testing.T) {
			want, err := expr.Eval(src, nil)
			if err != nil {
				t.Fatalf("expr.Eval: %v", err)
			}
			got, err := evalLet(t, src, row)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestBudgetIsPerRecord: a record that exceeds the budget fails with an
// error, not a crash, and the records after it evaluate with a full budget.
func TestBudgetIsPerRecord(t *testing.T) {
	src := `ruleset: b
inputs:
  tx: {note: string, n: int}
let:
  doubled: "len(reduce(1..tx.n, #acc + #acc, tx.note))"
  loops: sum(1..tx.n, sum(1..tx.n, 1))
rules:
  - {id: long, when: doubled > 1000, outcome: long}
  - {id: looped, when: loops > 1000, outcome: looped}
default: {outcome: short}
`
	f, err := yamldoc.Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	e, err := rs.NewEvaluator(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Records 3, 4 and 6, 7 each use most of a budget: a budget that
	// carried over from one record to the next would fail the second.
	cases := []struct {
		note string
		n    int
		want string // the outcome, or part of the error
	}{
		{"x", 3, "short"},
		{"x", 40, fmt.Sprintf("per-record budget of %d bytes", MaxBytes)}, // 2^40 bytes
		{"", 300, "looped"}, // 90,300 steps
		{"", 300, "looped"},
		{"", 320, fmt.Sprintf("per-record budget of %d steps", MaxSteps)}, // 102,720 steps
		{"x", 23, "long"}, // 8 MiB
		{"x", 23, "long"},
		{"x", 3, "short"},
	}
	for i, c := range cases {
		d, err := e.Eval([]any{schema.Row{c.note, c.n}})
		got := d.Outcome
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("record %d (%q, %d): got %s, want %s", i, c.note, c.n, got, c.want)
		}
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

// TestFastPathRunsNoBudgetedNode: conditions with a node the budget charges
// (a concatenation, a charged builtin, a closure, a computed pattern) run
// through expr's VM, where the budget is counted; the closure fast path has
// no such node (see budget.go). A fast path that learns one must charge it.
func TestFastPathRunsNoBudgetedNode(t *testing.T) {
	for _, when := range []string{
		`tx.s + tx.s == "ss"`,
		`upper(tx.s) == "S"`,
		`repeat(tx.s, tx.n) == "ss"`,
		`all(1..tx.n, # > 0)`,
		`tx.s matches tx.s`,
		`tx.n > 0 ? tx.s + "x" == "sx" : false`,
	} {
		t.Run(when, func(t *testing.T) {
			src := fmt.Sprintf("ruleset: f\ninputs:\n  tx: {s: string, n: int}\nrules:\n  - {id: r, when: %q, outcome: x}\ndefault: {outcome: y}\n", when)
			f, err := yamldoc.Parse("f.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			if rs.fast != nil && rs.fast.decideOK {
				t.Errorf("the fast path decides %s without a budget", when)
			}
			e, err := rs.NewEvaluator(nil)
			if err != nil {
				t.Fatal(err)
			}
			if d, err := e.Eval([]any{schema.Row{"s", 2}}); err != nil || d.Outcome != "x" {
				t.Errorf("got %+v, %v, want outcome x", d, err)
			}
		})
	}
}

// TestCostIsAnUpperBound: what the budget charges for a builtin is at least
// the length of the string it builds (so a record cannot build more than
// it was charged for), and is computed without building it.
func TestCostIsAnUpperBound(t *testing.T) {
	nested := []any{"a<b", []any{1, "é\x00", []any{}}, map[string]any{"k": []any{true, nil, 1.5}}}
	tests := []struct {
		call string // over a, b, c
		args []any
	}{
		{"a + b", []any{"abc", "dé"}},
		{"repeat(a, b)", []any{"xyz", 7}},
		{"join(a, b)", []any{[]any{"a", "bb", "ccc"}, ", "}},
		{"join(a)", []any{[]string{"a", "bb"}}},
		{"replace(a, b, c)", []any{"abcabc", "b", "XYZ"}},
		{"replace(a, b, c)", []any{"abc", "", "--"}},
		{"replace(a, b, c)", []any{"aaaa", "aa", "b"}},
		{"upper(a)", []any{"straße ɐ"}},
		{"lower(a)", []any{"ⱯBC"}},
		{"toBase64(a)", []any{"hello, world"}},
		{"fromBase64(a)", []any{"aGVsbG8="}},
		{"toJSON(a)", []any{nested}},
		{"toJSON(a)", []any{"\"<&>\"\u2028\xff"}},
		{"string(a)", []any{nested}},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			env := map[string]any{}
			for i, a := range tt.args {
				env[string(rune('a'+i))] = a
			}
			out, err := expr.Eval(tt.call, env)
			if err != nil {
				t.Fatal(err)
			}
			op := tt.call[:strings.IndexAny(tt.call, "( ")]
			if op == "a" {
				op = "+"
			}
			cost := costOf(op, tt.args, MaxBytes)
			if n := len(out.(string)); cost < n {
				t.Errorf("charged %d bytes for a result of %d", cost, n)
			}
		})
	}
	if got := costOf("repeat", []any{"xx", 1 << 62}, 100); got <= 100 {
		t.Errorf("repeat of 2^63 bytes charged %d, want more than the room", got)
	}
	if got := costOf("replace", []any{strings.Repeat("a", 1000), "a", strings.Repeat("b", 1000)}, 100000); got <= 100000 {
		t.Errorf("replace of 1 MB charged %d, want more than the room", got)
	}
}
