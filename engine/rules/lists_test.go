package rules

import (
	"strings"
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// listRuleset compiles a ruleset over an optional record acct, a list of
// strings and a list of ints, whose first rule's condition is when.
func listRuleset(when string) (*Ruleset, error) {
	src := `ruleset: l
inputs:
  tx: {name: string, code: int, amount: money}
  acct?: {limit: money, note: "string?"}
lists:
  blocked: string
  codes: int
let:
  has_acct: acct != nil
rules:
  - id: r
    when: '` + strings.ReplaceAll(when, "'", "''") + `'
    outcome: hit
default:
  outcome: miss
`
	f, err := yamldoc.Parse("l.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile(f)
}

// TestOptionalAndLists: conditions over an optional record and lists
// compile, and decide as they read, on the fast path (Eval, which every
// one of them takes) and the VM (Explain) alike, with the record present
// or not.
func TestOptionalAndLists(t *testing.T) {
	blocked, err := NewList(schema.StringType, []any{"Acme", "Bad Co"})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := NewList(schema.IntType, []any{7, 9})
	if err != nil {
		t.Fatal(err)
	}
	acct := schema.Row{dec("100.00"), nil}
	cases := []struct {
		when string
		name string
		code int
		acct schema.Row
		want string
	}{
		{`tx.name in lists.blocked`, "Acme", 1, nil, "hit"},
		{`tx.name in lists.blocked`, "acme", 1, nil, "miss"},
		{`tx.name not in lists.blocked`, "Fine", 1, nil, "hit"},
		{`tx.code in lists.codes`, "x", 9, nil, "hit"},
		{`tx.code in lists.codes`, "x", 8, nil, "miss"},
		{`acct == nil`, "x", 1, nil, "hit"},
		{`acct == nil`, "x", 1, acct, "miss"},
		{`acct != nil and tx.amount > acct.limit`, "x", 1, acct, "hit"},
		{`acct != nil and tx.amount > acct.limit`, "x", 1, nil, "miss"},
		{`has_acct and tx.amount > acct.limit`, "x", 1, acct, "hit"},
		{`tx.amount > (acct.limit ?? 0)`, "x", 1, nil, "hit"},
		{`acct != nil and (acct.note ?? "") == ""`, "x", 1, acct, "hit"},
		{`acct.limit == nil`, "x", 1, nil, "hit"},
	}
	for _, c := range cases {
		rs, err := listRuleset(c.when)
		if err != nil {
			t.Errorf("%s: %v", c.when, err)
			continue
		}
		if rs.fast == nil || !rs.fast.decideOK {
			t.Errorf("%s: not decided by the fast path", c.when)
		}
		e, err := rs.NewEvaluator(nil)
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]any, len(rs.Inputs))
		for i, in := range rs.Inputs {
			switch in.Name {
			case "tx":
				vals[i] = schema.Row{c.name, c.code, dec("150.00")}
			case "acct":
				if c.acct != nil {
					vals[i] = c.acct
				}
			case "lists.blocked":
				vals[i] = blocked
			case "lists.codes":
				vals[i] = codes
			}
		}
		d, err := e.Eval(vals)
		if err != nil || d.Outcome != c.want {
			t.Errorf("%s (name %q, code %d, acct %v): got %q, %v; want %q", c.when, c.name, c.code, c.acct != nil, d.Outcome, err, c.want)
		}
		if x := e.Explain(vals); x.Err != nil || x.Decision.Outcome != c.want {
			t.Errorf("%s: explained %q, %v; want %q", c.when, x.Decision.Outcome, x.Err, c.want)
		}
	}
}

// TestOptionalAndListsRefused: a field of an optional record used where
// null fails, an assignment to one, and lists misdeclared fail lint at
// their position, with the fix.
func TestOptionalAndListsRefused(t *testing.T) {
	cases := []struct{ when, want string }{
		{`tx.amount > acct.limit`, `l.yaml:12:24: acct.limit may be null (acct is optional (declared acct?) and may have no row), and > fails on null: write tx.amount > (acct.limit ?? 0), or test acct.limit != nil first`},
		{`acct != nil and acct.note == "x"`, `l.yaml:12:28: acct.note may be null (declared "string?"), and == fails on null`},
		{`tx.name in lists.nope`, `l.yaml:12:29: no list named nope (declared lists: blocked, codes; declare it under lists`},
	}
	for _, c := range cases {
		_, err := listRuleset(c.when)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s", c.when, err, c.want)
		}
	}
	files := []struct{ src, want string }{
		{"ruleset: x\ninputs:\n  a?: {n: int}\ndefault: {outcome: ok, set: {a.n: 1}}\n",
			`x.yaml:4:30: cannot set "a.n": a is optional (declared a?), so it may have no row to set it in`},
		{"ruleset: x\ninputs:\n  a?: int\ndefault: {outcome: ok}\n",
			`x.yaml:3:3: a?: only a record input may be optional`},
		{"ruleset: x\nlists:\n  l: money\ndefault: {outcome: ok}\n",
			`x.yaml:3:6: list l: elements are int or string (char(N) too), not money`},
		{"ruleset: x\ninputs:\n  lists: {n: int}\ndefault: {outcome: ok}\n",
			`x.yaml:3:3: input name "lists" is taken`},
	}
	for _, c := range files {
		f, err := yamldoc.Parse("x.yaml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %s", c.src, err, c.want)
		}
	}
}

// TestListGiven: rule tests give lists as sequences and optional records
// as absent or null.
func TestListGiven(t *testing.T) {
	src := `ruleset: g
inputs:
  tx: {name: string}
  acct?: {limit: money}
lists:
  blocked: string
rules:
  - id: listed
    when: tx.name in lists.blocked
    outcome: declined
  - id: no_acct
    when: acct == nil
    outcome: review
default:
  outcome: ok
tests:
  - name: listed
    given: {tx: {name: Acme}, lists: {blocked: [Acme, "Bad, Co"]}}
    expect: {rule: listed}
  - name: no list given is empty
    given: {tx: {name: Acme}, acct: {limit: 1}}
    expect: {outcome: ok}
  - name: absent record
    given: {tx: {name: x}}
    expect: {rule: no_acct}
  - name: null record
    given: {tx: {name: x}, acct: ~}
    expect: {rule: no_acct}
  - name: a comma is part of a name
    given: {tx: {name: "Bad, Co"}, lists: {blocked: [Acme, "Bad, Co"]}, acct: {limit: 1}}
    expect: {rule: listed}
`
	f, err := yamldoc.Parse("g.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	results := rs.RunTests()
	if len(results) != 5 {
		t.Fatalf("%d results, want 5", len(results))
	}
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
	f, _ = yamldoc.Parse("h.yaml", []byte(strings.Replace(src, "lists: {blocked: [Acme, \"Bad, Co\"]}}", "lists: {nope: [Acme]}}", 1)))
	if rs, err = Compile(f); err != nil {
		t.Fatal(err)
	}
	if r := rs.RunTests()[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "h.yaml:18:39: given lists.nope: the ruleset declares no such list") {
		t.Errorf("unknown list given: %v", r.Err)
	}
}
