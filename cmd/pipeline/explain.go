package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
	engineexplain "pipeline/engine/explain"
)

func explainCommand() *cli.Command {
	return command("explain", "SPEC", "show how each rule evaluated for one record, with the values it saw",
		`Dry-runs SPEC (memory connectors, as dry-run; no result file is written) and,
for every ruleset evaluation of the record whose key is ID, prints the fields
the rules read, each let, each rule's condition and its value, the decision
and what the deciding rule set. The record sees the state it saw in the run:
the records before it in its key's order are decided first.

A stream stage traces the record whose output key is ID (its id column);
a batch step with rules traces the row of its table with key ID, so one ID
may show several evaluations (use --stage to keep some).

Examples:
   pipeline explain configs/NAME.yaml --id 45
   pipeline explain configs/NAME.yaml --id 1 --stage settle
   DATASET=/data/big pipeline explain configs/NAME.yaml --id 123456`, cli.Command{
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "id", Required: true, Usage: "key `ID` of the record to explain, as written in the data (e.g. 45)"},
				&cli.StringSliceFlag{Name: "stage", Aliases: []string{"s"}, Usage: "show only evaluations in stage `NAME` (repeatable); every stage still runs"},
			},
			Action: explain,
		})
}

func explain(c *cli.Context) error {
	plan, err := loadPlan(c)
	if err != nil {
		return err
	}
	traces, err := engineexplain.Record(c.Context, plan, c.String("id"), c.StringSlice("stage"), engine.Options{Registry: registry(), Log: logger(c)})
	var none *engineexplain.NotFound
	if errors.As(err, &none) {
		return cli.Exit(none.Error(), 1)
	}
	if err != nil {
		return err
	}
	for i, t := range traces {
		if i > 0 {
			fmt.Fprintln(c.App.Writer)
		}
		engineexplain.Write(c.App.Writer, t)
	}
	return nil
}
