// Package diff compares two versions of a pipeline's rules over the same
// spec and data (`pipeline diff`): it dry-runs both and compares, stage by
// stage, every record's decision and every column the stage writes (the
// emitted fields of stream stages, the set columns of batch steps), with
// counts and exact totals of the change by column and by transition.
package diff

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"pipeline/engine"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/stage"
	"pipeline/engine/stats"
)

// Report is what changed from one version of the rules to the other, as
// `pipeline diff --format json` writes it.
type Report struct {
	Base string `json:"base"`
	Spec string `json:"spec"`
	// Records is how many records the first stage saw: those that
	// entered the pipeline. Changed counts changed records over all stages.
	Records int64   `json:"records"`
	Changed int64   `json:"changed"`
	Stages  []Stage `json:"stages"`
}

// Stage is what changed in one stream stage or batch step.
type Stage struct {
	stats.Where
	// Records decided or written on either side, and of them those whose
	// decision or written values differ.
	Records     int64        `json:"records"`
	Changed     int64        `json:"changed"`
	Transitions []Transition `json:"transitions"`
	Columns     []Column     `json:"columns"`
	// Changes are the changed records, in key order.
	Changes []Record `json:"changes"`
}

// Transition counts the records whose decision went from one to another
// (outcome/rule, or the rule alone for decision-table rows; "" when not
// decided, "dead letter" when it failed) and sums the stage's measure over
// them ("" without a measure).
type Transition struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Records int64  `json:"records"`
	Amount  string `json:"amount"`
}

// Column counts the rows where one column written by the stage changed,
// and for numbers the exact sum of to - from over them ("" otherwise, or
// when a side wrote no value).
type Column struct {
	Table   string `json:"table"`
	Column  string `json:"column"`
	Changed int64  `json:"changed"`
	Delta   string `json:"delta"`
}

// Record is one changed record: its key, its decision on each side, and
// the columns of its row whose value changed.
type Record struct {
	Key    string  `json:"key"`
	From   string  `json:"from"`
	To     string  `json:"to"`
	Values []Value `json:"values"`
}

// Value is one changed column of a record's row, formatted as the result
// files write it ("" for null); null when the stage did not write the row
// on that side.
type Value struct {
	Column string  `json:"column"`
	From   *string `json:"from"`
	To     *string `json:"to"`
}

// NotDecided and DeadLetter label a record's decision in a Transition or
// Record when a side did not decide it (its ruleset is absent there, or
// its stage did not reach it) or its evaluation failed.
const (
	NotDecided = ""
	DeadLetter = "dead letter"
)

// Run dry-runs before and after, the same spec loaded with two versions of
// its rules (see Plans), over the same data, and compares them. base names
// the version of before, spec the spec's path, for the report. opts gives
// the registry and the log; the hooks are the comparison's own.
func Run(ctx context.Context, base, spec string, before, after *stage.Plan, opts engine.Options) (*Report, error) {
	b, err := dryRun(ctx, before, opts)
	if err != nil {
		return nil, fmt.Errorf("dry-run with the rules of %s: %w", base, err)
	}
	a, err := dryRun(ctx, after, opts)
	if err != nil {
		return nil, fmt.Errorf("dry-run with the rules of the working tree: %w", err)
	}
	var order []place // the spec's order
	for _, pl := range append(after.Places(), before.Places()...) {
		if p := (place{pl.Stage, pl.Step}); !slices.Contains(order, p) {
			order = append(order, p)
		}
	}

	r := compare(order, b, a)
	r.Base, r.Spec = base, spec
	return r, nil
}

// compare compares two runs place by place, in order: the places of
// order that either run saw.
func compare(order []place, before, after *run) *Report {
	r := &Report{Stages: []Stage{}}
	for _, p := range order {
		o, n := before.places[p], after.places[p]
		if o == nil && n == nil {
			continue
		}
		s := comparePlace(p, o, n)
		if len(r.Stages) == 0 {
			r.Records = s.Records
		}
		r.Changed += s.Changed
		r.Stages = append(r.Stages, s)
	}
	return r
}

// colKey is a column of a table a place writes: of the record's own
// table, or of a saved lookup's.
type colKey struct {
	lookup string
	col    int
}

// colTally counts the changes of one column.
type colTally struct {
	table   string
	column  string
	changed int64
	delta   stats.Sum
	numeric bool // the column is a number: delta is summed
	partial bool // a side wrote no value for some changed row
	scale   int
}

// transition counts the records of one change of decision.
type transition struct {
	records int64
	amount  stats.Sum
	measure bool
}

