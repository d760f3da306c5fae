package rules

import (
	"strings"
	"testing"
	"time"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// nullRuleset compiles a ruleset of one rule whose condition is when, over
// a record of nullable fields (and one that is not), with lets that guard.
func nullRuleset(when string) (*Ruleset, error) {
	src := `ruleset: n
inputs:
  tx: {channel: "string?", amount: "money?", n: "int?", flag: "bool?", d: "date?", s: string}
  limit: "money?"
let:
  has_channel: tx.channel != nil
  no_amount: tx.amount == nil
  ch: tx.channel
  safe: tx.channel ?? ""
rules:
  - id: r
    when: '` + strings.ReplaceAll(when, "'", "''") + `'
    outcome: hit
default:
  outcome: miss
`
	f, err := yamldoc.Parse("n.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile(f)
}

// TestNullableAccepted: conditions that use a value that may be null only
// where null is safe compile, and evaluate without error on both paths
// whether the values are null or not.
func TestNullableAccepted(t *testing.T) {
	accepted := []string{
		`(tx.channel ?? "") == "online"`,
		`tx.channel != nil and tx.channel == "online"`,
		`nil != tx.channel && tx.channel == "online"`,
		`tx.channel == nil or tx.channel == "online"`,
		`not (tx.channel == nil) and tx.channel == "online"`,
		`!(tx.channel == nil || tx.amount == nil) and tx.channel == "x" and tx.amount > 5`,
		`tx.amount != nil and tx.n != nil and tx.amount + tx.n > 1`,
		`tx.amount != nil ? tx.amount > 5 : false`,
		`tx.amount == nil ? false : tx.amount > 5`,
		`(tx.amount != nil ? tx.amount : 0) > 5`,
		`(tx.amount ?? limit ?? 0) > 5`,
		`has_channel and tx.channel == "x"`,
		`not has_channel or tx.channel == "x"`,
		`no_amount or tx.amount > 5`,
		`safe == "x"`,
		`ch == nil or ch == "x"`,
		`zip5(tx.channel) == ""`,
		`type(tx.channel) == "nil"`,
		`toJSON(tx.amount) == "null"`,
		`tx.s in ["a", tx.channel]`,
		`let c = tx.channel ?? ""; c == "x"`,
		`tx.flag ?? false`,
		`(tx.flag ?? false) == true`,
		`tx.d != nil and tx.d > date("2024-01-01")`,
		`limit != nil and limit > 0`,
		`tx.s == "x"`,
	}
	full := []any{schema.Row{"online", dec("10.00"), 1, true, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), "a"}, dec("5.00")}
	null := []any{schema.Row{nil, nil, nil, nil, nil, "a"}, nil}
	for _, when := range accepted {
		rs, err := nullRuleset(when)
		if err != nil {
			t.Errorf("%s: %s", when, yamldoc.Details(err))
			continue
		}
		for _, path := range []string{"fast", "vm"} {
			if path == "vm" {
				vmOnly(rs)
			}
			e, err := rs.NewEvaluator(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, vals := range [][]any{full, null} {
				in := []any{append(schema.Row(nil), vals[0].(schema.Row)...), vals[1]}
				if _, err := e.Eval(in); err != nil {
					t.Errorf("%s (%s path, %v): %v", when, path, vals, err)
				}
			}
		}
	}
}

// TestNullableRejected: a value that may be null reaching an operator, a
// function that fails on null or a condition fails lint, at the value,
// with the fix.
func TestNullableRejected(t *testing.T) {
	tests := []struct{ when, want string }{
		{`tx.channel == "online"`, `n.yaml:12:12: tx.channel may be null (declared "string?"), and == fails on null: write (tx.channel ?? "") == "online", or test tx.channel != nil first`},
		{`"online" != tx.channel`, `write "online" != (tx.channel ?? "")`},
		{`tx.amount > 5`, `n.yaml:12:12: tx.amount may be null (declared "money?"), and > fails on null: write (tx.amount ?? 0) > 5`},
		{`tx.n + 1 > 2`, `tx.n may be null (declared "int?"), and + fails on null: write (tx.n ?? 0) + 1`},
		{`-tx.amount > 2`, `and - fails on null: write -(tx.amount ?? 0)`},
		{`not tx.flag`, `tx.flag may be null (declared "bool?"), and "not" fails on null: write not (tx.flag ?? false)`},
		{`tx.flag`, `n.yaml:12:12: tx.flag may be null (declared "bool?"), but a condition may not be: give it a default, e.g. tx.flag ?? false`},
		{`tx.flag and true`, `and "and" fails on null`},
		{`tx.s == "x" and tx.amount > 5`, `n.yaml:12:28: tx.amount may be null`},
		{`abs(tx.amount) > 1`, `and abs() fails on null: write abs(tx.amount ?? 0)`},
		{`len(tx.channel) > 0`, `and len() fails on null: write len(tx.channel ?? "")`},
		{`upper(tx.channel) == "A"`, `upper() fails on null`},
		{`string(tx.amount) == ""`, `string() fails on null`},
		{`tx.channel + "x" == "x"`, `write (tx.channel ?? "") + "x"`},
		{`tx.channel[0:1] == "a"`, `slicing fails on null: write (tx.channel ?? "")[0:1]`},
		{`tx.channel in ["a"]`, `and "in" fails on null: write (tx.channel ?? "") in ["a"]`},
		{`tx.channel matches "a"`, `"matches" fails on null`},
		{`tx.d > date("2024-01-01")`, `tx.d may be null (declared "date?"), and > fails on null: test it first (tx.d != nil and ...), or give it a default with ??`},
		{`limit > 0`, `limit may be null (declared "money?")`},
		// a guard that does not rule null out
		{`tx.channel != nil or tx.channel == "x"`, `n.yaml:12:33: tx.channel may be null`},
		{`tx.channel == nil and tx.channel == "x"`, `n.yaml:12:34: tx.channel may be null`},
		{`tx.n != nil and tx.channel == "x"`, `tx.channel may be null`},
		{`(tx.channel != nil or true) and tx.channel == "x"`, `tx.channel may be null`},
		{`tx.amount != nil ? false : tx.amount > 5`, `tx.amount may be null`},
		{`has_channel or tx.channel == "x"`, `tx.channel may be null`},
		{`has_channel and ch == "x"`, `ch may be null (from tx.channel, declared "string?"), and == fails on null`},
		{`let c = tx.channel; c == "x"`, `c may be null (from tx.channel, declared "string?"), and == fails on null: write (c ?? "") == "x"`},
		{`(tx.amount ?? limit) > 5`, `limit may be null`},
		{`(tx.amount != nil ? tx.amount : limit) > 5`, `limit may be null`},
		{`now() > date("2024-01-01")`, `n.yaml:12:12: now() is not allowed in rules: a decision must come out the same every time its record is decided (diff, explain and the tests decide records again)`},
	}
	for _, tt := range tests {
		_, err := nullRuleset(tt.when)
		if err == nil {
			t.Errorf("%s: compiled, want an error containing %q", tt.when, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %s\nwant it to contain %s", tt.when, yamldoc.Details(err), tt.want)
		}
	}
}

// TestNullableOutputs: an output a rule leaves unset is null for the record
// (see TestOutputsStartNullEveryRecord), so then may not use it unguarded,
// and an assignment to something not nullable may not be null.
func TestNullableOutputs(t *testing.T) {
	tests := []struct{ src, want string }{
		{`ruleset: o
inputs: {r: {amount: money, fee: "money?"}}
outputs: {fee: money, total: money}
rules:
  - {id: big, when: r.amount > 100, outcome: big, set: {fee: 10}}
default: {outcome: small}
then:
  total: r.amount + fee
`, `o.yaml:8:21: fee may be null (rule default does not set it), and + fails on null: write r.amount + (fee ?? 0), or test fee != nil first`},
		{`ruleset: o
inputs: {r: {amount: money, fee: "money?"}}
outputs: {fee: money}
default:
  outcome: x
  set: {fee: r.fee}
`, `o.yaml:6:14: r.fee may be null (declared "money?"), but fee (declared "money") may not be: give it a default, e.g. r.fee ?? 0`},
		{`ruleset: o
inputs: {r: {amount: money, fee: "money?"}}
outputs: {fee: "money?"}
default:
  outcome: x
  set: {r.amount: r.fee}
`, `o.yaml:6:19: r.fee may be null (declared "money?"), but r.amount (declared "money") may not be`},
	}
	for _, tt := range tests {
		f, err := yamldoc.Parse("o.yaml", []byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v\nwant an error containing %s", err, tt.want)
		}
	}

	// Every rule sets it, or then does, or it is nullable: fine, and the
	// stage sees which outputs may be null.
	src := `ruleset: o
inputs: {r: {amount: money, fee: "money?"}}
outputs: {fee: money, total: money, note: "string?", extra: money}
rules:
  - {id: big, when: r.amount > 100, outcome: big, set: {fee: 10, extra: 1}}
default: {outcome: small, set: {fee: 0}}
then:
  total: r.amount + fee
`
	f, err := yamldoc.Parse("o.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(f)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	for name, want := range map[string]bool{"fee": false, "total": false, "note": true, "extra": true} {
		if got := rs.OutputMayBeNull(rs.Output(name)); got != want {
			t.Errorf("OutputMayBeNull(%s) = %v, want %v", name, got, want)
		}
	}
}
