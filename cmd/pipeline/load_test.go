package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// datasetCopy copies dataset_16 into a temp folder, each file passed
// through edit (by name) when edit is not nil, and returns the folder.
func datasetCopy(t *testing.T, edit func(name, data string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"customers.csv", "credit_card_types.csv", "cards.csv", "transactions.csv"} {
		data, err := os.ReadFile(filepath.Join("../../dataset_16", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if edit != nil {
			text = edit(name, text)
		}
		writeFile(t, filepath.Join(dir, name), text)
	}
	return dir
}

// withField returns csv text with field i of line n (the header is line 1)
// replaced by value.
func withField(t *testing.T, text string, n, i int, value string) string {
	t.Helper()
	lines := strings.Split(text, "\r\n")
	fields := strings.Split(lines[n-1], ",")
	if i >= len(fields) {
		t.Fatalf("line %d has %d fields", n, len(fields))
	}
	fields[i] = value
	lines[n-1] = strings.Join(fields, ",")
	return strings.Join(lines, "\r\n")
}

// referenceQueries read every row of the tables load replaces.
var referenceQueries = []string{
	"SELECT customer_id, name, phone_number, address, email, credit_score, annual_income, score_change FROM customers ORDER BY customer_id",
	"SELECT card_type_id, name, credit_score_min, credit_score_max, credit_limit_min, credit_limit_max, annual_fee, rewards_rate FROM credit_card_types ORDER BY card_type_id",
	"SELECT card_id, customer_id, card_type_id, card_number, expiration_date, credit_limit, current_balance, issue_date, pending_balance FROM cards ORDER BY card_id",
}

// wholeState reads every table a run of the banking spec writes, and the
// offsets its stream stage commits.
func wholeState(t *testing.T, db *sql.DB) snapshot {
	t.Helper()
	return takeSnapshot(t, db, append(referenceQueries,
		"SELECT transaction_id, card_id, amount, status, pending_balance, rule, reason, ruleset_version FROM transactions ORDER BY transaction_id",
		"SELECT CONCAT(group_name, '/', topic, '/', part), next_offset FROM _pipeline_offsets ORDER BY group_name, topic, part",
		"SELECT id, stage, source, reason FROM dead_letters ORDER BY id")...)
}

// userSees returns what a user of `pipeline ARGS` sees: the output, the
// error as main reports it, and the exit status.
func userSees(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := pipeline(t, args...)
	var msg bytes.Buffer
	status := report(&msg, err, nil)
	return out + msg.String(), status
}

// count returns the result of a SELECT COUNT(*) query.
func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestLoadOversizeRow: a CSV row with a 50 MB field, over the server's
// max_allowed_packet, goes to the dead letters with its file and line; the
// other rows are loaded, and the run exits 0 as with other dead letters
// (it used to lose the connection, retry for 30 s and leave the table empty).
func TestLoadOversizeRow(t *testing.T) {
	db := testDatabase(t)
	results := t.TempDir()
	t.Setenv("RESULTS", results)
	big := strings.Repeat("9", 50<<20)
	data := datasetCopy(t, func(name, text string) string {
		if name == "cards.csv" {
			return withField(t, text, 11, 3, big) // card 10's card_number
		}
		return text
	})
	t.Setenv("DATASET", data)
	began := time.Now()
	out, status := userSees(t, "run", bankingSpec, "--stage", "load")
	took := time.Since(began)
	if status != 0 {
		t.Fatalf("exit status %d, want 0:\n%s", status, tail(out))
	}
	line := regexp.MustCompile(`(?m)^\s*load\s+load\s+(\d+)\s+(\d+)\s+(\d+)\s`).FindStringSubmatch(out)
	if line == nil || line[1] != "94" || line[2] != "93" || line[3] != "1" {
		t.Errorf("load summary %q, want in 94, out 93, dead 1:\n%s", line, tail(out))
	}
	want := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(filepath.Join(data, "cards.csv")) +
		`:11 \[load\]: cannot be written to table db:cards: row is 52428\d\d\d bytes, more than the \d+ bytes the MySQL server takes in one statement \(max_allowed_packet \d+, less 4096 for the statement\)$`)
	if !want.MatchString(out) {
		t.Errorf("no dead letter line matching %s:\n%s", want, tail(out))
	}
	for table, n := range map[string]int{"customers": 30, "credit_card_types": 5, "cards": 58} {
		if got := count(t, db, "SELECT COUNT(*) FROM "+table); got != n {
			t.Errorf("%s holds %d rows, want %d", table, got, n)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM cards WHERE card_id = 10"); n != 0 {
		t.Error("card 10, the oversize row, was loaded")
	}
	if n := count(t, db, "SELECT COUNT(*) FROM dead_letters WHERE stage = 'load' AND source = ? AND reason LIKE '%max_allowed_packet%'",
		filepath.Join(data, "cards.csv")+":11"); n != 1 {
		t.Errorf("%d dead letters of the row in MySQL, want 1", n)
	}
	letters, err := os.ReadFile(filepath.Join(results, "dead_letters.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) < 50<<20 || !bytes.Contains(letters, []byte("cards.csv:11")) {
		t.Errorf("dead_letters.csv (%d bytes) does not hold the row whole", len(letters))
	}
	t.Logf("figures: load of a 50 MiB row: exit %d in %v; in %s, out %s, dead %s", status, took.Round(time.Millisecond), line[1], line[2], line[3])
}

// TestLoadFailureKeepsTables: a load that fails part-way (its third file
// has a value the table cannot take, after two files were loaded) leaves
// every table as it was, the first two included.
func TestLoadFailureKeepsTables(t *testing.T) {
	db := testDatabase(t)
	t.Setenv("RESULTS", t.TempDir())
	t.Setenv("DATASET", datasetCopy(t, nil))
	mustPipeline(t, "run", bankingSpec, "--stage", "load")
	before := takeSnapshot(t, db, referenceQueries...)

	t.Setenv("DATASET", datasetCopy(t, func(name, text string) string {
		switch name {
		case "customers.csv":
			return strings.ReplaceAll(text, "@example.com", "@example.org") // loaded, then rolled back
		case "cards.csv":
			return withField(t, text, 40, 3, strings.Repeat("4", 3000)) // longer than the column's 2048
		}
		return text
	}))
	out, status := userSees(t, "run", bankingSpec, "--stage", "load")
	if status != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", status, tail(out))
	}
	for _, want := range []string{"stage load: mysql tx on ", ": load files:", "cards.csv into db:cards", "Data too long for column", "rolled back: every table keeps the rows it had"} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not say %q:\n%s", want, tail(out))
		}
	}
	after := takeSnapshot(t, db, referenceQueries...)
	if lost, extra, changed, ex := diff(before, after); lost+extra+changed > 0 {
		t.Errorf("the failed load changed the tables: %d rows lost, %d added, %d changed: %v", lost, extra, changed, ex)
	}
	t.Logf("figures: failed load exit %d; tables unchanged (%d customers, %d card types, %d cards, digest %.12s)",
		status, before.counts["customers"], before.counts["credit_card_types"], before.counts["cards"], before.digest)
}

