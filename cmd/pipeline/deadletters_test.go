package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// deadLetterRows returns the (source, run_id) pairs of the dead-letter
// table and of the dead-letter file, each sorted.
func deadLetterRows(t *testing.T, db *sql.DB, file string) (table, inFile []string) {
	t.Helper()
	rows, err := db.Query("SELECT source, COALESCE(run_id, '') FROM dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var src, run string
		if err := rows.Scan(&src, &run); err != nil {
			t.Fatal(err)
		}
		table = append(table, src+" "+run)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, file)
	if len(recs) == 0 || !slices.Equal(recs[0], []string{"id", "stage", "source", "reason", "payload", "time", "run_id"}) {
		t.Fatalf("%s: header %v", file, recs)
	}
	for _, r := range recs[1:] {
		inFile = append(inFile, r[2]+" "+r[6])
	}
	slices.Sort(table)
	slices.Sort(inFile)
	return table, inFile
}

// TestDeadLettersAcrossRuns: the dead-letter file holds the letters of the
// state (every run since the last reset), as the table does: a later
// `--stage settle` keeps the letter validate found, and a second whole run,
// which starts with reset, leaves one letter in both, not two in the table.
func TestDeadLettersAcrossRuns(t *testing.T) {
	db := testDatabase(t)
	results := t.TempDir()
	t.Setenv("RESULTS", results)
	t.Setenv("DATASET", datasetCopy(t, func(name, text string) string {
		if name == "transactions.csv" {
			return withField(t, text, 6, 1, "99999") // transaction 5: a card that does not exist
		}
		return text
	}))
	file := filepath.Join(results, "dead_letters.csv")

	out := mustPipeline(t, "run", "../../configs/banking.yaml")
	// The summary says where things went: the database, the broker and
	// the folder of the files written.
	var dbName string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	out = strings.NewReplacer(dbName, "$DATABASE", results, "$RESULTS", filepath.Clean(os.Getenv("KAFKA_DATA_DIR")), "$KAFKA_DATA_DIR").Replace(withoutTimings(out))
	golden(t, filepath.Join("testdata", "state", "summary.golden"), out)
	table, inFile := deadLetterRows(t, db, file)
	if len(table) != 1 || !slices.Equal(table, inFile) {
		t.Fatalf("after a whole run: table %q, file %q; want the same one letter", table, inFile)
	}
	first := table

	mustPipeline(t, "run", "../../configs/banking.yaml", "--stage", "settle")
	table, inFile = deadLetterRows(t, db, file)
	if !slices.Equal(table, first) || !slices.Equal(inFile, first) {
		t.Errorf("after --stage settle: table %q, file %q; want both %q", table, inFile, first)
	}

	mustPipeline(t, "run", "../../configs/banking.yaml")
	table, inFile = deadLetterRows(t, db, file)
	if len(table) != 1 || !slices.Equal(table, inFile) {
		t.Errorf("after a second whole run: table %q, file %q; want the same one letter", table, inFile)
	}
	if slices.Equal(table, first) {
		t.Errorf("the second run's letter %q has the first run's source and run id", table)
	}
}
