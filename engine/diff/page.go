package diff

import (
	"fmt"
	"strconv"
	"strings"

	"pipeline/engine/report"
)

// maxPageRecords bounds the changed records a page lists per stage.
const maxPageRecords = 5000

// Page returns the report as a page people look at (engine/report): per
// stage, the transitions (counts as bars, money beside them), the columns
// that changed with their totals, and the changed records in a searchable
// table.
func (r *Report) Page(title string) report.Page {
	p := report.Page{Title: title,
		Subtitle: fmt.Sprintf("%s: rules at %s -> rules in the working tree, over the same data: %d of %d records changed", r.Spec, r.Base, r.Changed, r.Records)}
	summary := report.Section{Title: "changes by stage",
		Figures: []report.Figure{{Label: "records", Value: strconv.FormatInt(r.Records, 10)}, {Label: "records changed", Value: strconv.FormatInt(r.Changed, 10)}}}
	byStage := report.Chart{Title: "changed records per stage", Series: []string{"changed", "records"}}
	for _, st := range r.Stages {
		byStage.Rows = append(byStage.Rows, report.ChartRow{Label: stageName(st), Values: []int64{st.Changed, st.Records}})
	}
	summary.Charts = append(summary.Charts, byStage)
	p.Sections = append(p.Sections, summary)
	for _, st := range r.Stages {
		if st.Changed == 0 {
			continue
		}
		s := report.Section{Title: stageName(st), Note: fmt.Sprintf("%d of %d records changed", st.Changed, st.Records)}
		if len(st.Transitions) > 0 {
			c := report.Chart{Title: "decisions that changed (from -> to): records, and the amount they carry", Series: []string{"records"}}
			for _, tr := range st.Transitions {
				c.Rows = append(c.Rows, report.ChartRow{Label: decisionText(tr.From) + " -> " + decisionText(tr.To), Values: []int64{tr.Records}, Notes: []string{tr.Amount}})
			}
			s.Charts = append(s.Charts, c)
		}
		if len(st.Columns) > 0 {
			t := report.Table{Title: "columns that changed", Columns: []string{"table", "column", "rows changed", "total change"}}
			for _, col := range st.Columns {
				t.Rows = append(t.Rows, []string{col.Table, col.Column, strconv.FormatInt(col.Changed, 10), col.Delta})
			}
			s.Tables = append(s.Tables, t)
		}
		t := report.Table{Title: "changed records", Columns: []string{"key", "decision before", "decision after", "values that changed"}, Searchable: true}
		for i, rec := range st.Changes {
			if i == maxPageRecords {
				t.More = len(st.Changes) - i
				break
			}
			var vals []string
			for _, v := range rec.Values {
				vals = append(vals, fmt.Sprintf("%s: %s -> %s", v.Column, ValueText(v.From), ValueText(v.To)))
			}
			t.Rows = append(t.Rows, []string{rec.Key, decisionText(rec.From), decisionText(rec.To), strings.Join(vals, "; ")})
		}
		s.Tables = append(s.Tables, t)
		p.Sections = append(p.Sections, s)
	}
	return p
}

// stageName names a stream stage or batch step.
func stageName(st Stage) string {
	if st.Step != "" {
		return "stage " + st.Stage + ", step " + st.Step
	}
	return "stage " + st.Stage
}

// decisionText shows a decision as the text report does.
func decisionText(d string) string {
	if d == NotDecided {
		return "not decided"
	}
	return d
}

// ValueText shows a value of a changed column as the reports (text and
// HTML) write it: (not written) when the side wrote no row, null for a null.
func ValueText(v *string) string {
	switch {
	case v == nil:
		return "(not written)"
	case *v == "":
		return "null"
	}
	return *v
}
