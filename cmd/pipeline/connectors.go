package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"pipeline/engine/port"
)

func connectorsCommand() *cli.Command {
	return command("connectors", "[KIND...]", "describe the connector kinds a spec may use, and their options",
		`Prints each connector kind (all of them, or those named) with what it is for
and every option a spec may give it: the values it takes, its default and what
it does. pipeline lint checks a spec's options against the same declarations.

Example:
   pipeline connectors kafka`, cli.Command{
			Action: func(c *cli.Context) error {
				reg := registry()
				names := c.Args().Slice()
				if len(names) == 0 {
					names = reg.Names()
				}
				for i, name := range names {
					k, ok := reg.Lookup(name)
					if !ok {
						return cli.Exit(fmt.Sprintf("no connector kind %q (kinds: %s)", name, strings.Join(reg.Names(), ", ")), 2)
					}
					if i > 0 {
						fmt.Fprintln(c.App.Writer)
					}
					writeKind(c.App.Writer, k)
				}
				return nil
			},
		})
}

// writeKind describes a connector kind and its options.
func writeKind(w io.Writer, k port.Kind) {
	service := ""
	if k.Service {
		service = " (a service: dry-run uses memory tables and topics instead)"
	}
	fmt.Fprintf(w, "%s%s\n", k.Name, service)
	fmt.Fprintf(w, "%s\n", wrap(k.Doc, "  ", 78))
	if len(k.Options) == 0 {
		fmt.Fprintln(w, "  options: none")
		return
	}
	fmt.Fprintln(w, "  options:")
	for _, o := range k.Options {
		fmt.Fprintf(w, "    %s: %s", o.Name, o.TypeText())
		if o.Default != "" {
			fmt.Fprintf(w, " (default: %s)", o.Default)
		}
		fmt.Fprintln(w)
		if o.Doc != "" {
			fmt.Fprintln(w, wrap(o.Doc, "        ", 78))
		}
	}
}

// wrap breaks text into lines of at most width characters, each starting with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}
