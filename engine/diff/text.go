package diff

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Limit keeps at most n changed records per stage (n <= 0 keeps all), as
// `pipeline diff --format json --limit N` lists them.
func (r *Report) Limit(n int) {
	if n <= 0 {
		return
	}
	for i := range r.Stages {
		r.Stages[i].Changes = r.Stages[i].Changes[:min(n, len(r.Stages[i].Changes))]
	}
}

// kind is a count of one kind of change in the text report's last lines:
// a transition, or values changed under the same decision.
type kind struct {
	what    string
	records int64
	amount  string
}

// WriteText writes the report for people (`pipeline diff`): the changed
// records stage by stage, at most limit per stage (0: all), with their
// changed values and the changed columns, then a count by kind of change.
func (r *Report) WriteText(w io.Writer, limit int) {
	fmt.Fprintf(w, "rules at %s -> rules in the working tree, same spec and data\n", r.Base)
	var kinds []kind
	for _, s := range r.Stages {
		where := stageName(s)
		fmt.Fprintf(w, "\n%s: %d records, %d changed\n", where, s.Records, s.Changed)
		writeChanges(w, s.Changes, limit)
		writeColumns(w, s.Columns)
		kinds = append(kinds, stageKinds(where, s)...)
	}
	fmt.Fprintf(w, "\n%d records changed", r.Changed)
	if r.Changed == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, ":")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range kinds {
		fmt.Fprintf(tw, "  %d\t%s%s\n", k.records, k.what, after("\tamount ", k.amount))
	}
	tw.Flush()
}

// writeColumns lists the changed columns of a stage with the sum of
// their change.
func writeColumns(w io.Writer, cols []Column) {
	if len(cols) == 0 {
		return
	}
	fmt.Fprintln(w, "  changed columns:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cols {
		fmt.Fprintf(tw, "    %s.%s\t%d%s\n", c.Table, c.Column, c.Changed, after("\t", signed(c.Delta)))
	}
	tw.Flush()
}

// stageKinds counts a stage's changes by kind: each transition, then the
// records whose values alone changed.
func stageKinds(where string, s Stage) []kind {
	var kinds []kind
	for _, t := range s.Transitions {
		kinds = append(kinds, kind{fmt.Sprintf("%s: %s -> %s", where, LabelText(t.From), LabelText(t.To)), t.Records, t.Amount})
	}
	var sameDecision, undecided int64 // values changed only
	for _, ch := range s.Changes {
		switch {
		case ch.From != ch.To:
		case ch.From == NotDecided:
			undecided++
		default:
			sameDecision++
		}
	}
	if sameDecision > 0 {
		kinds = append(kinds, kind{where + ": values changed, same decision", sameDecision, ""})
	}
	if undecided > 0 {
		kinds = append(kinds, kind{where + ": values changed", undecided, ""})
	}
	return kinds
}

// writeChanges lists changed records, at most limit (0: all): each key
// with its decision (from -> to when it changed), then its changed values.
func writeChanges(w io.Writer, changes []Record, limit int) {
	if limit > 0 && len(changes) > limit {
		defer fmt.Fprintf(w, "  ... and %d more (--limit 0 lists all)\n", len(changes)-limit)
		changes = changes[:limit]
	}
	width := 0
	for _, ch := range changes {
		width = max(width, len(ch.Key))
	}
	for _, ch := range changes {
		decision := LabelText(ch.From)
		switch {
		case ch.From != ch.To:
			decision += " -> " + LabelText(ch.To)
		case ch.From == NotDecided:
			decision = ""
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-*s  %s", width, ch.Key, decision), " "))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range ch.Values {
			fmt.Fprintf(tw, "  %s    %s\t%s -> %s\n", strings.Repeat(" ", width), v.Column, ValueText(v.From), ValueText(v.To))
		}
		tw.Flush()
	}
}

// LabelText writes a decision label (outcome/rule, as Transition and
// Record hold it, and engine/stats's shadow transitions) as people read
// it: "declined (large_amount)", "not decided", "dead letter".
func LabelText(l string) string {
	switch l {
	case NotDecided:
		return "not decided"
	case DeadLetter:
		return l
	}
	if outcome, rule, ok := strings.Cut(l, "/"); ok {
		return outcome + " (" + rule + ")"
	}
	return l
}

// after returns v after prefix, or "" when v is "".
func after(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

// signed writes a delta with its sign: +12.50, -3, 0.
func signed(d string) string {
	if strings.HasPrefix(d, "-") || strings.Trim(d, "0.") == "" {
		return d
	}
	return "+" + d
}
