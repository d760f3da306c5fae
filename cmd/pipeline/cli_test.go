package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestCommandLine pins what a user sees for the command line's own
// messages (testdata/cli/NAME.txt; -update rewrites them): help, unknown
// verbs and flags, flags after the verb and the spec, the dry-run's note
// on where its files go, and the answers to a MYSQL_DSN it cannot read.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "help", args: []string{"help"}},
		{name: "help_run", args: []string{"help", "run"}},
		{name: "help_connectors", args: []string{"help", "connectors"}},
		{name: "help_unknown", args: []string{"help", "rn"}},
		{name: "no_verb", args: nil},
		{name: "unknown_command", args: []string{"rn", "../../configs/banking.yaml"}},
		{name: "unknown_command_far", args: []string{"frobnicate"}},
		{name: "unknown_flag", args: []string{"run", "../../configs/banking.yaml", "--stgae", "validate"}},
		{name: "unknown_global_flag", args: []string{"--verbos", "run", "../../configs/banking.yaml"}},
		{name: "flag_needs_value", args: []string{"explain", "../../configs/banking.yaml", "--id"}},
		{name: "verbose_after_spec", args: []string{"run", "../../configs/banking.yaml", "-v", "--stage", "nosuch"}},
		{name: "verbose_after_verb", args: []string{"run", "-v", "../../configs/banking.yaml", "--stage", "nosuch"}},
		{name: "env_file_after_spec", args: []string{"lint", "../../configs/banking.yaml", "--env-file", "nowhere.env"}},
		{name: "dry_run_without_out", args: []string{"dry-run", "../../configs/banking.yaml", "--stage", "reset"}},
		{name: "completion_unknown_shell", args: []string{"completion", "fish"}},
		{name: "mysql_dsn_other_scheme", args: []string{"run", "../../configs/banking.yaml", "--stage", "reset"},
			env: map[string]string{"MYSQL_DSN": "postgres://app:s3cret@db.example/x"}},
		{name: "mysql_dsn_bad_url", args: []string{"run", "../../configs/banking.yaml", "--stage", "reset"},
			env: map[string]string{"MYSQL_DSN": "mysql://app:s3cret@db.example:port/x"}},
		{name: "mysql_dsn_neither_form", args: []string{"run", "../../configs/banking.yaml", "--stage", "reset"},
			env: map[string]string{"MYSQL_DSN": "app:s3cret@db.example:3306/x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			results := t.TempDir()
			t.Setenv("RESULTS", results)
			t.Setenv("KAFKA_DATA_DIR", t.TempDir())
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			out, err := pipeline(t, c.args...)
			var msg bytes.Buffer
			status := report(&msg, err, nil)
			got := fmt.Sprintf("$ pipeline %s\n%s%sexit status %d\n", strings.Join(c.args, " "), withoutTimings(out), msg.String(), status)
			got = strings.ReplaceAll(got, results, "$RESULTS")
			got = helpVersion.ReplaceAllString(got, "VERSION:\n   $$VERSION\n")
			if strings.Contains(got, "s3cret") {
				t.Errorf("the password shows:\n%s", got)
			}
			golden(t, filepath.Join("testdata/cli", c.name+".txt"), got)
		})
	}
}

var helpVersion = regexp.MustCompile(`VERSION:\n   .*\n`)

// TestFlagsAnywhere: every flag of the app and of each verb is taken
// before the verb's argument and after it, and the argument stays one.
// It reads the flags from the app, so flags added later are covered.
func TestFlagsAnywhere(t *testing.T) {
	for _, cmd := range newApp().Commands {
		var flags []cli.Flag
		flags = append(flags, newApp().Flags...)
		flags = append(flags, cmd.Flags...)
		for _, f := range flags {
			name := f.Names()[0]
			typed := []string{dashed(name)}
			if takesValue(flags, name) {
				value := "1"
				if _, ok := f.(*cli.DurationFlag); ok {
					value = "1s"
				}
				typed = append(typed, value)
			}
			for _, at := range []string{"after the verb", "after the argument"} {
				t.Run(cmd.Name+" "+typed[0]+" "+at, func(t *testing.T) {
					args := []string{"pipeline", cmd.Name, "ARG"}
					if at == "after the verb" {
						args = slices.Insert(args, 2, typed...)
					} else {
						args = append(args, typed...)
					}
					set, rest, err := parsed(args, cmd.Name, name)
					if err != nil {
						t.Fatalf("%s: %v", strings.Join(args, " "), err)
					}
					if !set || !slices.Equal(rest, []string{"ARG"}) {
						t.Errorf("%s: flag set %v, arguments %q; want set and [ARG]", strings.Join(args, " "), set, rest)
					}
				})
			}
		}
	}
}

