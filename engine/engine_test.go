package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"pipeline/connectors/csv"
	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

func registry() *port.Registry {
	var r port.Registry
	r.Register(csv.Kind())
	r.Register(memory.Kind())
	return &r
}

// runShop runs testdata/shop/spec.yaml and returns its summary and output folder.
func runShop(t *testing.T, stages ...string) (engine.Summary, string) {
	t.Helper()
	out := t.TempDir()
	return dryRun(t, "testdata/shop/spec.yaml", out, stages...), out
}

// dryRun runs the spec at path on memory connectors, with OUT=out, and
// returns its summary; any error fails the test.
func dryRun(t *testing.T, path, out string, stages ...string) engine.Summary {
	t.Helper()
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": out}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(context.Background(), stages)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestBadRowsGoToDeadLetters: a file with 1,000 good rows and 10 bad ones
// gives 1,000 decisions and 10 dead letters that each say what and where.
func TestBadRowsGoToDeadLetters(t *testing.T) {
	sum, out := runShop(t)
	stats := map[string]int64{}
	for _, s := range sum.Stages {
		stats[s.Name+".in"], stats[s.Name+".out"], stats[s.Name+".dead"] = s.Stats.In, s.Stats.Out, s.Stats.Dead
	}
	want := map[string]int64{
		"publish.in": 1010, "publish.out": 1003, "publish.dead": 7,
		"decide.in": 1003, "decide.out": 1000, "decide.dead": 3,
	}
	for k, v := range want {
		if stats[k] != v {
			t.Errorf("%s = %d, want %d", k, stats[k], v)
		}
	}
	var reasons []string
	for _, d := range sum.DeadLetters {
		reasons = append(reasons, d.Source.String()+": "+d.Reason)
		if d.Payload == "" || d.Stage == "" {
			t.Errorf("dead letter without payload or stage: %+v", d)
		}
	}
	sort.Strings(reasons)
	wantReasons := []string{
		`in/orders.csv:1002: column amount: "abc" is not a decimal number`,
		`in/orders.csv:1003: column at: "2025-13-01 10:00:00" is not a datetime (want YYYY-MM-DD HH:MM:SS)`,
		`in/orders.csv:1004: has 3 fields, header has 4`,
		`in/orders.csv:1007: column order_id: empty value in a column that is not nullable`,
		`in/orders.csv:1008: column account_id: "x" is not an integer`,
		`in/orders.csv:1009: has 5 fields, header has 4`,
		`in/orders.csv:1011: `,
		`orders/`,
		`orders/`,
		`orders/`,
	}
	if len(reasons) != len(wantReasons) {
		t.Fatalf("got %d dead letters, want %d:\n%s", len(reasons), len(wantReasons), strings.Join(reasons, "\n"))
	}
	for i, w := range wantReasons {
		if !strings.HasPrefix(reasons[i], w) {
			t.Errorf("dead letter %d:\n got %s\nwant %s...", i, reasons[i], w)
		}
	}
	joined := strings.Join(reasons, "\n")
	for _, w := range []string{"no row in accounts with id = 99", "no row in accounts with id = 98", "division by zero"} {
		if !strings.Contains(joined, w) {
			t.Errorf("no dead letter says %q:\n%s", w, joined)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "dead_letters.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n < 11 {
		t.Errorf("dead_letters.csv has %d lines, want a header and 10 letters", n)
	}
	orders, err := os.ReadFile(filepath.Join(out, "orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(orders), "\n"); n != 1001 {
		t.Errorf("orders.csv has %d lines, want a header and 1000 orders", n)
	}
}

// TestDuplicatesAreAppliedOnce publishes the same file twice: every record
// of the second copy is a duplicate, skipped and counted, not an error.
func TestDuplicatesAreAppliedOnce(t *testing.T) {
	out := t.TempDir()
	env := yamldoc.MapEnv(map[string]string{"OUT": out})
	plan, err := engine.Load("testdata/shop/spec.yaml", env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	ctx := context.Background()
	p, err := engine.Open(ctx, plan, engine.Options{Registry: registry(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, stages := range [][]string{{"reset", "load", "publish"}, {"publish"}} {
		if _, err := p.Run(ctx, stages); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := p.Run(ctx, []string{"decide"})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Stages[0].Stats
	// The 1,000 records decided the first time are duplicates the second
	// time. The 3 dead-lettered ones fail again, unless both copies meet in
	// one batch, where the second is a duplicate of the first.
	if st.In != 2006 || st.Out != 1000 || st.Dup < 1000 || st.Dup+st.Dead != 1006 {
		t.Errorf("decide: in %d, out %d, duplicates %d, dead %d; want 2006 in, 1000 out, 1000+ duplicates, 1006 skipped", st.In, st.Out, st.Dup, st.Dead)
	}
}

// TestDeadLettersToATopic: dead_letters may name a topic; each letter is
// published keyed by its id.
func TestDeadLettersToATopic(t *testing.T) {
	src, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := strings.Replace(string(src), `dead_letters: [db:dead_letters, "files:${OUT}/dead_letters.csv"]`, `dead_letters: bus:dead_letters`, 1)
	spec = strings.ReplaceAll(spec, "rules.yaml", filepath.Join(mustAbs(t, "testdata/shop"), "rules.yaml"))
	spec = strings.ReplaceAll(spec, "${IN:-in}", filepath.Join(mustAbs(t, "testdata/shop"), "in"))
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": dir}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	ctx := context.Background()
	conn := memory.New()
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	p, err := engine.Open(ctx, plan, engine.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := conn.Topic(ctx, port.TopicSpec{Name: "dead_letters", Schema: schema.MustNew("dead_letters", engine.DeadLetterSchema.Columns, "id"), Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	err = topic.Consume(ctx, port.ConsumeOptions{}, func(_ context.Context, ms []port.Message) error {
		got += len(ms)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != sum.Dead() || got != 10 {
		t.Errorf("topic holds %d dead letters, the run counted %d, want 10", got, sum.Dead())
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIdentifiersAreChecked: table and column names from specs must be
// plain identifiers, so nothing a spec says can be read as SQL.
func TestIdentifiersAreChecked(t *testing.T) {
	tests := []struct{ tables, want string }{
		{"  \"t; DROP TABLE x\":\n    key: id\n    columns: {id: int}\n", `table name "t; DROP TABLE x" must match [A-Za-z_][A-Za-z0-9_]*`},
		{"  t:\n    key: id\n    columns: {id: int, \"a`b\": string}\n", "column name \"a`b\" must match [A-Za-z_][A-Za-z0-9_]*"},
		{"  t:\n    key: id\n    columns: {id: int, \"x) VALUES (1); --\": string}\n", `column name "x) VALUES (1); --" must match`},
	}
	for _, tt := range tests {
		src := "name: s\nconnectors:\n  db: {kind: memory}\ntables:\n" + tt.tables +
			"stages:\n  - {name: r, kind: reset, tables: [db:t]}\n"
		path := filepath.Join(t.TempDir(), "s.yaml")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := engine.Load(path, yamldoc.MapEnv(nil), registry())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want an error containing %q", err, tt.want)
		}
	}
}

// TestExportOverlapsTableStages: an export followed by a batch stage runs
// while the batch stage changes the tables, and still writes the rows as
// they were when it started; when it fails, its error ends the run and the
// stages after it are not reported. (Publish overlaps decide there too.)
func TestExportOverlapsTableStages(t *testing.T) {
	run := func(sub string) (engine.Summary, string, error) {
		out := t.TempDir()
		if sub != "" {
			// A file where the export wants a folder: creating the file fails.
			if err := os.WriteFile(filepath.Join(out, sub), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			sub = "/" + sub
		}
		env := yamldoc.MapEnv(map[string]string{"OUT": out, "SUB": sub})
		plan, err := engine.Load("testdata/shop/overlap.yaml", env, registry())
		if err != nil {
			t.Fatal(yamldoc.Details(err))
		}
		p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		sum, err := p.Run(context.Background(), nil)
		return sum, out, err
	}
	sum, out, err := run("")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sum.Stages {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "reset load publish decide before settle export"; got != want {
		t.Errorf("stages %q, want %q", got, want)
	}
	// decide ran while publish did, and its dead letters still come after publish's.
	order := map[string]int{"publish": 1, "decide": 2}
	last := 0
	for _, d := range sum.DeadLetters {
		if order[d.Stage] < last {
			t.Errorf("dead letter of %s (%s) after one of a later stage", d.Stage, d.Source)
		}
		last = order[d.Stage]
	}
	if last != 2 {
		t.Errorf("no dead letter of decide")
	}
	if st := sum.Stages[4].Stats; st.In != 1000 || st.Out != 1000 {
		t.Errorf("before: in %d, out %d, want 1000 and 1000", st.In, st.Out)
	}
	decided, err := os.ReadFile(filepath.Join(out, "decided.csv"))
	if err != nil {
		t.Fatal(err)
	}
	final, err := os.ReadFile(filepath.Join(out, "orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(decided), ",done,") || !strings.Contains(string(decided), ",accepted,") {
		t.Errorf("decided.csv holds rows settle changed")
	}
	if !strings.Contains(string(final), ",done,") {
		t.Errorf("orders.csv holds no row settle changed")
	}

	sum, _, err = run("blocker")
	var se *engine.StageError
	if !errors.As(err, &se) || se.Stage != "before" {
		t.Fatalf("error %v, want one of stage before", err)
	}
	if last := sum.Stages[len(sum.Stages)-1].Name; last != "before" {
		t.Errorf("last stage reported %s, want before", last)
	}
}

// TestRuleDeadLettersInRecordOrder: records whose ruleset fails, decided on
// several CPUs, reach the dead letters in the order of their records (by
// partition, in offset order), whatever the timing of the deciders.
func TestRuleDeadLettersInRecordOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	in := t.TempDir()
	var acc, ord strings.Builder
	acc.WriteString("id,owner,limit\n")
	for i := 1; i <= 64; i++ {
		fmt.Fprintf(&acc, "%d,o%d,100.00\n", i, i) // limit - 100 = 0: the ratio rule divides by zero
	}
	ord.WriteString("order_id,account_id,amount,at\n")
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&ord, "%d,%d,1.00,2025-01-01 00:00:01\n", i, 1+i*7%64)
	}
	for name, data := range map[string]string{"accounts.csv": acc.String(), "orders.csv": ord.String()} {
		if err := os.WriteFile(filepath.Join(in, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var first []string
	for run := range 3 {
		out := t.TempDir()
		env := yamldoc.MapEnv(map[string]string{"OUT": out, "IN": in})
		plan, err := engine.Load("testdata/shop/spec.yaml", env, registry())
		if err != nil {
			t.Fatal(yamldoc.Details(err))
		}
		p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := p.Run(context.Background(), []string{"reset", "load", "publish", "decide"})
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		last := map[int32]int64{}
		for _, d := range sum.DeadLetters {
			if d.Stage != "decide" {
				continue
			}
			got = append(got, d.Source.String())
			if o, ok := last[d.Source.Partition]; ok && d.Source.Offset <= o {
				t.Fatalf("run %d: dead letter of %s after offset %d of its partition", run, d.Source, o)
			}
			last[d.Source.Partition] = d.Source.Offset
		}
		if len(got) != 3000 {
			t.Fatalf("run %d: %d dead letters of decide, want 3000", run, len(got))
		}
		if run == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("run %d: dead letters in another order than run 0", run)
		}
	}
}
