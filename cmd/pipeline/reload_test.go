package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pipeline/engine"
	"pipeline/engine/schema"
	enginespec "pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// copySpec copies the spec at path and every rule file under ../../rules
// into a folder of their own (configs/, rules/), for a test to edit the
// rules, and returns the copied spec's path.
func copySpec(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"configs", "rules"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob("../../rules/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, path)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sub := "rules"
		if f == path {
			sub = "configs"
		}
		if err := os.WriteFile(filepath.Join(dir, sub, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "configs", filepath.Base(path))
}

// editFile writes text over the file at path: in place (truncated, then
// written), or, with rename, as editors save, into another file renamed
// over it.
func editFile(t *testing.T, path, text string, rename bool) {
	t.Helper()
	if !rename {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitOutput polls p's output until it holds want n times; it fails the
// test when p ends first or d passes.
func waitOutput(t *testing.T, p *proc, want string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(p.out.String(), want) < n {
		if p.exited() {
			t.Fatalf("pipeline %s ended (%v) before saying %q %d times:\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, want, n, tail(p.out.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline %s did not say %q %d times within %v:\n%s", strings.Join(p.cmd.Args[1:], " "), want, n, d, tail(p.out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// partIDs returns the transaction ids of the transactions.csv in dir, as
// a SQL list.
func partIDs(t *testing.T, dir string) string {
	t.Helper()
	rows := readCSV(t, filepath.Join(dir, "transactions.csv"))
	ids := make([]string, 0, len(rows)-1)
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return strings.Join(ids, ",")
}

// TestFaultReloadRules is the acceptance of hot reload: a validator follows
// the topic (run --stage validate --follow, banking-shadow.yaml, whose
// validate stage also decides a shadow ruleset) while its live rule file is
// edited three times. A third of the transactions is published before the
// edits, a third after two broken ones, and a third after a good one:
//   - a misspelt field (lint fails) and a threshold raised to 60% without
//     its tests (a test fails) are refused, each logged with why, and the
//     validator goes on with the rules it has;
//   - the threshold raised with its tests changed is taken between two
//     batches: every transaction published after it is decided by it.
//
// Every transaction is decided once (none lost, none doubled: each card's
// pending balance is its balance plus its pending amounts), its shadow
// decision is recorded beside it, and the decisions before and after the
// good edit carry the hash of the file that made them.
func TestFaultReloadRules(t *testing.T) {
	const n = 3000
	began := time.Now()
	w := newWorld(t, n)
	w.spec = copySpec(t, "../../configs/banking-shadow.yaml")
	rulesPath := filepath.Join(filepath.Dir(filepath.Dir(w.spec)), "rules", "validation.yaml")
	d := w.database(t)
	parts := w.parts(t, 3)
	d.stages(t, "reset", "load")
	publish := func(i int) {
		t.Helper()
		d.start(t, []string{"DATASET=" + parts[i]}, "--stage", "publish").finish(t, time.Minute, "publish")
	}
	original, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, rulesPath)

	v := start(t, d.env, "-v", "run", d.specPath(), "--stage", "validate", "--follow")
	waitOutput(t, v, "watching rule files", 1, time.Minute)
	publish(0)
	first := waitCommitted(t, d.DB, "validator", int64(n/3), v, time.Minute)

	// Two broken edits, refused.
	const refused = "rule file change refused"
	misspelt := strings.Replace(string(original), "abs(tx.amount) >= 0.5", "abs(tx.ammount) >= 0.5", 1)
	editFile(t, rulesPath, misspelt, false)
	waitOutput(t, v, refused, 1, time.Minute)
	untested := strings.Replace(string(original), "abs(tx.amount) >= 0.5", "abs(tx.amount) >= 0.6", 1)
	editFile(t, rulesPath, untested, true)
	waitOutput(t, v, refused, 2, time.Minute)
	out := v.out.String()
	for _, why := range []string{"it does not lint", "tx has no field ammount", "1 of its 15 tests fail", "exactly half the limit is declined"} {
		if !strings.Contains(out, why) {
			t.Errorf("the refusals do not say %q:\n%s", why, tail(out))
		}
	}
	publish(1)
	second := waitCommitted(t, d.DB, "validator", int64(2*n/3), v, time.Minute)

	// A good edit: the threshold and its tests.
	good := strings.NewReplacer(
		"abs(tx.amount) >= 0.5", "abs(tx.amount) >= 0.6",
		"is at least half the credit limit", "is at least 60% of the credit limit",
		"exactly half the limit is declined", "exactly 60% of the limit is declined",
		"{amount: 500.00, transaction_type: purchase}", "{amount: 600.00, transaction_type: purchase}",
		"a cent under half the limit passes", "a cent under 60% of the limit passes",
		"{amount: 499.99, transaction_type: purchase}", "{amount: 599.99, transaction_type: purchase}",
		"version: 1", "version: 2",
	).Replace(string(original))
	editFile(t, rulesPath, good, true)
	waitOutput(t, v, "rule file reloaded", 1, time.Minute)
	after := fileHash(t, rulesPath)
	publish(2)
	waitCommitted(t, d.DB, "validator", n, v, time.Minute)
	if _, err := v.interrupt(t); err != nil {
		t.Fatalf("the following validator, interrupted: %s\n%s", exitText(err), tail(v.out.String()))
	}
	st, ok := v.stats("validate")
	if !ok || st.in != n || st.out != n || st.dup != 0 || st.dead != 0 {
		t.Errorf("validate: %s; want %d in and out, no duplicates or dead letters", st, n)
	}
	if c := strings.Count(v.out.String(), refused); c != 2 {
		t.Errorf("%d refusals logged, want 2", c)
	}

	// Every transaction decided once, by the rules of its time.
	if got := d.count(t, "SELECT COUNT(*) FROM transactions"); got != n {
		t.Errorf("%d transactions decided, want %d", got, n)
	}
	if got := committed(d.DB, "validator"); got != n {
		t.Errorf("offsets committed for %d records, want %d", got, n)
	}
	off := d.count(t, `SELECT COUNT(*) FROM cards c LEFT JOIN
		(SELECT card_id, SUM(amount) AS s FROM transactions WHERE status = 'pending' GROUP BY card_id) p ON p.card_id = c.card_id
		WHERE NOT (COALESCE(c.pending_balance, c.current_balance) <=> c.current_balance + COALESCE(p.s, 0))`)
	if off != 0 {
		t.Errorf("%d cards whose pending balance is not their balance plus their pending amounts (a transaction lost or counted twice)", off)
	}
	byHash := func(ids, hash string) int64 {
		return d.count(t, "SELECT COUNT(*) FROM transactions WHERE transaction_id IN ("+ids+") AND ruleset_hash = ?", hash)
	}
	for i, want := range []string{before, before, after} {
		ids := partIDs(t, parts[i])
		if got, all := byHash(ids, want), int64(strings.Count(ids, ",")+1); got != all {
			t.Errorf("part %d: %d of %d transactions decided by the rules of hash %s", i+1, got, all, want)
		}
	}
	if v := d.count(t, "SELECT COUNT(DISTINCT ruleset_version) FROM transactions WHERE ruleset_hash = ?", after); v != 1 ||
		d.count(t, "SELECT MIN(ruleset_version) FROM transactions WHERE ruleset_hash = ?", after) != 2 {
		t.Errorf("the decisions after the reload do not all carry version 2")
	}
	// What the edit changed: amounts of 50% to 60% of the limit are declined
	// as large before it, and not after.
	ratio := func(ids, where string) int64 {
		return d.count(t, `SELECT COUNT(*) FROM transactions t JOIN cards c ON c.card_id = t.card_id
			WHERE t.transaction_id IN (`+ids+`) AND ABS(t.amount) >= 0.5 * c.credit_limit AND ABS(t.amount) < 0.6 * c.credit_limit AND `+where)
	}
	early, late := partIDs(t, parts[0])+","+partIDs(t, parts[1]), partIDs(t, parts[2])
	if bad := ratio(early, "t.rule NOT IN ('negative_amount', 'large_amount')"); bad != 0 {
		t.Errorf("%d transactions of 50%% to 60%% of the limit passed before the reload", bad)
	}
	if bad, through := ratio(late, "t.rule = 'large_amount'"), ratio(late, "t.rule <> 'large_amount'"); bad != 0 || through == 0 {
		t.Errorf("after the reload, of the transactions of 50%% to 60%% of the limit %d were declined as large and %d were not; want 0 and some", bad, through)
	}

	// The shadow's decision beside each live one, before and after.
	if got := d.count(t, `SELECT COUNT(*) FROM shadow_decisions s JOIN transactions t ON t.transaction_id = s.transaction_id
		WHERE s.live_outcome = t.status AND s.live_rule = t.rule AND s.hash = ?`, fileHash(t, filepath.Join(filepath.Dir(rulesPath), "validation-next.yaml"))); got != n {
		t.Errorf("%d shadow decisions beside the live ones, want %d", got, n)
	}
	t.Logf("figures: %d transactions in 3 parts, committed %d and %d before the good edit; 2 edits refused, 1 taken; "+
		"decided %d, lost 0, doubled 0; hashes %s then %s; test %v",
		n, first, second, n, before, after, time.Since(began).Round(time.Millisecond))
}

// TestReloadChecks: what a following validator does with each kind of
// edit of the rule files it decides with, in a dry-run (memory tables and
// topics) that follows its topic. It takes an edit only if the file lints,
// passes its tests and binds in the spec as the stage needs it; a file
// rewritten with the same bytes changes nothing. The shadow's file reloads
// like the live one's.
func TestReloadChecks(t *testing.T) {
	path := copySpec(t, "../../configs/banking-shadow.yaml")
	dir := filepath.Join(filepath.Dir(filepath.Dir(path)), "rules")
	live, shadow := filepath.Join(dir, "validation.yaml"), filepath.Join(dir, "validation-next.yaml")
	original, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	data, err := filepath.Abs("../../dataset_16")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"DATASET": data, "RESULTS": t.TempDir()}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	logs := &lockedBuffer{}
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true, Follow: true, Reload: true,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		_, runErr = p.Run(ctx, []string{"reset", "load", "publish", "validate"})
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitLog := func(want string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(logs.String(), want) < n {
			select {
			case <-done:
				t.Fatalf("the following run ended (%v) before the log said %q %d times:\n%s", runErr, want, n, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log does not say %q %d times within 30 s:\n%s", want, n, logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLog("watching rule files", 1)

	const refused, reloaded = "rule file change refused", "rule file reloaded"
	for i, c := range []struct {
		name, file, text string
		why              string // in the refusal; "" when taken
	}{
		{"another saved column", live, strings.Replace(string(original), "    card.pending_balance: pending + tx.amount\n",
			"    card.pending_balance: pending + tx.amount\n    card.current_balance: card.current_balance\n", 1),
			"ruleset validation would set current_balance, pending_balance of card, where the running one sets pending_balance: " +
				"what the stage saves cannot change while it runs; restart it to take these rules"},
		{"an input the stage does not have", live, strings.Replace(strings.Replace(string(original), "  customer:\n    address: string\n",
			"  customer:\n    address: string\n  account:\n    limit: money\n", 1), "default:\n", "  - {id: account_limit, when: account.limit < 0, outcome: declined}\ndefault:\n", 1),
			`the spec does not lint with it:\n` + path + `:163:12: ruleset validation reads input \"account\", but this stage has no such record or value (it has: tx, card, customer)`},
		{"the shadow's file", shadow, strings.Replace(mustRead(t, shadow), "version: 2", "version: 3", 1), ""},
		{"the same bytes again", live, string(original), "unchanged"},
		{"the threshold, tests and all", live, strings.NewReplacer(
			"abs(tx.amount) >= 0.5", "abs(tx.amount) >= 0.7",
			"{amount: 500.00, transaction_type: purchase}", "{amount: 700.00, transaction_type: purchase}",
			"{amount: 499.99, transaction_type: purchase}", "{amount: 699.99, transaction_type: purchase}",
			"{amount: -600.00, transaction_type: refund}", "{amount: -700.00, transaction_type: refund}",
		).Replace(string(original)), ""},
	} {
		refusedBefore, reloadedBefore := strings.Count(logs.String(), refused), strings.Count(logs.String(), reloaded)
		editFile(t, c.file, c.text, i%2 == 0)
		switch c.why {
		case "":
			waitLog(reloaded, reloadedBefore+1)
		case "unchanged":
			// Nothing to wait for: give the watcher the time it takes to
			// read a file, then check it said nothing.
			time.Sleep(time.Second)
		default:
			waitLog(refused, refusedBefore+1)
			if last := logs.String()[strings.LastIndex(logs.String(), refused):]; !strings.Contains(last, strings.ReplaceAll(c.why, "\n", `\n`)) {
				t.Errorf("%s: the refusal does not say %q:\n%s", c.name, c.why, last)
			}
		}
		if c.why == "unchanged" {
			if r, l := strings.Count(logs.String(), refused), strings.Count(logs.String(), reloaded); r != refusedBefore || l != reloadedBefore {
				t.Errorf("%s: %d refusals and %d reloads logged, want none", c.name, r-refusedBefore, l-reloadedBefore)
			}
		}
	}

	// A transaction of 60% of its card's limit: declined as large by the
	// rules at start, it passes the reloaded ones (70%); the shadow's
	// version is the reloaded 3.
	topicSpec := plan.Topics["transactions"]
	topic, err := p.Topic(ctx, enginespec.Ref{Connector: "bus", Name: "transactions"}, topicSpec)
	if err != nil {
		t.Fatal(err)
	}
	row := make(schema.Row, len(topicSpec.Schema.Columns))
	for i, v := range []string{"9001", "1", "Test", "2025-05-01 10:00:00", "4500.00", "5 Main St, Brooklyn, NY 15645", "purchase", "", "", "", "", "", "", ""} {
		if i >= len(row) {
			break
		}
		if row[i], err = topicSpec.Schema.Columns[i].Type.Parse(v); err != nil {
			t.Fatalf("column %s: %v", topicSpec.Schema.Columns[i].Name, err)
		}
	}
	if err := topic.Publish(ctx, []schema.Row{row}); err != nil {
		t.Fatal(err)
	}
	decided := func(table string) schema.Row {
		t.Helper()
		tab, err := p.Table(ctx, enginespec.Ref{Connector: "db", Name: table}, plan.Tables[table])
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			rows, err := tab.Get(ctx, []any{9001})
			if err != nil {
				t.Fatal(err)
			}
			if rows[0] != nil {
				return rows[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("transaction 9001 not in %s within 30 s", table)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	got := decided("transactions")
	tx := plan.Tables["transactions"]
	if rule, hash := got[tx.Index("rule")], got[tx.Index("ruleset_hash")]; rule != "default" || hash != fileHash(t, live) {
		t.Errorf("transaction 9001: decided by %v with the rules of hash %v; want default, %s (the reloaded file)", rule, hash, fileHash(t, live))
	}
	sd := decided("shadow_decisions")
	sh := plan.Tables["shadow_decisions"]
	if v, hash := sd[sh.Index("version")], sd[sh.Index("hash")]; v != 3 || hash != fileHash(t, shadow) {
		t.Errorf("transaction 9001: shadow version %v hash %v; want 3, %s", v, hash, fileHash(t, shadow))
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
