package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
)

//go:embed page.html.tmpl
var pageTemplate string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"bars":    bars,
	"colour":  colour,
	"id":      func(prefix string, i int) string { return prefix + strconv.Itoa(i) },
	"height":  func(n int) int { return n * (barHeight + barGap) },
	"percent": percent,
}).Parse(pageTemplate))

// Write writes p as one HTML document to w.
func Write(w io.Writer, p Page) error {
	if err := page.Execute(w, p); err != nil {
		return fmt.Errorf("report %q: %w", p.Title, err)
	}
	return nil
}

// palette colours the series of charts.
var palette = []string{"#3867d6", "#f7b731", "#20bf6b", "#eb3b5a", "#8854d0", "#0fb9b1"}

func colour(i int) string { return palette[i%len(palette)] }

// bar is one drawn bar: its geometry within a chart row and its label.
type bar struct {
	Series int
	Y      int     // top, in the row's SVG
	Width  float64 // percent of the chart's width
	Value  int64
	Note   string
}

// barHeight and barGap size a chart row's bars.
const (
	barHeight = 14
	barGap    = 2
)

// bars lays out one chart row's bars against the chart's largest value.
func bars(c Chart, r ChartRow) []bar {
	var most int64
	for _, row := range c.Rows {
		for _, v := range row.Values {
			most = max(most, v)
		}
	}
	out := make([]bar, len(r.Values))
	for i, v := range r.Values {
		b := bar{Series: i, Y: i * (barHeight + barGap), Value: v}
		if i < len(r.Notes) {
			b.Note = r.Notes[i]
		}
		if most > 0 {
			// Geometry only: the exact value is printed beside the bar.
			b.Width = float64(v) / float64(most) * 100
		}
		out[i] = b
	}
	return out
}

// percent formats part of whole as a percentage with one decimal.
func percent(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64) + "%"
}
