package rules

import (
	"testing"

	"pipeline/engine/schema"
)

// BenchmarkValidation evaluates the shipped validation ruleset on a record
// that passes every check (the common case: every let, every condition and
// the default's assignment run) and on one declined by the ZIP rule.
func BenchmarkValidation(b *testing.B) {
	rs, err := Load("../../rules/validation.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name     string
		location string
	}{
		{"pending", "6049 Hill Heights, Ithaca, NY 15246"},
		{"declined", "5 Elm St, Miami, FL 33101"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e, err := rs.NewEvaluator(nil)
			if err != nil {
				b.Fatal(err)
			}
			tx := schema.Row{dec("42.17"), "purchase", c.location}
			card := schema.Row{dec("1000000.00"), dec("8.36"), nil}
			customer := schema.Row{"7320 Harrison Haven, New York, NY 16433"}
			in := []any{tx, card, customer}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				card[2] = nil
				if _, err := e.Eval(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
