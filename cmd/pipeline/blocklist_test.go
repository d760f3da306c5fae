package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests of configs/banking-blocklist.yaml: a list of blocked merchants
// (a table read whole by the validate stage) and an optional customer lookup.

const blocklistSpec = "../../configs/banking-blocklist.yaml"

// listedMerchants reads the merchant names of a blocked_merchants.csv.
func listedMerchants(t *testing.T, path string) map[string]bool {
	t.Helper()
	listed := map[string]bool{}
	for _, r := range readCSV(t, path)[1:] {
		listed[r[0]] = true
	}
	return listed
}

// TestBlocklistDecides: on dataset_16, the blocklist config declines every
// transaction of a listed merchant (rule blocked_merchant), and decides
// every other transaction as configs/banking.yaml does: the transactions it
// turns from pending to declined are exactly the listed merchants' pending
// ones. (Their cards' later pending balances are lower by the amounts not
// taken; no other decision changes.)
func TestBlocklistDecides(t *testing.T) {
	plain, listed := t.TempDir(), t.TempDir()
	mustPipeline(t, "dry-run", bankingSpec, "--out", plain)
	mustPipeline(t, "dry-run", blocklistSpec, "--out", listed)
	names := listedMerchants(t, "../../dataset_16/blocked_merchants.csv")
	p, b := readCSV(t, filepath.Join(plain, "stream_transactions.csv")), readCSV(t, filepath.Join(listed, "stream_transactions.csv"))
	if len(p) != len(b) || len(p) != 403 {
		t.Fatalf("%d and %d rows, want 403 each", len(p), len(b))
	}
	const merchant, status, rule = 2, 8, 10
	blocked, wasPending, wasDeclined := 0, 0, 0
	for i := 1; i < len(p); i++ {
		if p[i][0] != b[i][0] {
			t.Fatalf("row %d: transaction %s and %s", i, p[i][0], b[i][0])
		}
		if names[b[i][merchant]] {
			blocked++
			if b[i][status] != "declined" || b[i][rule] != "blocked_merchant" {
				t.Errorf("transaction %s at listed merchant %q: %s (%s), want declined (blocked_merchant)", b[i][0], b[i][merchant], b[i][status], b[i][rule])
			}
			if p[i][status] == "pending" {
				wasPending++
			} else {
				wasDeclined++
			}
			continue
		}
		if b[i][status] != p[i][status] || b[i][rule] != p[i][rule] {
			t.Errorf("transaction %s at %q, not listed: %s (%s), but %s (%s) without the list", b[i][0], b[i][merchant], b[i][status], b[i][rule], p[i][status], p[i][rule])
		}
	}
	if blocked != 7 || wasPending != 6 || wasDeclined != 1 {
		t.Errorf("%d transactions at listed merchants (%d pending and %d declined without the list); want 7 (6 and 1)", blocked, wasPending, wasDeclined)
	}
	t.Logf("figures: %d transactions at %d listed merchants declined, %d of them pending without the list", blocked, len(names), wasPending)
}

