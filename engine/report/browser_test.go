package report

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"pipeline/engine/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the screenshots under testdata")

// open writes p to a file and loads it in a browser, which must show it
// without the network.
func open(t *testing.T, p Page) context.Context {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, p); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return reporttest.Open(t, path)
}

// screenshot saves what the browser shows: under testdata/out for review
// (not kept in git), and with -update as testdata/NAME.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := reporttest.Screenshot(t, ctx)
	dir := "testdata/out"
	if *update {
		dir = "testdata"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostile is data that would run script if it were not escaped.
const hostile = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

func TestReportInABrowser(t *testing.T) {
	p := Page{
		Title:    "Test report " + hostile,
		Subtitle: "generated for the browser test",
		Sections: []Section{{
			Title:   "Rules",
			Note:    "a note " + hostile,
			Figures: []Figure{{Label: "records", Value: "402"}, {Label: hostile, Value: "40"}},
			Charts: []Chart{{
				Title:  "rules: decided and fired",
				Series: []string{"decided", "fired"},
				Rows: []ChartRow{
					{Label: "large_amount", Values: []int64{9, 12}, Notes: []string{"61,234.50", ""}},
					{Label: "far_merchant", Values: []int64{30, 30}},
					{Label: hostile, Values: []int64{0, 402}},
				},
			}},
			Tables: []Table{{
				Title:      "records",
				Columns:    []string{"id", "merchant"},
				Rows:       [][]string{{"1", "alpha shop"}, {"2", hostile}, {"3", "beta shop"}},
				Searchable: true,
				More:       7,
			}},
		}},
	}
	ctx := open(t, p)
	type probed struct {
		Bars     int      `json:"bars"`
		Values   []string `json:"values"`
		Widths   []string `json:"widths"`
		XSS      any      `json:"xss"`
		Cell     string   `json:"cell"`
		Images   int      `json:"images"`
		Scripts  int      `json:"scripts"`
		Labels   []string `json:"labels"`
		Figures  []string `json:"figures"`
		Filtered int      `json:"filtered"`
	}
	const probe = `({
		bars: document.querySelectorAll("g.bar").length,
		values: Array.from(document.querySelectorAll("g.bar")).map(g => g.dataset.value),
		widths: Array.from(document.querySelectorAll("g.bar rect")).map(r => r.getAttribute("width")),
		xss: window.__xss,
		cell: document.querySelector("table.data tbody tr:nth-child(2) td:nth-child(2)").textContent,
		images: document.querySelectorAll("img").length,
		scripts: document.querySelectorAll("script").length,
		labels: Array.from(document.querySelectorAll("text.val")).map(t => t.textContent),
		figures: Array.from(document.querySelectorAll(".figure .value")).map(f => f.textContent),
		filtered: 0
	})`
	got := reporttest.Eval[probed](t, ctx, probe)
	if got.Bars != 6 {
		t.Errorf("%d bars drawn, want 6", got.Bars)
	}
	wantValues := []string{"9", "12", "30", "30", "0", "402"}
	for i, v := range wantValues {
		if i >= len(got.Values) || got.Values[i] != v {
			t.Errorf("bar values %v, want %v", got.Values, wantValues)
			break
		}
	}
	if len(got.Widths) != 6 || got.Widths[5] != "100.00%" || got.Widths[4] != "0.00%" || got.Widths[0] != "2.24%" {
		t.Errorf("bar widths %v: want the largest at 100%%, 0 at 0%%, 9 of 402 at 2.24%%", got.Widths)
	}
	if len(got.Labels) != 6 || got.Labels[0] != "9 · 61,234.50" {
		t.Errorf("bar labels %q", got.Labels)
	}
	if got.XSS != nil || got.Images != 0 || got.Scripts != 1 {
		t.Errorf("hostile data ran or was parsed as HTML: window.__xss = %v, %d img elements, %d script elements (want only the report's own)", got.XSS, got.Images, got.Scripts)
	}
	if got.Cell != hostile {
		t.Errorf("the hostile cell shows %q, want the text itself", got.Cell)
	}
	// The search box filters rows.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("input.search"), "alpha")); err != nil {
		t.Fatal(err)
	}
	visible := reporttest.Eval[int](t, ctx, `Array.from(document.querySelectorAll("table.data tbody tr")).filter(tr => tr.style.display !== "none").length`)
	if visible != 1 {
		t.Errorf("%d rows visible after typing alpha, want 1", visible)
	}
	screenshot(t, ctx, "report")
}
