package report

// Page is one report: a title and its sections.
type Page struct {
	Title    string
	Subtitle string // e.g. the spec and when it ran
	Sections []Section
}

// Section is a part of a page: figures (name: value), bar charts, tables.
type Section struct {
	Title   string
	Note    string // a sentence under the title
	Figures []Figure
	Charts  []Chart
	Tables  []Table
}

// Figure is one headline number.
type Figure struct {
	Label string
	Value string
}

// Chart is a horizontal bar chart: one bar per label, of one or more
// series (decided and fired, say), each bar labelled with its value and an
// optional note (an amount).
type Chart struct {
	Title  string
	Series []string // series names, one colour each; at least one
	Rows   []ChartRow
}

// ChartRow is one label's bars, one value per series.
type ChartRow struct {
	Label  string
	Values []int64  // per series; bars scale to the chart's largest value
	Notes  []string // per series, shown after the value (an amount), "" for none
}

// Table is rows of text under column names. A searchable table gets a
// box that filters its rows as one types.
type Table struct {
	Title      string
	Columns    []string
	Rows       [][]string
	Searchable bool
	// More says how many rows were left out for size, 0 when none.
	More int
}
