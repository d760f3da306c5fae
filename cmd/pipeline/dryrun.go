package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"pipeline/engine"
)

func dryRunCommand() *cli.Command {
	return &cli.Command{
		Name:      "dry-run",
		Usage:     "run a spec offline: MySQL and Kafka replaced by in-memory tables and topics",
		ArgsUsage: "SPEC",
		Description: `Runs every stage of SPEC with the same stage code and rules as 'run', but
every service connector (mysql, kafka) is replaced by the memory kind, so
no server is needed. Result files go where the spec's export stages say, or
into --out.

Example:
   pipeline dry-run configs/banking.yaml --out /tmp/results
   DATASET=/data/big pipeline dry-run configs/banking.yaml`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write exported files into `DIR` instead of the spec's paths"},
			&cli.StringSliceFlag{Name: "stage", Aliases: []string{"s"}, Usage: "run only the stage `NAME` (repeatable); default every stage"},
			&cli.BoolFlag{Name: "strict", Usage: "fail (exit 1) when any record went to the dead letters"},
		},
		Action: func(c *cli.Context) error {
			plan, err := loadPlan(c)
			if err != nil {
				return err
			}
			p, err := engine.Open(c.Context, plan, engine.Options{Registry: registry(), DryRun: true,
				ExportDir: c.String("out"), Log: logger(c)})
			if err != nil {
				return err
			}
			defer p.Close()
			sum, err := p.Run(c.Context, c.StringSlice("stage"))
			printSummary(c.App.Writer, sum)
			if err != nil {
				return err
			}
			if c.Bool("strict") && sum.Dead() > 0 {
				return cli.Exit(fmt.Sprintf("%d records went to the dead letters (--strict)", sum.Dead()), 1)
			}
			return nil
		},
	}
}