// parsed runs args through interspersed and the app, with each verb's
// action replaced by one that records whether flag is set and the
// arguments, and returns them.
func parsed(args []string, verb, flag string) (set bool, rest []string, err error) {
	app := newApp()
	app.Before, app.After = nil, nil
	app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
	ran := false
	for _, cmd := range app.Commands {
		cmd.Before, cmd.After = nil, nil
		for _, f := range cmd.Flags {
			switch f := f.(type) { // another flag's absence is not what is tested
			case *cli.StringFlag:
				f.Required = false
			case *cli.StringSliceFlag:
				f.Required = false
			case *cli.IntFlag:
				f.Required = false
			}
		}
		cmd.Action = func(c *cli.Context) error {
			ran = c.Command.Name == verb
			set, rest = c.IsSet(flag), c.Args().Slice()
			return nil
		}
	}
	if err := app.Run(interspersed(app, args)); err != nil {
		return false, nil, err
	}
	if !ran {
		return false, nil, errors.New("the verb did not run")
	}
	return set, rest, nil
}

// TestInterspersed pins how the command line is reordered for urfave/cli.
func TestInterspersed(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"run spec.yaml", "run spec.yaml"},
		{"run spec.yaml -v", "-v run spec.yaml"},
		{"run -v spec.yaml", "-v run spec.yaml"},
		{"run spec.yaml --stage validate -v", "-v run --stage validate spec.yaml"},
		{"run spec.yaml --stage=validate --env-file x.env", "--env-file x.env run --stage=validate spec.yaml"},
		{"-v run spec.yaml --follow", "-v run --follow spec.yaml"},
		{"dry-run spec.yaml -o out", "dry-run -o out spec.yaml"},
		{"test rules -v", "test -v rules"}, // the verb's own -v wins
		{"help", "--help"},
		{"help run", "run --help"},
		{"help connectors", "connectors --help"},
		{"rn spec.yaml -v", "rn spec.yaml -v"}, // left to the app's answer
		{"run spec.yaml --stgae validate", "run --stgae spec.yaml validate"},
		{"explain spec.yaml --id", "explain --id"}, // no argument taken for a value
		{"run spec.yaml --env-file", "--env-file"}, // likewise for the app's flag
		{"run spec.yaml -- -v", "run spec.yaml -- -v"},
		{"connectors kafka csv", "connectors kafka csv"},
		{"explain spec.yaml --id -5", "explain --id -5 spec.yaml"},
	} {
		app := newApp()
		got := strings.Join(interspersed(app, append([]string{"pipeline"}, strings.Fields(c.in)...))[1:], " ")
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	verbs := []string{"run", "dry-run", "lint", "explain", "diff", "test", "broker", "connectors", "version", "completion"}
	flags := []string{"stage", "s", "strict", "follow", "f", "group", "reload", "help", "h"}
	for _, c := range []struct {
		typed string
		names []string
		want  string
	}{
		{"rn", verbs, "run"},
		{"urn", verbs, "run"},
		{"dryrun", verbs, "dry-run"},
		{"expain", verbs, "explain"},
		{"conectors", verbs, "connectors"},
		{"connector", verbs, "connectors"},
		{"versoin", verbs, "version"},
		{"exp", verbs, "explain"},
		{"frobnicate", verbs, ""},
		{"x", verbs, ""},
		{"stgae", flags, "stage"},
		{"stages", flags, "stage"},
		{"folow", flags, "follow"},
		{"grup", flags, "group"},
		{"nothing", flags, ""},
	} {
		if got := suggest(c.typed, c.names); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.typed, got, c.want)
		}
	}
}

// TestReport: every error is printed once, with one "pipeline: " in
// front, whichever part of the program made it.
func TestReport(t *testing.T) {
	for _, c := range []struct {
		err    error
		want   string
		status int
	}{
		{nil, "", 0},
		{errors.New("no stage named \"x\""), "pipeline: no stage named \"x\"\n", 1},
		{cli.Exit("spec.yaml:1:1: bad\n  x: 1\n  ^", 1), "pipeline: spec.yaml:1:1: bad\n  x: 1\n  ^\n", 1},
		{cli.Exit("pipeline: already prefixed", 2), "pipeline: already prefixed\n", 2},
		{fmt.Errorf("stage s: %w", errors.New("pipeline: inner")), "pipeline: stage s: pipeline: inner\n", 1},
		{cli.Exit("", 1), "", 1},
	} {
		var b bytes.Buffer
		if status := report(&b, c.err, nil); status != c.status || b.String() != c.want {
			t.Errorf("report(%v) printed %q, status %d; want %q, %d", c.err, b.String(), status, c.want, c.status)
		}
	}
}