// comparePlace compares the rows one place decided or wrote in each run.
func comparePlace(p place, before, after map[rowID]*row) Stage {
	s := Stage{Where: stats.Where{Stage: p.stage, Step: p.step}, Changes: []Record{}}
	cols := map[colKey]*colTally{}
	transitions := map[[2]string]*transition{}
	type change struct {
		id  rowID
		rec Record
	}
	var changes []change
	none := &row{}
	visit := func(id rowID, o, n *row) {
		from, to := label(o), label(n)
		values := compareValues(id.lookup, o, n, cols)
		if id.lookup != "" {
			return // state rows count in the columns only
		}
		s.Records++
		if from == to && len(values) == 0 {
			return
		}
		changes = append(changes, change{id, Record{Key: id.key, From: from, To: to, Values: values}})
		if from == to {
			return
		}
		t := transitions[[2]string{from, to}]
		if t == nil {
			t = &transition{}
			transitions[[2]string{from, to}] = t
		}
		t.records++
		m := n.measure
		if !n.decided {
			m = o.measure
		}
		if d, ok := m.(rules.Dec); ok {
			t.amount.Add(d)
			t.measure = true
		}
	}
	for id, o := range before {
		n := after[id]
		if n == nil {
			n = none
		}
		visit(id, o, n)
	}
	for id, n := range after {
		if before[id] == nil {
			visit(id, none, n)
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		return cmp.Or(strings.Compare(a.id.lookup, b.id.lookup), compareKeys(a.id.key, b.id.key))
	})
	for _, c := range changes {
		s.Changes = append(s.Changes, c.rec)
	}
	s.Changed = int64(len(s.Changes))
	s.Transitions = sortedTransitions(transitions)
	s.Columns = sortedColumns(cols)
	return s
}

// sortedTransitions lists the transitions, most records first.
func sortedTransitions(transitions map[[2]string]*transition) []Transition {
	out := []Transition{}
	for k, t := range transitions {
		tr := Transition{From: k[0], To: k[1], Records: t.records}
		if t.measure {
			tr.Amount = t.amount.String(0)
		}
		out = append(out, tr)
	}
	slices.SortFunc(out, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), strings.Compare(a.From, b.From), strings.Compare(a.To, b.To))
	})
	return out
}

// sortedColumns lists the changed columns: the record's table first, then
// the saved lookups', each in its table's order.
func sortedColumns(cols map[colKey]*colTally) []Column {
	ck := make([]colKey, 0, len(cols))
	for k, c := range cols {
		if c.changed > 0 {
			ck = append(ck, k)
		}
	}
	slices.SortFunc(ck, func(a, b colKey) int { return cmp.Or(strings.Compare(a.lookup, b.lookup), cmp.Compare(a.col, b.col)) })
	out := []Column{}
	for _, k := range ck {
		c := cols[k]
		col := Column{Table: c.table, Column: c.column, Changed: c.changed}
		if c.numeric && !c.partial {
			col.Delta = c.delta.String(c.scale)
		}
		out = append(out, col)
	}
	return out
}

// label writes a row's decision as outcome/rule.
func label(r *row) string {
	switch {
	case !r.decided:
		return NotDecided
	case r.dead:
		return DeadLetter
	}
	return stats.Label(r.outcome, r.rule)
}

// compareValues returns the columns whose value differs between the rows
// o and n of a place, and counts them in cols.
func compareValues(lookup string, o, n *row, cols map[colKey]*colTally) []Value {
	t := n.table
	written := n.cols
	if t == nil {
		t, written = o.table, o.cols
	}
	if t == nil {
		return nil
	}
	var out []Value
	for _, c := range written {
		ov, nv := valueAt(o, c), valueAt(n, c)
		if ov.ok == nv.ok && (ov.v == nv.v || ov.format(t, c) == nv.format(t, c)) {
			continue
		}
		col := t.Columns[c]
		ct := cols[colKey{lookup, c}]
		if ct == nil {
			ct = &colTally{table: t.Name, column: col.Name, numeric: col.Type.Kind == schema.Int || col.Type.Kind == schema.Decimal}
			if col.Type.Kind == schema.Decimal && col.Type.Scale > 0 {
				ct.scale = col.Type.Scale
			}
			cols[colKey{lookup, c}] = ct
		}
		ct.changed++
		out = append(out, Value{Column: col.Name, From: ov.text(t, c), To: nv.text(t, c)})
		if !ct.numeric {
			continue
		}
		if ov.v == nil || nv.v == nil {
			ct.partial = true
			continue
		}
		addNumber(&ct.delta, nv.v, false)
		addNumber(&ct.delta, ov.v, true)
	}
	return out
}

// value is a column's value on one side: ok false when the row was not
// written there.
type value struct {
	v  any
	ok bool
}

// format writes the value as the result files do ("" for null).
func (v value) format(t *schema.Schema, c int) string {
	if v.v == nil {
		return ""
	}
	return t.Columns[c].Type.Format(v.v)
}

// text returns the value formatted, or nil when the row was not written.
func (v value) text(t *schema.Schema, c int) *string {
	if !v.ok {
		return nil
	}
	s := v.format(t, c)
	return &s
}

// valueAt returns the value r was written with in column c of its table.
func valueAt(r *row, c int) value {
	if r.table == nil {
		return value{}
	}
	for i, x := range r.cols {
		if x == c {
			return value{v: r.vals[i], ok: true}
		}
	}
	return value{}
}

// addNumber adds v, an int or a decimal, to s; its negation when neg.
func addNumber(s *stats.Sum, v any, neg bool) {
	switch x := v.(type) {
	case int:
		if neg {
			x = -x
		}
		s.AddInt(int64(x))
	case rules.Dec:
		if neg {
			x = x.Neg()
		}
		s.Add(x)
	}
}

// compareKeys orders keys as numbers when both are, else as text.
func compareKeys(a, b string) int {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 == nil && err2 == nil && x != y {
		return cmp.Compare(x, y)
	}
	return strings.Compare(a, b)
}
