package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectorsDoc pins what `pipeline connectors` prints: the docs of
// every kind, generated from the option declarations lint checks against.
func TestConnectorsDoc(t *testing.T) {
	out := mustPipeline(t, "connectors")
	golden(t, "testdata/connectors/all.txt", out)
	if _, err := pipeline(t, "connectors", "rabbitmq"); err == nil {
		t.Error("pipeline connectors rabbitmq succeeded")
	}
}

// TestLintConnectorOptions: a connector option with a value its kind does
// not take fails lint at the value, with what it takes, before anything
// runs (a bad partition count or session timeout of the banking spec's
// broker).
func TestLintConnectorOptions(t *testing.T) {
	src, err := os.ReadFile("../../configs/banking.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := "    brokers: \"${KAFKA_BROKERS:-${KAFKA_BOOTSTRAP_SERVERS:-embedded}}\"\n"
	if !strings.Contains(string(src), old) {
		t.Fatal("configs/banking.yaml has no brokers line to add options after")
	}
	bad := strings.Replace(string(src), old, old+"    partitions: abc\n    session_timeout: soon\n", 1)
	// Beside the real spec, so that its relative paths hold (.gitignore
	// keeps configs/_tmp_* out of git).
	path := filepath.Join("../../configs", fmt.Sprintf("_tmp_lint_options_%d.yaml", os.Getpid()))
	writeFile(t, path, bad)
	defer os.Remove(path)
	out, err := pipeline(t, "lint", path)
	var msg bytes.Buffer
	status := report(&msg, err, nil)
	got := strings.ReplaceAll(fmt.Sprintf("%s%sexit status %d\n", out, msg.String(), status), filepath.Base(path), "spec.yaml")
	golden(t, "testdata/connectors/lint_options.txt", got)
}