// TestWholeRunMissingDataset: a whole-spec run whose DATASET names no
// folder exits 1 naming every missing file and the variable, and runs no
// stage: the decisions, offsets, topic and reference tables stay as they were.
func TestWholeRunMissingDataset(t *testing.T) {
	db := testDatabase(t)
	t.Setenv("RESULTS", t.TempDir())
	t.Setenv("DATASET", datasetCopy(t, nil))
	mustPipeline(t, "run", bankingSpec)
	before := wholeState(t, db)
	if before.counts["transactions"] != 402 || before.counts["_pipeline_offsets"] == 0 {
		t.Fatalf("the first run left %d decisions and %d offsets rows", before.counts["transactions"], before.counts["_pipeline_offsets"])
	}

	missing := filepath.Join(t.TempDir(), "dataset_61")
	t.Setenv("DATASET", missing)
	out, status := userSees(t, "run", bankingSpec)
	if status != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", status, tail(out))
	}
	for _, name := range []string{"customers.csv", "credit_card_types.csv", "cards.csv"} {
		want := "stage load cannot read its input files:" + filepath.Join(missing, name) + ": open csv file: open "
		if !strings.Contains(out, want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"stage publish cannot read its input files:" + filepath.Join(missing, "transactions.csv"),
		"no such file or directory (the path comes from the variable DATASET: check its value); no stage was run",
		`{from: "files:${DATASET:-dataset_16}/cards.csv", to: db:cards}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "reset ") {
		t.Errorf("a stage ran:\n%s", out)
	}
	after := wholeState(t, db)
	if lost, extra, changed, ex := diff(before, after); lost+extra+changed > 0 || after.digest != before.digest {
		t.Errorf("the run changed MySQL: %d rows lost, %d added, %d changed: %v", lost, extra, changed, ex)
	}
	// The topic still holds every record: a new group finds them all decided.
	out = mustPipeline(t, "run", bankingSpec, "--stage", "validate", "--group", "recount")
	if line := regexp.MustCompile(`(?m)^\s*validate\s+stream\s+402\s+0\s+0\s+402\s`).FindString(out); line == "" {
		t.Errorf("a new group did not find the topic's 402 records decided:\n%s", out)
	}
	t.Logf("figures: missing DATASET: exit %d; %d decisions, %d offsets rows, %d cards unchanged (digest %.12s)",
		status, after.counts["transactions"], after.counts["_pipeline_offsets"], after.counts["cards"], after.digest)
}

// TestLoadRefusesOverStreamState: after a validate committed offsets (here
// under another group than the spec's), loading the table the stream
// saves its state in alone is refused, naming the table, the stage, the
// group and the reset to run, and changes nothing; after that reset it
// loads.
func TestLoadRefusesOverStreamState(t *testing.T) {
	db := testDatabase(t)
	t.Setenv("RESULTS", t.TempDir())
	t.Setenv("DATASET", datasetCopy(t, nil))
	mustPipeline(t, "run", bankingSpec, "--stage", "reset", "--stage", "load", "--stage", "publish")
	mustPipeline(t, "run", bankingSpec, "--stage", "validate", "--group", "partial")
	before := wholeState(t, db)
	pending := count(t, db, "SELECT COUNT(*) FROM cards WHERE pending_balance IS NOT NULL")
	if pending == 0 {
		t.Fatal("validate left no pending balance")
	}

	out, status := userSees(t, "run", bankingSpec, "--stage", "load")
	if status != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", status, tail(out))
	}
	want := "pipeline: stage load: refusing to load db:cards: stream stage validate saves its state there (save: card), " +
		"and consumer group partial (402 records) has committed offsets of topic transactions; loading would replace that state " +
		"while the decisions and offsets stay. Run --stage reset first (it empties its tables and topics and forgets the topic's offsets), " +
		"then load and publish again; or run the whole spec."
	if !strings.Contains(out, want) {
		t.Errorf("the error does not say:\n%s\nit says:\n%s", want, tail(out))
	}
	after := wholeState(t, db)
	if lost, extra, changed, ex := diff(before, after); lost+extra+changed > 0 {
		t.Errorf("the refused load changed MySQL: %d rows lost, %d added, %d changed: %v", lost, extra, changed, ex)
	}

	mustPipeline(t, "run", bankingSpec, "--stage", "reset", "--stage", "load")
	if n := count(t, db, "SELECT COUNT(*) FROM cards WHERE pending_balance IS NOT NULL"); n != 0 {
		t.Errorf("after reset and load, %d cards keep a pending balance", n)
	}
	t.Logf("figures: load after validate refused, exit %d; %d pending balances kept; after reset it loads", status, pending)
}

// TestSettleStartsNoBroker: settle uses no topic, so it starts no embedded
// broker: two settles at once, with the broker's data folder locked by a
// running `pipeline broker`, both exit 0 (each on its own database, so
// nothing but the folder is shared).
func TestSettleStartsNoBroker(t *testing.T) {
	if os.Getenv("PIPELINE_SKIP_MYSQL") == "1" {
		t.Skip("PIPELINE_SKIP_MYSQL=1")
	}
	data := t.TempDir()
	brokerAt(t, freePort(t), data) // holds the folder's lock
	var procs []*proc
	for range 2 {
		dsn, _ := newDatabase(t)
		env := []string{"MYSQL_DSN=" + dsn, "KAFKA_BROKERS=", "KAFKA_DATA_DIR=" + data, "RESULTS=" + t.TempDir()}
		runWait(t, env, "run", bankingSpec, "--stage", "load")
		procs = append(procs, start(t, env, "run", bankingSpec, "--stage", "settle"))
	}
	for i, p := range procs {
		if err := p.wait(t, 2*time.Minute); err != nil {
			t.Errorf("settle %d: %v\n%s", i+1, err, tail(p.out.String()))
		}
		if out := p.out.String(); strings.Contains(out, "kafka") || strings.Contains(out, "data folder") {
			t.Errorf("settle %d speaks of the broker:\n%s", i+1, tail(out))
		}
	}
}
