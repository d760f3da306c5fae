package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	enginediff "pipeline/engine/diff"
	"pipeline/engine/report/reporttest"
	"pipeline/engine/stats"
)

// The HTML reports, opened in headless Chromium: what they show must be
// the JSON's numbers. With -update the screenshots are kept under
// docs/ (the README shows them); otherwise they go to a temporary folder.

// shownRow is one chart row as the browser renders it.
type shownRow struct {
	Label  string   `json:"label"`
	Values []string `json:"values"`
	Notes  []string `json:"notes"`
}

// shownChart is one chart as the browser renders it.
type shownChart struct {
	Title string     `json:"title"`
	Rows  []shownRow `json:"rows"`
}

// shownSection is what the browser renders of one section.
type shownSection struct {
	Title   string            `json:"title"`
	Figures map[string]string `json:"figures"`
	Charts  []shownChart      `json:"charts"`
	Tables  [][]int           `json:"tables"` // per table: rows shown, rows in all
}

// shownPage reads the sections of the report in the browser: what a person
// sees, from the rendered DOM.
const shownPage = `Array.from(document.querySelectorAll("section")).map(s => ({
	title: s.querySelector("h2").textContent,
	figures: Object.fromEntries(Array.from(s.querySelectorAll(".figure")).map(f => [f.querySelector(".label").textContent, f.querySelector(".value").textContent])),
	charts: Array.from(s.querySelectorAll("div.chart")).map(c => ({
		title: c.querySelector("h3").textContent,
		rows: Array.from(c.querySelectorAll("tr")).map(tr => ({
			label: tr.querySelector("td.label").textContent,
			values: Array.from(tr.querySelectorAll("g.bar")).map(g => g.dataset.value),
			notes: Array.from(tr.querySelectorAll("text.val")).map(t => t.textContent),
		})),
	})),
	tables: Array.from(s.querySelectorAll("table.data")).map(t => [
		Array.from(t.querySelectorAll("tbody tr")).filter(r => r.style.display !== "none").length,
		t.querySelectorAll("tbody tr").length]),
}))`