// TestHelpPlaceholders: every flag that takes a value names it in help
// (--id ID, not --id value), every visible verb and flag has a usage, and
// urfave/cli's "value" placeholder shows nowhere.
func TestHelpPlaceholders(t *testing.T) {
	app := newApp()
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			df, ok := f.(cli.DocGenerationFlag)
			if !ok || df.GetUsage() == "" {
				t.Errorf("%s: flag %s has no usage", where, f.Names()[0])
			}
			if takesValue(flags, f.Names()[0]) && placeholderOf(f) == "" {
				t.Errorf("%s: flag %s takes a value but names none in its usage (write it in backquotes: `NAME`)", where, f.Names()[0])
			}
		}
	}
	check("pipeline", app.Flags)
	for _, cmd := range app.Commands {
		if cmd.Usage == "" {
			t.Errorf("pipeline %s has no usage", cmd.Name)
		}
		check("pipeline "+cmd.Name, cmd.Flags)
		out, err := pipeline(t, cmd.Name, "--help")
		if err != nil {
			t.Errorf("pipeline %s --help: %v", cmd.Name, err)
		}
		if strings.Contains(out, " value ") || strings.Contains(out, " value\t") {
			t.Errorf("pipeline %s --help shows a placeholder \"value\":\n%s", cmd.Name, out)
		}
	}
}

// TestBashCompletion runs the script `pipeline completion bash` prints
// through bash -n, and then through bash with COMP_WORDS set, in a folder
// of specs, other files and a subfolder; the zsh script is the same
// through zsh's bash completion layer.
func TestBashCompletion(t *testing.T) {
	script := mustPipeline(t, "completion", "bash")
	zsh := mustPipeline(t, "completion", "zsh")
	if !strings.HasPrefix(zsh, "#compdef pipeline\n") || !strings.Contains(zsh, "bashcompinit\n"+script) {
		t.Errorf("the zsh script is not the bash one behind bashcompinit:\n%s", zsh)
	}
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml", "c.txt", "sub/d.yaml"} {
		writeFile(t, filepath.Join(dir, f), "")
	}
	path := filepath.Join(dir, "pipeline.bash")
	writeFile(t, path, script)
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	cases := []struct {
		words string // the words typed, the last one being completed ("" for a new one)
		want  string // COMPREPLY, sorted, space-separated
	}{
		{"pipeline r", "run"},
		{"pipeline d", "diff dry-run"},
		{"pipeline ", "broker completion connectors diff dry-run explain help lint run test version"},
		{"pipeline -v ex", "explain"},
		{"pipeline --env-file x.env r", "run"},
		{"pipeline --ver", "--verbose --version"},
		{"pipeline run --st", "--stage --status-every --strict"},
		{"pipeline run configs/x.yaml --fo", "--follow"},
		{"pipeline run ", "a.yaml b.yml sub"},
		{"pipeline dry-run a.yaml --out ", "sub"},
		{"pipeline dry-run a.yaml --report ", "a.yaml b.yml c.txt pipeline.bash sub"},
		{"pipeline explain a.yaml --id ", ""},
		{"pipeline connectors k", "kafka"},
		{"pipeline completion ", "bash zsh"},
		{"pipeline help ru", "run"},
	}
	var sh strings.Builder
	fmt.Fprintf(&sh, "source %q\n", path)
	for _, c := range cases {
		words := strings.Split(c.words, " ")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = fmt.Sprintf("%q", w)
		}
		fmt.Fprintf(&sh, "COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=(); _pipeline; printf '%%s\\n' \"${COMPREPLY[*]}\"\n", strings.Join(quoted, " "), len(words)-1)
	}
	cmd := exec.Command("bash", "-c", sh.String())
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d lines of output for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		got := strings.Fields(lines[i])
		slices.Sort(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q completes to %q, want %q", c.words, strings.Join(got, " "), c.want)
		}
	}
}

// TestURLDSN runs the first stages of the banking spec with MYSQL_DSN
// written as a URL: the driver's form is not the only one accepted.
func TestURLDSN(t *testing.T) {
	dsn, db := newDatabase(t)
	user, rest, _ := strings.Cut(dsn, "@tcp(")
	addr, name, _ := strings.Cut(rest, ")/")
	t.Setenv("MYSQL_DSN", fmt.Sprintf("mysql://%s@%s/%s?timeout=5s", user, addr, name))
	t.Setenv("KAFKA_DATA_DIR", t.TempDir())
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("RESULTS", t.TempDir())
	mustPipeline(t, "run", "../../configs/banking.yaml", "--stage", "reset", "--stage", "load")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM cards").Scan(&n); err != nil || n == 0 {
		t.Errorf("the load through a URL dsn left %d rows in cards of %s (%v)", n, name, err)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("RESULTS"), "dead_letters.csv")); err != nil {
		t.Errorf("no dead-letter file: %v", err)
	}
}
