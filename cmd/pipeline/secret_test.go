package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shown runs the pipeline in dir as main does and returns all it writes,
// the error report included, with the exit status.
func shown(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Chdir(wd); err != nil {
			t.Fatal(err)
		}
	}()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	err = app.Run(interspersed(app, append([]string{"pipeline"}, args...)))
	status := report(errWriter(app), err, nil)
	return out.String(), status
}

// TestSecretVariableNeverShown: a secret variable put in an option where it
// does not belong is not echoed by the error that option causes, nor by the
// -v log, wherever the message comes from (the spec decoder, a connector,
// the MySQL driver); the message still says where and what.
func TestSecretVariableNeverShown(t *testing.T) {
	// Quotes and a space: hidden as %q and the log quote it too. Not a
	// host name, so looking it up fails at once, without DNS.
	const secret = `s3cret "pw"!`
	quoted := strconv.Quote(secret)
	for _, tc := range []struct {
		name      string
		old, new  string // edit of testdata/badinput/spec.yaml
		args      []string
		want      []string // in the output
		wantTimes int      // times *** shows at least
	}{
		{"batch_size", "emit: {status: decision.outcome, rule: decision.rule}",
			"emit: {status: decision.outcome, rule: decision.rule}\n    batch_size: ${MYSQL_PASSWORD}",
			[]string{"-v", "dry-run", "spec.yaml", "--out", "out"},
			[]string{`spec.yaml:31:17: "***" is not a whole number`, "batch_size: ${MYSQL_PASSWORD}"}, 1},
		{"mysql host", "db: {kind: memory}", `db: {kind: mysql, host: "${MYSQL_PASSWORD}"}`,
			[]string{"-v", "run", "spec.yaml", "--stage", "load"},
			[]string{"cannot connect to MySQL at root@***:3306", "lookup ***"}, 2},
		// The error of a stage: in the -v log ("stage failed") and the report.
		{"input file", `"files:in/orders.csv"`, `"files:${MYSQL_PASSWORD}"`,
			[]string{"-v", "dry-run", "spec.yaml", "--out", "out"},
			[]string{"stage publish cannot read its input files:***", "(the path comes from the variable MYSQL_PASSWORD"}, 2},
		{"csv line_ending", "line_ending: lf", `line_ending: "${MYSQL_PASSWORD}"`,
			[]string{"-v", "dry-run", "spec.yaml", "--out", "out"},
			[]string{`option line_ending: "***" is not one of crlf, lf`}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MYSQL_PASSWORD", secret)
			t.Setenv("KAFKA_DATA_DIR", t.TempDir())
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("testdata/badinput")); err != nil {
				t.Fatal(err)
			}
			spec := filepath.Join(dir, "spec.yaml")
			data, err := os.ReadFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.old) {
				t.Fatalf("spec.yaml holds no %q", tc.old)
			}
			writeFile(t, spec, strings.Replace(string(data), tc.old, tc.new, 1))
			out, status := shown(t, dir, tc.args...)
			if status != 1 {
				t.Errorf("exit status %d, want 1", status)
			}
			for _, leak := range []string{secret, quoted[1 : len(quoted)-1], "s3cret"} {
				if strings.Contains(out, leak) {
					t.Errorf("the output shows the secret as %s:\n%s", leak, out)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output does not say %q:\n%s", w, out)
				}
			}
			if n := strings.Count(out, "***"); n < tc.wantTimes {
				t.Errorf("*** shows %d times, want %d or more:\n%s", n, tc.wantTimes, out)
			}
			t.Logf("%s", out)
		})
	}
}