// keepScreenshot saves the page as docs/NAME.png with -update, else in a
// temporary folder, for review.
func keepScreenshot(t *testing.T, png []byte, name string) {
	t.Helper()
	dir := t.TempDir()
	if *update {
		dir = "../../docs"
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStatsReportInABrowser: the statistics of a dry-run of the banking
// spec with a shadow, as --report writes them, show in Chromium the very
// counts and amounts --stats-json gives: every outcome, every rule's
// decided and fired, the shadow's agreement.
func TestStatsReportInABrowser(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DATASET", "dataset_16")
	page, js := filepath.Join(dir, "stats.html"), filepath.Join(dir, "stats.json")
	mustPipeline(t, "dry-run", "../../configs/banking-shadow.yaml", "--out", dir, "--report", page, "--stats-json", js)
	var want stats.Report
	readJSON(t, js, &want)
	ctx := reporttest.Open(t, page)
	shown := reporttest.Eval[[]shownSection](t, ctx, shownPage)
	if len(shown) != len(want.Rulesets) {
		t.Fatalf("%d sections shown, want one per ruleset (%d)", len(shown), len(want.Rulesets))
	}
	for i, rs := range want.Rulesets {
		s := shown[i]
		if !strings.Contains(s.Title, rs.Ruleset) || len(s.Charts) != 2 {
			t.Errorf("section %d %q with %d charts, want ruleset %s and 2 charts", i, s.Title, len(s.Charts), rs.Ruleset)
			continue
		}
		outcomes, rules := s.Charts[0], s.Charts[1]
		if len(outcomes.Rows) != len(rs.Outcomes) || len(rules.Rows) != len(rs.Rules) {
			t.Errorf("%s: %d outcome rows and %d rule rows shown, want %d and %d", rs.Ruleset, len(outcomes.Rows), len(rules.Rows), len(rs.Outcomes), len(rs.Rules))
			continue
		}
		for j, o := range rs.Outcomes {
			row := outcomes.Rows[j]
			if row.Label != o.Outcome || strings.Join(row.Values, " ") != strconv.FormatInt(o.Records, 10) || (o.Amount != "" && !strings.Contains(row.Notes[0], o.Amount)) {
				t.Errorf("%s outcome %s: shown %+v, want %d records, amount %q", rs.Ruleset, o.Outcome, row, o.Records, o.Amount)
			}
		}
		for j, r := range rs.Rules {
			row := rules.Rows[j]
			want := strconv.FormatInt(r.Decided, 10) + " " + strconv.FormatInt(r.Fired, 10)
			if row.Label != r.Rule || strings.Join(row.Values, " ") != want || (r.Amount != "" && !strings.Contains(row.Notes[0], r.Amount)) {
				t.Errorf("%s rule %s: shown %+v, want decided and fired %s, amount %q", rs.Ruleset, r.Rule, row, want, r.Amount)
			}
		}
		if sh := rs.Shadow; sh != nil {
			if s.Figures["shadow "+sh.Ruleset+" agrees"] != strconv.FormatInt(sh.Agree, 10) || s.Figures["shadow disagrees"] != strconv.FormatInt(sh.Disagree, 10) {
				t.Errorf("%s: shadow figures %v, want agree %d, disagree %d", rs.Ruleset, s.Figures, sh.Agree, sh.Disagree)
			}
		}
	}
	keepScreenshot(t, reporttest.Screenshot(t, ctx), "report-stats.png")
}

// TestDiffReportInABrowser: the report of a rule change (large_amount from
// 50% to 60% of the limit) shows the transitions and changed records the
// JSON lists, and its search box finds a record.
func TestDiffReportInABrowser(t *testing.T) {
	repo, _ := scratchRepo(t)
	path := filepath.Join(repo, "rules/validation.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Replace(string(src), ">= 0.5 * card.credit_limit", ">= 0.6 * card.credit_limit", 1))
	t.Setenv("DATASET", "dataset_16")
	spec := filepath.Join(repo, "configs/banking.yaml")
	page := filepath.Join(t.TempDir(), "diff.html")
	out := mustPipeline(t, "diff", spec, "--base", "HEAD", "--format", "json", "--report", page)
	var want enginediff.Report
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, out)
	}
	ctx := reporttest.Open(t, page)
	shown := reporttest.Eval[[]shownSection](t, ctx, shownPage)
	if len(shown) == 0 || shown[0].Figures["records changed"] != strconv.FormatInt(want.Changed, 10) {
		t.Fatalf("summary %+v, want %d records changed", shown, want.Changed)
	}
	i := 1
	for _, st := range want.Stages {
		if st.Changed == 0 {
			continue
		}
		if i >= len(shown) {
			t.Fatalf("no section for %s %s", st.Stage, st.Step)
		}
		s := shown[i]
		i++
		if len(st.Transitions) > 0 {
			rows := s.Charts[0].Rows
			if len(rows) != len(st.Transitions) {
				t.Errorf("%s: %d transitions shown, want %d", s.Title, len(rows), len(st.Transitions))
			}
			for j, tr := range st.Transitions {
				if j < len(rows) && (strings.Join(rows[j].Values, "") != strconv.FormatInt(tr.Records, 10) || !strings.Contains(rows[j].Label, tr.To)) {
					t.Errorf("%s transition %d: shown %+v, want %+v", s.Title, j, rows[j], tr)
				}
			}
		}
		records := s.Tables[len(s.Tables)-1]
		if records[1] != len(st.Changes) {
			t.Errorf("%s: %d changed records listed, want %d", s.Title, records[1], len(st.Changes))
		}
	}
	// The README's example: transaction 75 now passes. The search box finds it.
	visible := reporttest.Eval[int](t, ctx, `(() => {
		const box = document.querySelector("input.search");
		box.value = "75"; box.dispatchEvent(new Event("input"));
		return Array.from(box.closest(".tablewrap").querySelectorAll("tbody tr")).filter(r => r.style.display !== "none").length;
	})()`)
	if visible < 1 {
		t.Error("searching the changed records for 75 shows none")
	}
	keepScreenshot(t, reporttest.Screenshot(t, ctx), "report-diff.png")
}

// readJSON decodes the JSON file at path into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
