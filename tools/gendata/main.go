// Command gendata writes a synthetic bank dataset of any size in the exact
// shape of the legacy dataset_16: customers.csv, cards.csv,
// credit_card_types.csv and transactions.csv, for load tests and benchmarks.
//
// Usage:
//
//	go run ./tools/gendata -out DIR -transactions N [-customers C] [-cards K] [-seed S] [-crlf]
//
// The flags are:
//
//	-out DIR          directory to write the four CSV files into; created if missing (required)
//	-transactions N   number of transactions (required, >= 0)
//	-customers C      number of customers (default max(30, N/1000))
//	-cards K          number of cards (default 1 to 3 per customer, about 2 on average)
//	-seed S           seed of the PCG random source (default 16)
//	-crlf             end lines with CR LF, as dataset_16's files really do (default LF)
//
// The output is deterministic: the same flags give the same bytes. The files
// keep the legacy headers, quoting of fields with commas and value formats
// (money as 7500.0, 8.36 or -122.74; timestamps as 2025-04-01 01:03:44,
// ascending from 2025-04-01; addresses ending in a 5-digit ZIP; card numbers
// as 5146-1569-7639-3423; expirations as 03/26). credit_card_types.csv is the
// same five rows as dataset_16, byte for byte with -crlf.
//
// Distributions follow dataset_16 so that the validation rules fire in
// similar proportions: about 9% of merchants are out of state (most of them
// with a ZIP whose first digit differs from the customer's), 8% of charges
// are multiplied by 15 (the legacy anomalies, often at least half a
// card's limit), a few charges carry a wrong sign, and cancellations name an
// earlier purchase of the same card with the opposite amount. About 90% of
// transactions pass the rules. To keep balances bounded over millions of rows
// the generator tracks each card's pending balance as the validator would and,
// once a card is more than half used, adds statement credits: refunds of 25%
// to 45% of its limit.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// config holds the parsed command line.
type config struct {
	out          string // output directory
	transactions int    // number of transactions
	customers    int    // number of customers; 0 means max(30, transactions/1000)
	cards        int    // number of cards; 0 means 1 to 3 per customer
	seed         uint64 // seed of the PCG source
	crlf         bool   // end lines with CR LF instead of LF
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(2)
	}
	if err := generate(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

// parseFlags parses and validates the command line, filling in defaults.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("gendata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gendata -out DIR -transactions N [-customers C] [-cards K] [-seed S] [-crlf]")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.out, "out", "", "output `directory`, created if missing (required)")
	fs.IntVar(&cfg.transactions, "transactions", 0, "number of transactions (required)")
	fs.IntVar(&cfg.customers, "customers", 0, "number of customers (default max(30, N/1000))")
	fs.IntVar(&cfg.cards, "cards", 0, "number of cards (default 1 to 3 per customer)")
	fs.Uint64Var(&cfg.seed, "seed", 16, "seed of the random source")
	fs.BoolVar(&cfg.crlf, "crlf", false, "end lines with CR LF like dataset_16's files (default LF)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["transactions"] {
		return cfg, errors.New("-transactions is required")
	}
	if cfg.customers == 0 {
		cfg.customers = max(30, cfg.transactions/1000)
	}
	return cfg, cfg.validate()
}

// validate reports the first problem with cfg.
func (cfg config) validate() error {
	switch {
	case cfg.out == "":
		return errors.New("-out is required")
	case cfg.transactions < 0:
		return errors.New("-transactions must be >= 0")
	case cfg.customers < 1:
		return errors.New("-customers must be >= 1")
	case cfg.cards < 0:
		return errors.New("-cards must be >= 0")
	}
	return nil
}
