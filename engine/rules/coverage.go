package rules

// RuleCoverage is what the tests of a rule file reach of one of its rules,
// table rows or its default.
type RuleCoverage struct {
	ID      string
	Line    int
	Row     bool // a decision table's row (or its default)
	Default bool
	// Decided are the passing tests whose record it decided; Reached those
	// that evaluated its condition (the rules before the deciding one, and
	// the deciding one: Decided are among them).
	Decided []string
	Reached []string
}

// Coverage returns, for each rule of the ruleset in order (table rows,
// then the default), the tests among results (of RunTests) that decided it
// and that reached it. Failed tests count for nothing.
func (rs *Ruleset) Coverage(results []TestResult) []RuleCoverage {
	out := make([]RuleCoverage, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = RuleCoverage{ID: r.id, Line: r.pos.Line, Row: r.row, Default: r.when == nil}
	}
	for _, t := range results {
		if !t.Passed() {
			continue
		}
		for i := 0; i < t.Reached && i < len(out); i++ {
			out[i].Reached = append(out[i].Reached, t.Name)
			if t.Rule != "" && out[i].ID == t.Rule {
				out[i].Decided = append(out[i].Decided, t.Name)
			}
		}
	}
	return out
}
