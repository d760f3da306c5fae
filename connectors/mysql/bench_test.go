package mysql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pipeline/engine/schema"
)

// benchSchema has 8 columns of the usual kinds.
func benchSchema() *schema.Schema {
	return schema.MustNew("bench", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "ref", Type: schema.StringType},
		{Name: "name", Type: schema.StringType},
		{Name: "amount", Type: schema.MoneyType},
		{Name: "rate", Type: schema.DecimalType},
		{Name: "day", Type: schema.DateType},
		{Name: "at", Type: schema.DateTimeType},
		{Name: "active", Type: schema.BoolType},
	}, "id")
}

func benchRows(n int) []schema.Row {
	rows := make([]schema.Row, n)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = schema.Row{i, fmt.Sprintf("REF%08d", i), fmt.Sprintf("name of row %d", i),
			dec(fmt.Sprintf("%d.%02d", i, i%100)), dec(fmt.Sprintf("0.%04d", i%10000)),
			at.AddDate(0, 0, i%365), at.Add(time.Duration(i) * time.Second), i%2 == 0}
	}
	return rows
}

// BenchmarkUpsert upserts 100k rows of 8 columns per iteration into an
// empty table (insert), then again over the same keys (update).
func BenchmarkUpsert(b *testing.B) {
	c, _ := openTest(b)
	ctx := context.Background()
	tb := openTable(b, c, benchSchema())
	const n = 100_000
	rows := benchRows(n)
	for _, mode := range []string{"insert", "update"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				if mode == "insert" {
					b.StopTimer()
					if err := tb.Truncate(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				start := time.Now()
				if err := tb.Upsert(ctx, rows); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
		})
	}
}

func BenchmarkScan(b *testing.B) {
	c, _ := openTest(b)
	ctx := context.Background()
	tb := openTable(b, c, benchSchema())
	const n = 100_000
	if err := tb.Upsert(ctx, benchRows(n)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		count := 0
		if err := tb.Scan(ctx, func(schema.Row) error { count++; return nil }); err != nil || count != n {
			b.Fatal(count, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "rows/s")
}
