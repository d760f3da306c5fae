package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/rules"
	"pipeline/engine/yamldoc"
)

func lintCommand() *cli.Command {
	return command("lint", "FILE...", "check specs and rule files: schemas, references, every expression type-checked",
		`Each FILE is a spec (with every rule file it uses) or a rule file. Errors are
printed as file:line:col: message, with the line and a caret under the column;
warnings (a rule or table row that an earlier one always decides first) as
file:line:col: warning: message, once per rule file.
Exit status 1 when any file has an error, or with --strict a warning.

Example:
   pipeline lint configs/NAME.yaml configs/OTHER.yaml rules/*.yaml`, cli.Command{
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "strict", Usage: "fail (exit status 1) on warnings too"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() == 0 {
					return cli.Exit("usage: pipeline lint FILE... (specs or rule files)", 2)
				}
				env, err := yamldoc.NewEnv(c.String("env-file"))
				if err != nil {
					return err
				}
				reg := registry()
				bad, warnings := 0, 0
				shown := map[string]bool{} // rule files whose warnings were printed
				warn := func(rs *rules.Ruleset) int {
					path := filepath.Clean(rs.Path)
					if shown[path] {
						return 0
					}
					shown[path] = true
					for _, w := range rs.Warnings() {
						fmt.Fprintln(c.App.ErrWriter, w.Detail())
					}
					return len(rs.Warnings())
				}
				for _, path := range c.Args().Slice() {
					n := 0
					if isRuleFile(path) {
						rs, err := rules.Load(path)
						if err != nil {
							bad++
							fmt.Fprintln(c.App.ErrWriter, yamldoc.Details(err))
							continue
						}
						n = warn(rs)
					} else {
						plan, err := engine.Load(path, env, reg)
						if err != nil {
							bad++
							fmt.Fprintln(c.App.ErrWriter, yamldoc.Details(err))
							continue
						}
						for _, rs := range plan.Rulesets {
							n += warn(rs)
						}
					}
					warnings += n
					if n > 0 {
						fmt.Fprintf(c.App.Writer, "%s: ok, %s\n", path, plural(n, "warning"))
					} else {
						fmt.Fprintf(c.App.Writer, "%s: ok\n", path)
					}
				}
				switch {
				case bad > 0:
					return cli.Exit(fmt.Sprintf("%d of %d files have errors", bad, c.NArg()), 1)
				case warnings > 0 && c.Bool("strict"):
					return cli.Exit(fmt.Sprintf("%s (--strict fails on warnings)", plural(warnings, "warning")), 1)
				}
				return nil
			},
		})
}

// isRuleFile reports whether path holds a ruleset rather than a spec. A
// file that does not parse counts as one, so that its error is reported.
func isRuleFile(path string) bool {
	f, err := yamldoc.ReadFile(path)
	if err != nil || f.Root == nil {
		return true
	}
	for i := 0; i+1 < len(f.Root.Content); i += 2 {
		if strings.TrimSpace(f.Root.Content[i].Value) == "ruleset" {
			return true
		}
	}
	return false
}
