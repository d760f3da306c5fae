package main

import (
	"context"
	"fmt"
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

// splitParts splits the world's transactions.csv, in file order, into
// folders of the given numbers of transactions (summing to w.n), each a
// transactions.csv with the header, for publish stages (DATASET=folder).
func (w *world) splitParts(t *testing.T, sizes ...int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.data, "transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	header, rows := lines[0], lines[1:]
	var dirs []string
	for _, k := range sizes {
		if k > len(rows) {
			t.Fatalf("parts of %v transactions, but transactions.csv has %d", sizes, w.n)
		}
		dir := t.TempDir()
		part := strings.Join(rows[:k], "")
		if !strings.HasSuffix(part, "\n") {
			part += "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "transactions.csv"), []byte(header+part), 0o644); err != nil {
			t.Fatal(err)
		}
		rows = rows[k:]
		dirs = append(dirs, dir)
	}
	return dirs
}

// TestFaultReloadRules is the acceptance of hot reload: a validator follows
// the topic (run --stage validate --follow, banking-shadow.yaml, whose
// validate stage also decides a shadow ruleset) while its live rule file is
// edited four times, in four parts of the transactions published one after
// the other:
//   - part 1 before any edit;
//   - a misspelt field (lint fails) and a threshold raised to 60% without
//     its tests (a test fails): both refused, each logged with why; part 2
//     is decided by the rules the validator has;
//   - the threshold at 60% with its tests changed: taken between two
//     batches, and part 3, published after it, is decided by it;
//   - while part 4 (the largest) streams in, 65% with its tests: taken
//     mid-stream, so part 4 is decided by the 60% file up to a point and by
//     the 65% one after it, card by card in that order, never back.
//
// Every transaction is decided once (none lost, none doubled: each card's
// pending balance is its balance plus its pending amounts, the offsets
// stored count every record once), its shadow decision is recorded beside
// it, and each decision carries the hash of the file that made it.
func TestFaultReloadRules(t *testing.T) {
	long(t)
	const n = 15000
	began := time.Now()
	w := newWorld(t, n)
	w.spec = copySpec(t, "../../configs/banking-shadow.yaml")
	rulesPath := filepath.Join(filepath.Dir(filepath.Dir(w.spec)), "rules", "validation.yaml")
	d := w.database(t)
	// Parts 1 to 3, then part 4 in 12 pieces of 1,000.
	sizes := []int{1000, 1000, 1000}
	for range 12 {
		sizes = append(sizes, 1000)
	}
	parts := w.splitParts(t, sizes...)
	d.stages(t, "reset", "load")
	publish := func(i int) *proc {
		t.Helper()
		return d.start(t, []string{"DATASET=" + parts[i]}, "--stage", "publish")
	}
	original, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	hashes := []string{fileHash(t, rulesPath)}

	v := start(t, d.env, "-v", "run", d.specPath(), "--stage", "validate", "--follow")
	waitOutput(t, v, "watching rule files", 1, time.Minute)
	publish(0).finish(t, time.Minute, "publish")
	waitCommitted(t, d.DB, "validator", 1000, v, time.Minute)

	// Two broken edits, refused.
	const refused, reloaded = "rule file change refused", "rule file reloaded"
	var latency []time.Duration // from each edit to its refusal or reload in the log
	edit := func(text string, rename bool, want string, count int) {
		t.Helper()
		at := time.Now()
		editFile(t, rulesPath, text, rename)
		waitOutput(t, v, want, count, time.Minute)
		latency = append(latency, time.Since(at).Round(time.Millisecond))
	}
	edit(strings.Replace(string(original), "abs(tx.amount) >= 0.5", "abs(tx.ammount) >= 0.5", 1), false, refused, 1)
	edit(strings.Replace(string(original), "abs(tx.amount) >= 0.5", "abs(tx.amount) >= 0.6", 1), true, refused, 2)
	out := v.out.String()
	for _, why := range []string{"it does not lint", "tx has no field ammount", "1 of its 15 tests fail", "exactly half the limit is declined"} {
		if !strings.Contains(out, why) {
			t.Errorf("the refusals do not say %q:\n%s", why, tail(out))
		}
	}
	publish(1).finish(t, time.Minute, "publish")
	waitCommitted(t, d.DB, "validator", 2000, v, time.Minute)

	// Good edits: a threshold and its tests.
	threshold := func(factor, pct, at, under, version string) string {
		return strings.NewReplacer(
			"abs(tx.amount) >= 0.5", "abs(tx.amount) >= "+factor,
			"is at least half the credit limit", "is at least "+pct+"% of the credit limit",
			"exactly half the limit is declined", "exactly "+pct+"% of the limit is declined",
			"{amount: 500.00, transaction_type: purchase}", "{amount: "+at+", transaction_type: purchase}",
			"a cent under half the limit passes", "a cent under "+pct+"% of the limit passes",
			"{amount: 499.99, transaction_type: purchase}", "{amount: "+under+", transaction_type: purchase}",
			"{amount: -600.00, transaction_type: refund}", "{amount: -700.00, transaction_type: refund}",
			"version: 1", "version: "+version,
		).Replace(string(original))
	}
	edit(threshold("0.6", "60", "600.00", "599.99", "2"), true, reloaded, 1)
	hashes = append(hashes, fileHash(t, rulesPath))
	publish(2).finish(t, time.Minute, "publish")
	waitCommitted(t, d.DB, "validator", 3000, v, time.Minute)

	// Part 4 streams in, piece by piece, while the rules change: the edit
	// once its first piece is decided, 8 more pieces published meanwhile,
	// the last 3 once the reload is logged.
	publish(3).finish(t, time.Minute, "publish")
	atEdit := waitCommitted(t, d.DB, "validator", 4000, v, time.Minute)
	editedAt := time.Now()
	editFile(t, rulesPath, threshold("0.65", "65", "650.00", "649.99", "3"), false)
	meanwhile := 0 // pieces published before the reload was logged
	atReload := int64(-1)
	seen := func() {
		if atReload < 0 && strings.Count(v.out.String(), reloaded) >= 2 {
			latency = append(latency, time.Since(editedAt).Round(time.Millisecond))
			atReload = committed(d.DB, "validator")
		}
	}
	for i := 4; i < 12; i++ {
		if seen(); atReload < 0 {
			meanwhile++
		}
		publish(i).finish(t, time.Minute, "publish")
	}
	waitOutput(t, v, reloaded, 2, time.Minute)
	seen()
	hashes = append(hashes, fileHash(t, rulesPath))
	for i := 12; i < len(parts); i++ {
		publish(i).finish(t, time.Minute, "publish")
	}
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

	// Every transaction decided once.
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

	// By the rules of their time: parts 1 and 2 by the original file, part 3
	// by the 60% one, part 4 by the 60% one and then the 65% one.
	ids := make([]string, 6) // parts 1 to 3, part 4 and its last 3 pieces
	for i := range parts {
		j := min(i, 3)
		if ids[j] != "" {
			ids[j] += ","
		}
		ids[j] += partIDs(t, parts[i])
	}
	for i := 12; i < len(parts); i++ {
		if ids[4] != "" {
			ids[4] += ","
		}
		ids[4] += partIDs(t, parts[i])
	}
	byHash := func(ids string, hs ...string) int64 {
		return d.count(t, "SELECT COUNT(*) FROM transactions WHERE transaction_id IN ("+ids+") AND ruleset_hash IN ('"+strings.Join(hs, "','")+"')")
	}
	for i, want := range [][]string{{hashes[0]}, {hashes[0]}, {hashes[1]}, {hashes[1], hashes[2]}, {hashes[2]}} {
		what := fmt.Sprintf("part %d", i+1)
		if i == 4 {
			what = "the pieces of part 4 published after the reload"
		}
		if got, all := byHash(ids[i], want...), int64(strings.Count(ids[i], ",")+1); got != all {
			t.Errorf("%s: %d of %d transactions decided by the rules of hash %v", what, got, all, want)
		}
	}
	for i, h := range hashes {
		if v := d.count(t, "SELECT COUNT(DISTINCT ruleset_version) FROM transactions WHERE ruleset_hash = ?", h); v != 1 ||
			d.count(t, "SELECT MIN(ruleset_version) FROM transactions WHERE ruleset_hash = ?", h) != int64(i+1) {
			t.Errorf("the decisions of hash %s do not all carry version %d", h, i+1)
		}
	}
	// Card by card, in the order of its transactions (the order they were
	// decided in): the 60% file, then the 65% one, never back.
	back := d.count(t, `SELECT COUNT(*) FROM transactions a JOIN transactions b ON b.card_id = a.card_id AND b.transaction_id > a.transaction_id
		WHERE a.ruleset_hash = ? AND b.ruleset_hash = ?`, hashes[2], hashes[1])
	if back != 0 {
		t.Errorf("%d pairs of a card's transactions decided by the 65%% file and then, later, by the 60%% one", back)
	}
	sixty, sixtyFive := byHash(ids[3], hashes[1]), byHash(ids[3], hashes[2])
	// What the first good edit changed: amounts of 50% to 60% of the limit
	// are declined as large before it, and not after.
	ratio := func(ids, where string) int64 {
		return d.count(t, `SELECT COUNT(*) FROM transactions t JOIN cards c ON c.card_id = t.card_id
			WHERE t.transaction_id IN (`+ids+`) AND ABS(t.amount) >= 0.5 * c.credit_limit AND ABS(t.amount) < 0.6 * c.credit_limit AND `+where)
	}
	if bad := ratio(ids[0]+","+ids[1], "t.rule NOT IN ('negative_amount', 'large_amount')"); bad != 0 {
		t.Errorf("%d transactions of 50%% to 60%% of the limit passed before the reload", bad)
	}
	if bad, through := ratio(ids[2]+","+ids[3], "t.rule = 'large_amount'"), ratio(ids[2]+","+ids[3], "t.rule <> 'large_amount'"); bad != 0 || through == 0 {
		t.Errorf("after the reload, of the transactions of 50%% to 60%% of the limit %d were declined as large and %d were not; want 0 and some", bad, through)
	}

	// The shadow's decision beside each live one, before and after.
	if got := d.count(t, `SELECT COUNT(*) FROM shadow_decisions s JOIN transactions t ON t.transaction_id = s.transaction_id
		WHERE s.live_outcome = t.status AND s.live_rule = t.rule AND s.hash = ?`, fileHash(t, filepath.Join(filepath.Dir(rulesPath), "validation-next.yaml"))); got != n {
		t.Errorf("%d shadow decisions beside the live ones, want %d", got, n)
	}
	t.Logf("figures: %d transactions in parts of 1,000, 1,000, 1,000 and 12 x 1,000; 2 edits refused, 2 taken, edit to log %v; "+
		"part 4: edited at %d committed, %d pieces published before the reload was logged (%d committed then), "+
		"%d decided by the 60%% file and %d by the 65%% one, 0 back; decided %d, lost 0, doubled 0; hashes %s; test %v",
		n, latency, atEdit, meanwhile, atReload, sixty, sixtyFive, n, strings.Join(hashes, " -> "), time.Since(began).Round(time.Millisecond))
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
