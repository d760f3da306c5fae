package diff

import (
	"strings"
	"testing"

	"pipeline/engine/stats"
)

// TestWriteText pins the text report: changed records with their values,
// the limit, changed columns with signed deltas, and the count by kind.
func TestWriteText(t *testing.T) {
	s := func(v string) *string { return &v }
	r := &Report{Base: "HEAD", Changed: 3, Stages: []Stage{{Where: stats.Where{Stage: "decide"}, Records: 10, Changed: 3,
		Transitions: []Transition{{From: "no/big", To: "ok/default", Records: 1, Amount: "500.00"}},
		Columns:     []Column{{Table: "orders", Column: "balance", Changed: 2, Delta: "500.00"}, {Table: "orders", Column: "note", Changed: 1}},
		Changes: []Record{
			{Key: "2", From: "no/big", To: "ok/default", Values: []Value{{Column: "balance", From: s("0.00"), To: s("500.00")}}},
			{Key: "3", From: "ok/default", To: "ok/default", Values: []Value{{Column: "note", From: s(""), To: nil}}},
			{Key: "7", Values: []Value{{Column: "balance", From: nil, To: s("1.00")}}},
		}}}}
	const head = `rules at HEAD -> rules in the working tree, same spec and data

stage decide: 10 records, 3 changed
`
	const rest = `  changed columns:
    orders.balance  2  +500.00
    orders.note     1

3 records changed:
  1  stage decide: no (big) -> ok (default)  amount 500.00
  1  stage decide: values changed, same decision
  1  stage decide: values changed
`
	for _, c := range []struct {
		name  string
		limit int
		want  string // the changed records; the rest is the same for both
	}{
		{"all", 0, `  2  no (big) -> ok (default)
       balance  0.00 -> 500.00
  3  ok (default)
       note  null -> (not written)
  7
       balance  (not written) -> 1.00
`},
		{"limit", 1, `  2  no (big) -> ok (default)
       balance  0.00 -> 500.00
  ... and 2 more (--limit 0 lists all)
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			r.WriteText(&b, c.limit)
			want := head + c.want + rest
			if b.String() != want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), want)
			}
		})
	}
	var b strings.Builder
	(&Report{Base: "main"}).WriteText(&b, 0)
	if want := "rules at main -> rules in the working tree, same spec and data\n\n0 records changed\n"; b.String() != want {
		t.Errorf("no change: got %q, want %q", b.String(), want)
	}
}

// TestLimit keeps the first n changes per stage, all for n <= 0.
func TestLimit(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 3}, {-1, 3}, {2, 2}, {5, 3}} {
		r := &Report{Stages: []Stage{{Changes: make([]Record, 3)}}}
		r.Limit(c.n)
		if got := len(r.Stages[0].Changes); got != c.want {
			t.Errorf("Limit(%d): %d changes, want %d", c.n, got, c.want)
		}
	}
}

// TestLabelText writes decisions and deltas as people read them.
func TestLabelText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{NotDecided, "not decided"}, {DeadLetter, "dead letter"}, {"declined/large_amount", "declined (large_amount)"}, {"row_3", "row_3"},
	} {
		if got := LabelText(c.in); got != c.want {
			t.Errorf("LabelText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{{"12.50", "+12.50"}, {"-3", "-3"}, {"0", "0"}, {"0.00", "0.00"}} {
		if got := signed(c.in); got != c.want {
			t.Errorf("signed(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
