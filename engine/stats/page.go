package stats

import (
	"fmt"
	"strconv"

	"pipeline/engine/report"
)

// Page returns the report as a page people look at (engine/report): per
// ruleset, the outcome totals and each rule's decided and fired counts as
// bar charts, with the measure's sums beside them, and the live/shadow
// agreement when there is a shadow. title heads the page.
func (r *Report) Page(title string) report.Page {
	p := report.Page{Title: title, Subtitle: fmt.Sprintf("statistics of a dry-run of %s: %d records", r.Spec, r.Records)}
	for _, rs := range r.Rulesets {
		where := "stage " + rs.Stage
		if rs.Step != "" {
			where += ", step " + rs.Step
		}
		s := report.Section{
			Title: fmt.Sprintf("%s: ruleset %s", where, rs.Ruleset),
			Note:  fmt.Sprintf("version %d, hash %s", rs.Version, rs.Hash),
			Figures: []report.Figure{
				{Label: "records decided", Value: strconv.FormatInt(rs.Records-rs.Dead, 10)},
				{Label: "dead letters", Value: strconv.FormatInt(rs.Dead, 10)},
			},
		}
		if rs.Measure != "" {
			s.Note += "; amounts sum " + rs.Measure
		}
		outcomes := report.Chart{Title: "outcomes", Series: []string{"records"}}
		for _, o := range rs.Outcomes {
			outcomes.Rows = append(outcomes.Rows, report.ChartRow{Label: o.Outcome, Values: []int64{o.Records}, Notes: []string{o.Amount}})
		}
		rules := report.Chart{Title: "rules, in order: records each decided, and records where its condition held (fired)",
			Series: []string{"decided", "fired"}}
		for _, ru := range rs.Rules {
			rules.Rows = append(rules.Rows, report.ChartRow{Label: ru.Rule, Values: []int64{ru.Decided, ru.Fired}, Notes: []string{ru.Amount, ""}})
		}
		s.Charts = append(s.Charts, outcomes, rules)
		if sh := rs.Shadow; sh != nil {
			s.Figures = append(s.Figures,
				report.Figure{Label: "shadow " + sh.Ruleset + " agrees", Value: strconv.FormatInt(sh.Agree, 10)},
				report.Figure{Label: "shadow disagrees", Value: strconv.FormatInt(sh.Disagree, 10)})
			t := report.Table{Title: fmt.Sprintf("where the shadow %s (version %d, hash %s) decided otherwise", sh.Ruleset, sh.Version, sh.Hash),
				Columns: []string{"live", "shadow", "records", "amount"}}
			for _, tr := range sh.Transitions {
				t.Rows = append(t.Rows, []string{tr.From, tr.To, strconv.FormatInt(tr.Records, 10), tr.Amount})
			}
			s.Tables = append(s.Tables, t)
		}
		p.Sections = append(p.Sections, s)
	}
	return p
}
