package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed puts the command line in the order urfave/cli v2 reads it:
// the app's flags before the verb, the verb's flags before its arguments.
// urfave/cli stops reading flags at the first argument, so without this
// `pipeline run SPEC -v` or `pipeline dry-run SPEC --out DIR` would fail.
// A flag after the verb belongs to the verb when the verb has it, else to
// the app when the app has it; a flag neither has stays with the verb,
// whose usage error then suggests the nearest name (see friendlyUsage).
// `pipeline help [VERB]` becomes `pipeline [VERB] --help`. A flag that
// wants a value but ends the line is put last, with no argument after it,
// so that it is reported instead of taking an argument for value. Everything
// after `--` is left as it is. The app's and the commands' flags are read
// from their declarations, so a flag added to either is handled too.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 || slices.Contains(args, "--generate-bash-completion") {
		return args
	}
	var globals, chain, flags, rest []string
	var cmd *cli.Command // the innermost verb named so far
	help, dangling := false, false
	tail := args[1:]
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		switch {
		case a == "--":
			rest = append(rest, tail[j:]...)
			j = len(tail)
		case isFlag(a):
			name := flagName(a)
			value := func() []string {
				if strings.Contains(a, "=") {
					return []string{a}
				}
				if j+1 < len(tail) {
					j++
					return []string{a, tail[j]}
				}
				dangling = true // last, so that no argument is read as its value
				return []string{a}
			}
			switch {
			case cmd != nil && hasFlag(cmd.Flags, commandBuiltins, name):
				if takesValue(cmd.Flags, name) {
					flags = append(flags, value()...)
				} else {
					flags = append(flags, a)
				}
			case hasFlag(app.Flags, appBuiltins, name):
				if takesValue(app.Flags, name) {
					globals = append(globals, value()...)
				} else {
					globals = append(globals, a)
				}
			case cmd == nil:
				globals = append(globals, a)
			default:
				flags = append(flags, a)
			}
		case cmd == nil && !help && len(chain) == 0 && a == "help":
			help = true
		case cmd == nil && len(rest) == 0:
			// The verb, known or not: the app's Action answers an unknown one.
			chain = append(chain, a)
			cmd = findCommand(app.Commands, a)
			if cmd == nil {
				rest = append(rest, tail[j+1:]...)
				j = len(tail)
			}
		case cmd != nil && len(rest) == 0 && findCommand(cmd.Subcommands, a) != nil:
			chain = append(chain, a)
			cmd = findCommand(cmd.Subcommands, a)
		default:
			rest = append(rest, a)
		}
	}
	if help {
		flags = append(flags, "--help")
	}
	out := append([]string{args[0]}, globals...)
	if dangling && len(globals) > 0 && globals[len(globals)-1] == tail[len(tail)-1] {
		// The flag's "needs an argument" error is what the user must see.
		return out
	}
	out = append(out, chain...)
	if dangling {
		return append(out, flags...)
	}
	out = append(out, flags...)
	return append(out, rest...)
}

// isFlag reports whether a looks like a flag: -x, --x or --x=value.
func isFlag(a string) bool { return strings.HasPrefix(a, "-") && len(a) > 1 && a != "--" }

// flagName returns the name of the flag a: "stage" for --stage=x.
func flagName(a string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return name
}

// findCommand returns the command of cmds called name (or an alias), or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// The flags urfave/cli adds to every command, and to the app.
var (
	commandBuiltins = []string{"help", "h"}
	appBuiltins     = []string{"help", "h", "version", "generate-bash-completion"}
)

// hasFlag reports whether one of flags or builtins is called name.
func hasFlag(flags []cli.Flag, builtins []string, name string) bool {
	return slices.Contains(builtins, name) || lookupFlag(flags, name) != nil
}

// lookupFlag returns the flag of flags called name (or an alias), or nil.
func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// takesValue reports whether the flag called name expects a value.
func takesValue(flags []cli.Flag, name string) bool {
	f := lookupFlag(flags, name)
	if f == nil {
		return false
	}
	if tv, ok := f.(interface{ TakesValue() bool }); ok {
		return tv.TakesValue()
	}
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}

// friendlyUsage makes the usage errors of app and of each of its commands
// one line with exit status 2, suggesting the nearest name: an unknown verb
// ("unknown command "rn"; did you mean run?"), an unknown flag ("unknown
// flag --stgae for pipeline run; did you mean --stage?"), a flag without its
// value. It walks the commands as declared, so commands and flags added
// later get the same treatment.
func friendlyUsage(app *cli.App) {
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return usageError(app.Flags, app.Name, err)
	}
	app.Action = func(c *cli.Context) error {
		if c.Args().Present() {
			name := c.Args().First()
			var names []string
			for _, cmd := range app.VisibleCommands() {
				names = append(names, cmd.Names()...)
			}
			msg := fmt.Sprintf("unknown command %q", name)
			if s := suggest(name, names); s != "" {
				msg += "; did you mean " + s + "?"
			}
			return cli.Exit(msg+" (pipeline --help lists them)", 2)
		}
		return cli.ShowAppHelp(c)
	}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd := cmd
			where := path + " " + cmd.Name
			cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
				return usageError(cmd.Flags, where, err)
			}
			walk(where, cmd.Subcommands)
		}
	}
	walk(app.Name, app.Commands)
}

// usageError rewrites the flag package's usage error err, met reading the
// flags of the command where, as one line with a suggestion.
func usageError(flags []cli.Flag, where string, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		msg = fmt.Sprintf("unknown flag %s for %s", dashed(name), where)
		if s := suggest(name, names); s != "" {
			msg += "; did you mean " + dashed(s) + "?"
		}
		return cli.Exit(msg+" ("+where+" --help lists them)", 2)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		placeholder := "VALUE"
		if f := lookupFlag(flags, name); f != nil {
			if p := placeholderOf(f); p != "" {
				placeholder = p
			}
		}
		return cli.Exit(fmt.Sprintf("flag %s needs a value: %s %s", dashed(name), dashed(name), placeholder), 2)
	}
	return cli.Exit(fmt.Sprintf("%s: %s", where, msg), 2)
}

// placeholderOf returns the placeholder of a flag's usage (`NAME`), or "".
func placeholderOf(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	_, after, ok := strings.Cut(df.GetUsage(), "`")
	if !ok {
		return ""
	}
	p, _, ok := strings.Cut(after, "`")
	if !ok {
		return ""
	}
	return p
}

// dashed writes a flag's name as typed: -v or --stage.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the name of names nearest to typed: one it begins, or
// one that begins with it, or else the one at the least edit distance when
// that is at most a third of the longer name (at least 1, at most 3);
// "" when none is near enough.
func suggest(typed string, names []string) string {
	best, bestDist := "", 0
	for _, n := range names {
		if len(typed) >= 2 && len(n) > 1 && (strings.HasPrefix(n, typed) || strings.HasPrefix(typed, n)) {
			return n
		}
		d := levenshtein(strings.ToLower(typed), strings.ToLower(n))
		limit := min(max(max(len(typed), len(n))/3, 1), 3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = n, d
		}
	}
	return best
}

// levenshtein returns the edit distance between a and b, a transposition
// of two neighbours counting as one edit (--stgae is one from --stage).
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
