package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags ahead of its arguments, so that
// `pipeline dry-run SPEC --out DIR` works as users of other tools expect
// (urfave/cli v2 stops reading flags at the first argument).
func interspersed(app *cli.App, args []string) []string {
	for i := 1; i < len(args); i++ {
		cmd := findCommand(app, args[i])
		if cmd == nil {
			continue
		}
		var flags, rest []string
		tail := args[i+1:]
		for j := 0; j < len(tail); j++ {
			a := tail[j]
			switch {
			case a == "--":
				rest = append(rest, tail[j:]...)
				j = len(tail)
			case strings.HasPrefix(a, "-") && len(a) > 1:
				flags = append(flags, a)
				if !strings.Contains(a, "=") && takesValue(cmd, strings.TrimLeft(a, "-")) && j+1 < len(tail) {
					j++
					flags = append(flags, tail[j])
				}
			default:
				rest = append(rest, a)
			}
		}
		out := append([]string{}, args[:i+1]...)
		out = append(out, flags...)
		return append(out, rest...)
	}
	return args
}

func findCommand(app *cli.App, name string) *cli.Command {
	for _, c := range app.Commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the named flag of cmd expects a value.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
