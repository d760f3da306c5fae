package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"pipeline/engine/rules"
	"pipeline/engine/yamldoc"
)

func testCommand() *cli.Command {
	return command("test", "[PATH...]", "run the tests written in rule files",
		`Each PATH is a rule file or a folder searched for *.yaml rule files
(default: rules). Prints each failure with its file:line, then
'N passed, N failed'. Exit status 1 when a test fails or a file does not compile.

--coverage then lists every rule, table row and default of each rule file with
the passing tests that decide it (give the test's outcome) and how many reach
it (evaluate its condition: the rules before the deciding one, and it), and
the share of rules, rows and defaults some test decides. --min-coverage N
fails (exit status 1) when that share is below N percent.`, cli.Command{
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every test, not only failures"},
				&cli.BoolFlag{Name: "coverage", Usage: "list the rules, rows and defaults each test decides and reaches"},
				&cli.Float64Flag{Name: "min-coverage", Usage: "fail when fewer than `N` percent of the rules, rows and defaults are decided by a test (implies --coverage)"},
			},
			Action: func(c *cli.Context) error {
				paths := c.Args().Slice()
				if len(paths) == 0 {
					paths = []string{"rules"}
				}
				files, err := ruleFiles(paths)
				if err != nil {
					return err
				}
				passed, failed := 0, 0
				var tested []testedFile
				for _, f := range files {
					rs, err := rules.Load(f)
					if err != nil {
						failed++
						fmt.Fprintf(c.App.ErrWriter, "FAIL %s: does not compile\n%s\n", f, yamldoc.Details(err))
						continue
					}
					results := rs.RunTests()
					tested = append(tested, testedFile{path: f, rs: rs, results: results})
					for _, r := range results {
						if r.Passed() {
							passed++
							if c.Bool("verbose") {
								fmt.Fprintf(c.App.Writer, "ok   %s: %s\n", r.Pos, r.Name)
							}
							continue
						}
						failed++
						fmt.Fprintf(c.App.ErrWriter, "FAIL %s: %s\n%s\n", r.Pos, r.Name, indent(yamldoc.Details(r.Err)))
					}
				}
				fmt.Fprintf(c.App.Writer, "%d passed, %d failed\n", passed, failed)
				min := c.Float64("min-coverage")
				var below error
				if c.Bool("coverage") || c.IsSet("min-coverage") {
					decided, total := printCoverage(c.App.Writer, tested)
					if float64(decided)*100 < min*float64(total) {
						below = cli.Exit(fmt.Sprintf("coverage %s is below --min-coverage %g: decide each rule, row and default listed with \"none\" in some test", percent(decided, total), min), 1)
					}
				}
				if failed > 0 {
					return cli.Exit("", 1)
				}
				return below
			},
		})
}

// maxNames is how many of the tests deciding a rule coverage names.
const maxNames = 3

// testedFile is a rule file whose tests ran.
type testedFile struct {
	path    string
	rs      *rules.Ruleset
	results []rules.TestResult
}

// printCoverage lists, per rule file, each rule, table row and default with
// the tests that decide and reach it, and returns how many of them some
// test decides, of how many.
func printCoverage(w io.Writer, files []testedFile) (decided, total int) {
	fmt.Fprintln(w, "\ncoverage: a test decides a rule (or table row, or default) when it gives the test's outcome, and")
	fmt.Fprintln(w, "reaches it when its condition is evaluated (the rules before the deciding one, and it); failed tests count for nothing")
	for _, f := range files {
		cov := f.rs.Coverage(f.results)
		n := 0
		for _, rc := range cov {
			if len(rc.Decided) > 0 {
				n++
			}
		}
		decided += n
		total += len(cov)
		fmt.Fprintf(w, "\n%s (ruleset %s, %s): %d of %d decided by a test\n", f.path, f.rs.Name, plural(len(f.results), "test"), n, len(cov))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		word := "rule"
		if len(cov) > 0 && cov[0].Row {
			word = "row"
		}
		fmt.Fprintf(tw, "  %s\tline\tdecided\treached\tdecided by\n", word)
		for _, rc := range cov {
			by := "none"
			if len(rc.Decided) > 0 {
				by = strings.Join(rc.Decided[:min(len(rc.Decided), maxNames)], "; ")
				if more := len(rc.Decided) - maxNames; more > 0 {
					by += fmt.Sprintf("; and %d more", more)
				}
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", rc.ID, rc.Line, len(rc.Decided), len(rc.Reached), by)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\ncoverage: %d of %d rules, rows and defaults decided by a test (%s)\n", decided, total, percent(decided, total))
	return decided, total
}

// percent formats n of total as a percentage with one decimal.
func percent(n, total int) string {
	if total == 0 {
		return "100.0%"
	}
	return fmt.Sprintf("%.1f%%", float64(n)*100/float64(total))
}

// ruleFiles expands folders into the rule files they hold, sorted.
func ruleFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && isRuleFile(path) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
