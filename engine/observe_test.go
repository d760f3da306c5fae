package engine_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine"
	"pipeline/engine/rules"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// editedShop writes testdata/shop/spec.yaml, edited by the pairs of
// replacements (old, new), into a temporary folder and returns its path
// and the output folder.
func editedShop(t *testing.T, replacements ...string) (path, out string) {
	t.Helper()
	src, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(src)
	for i := 0; i+1 < len(replacements); i += 2 {
		edited := strings.Replace(spec, replacements[i], replacements[i+1], 1)
		if edited == spec {
			t.Fatalf("the shop spec has no %q", replacements[i])
		}
		spec = edited
	}
	spec = strings.ReplaceAll(spec, "rules.yaml", filepath.Join(mustAbs(t, "testdata/shop"), "rules.yaml"))
	spec = strings.ReplaceAll(spec, "${IN:-in}", filepath.Join(mustAbs(t, "testdata/shop"), "in"))
	dir := t.TempDir()
	path = filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// readResults reads a result file into rows of name -> value.
func readResults(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// TestObserveAndWrote runs the shop pipeline with the hooks statistics and
// diff use, and checks what they receive against the result files: every
// evaluation with its decision, fired rules and measure; every emitted
// row, the last saved state of each account, and every row a batch step
// set (the close step too, which otherwise runs as one set-based update).
func TestObserveAndWrote(t *testing.T) {
	path, out := editedShop(t, "    rules: rules.yaml\n", "    rules: rules.yaml\n    measure: order.amount\n")
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	var (
		mu       sync.Mutex
		observed []stage.Observed
		written  = map[string]map[string][]string{} // stage/step/lookup -> key -> values
		measure  decimal.Decimal
	)
	opts := engine.Options{Registry: registry(), DryRun: true,
		Observe: func(o stage.Observed) {
			mu.Lock()
			defer mu.Unlock()
			o.Fired = append([]bool(nil), o.Fired...)
			observed = append(observed, o)
			if m, ok := o.Measure.(rules.Dec); ok && o.Err == nil {
				measure, _ = measure.Add(m)
			}
		},
		Wrote: func(w stage.Written) {
			mu.Lock()
			defer mu.Unlock()
			where := w.Stage + "/" + w.Step + "/" + w.Lookup
			if written[where] == nil {
				written[where] = map[string][]string{}
			}
			var vals []string
			for _, c := range w.Columns {
				vals = append(vals, w.Table.Columns[c].Name+"="+w.Table.Columns[c].Type.Format(w.Row[c]))
			}
			written[where][w.Key] = vals
		}}
	p, err := engine.Open(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}

	orders := readResults(t, filepath.Join(out, "orders.csv"))
	want := decimal.Decimal{}
	outcome := map[string]string{}
	for _, o := range orders {
		a := decimal.MustParse(o["amount"])
		want, _ = want.Add(a)
		outcome[o["order_id"]] = o["rule"]
	}
	// 1,000 decided, and order 1005 whose ruleset failed (a division by zero).
	if len(observed) != len(orders)+1 {
		t.Fatalf("%d evaluations observed, want %d", len(observed), len(orders)+1)
	}
	failed := 0
	for _, o := range observed {
		if o.Stage != "decide" || o.Step != "" || o.Ruleset == nil || o.Ruleset.Name != "orders" {
			t.Fatalf("observed %+v", o)
		}
		if o.Err != nil {
			failed++
			if o.Key != "1005" || !strings.Contains(o.Err.Error(), "division by zero") {
				t.Errorf("failed evaluation of %s: %v", o.Key, o.Err)
			}
			for _, f := range o.Fired {
				if f {
					t.Errorf("a failed evaluation fired %v", o.Fired)
				}
			}
			continue
		}
		if outcome[o.Key] != o.Rule {
			t.Errorf("order %s: observed rule %s, the result file says %s", o.Key, o.Rule, outcome[o.Key])
		}
		ids := o.Ruleset.RuleIDs()
		for i, id := range ids {
			if (id == o.Rule || id == "default") && !o.Fired[i] {
				t.Errorf("order %s decided by %s: fired %v", o.Key, o.Rule, o.Fired)
			}
			if id == o.Rule {
				break
			}
			if o.Fired[i] {
				t.Errorf("order %s decided by %s, but %s before it fired", o.Key, o.Rule, id)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed evaluations, want 1", failed)
	}
	if measure.Cmp(want) != 0 {
		t.Errorf("measures sum to %s, the decided orders' amounts to %s", measure, want)
	}

	emitted := written["decide//"]
	if len(emitted) != len(orders) {
		t.Errorf("%d output rows written, want %d", len(emitted), len(orders))
	}
	done := 0
	for _, o := range orders {
		got := strings.Join(emitted[o["order_id"]], " ")
		if want := "status=" + map[string]string{"default": "accepted"}[o["rule"]]; o["rule"] == "default" && !strings.HasPrefix(got, want+" rule=default used=") {
			t.Errorf("order %s written as %q", o["order_id"], got)
		}
		if o["status"] == "done" {
			done++
		}
	}
	closed := written["settle/close/"]
	if len(closed) != done || done == 0 {
		t.Errorf("close wrote %d rows, %d orders are done", len(closed), done)
	}
	for k, v := range closed {
		if strings.Join(v, " ") != "status=done" {
			t.Errorf("close wrote order %s as %v", k, v)
		}
	}
	accounts := readResults(t, filepath.Join(out, "accounts.csv"))
	for _, a := range accounts {
		if got, want := strings.Join(written["decide//account"][a["id"]], " "), "used="+a["used"]; got != want && (got != "" || a["used"] != "") {
			t.Errorf("account %s: last saved %q, the result file has %q", a["id"], got, want)
		}
		if got, want := strings.Join(written["settle/totals/"][a["id"]], " "), "owner="+a["owner"]; got != want {
			t.Errorf("account %s: totals wrote %q, the result file has %q", a["id"], got, want)
		}
	}
}

// TestMeasureLint: a measure is checked like any expression, must be a
// number, and belongs to stages and steps with rules.
func TestMeasureLint(t *testing.T) {
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"misspelt field", "    rules: rules.yaml\n", "    rules: rules.yaml\n    measure: order.amont\n",
			"spec.yaml:32:20: measure: order has no field amont"},
		{"not a number", "    rules: rules.yaml\n", "    rules: rules.yaml\n    measure: account.owner\n",
			"spec.yaml:32:14: measure: an amount to sum is a decimal or an int (e.g. tx.amount), but this expression gives string"},
		{"a step without rules", "        set: {status: '\"done\"'}\n", "        set: {status: '\"done\"'}\n        measure: o.amount\n",
			"spec.yaml:57:18: step close: measure: the step has no rules, so there is nothing to measure"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, out := editedShop(t, c.old, c.new)
			_, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// TestAbsentRules: a stage whose rule file is absent from the version of
// the rules built (diff, a file added since the base revision) decides
// nothing and writes nothing, and the spec is checked against the other
// version's ruleset.
func TestAbsentRules(t *testing.T) {
	path, out := editedShop(t)
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": out}), registry(),
		stage.LoadRules(func(p string) (*rules.Ruleset, error) {
			like, err := rules.Load(p)
			if err != nil {
				return nil, err
			}
			return nil, &stage.AbsentRules{Path: p, Like: like}
		}))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	if pl := plan.Places(); len(pl) != 3 || !pl[0].Absent || pl[0].Ruleset.Name != "orders" || pl[1].Ruleset != nil {
		t.Fatalf("places %+v", pl)
	}
	n := 0
	var mu sync.Mutex
	count := func() { mu.Lock(); n++; mu.Unlock() }
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true,
		Observe: func(stage.Observed) { count() }, Decided: func(stage.Decided) { count() }, Wrote: func(stage.Written) { count() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the hooks were called %d times for a stage that decides nothing", n)
	}
	for _, s := range sum.Stages {
		if s.Name == "decide" && (s.Stats.In != 1003 || s.Stats.Out != 0) {
			t.Errorf("decide read %d and wrote %d, want 1003 and 0", s.Stats.In, s.Stats.Out)
		}
	}
}
