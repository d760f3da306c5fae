package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOffsetsOfAnotherTopic: the offsets a database holds belong to the
// topic they were taken on. Validate runs in a database with one broker
// folder; pointed at another folder (another broker's topic of the same
// name, full of records), validate stops before consuming with what
// happened and what to run, and writes nothing.
func TestOffsetsOfAnotherTopic(t *testing.T) {
	db := testDatabase(t)
	t.Setenv("RESULTS", t.TempDir())
	t.Setenv("DATASET", datasetCopy(t, nil))
	mustPipeline(t, "run", bankingSpec, "--stage", "reset", "--stage", "load", "--stage", "publish", "--stage", "validate")
	if n := count(t, db, "SELECT COUNT(*) FROM _pipeline_offsets WHERE topic_id IS NULL OR topic_id = ''"); n != 0 {
		t.Errorf("%d offsets rows carry no topic ID", n)
	}
	before := wholeState(t, db)

	first := os.Getenv("KAFKA_DATA_DIR")
	t.Setenv("KAFKA_DATA_DIR", t.TempDir())
	out, status := userSees(t, "run", bankingSpec, "--stage", "publish", "--stage", "validate")
	if status != 1 {
		t.Fatalf("exit status %d, want 1:\n%s", status, tail(out))
	}
	after := wholeState(t, db)
	if lost, extra, changed, ex := diff(before, after); lost+extra+changed > 0 {
		t.Errorf("the refused validate changed MySQL: %d rows lost, %d added, %d changed: %v", lost, extra, changed, ex)
	}
	msg := out[strings.Index(out, "pipeline: "):]
	msg = regexp.MustCompile(`ID [A-Za-z0-9_-]{22}`).ReplaceAllString(msg, "ID <topic id>")
	golden(t, filepath.Join("testdata", "state", "other_topic.golden"), msg)

	// Back on the broker the offsets were taken on, validate goes on.
	t.Setenv("KAFKA_DATA_DIR", first)
	mustPipeline(t, "run", bankingSpec, "--stage", "validate")
	t.Logf("summary and error:\n%s", out)
}
