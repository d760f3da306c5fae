package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	"pipeline/engine/rules"
	"pipeline/engine/yamldoc"
)

func lintCommand() *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "check specs and rule files: schemas, references, every expression type-checked",
		ArgsUsage: "FILE...",
		Description: `Each FILE is a spec (with every rule file it uses) or a rule file. Errors are
printed as file:line:col: message, with the line and a caret under the column.
Exit status 1 when any file has an error.

Example:
   pipeline lint configs/NAME.yaml configs/OTHER.yaml rules/*.yaml`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("usage: pipeline lint FILE... (specs or rule files)", 2)
			}
			env, err := yamldoc.NewEnv(c.String("env-file"))
			if err != nil {
				return err
			}
			reg := registry()
			bad := 0
			for _, path := range c.Args().Slice() {
				var err error
				if isRuleFile(path) {
					_, err = rules.Load(path)
				} else {
					_, err = engine.Load(path, env, reg)
				}
				if err != nil {
					bad++
					fmt.Fprintln(c.App.ErrWriter, yamldoc.Details(err))
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s: ok\n", path)
			}
			if bad > 0 {
				return cli.Exit(fmt.Sprintf("%d of %d files have errors", bad, c.NArg()), 1)
			}
			return nil
		},
	}
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