// withoutCustomer copies dataset_16 into a folder of its own without the
// customer of the first transaction's card, and returns the folder and the
// cards of that customer.
func withoutCustomer(t *testing.T) (string, map[string]bool) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"cards.csv", "credit_card_types.csv", "transactions.csv", "blocked_merchants.csv"} {
		b, err := os.ReadFile(filepath.Join("../../dataset_16", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	card := readCSV(t, "../../dataset_16/transactions.csv")[1][1]
	cards := readCSV(t, "../../dataset_16/cards.csv")
	customer := ""
	for _, r := range cards[1:] {
		if r[0] == card {
			customer = r[1]
		}
	}
	orphans := map[string]bool{}
	for _, r := range cards[1:] {
		if r[1] == customer {
			orphans[r[0]] = true
		}
	}
	var kept bytes.Buffer
	w := csv.NewWriter(&kept)
	for _, r := range readCSV(t, "../../dataset_16/customers.csv") {
		if r[0] != customer {
			w.Write(r)
		}
	}
	w.Flush()
	if err := os.WriteFile(filepath.Join(dir, "customers.csv"), kept.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, orphans
}

// TestBlocklistRunEqualsDryRun: pipeline run (MariaDB, the embedded broker)
// gives the dry-run's files with a customer missing: the transactions of
// that customer's cards are declined as unknown_customer by both, none goes
// to the dead letters of validate, and the listed merchants are declined.
func TestBlocklistRunEqualsDryRun(t *testing.T) {
	data, orphans := withoutCustomer(t)
	t.Setenv("DATASET", data)
	dry := t.TempDir()
	mustPipeline(t, "dry-run", blocklistSpec, "--out", dry)
	db := testDatabase(t)
	out := t.TempDir()
	t.Setenv("RESULTS", out)
	mustPipeline(t, "run", blocklistSpec)
	for _, f := range resultFiles {
		got, _ := os.ReadFile(filepath.Join(out, f))
		want, _ := os.ReadFile(filepath.Join(dry, f))
		if !bytes.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s differs from the dry-run's", f)
		}
	}
	unknown := 0
	for _, r := range readCSV(t, filepath.Join(dry, "stream_transactions.csv"))[1:] {
		if orphans[r[1]] != (r[10] == "unknown_customer") && r[10] != "blocked_merchant" {
			t.Errorf("transaction %s of card %s: rule %s", r[0], r[1], r[10])
		}
		if r[10] == "unknown_customer" {
			unknown++
		}
	}
	if unknown == 0 {
		t.Error("no transaction declined as unknown_customer")
	}
	for _, dir := range []string{dry, out} {
		for _, r := range readCSV(t, filepath.Join(dir, "dead_letters.csv"))[1:] {
			if r[1] == "validate" {
				t.Errorf("%s: a dead letter of validate: %v", dir, r)
			}
		}
	}
	var blocked, decided int
	db.QueryRow("SELECT SUM(rule = 'blocked_merchant'), SUM(rule = 'unknown_customer') FROM transactions").Scan(&blocked, &decided)
	if blocked != 7 || decided != unknown {
		t.Errorf("MySQL: %d blocked_merchant and %d unknown_customer decisions; want 7 and %d", blocked, decided, unknown)
	}
	t.Logf("figures: %d transactions of %d cards with no customer declined as unknown_customer, 7 at listed merchants, run = dry-run", unknown, len(orphans))
}

// TestBlocklistFollowSeesEdits: a validator follows the topic (run --stage
// validate --follow) while the blocked_merchants table is edited in MySQL,
// as operations staff would: a merchant added is declined in the
// transactions published once the validator has read the list again (its
// log says so within the spec's refresh interval, 300 ms here), and no
// longer once it is removed again. Transactions decided before each edit
// keep their decisions.
func TestBlocklistFollowSeesEdits(t *testing.T) {
	long(t)
	const n, merchant = 1500, "Listed Merchant Ltd"
	w := newWorld(t, n)
	w.spec = copySpec(t, blocklistSpec)
	spec, err := os.ReadFile(w.spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(spec), "refresh: 30s") {
		t.Fatal("the blocklist spec no longer refreshes every 30s")
	}
	editFile(t, w.spec, strings.Replace(string(spec), "refresh: 30s", "refresh: 300ms", 1), false)
	// Every fifth transaction at the merchant; the list starts without it.
	rows := readCSV(t, filepath.Join(w.data, "transactions.csv"))
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	for i, r := range rows {
		if i > 0 && i%5 == 0 {
			r[2] = merchant
		}
		cw.Write(r)
	}
	cw.Flush()
	if err := os.WriteFile(filepath.Join(w.data, "transactions.csv"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.data, "blocked_merchants.csv"), []byte("merchant_name,reason\nSomeone Else,test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parts := w.splitParts(t, 500, 500, 500)
	d := w.database(t)
	d.stages(t, "reset", "load")
	publish := func(i int) {
		t.Helper()
		d.start(t, []string{"DATASET=" + parts[i]}, "--stage", "publish").finish(t, time.Minute, "publish")
	}
	v := start(t, d.env, "-v", "run", d.specPath(), "--stage", "validate", "--follow")
	publish(0)
	waitCommitted(t, d.DB, "validator", 500, v, time.Minute)

	const changed = "list changed"
	var latency []time.Duration // from each edit to the log of the list read again
	edit := func(q string, count int) {
		t.Helper()
		at := time.Now()
		if _, err := d.Exec(q, merchant); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, v, changed, count, time.Minute)
		latency = append(latency, time.Since(at).Round(time.Millisecond))
	}
	edit("INSERT INTO blocked_merchants (merchant_name, reason) VALUES (?, 'added by the test')", 1)
	publish(1)
	waitCommitted(t, d.DB, "validator", 1000, v, time.Minute)
	edit("DELETE FROM blocked_merchants WHERE merchant_name = ?", 2)
	publish(2)
	waitCommitted(t, d.DB, "validator", n, v, time.Minute)
	if _, err := v.interrupt(t); err != nil {
		t.Fatalf("the following validator, interrupted: %s\n%s", exitText(err), tail(v.out.String()))
	}
	if st, ok := v.stats("validate"); !ok || st.in != n || st.out != n || st.dead != 0 {
		t.Errorf("validate: %s; want %d in and out, no dead letters", st, n)
	}
	for i, wantBlocked := range []bool{false, true, false} {
		ids := partIDs(t, parts[i])
		at := d.count(t, "SELECT COUNT(*) FROM transactions WHERE transaction_id IN ("+ids+") AND merchant_name = ?", merchant)
		blocked := d.count(t, "SELECT COUNT(*) FROM transactions WHERE transaction_id IN ("+ids+") AND rule = 'blocked_merchant'")
		want := int64(0)
		if wantBlocked {
			want = at
		}
		if at == 0 || blocked != want {
			t.Errorf("part %d: %d transactions at %s, %d declined as blocked_merchant; want %d", i+1, at, merchant, blocked, want)
		}
	}
	t.Logf("figures: %d transactions in 3 parts of 500, every fifth at %s; list refreshed every 300ms; edit to log of the new list: %v", n, merchant, latency)
}

// TestOptionalLookupsRunEqualsDryRun: the generic pipeline of
// engine/testdata/lists (optional lookups in a rekey stage, a stream stage
// and a batch step, and a list) gives the same files on MariaDB and the
// embedded broker as in a dry-run, with no dead letters in either.
func TestOptionalLookupsRunEqualsDryRun(t *testing.T) {
	const from = "../../engine/testdata/lists"
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"spec.yaml", "rules.yaml", "in/accounts.csv", "in/owners.csv", "in/blocked.csv", "in/orders.csv"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "spec.yaml" {
			text := strings.NewReplacer(
				"  db: {kind: memory}\n", "  db: {kind: mysql, dsn: \"${MYSQL_DSN}\"}\n",
				"  bus: {kind: memory}\n", "  bus: {kind: kafka, brokers: embedded, data_dir: \"${KAFKA_DATA_DIR}\"}\n",
			).Replace(string(b))
			if !strings.Contains(text, "kind: mysql") || !strings.Contains(text, "kind: kafka") {
				t.Fatal("engine/testdata/lists/spec.yaml no longer declares db and bus as memory connectors")
			}
			b = []byte(text)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := filepath.Join(dir, "spec.yaml")
	testDatabase(t)
	dry, run := t.TempDir(), t.TempDir()
	t.Setenv("OUT", dry)
	out := mustPipeline(t, "dry-run", spec, "--out", dry)
	t.Setenv("OUT", run)
	out += mustPipeline(t, "run", spec)
	for _, f := range []string{"orders.csv", "accounts.csv"} {
		got, _ := os.ReadFile(filepath.Join(run, f))
		want, _ := os.ReadFile(filepath.Join(dry, f))
		if !bytes.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s: run gives\n%s\ndry-run gives\n%s", f, got, want)
		}
	}
	if orders, _ := os.ReadFile(filepath.Join(run, "orders.csv")); !strings.Contains(string(orders), "4,9,Good,10.00,rejected,no_account,\n") ||
		!strings.Contains(string(orders), "5,2,Evil,10.00,rejected,blocked_shop,\n") {
		t.Errorf("orders.csv of the run:\n%s", orders)
	}
	seen := 0 // summary lines of the stages with lookups, in both
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && (f[0] == "rekey" || f[0] == "decide" || f[0] == "settle") {
			seen++
			if f[4] != "0" {
				t.Errorf("dead letters: %s", line)
			}
		}
	}
	if seen != 6 {
		t.Errorf("%d summary lines of rekey, decide and settle, want 6:\n%s", seen, out)
	}
}
