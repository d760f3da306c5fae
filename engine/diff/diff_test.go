package diff

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govalues/decimal"

	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/stage"
)

// TestCompare feeds two runs what the hooks of a stream stage and a batch
// step would give, and pins the comparison: decisions that changed, rows
// written on one side only, values that differ (and those that only look
// alike), exact deltas of number columns, the measure summed per
// transition, and the saved state counted in the columns only.
func TestCompare(t *testing.T) {
	orders := schema.MustNew("orders", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "status", Type: schema.StringType},
		{Name: "balance", Type: schema.Type{Kind: schema.Decimal, Scale: 2, Nullable: true}},
		{Name: "score", Type: schema.IntType},
	}, "id")
	accounts := schema.MustNew("accounts", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "used", Type: schema.MoneyType},
	}, "id")
	dec := decimal.MustParse
	type rec struct {
		key     string
		outcome string // "" with rule "": not decided
		rule    string
		dead    bool
		amount  string
		vals    []any // status, balance, score; nil: not written
	}
	feed := func(recs []rec, saved map[string]string) *run {
		r := &run{places: map[place]map[rowID]*row{}}
		for _, x := range recs {
			if x.rule != "" || x.dead {
				o := stage.Observed{Decided: stage.Decided{Stage: "decide", Key: x.key,
					Decision: rules.Decision{Outcome: x.outcome, Rule: x.rule}}, Measure: dec(x.amount)}
				if x.dead {
					o.Err = errors.New("failed")
				}
				r.observe(o)
			}
			if x.vals != nil {
				r.wrote(stage.Written{Stage: "decide", Table: orders, Key: x.key, Columns: []int{1, 2, 3},
					Row: append(schema.Row{nil}, x.vals...)})
			}
		}
		for k, v := range saved {
			r.wrote(stage.Written{Stage: "decide", Lookup: "account", Table: accounts, Key: k, Columns: []int{1}, Row: schema.Row{nil, dec(v)}})
		}
		return r
	}
	before := feed([]rec{
		{"1", "ok", "default", false, "10.00", []any{"ok", dec("10.00"), 5}},
		{"2", "no", "big", false, "500.00", []any{"no", dec("0.00"), 5}},
		{"3", "ok", "default", false, "1.00", []any{"ok", dec("11.00"), 5}},
		{"4", "ok", "default", false, "2.50", []any{"ok", nil, 7}},
		{"5", "no", "big", false, "900.00", []any{"no", dec("900.00"), 5}},
		{"6", "", "", true, "3.00", nil},
		{"10", "ok", "default", false, "1.00", []any{"ok", dec("1.00"), 1}},
	}, map[string]string{"1": "11.00", "2": "3.00"})
	after := feed([]rec{
		{"1", "ok", "default", false, "10.00", []any{"ok", dec("10.00"), 5}},   // the same
		{"2", "ok", "default", false, "500.00", []any{"ok", dec("500.00"), 8}}, // decision and values
		{"3", "ok", "default", false, "1.00", []any{"ok", dec("511.00"), 5}},   // values only
		{"4", "ok", "default", false, "2.50", []any{"ok", dec("2.50"), 7}},     // null before: no delta
		{"5", "ok", "default", false, "900.00", []any{"ok", dec("900.0"), 5}},  // 900.0 and 900.00 print alike
		{"6", "ok", "default", false, "3.00", []any{"ok", dec("3.00"), 5}},     // was a dead letter
		{"11", "ok", "default", false, "4.00", []any{"ok", dec("4.00"), 1}},    // new here; 10 is gone
		{"7", "", "", false, "", []any{"done", dec("0.00"), 0}},                // written, not decided
	}, map[string]string{"1": "1011.00", "2": "3.00"})
	got := compare([]place{{"decide", ""}, {"settle", "x"}}, before, after)
	b, err := json.MarshalIndent(got, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
 "base": "",
 "spec": "",
 "records": 9,
 "changed": 8,
 "stages": [
  {
   "stage": "decide",
   "step": "",
   "records": 9,
   "changed": 8,
   "transitions": [
    {
     "from": "no/big",
     "to": "ok/default",
     "records": 2,
     "amount": "1400.00"
    },
    {
     "from": "",
     "to": "ok/default",
     "records": 1,
     "amount": "4.00"
    },
    {
     "from": "dead letter",
     "to": "ok/default",
     "records": 1,
     "amount": "3.00"
    },
    {
     "from": "ok/default",
     "to": "",
     "records": 1,
     "amount": "1.00"
    }
   ],
   "columns": [
    {
     "table": "orders",
     "column": "status",
     "changed": 6,
     "delta": ""
    },
    {
     "table": "orders",
     "column": "balance",
     "changed": 7,
     "delta": ""
    },
    {
     "table": "orders",
     "column": "score",
     "changed": 5,
     "delta": ""
    },
    {
     "table": "accounts",
     "column": "used",
     "changed": 1,
     "delta": "1000.00"
    }
   ],
   "changes": [`
	if s := string(b); len(s) < len(want) || s[:len(want)] != want {
		t.Errorf("report:\n%s", cmp.Diff(want, s[:min(len(s), len(want))]))
	}
	var keys []string
	values := map[string][]Value{}
	for _, c := range got.Stages[0].Changes {
		keys = append(keys, c.Key+" "+c.From+" -> "+c.To)
		values[c.Key] = c.Values
	}
	wantKeys := []string{"2 no/big -> ok/default", "3 ok/default -> ok/default", "4 ok/default -> ok/default", "5 no/big -> ok/default",
		"6 dead letter -> ok/default", "7  -> ", "10 ok/default -> ", "11  -> ok/default"}
	if d := cmp.Diff(wantKeys, keys); d != "" {
		t.Errorf("changed records, in key order (-want +got):\n%s", d)
	}
	str := func(s string) *string { return &s }
	if d := cmp.Diff([]Value{{"balance", str(""), str("2.50")}}, values["4"]); d != "" {
		t.Errorf("a null before (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Value{{"status", str("no"), str("ok")}}, values["5"]); d != "" {
		t.Errorf("values that print alike are not changed (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]Value{{"status", nil, str("done")}, {"balance", nil, str("0.00")}, {"score", nil, str("0")}}, values["7"]); d != "" {
		t.Errorf("a row written on one side (-want +got):\n%s", d)
	}
}

// TestCompareDeltas: the delta of a number column is the exact sum of
// to - from, for ints and decimals; it is "" when some changed row has no
// value on a side.
func TestCompareDeltas(t *testing.T) {
	tbl := schema.MustNew("t", []schema.Column{{Name: "k", Type: schema.IntType}, {Name: "n", Type: schema.IntType},
		{Name: "d", Type: schema.DecimalType}}, "k")
	mk := func(vals map[string][2]any) *run {
		r := &run{places: map[place]map[rowID]*row{}}
		for k, v := range vals {
			r.wrote(stage.Written{Stage: "s", Table: tbl, Key: k, Columns: []int{1, 2}, Row: schema.Row{nil, v[0], v[1]}})
		}
		return r
	}
	dec := decimal.MustParse
	before := mk(map[string][2]any{"1": {10, dec("0.1")}, "2": {-3, dec("9999999999999999999")}, "3": {0, dec("1")}})
	after := mk(map[string][2]any{"1": {15, dec("0.35")}, "2": {4, dec("-9999999999999999999")}, "3": {0, dec("1.000")}})
	got := compare([]place{{"s", ""}}, before, after).Stages[0].Columns
	want := []Column{{"t", "n", 2, "12"}, {"t", "d", 3, "-19999999999999999997.750"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
