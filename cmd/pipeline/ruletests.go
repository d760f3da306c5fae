package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/engine/rules"
	"pipeline/engine/yamldoc"
)

func testCommand() *cli.Command {
	return &cli.Command{
		Name:      "test",
		Usage:     "run the tests written in rule files",
		ArgsUsage: "[PATH...]",
		Description: `Each PATH is a rule file or a folder searched for *.yaml rule files
(default: rules). Prints each failure with its file:line, then
'N passed, N failed'. Exit status 1 when a test fails or a file does not compile.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every test, not only failures"},
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
			for _, f := range files {
				rs, err := rules.Load(f)
				if err != nil {
					failed++
					fmt.Fprintf(c.App.ErrWriter, "FAIL %s: does not compile\n%s\n", f, yamldoc.Details(err))
					continue
				}
				for _, r := range rs.RunTests() {
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
			if failed > 0 {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
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
