package csv

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// benchRows is the number of rows each benchmark iteration reads or writes.
const benchRows = 100_000

// benchSchema is an 8-column row: int, int, string, datetime, money, string, string, int?.
var benchSchema = schema.MustNew("events", []schema.Column{
	{Name: "id", Type: schema.IntType},
	{Name: "account", Type: schema.IntType},
	{Name: "kind", Type: schema.StringType},
	{Name: "at", Type: schema.DateTimeType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "currency", Type: schema.StringType},
	{Name: "note", Type: schema.StringType},
	{Name: "ref", Type: schema.Type{Kind: schema.Int, Nullable: true}},
}, "id")

// benchData returns benchRows generated rows of benchSchema.
func benchData(b *testing.B) []schema.Row {
	b.Helper()
	kinds := []string{"purchase", "refund", "transfer", "fee"}
	notes := []string{"", "online order", "store 42, main street", "monthly plan", `gift "for you"`}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]schema.Row, benchRows)
	for i := range rows {
		var ref any
		if i%3 != 0 {
			ref = 1_000_000 + i*7
		}
		rows[i] = schema.Row{
			i + 1,
			100_000 + i%5000,
			kinds[i%len(kinds)],
			start.Add(time.Duration(i) * 37 * time.Second),
			decimal.MustNew(int64(i*137%1_000_000-20_000), 2),
			"EUR",
			notes[i%len(notes)] + strconv.Itoa(i%100),
			ref,
		}
	}
	return rows
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "bench.csv", benchSchema)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range benchData(b) {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), "bench.csv", benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkWriter(b *testing.B) {
	rows := benchData(b)
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		var n countWriter
		w, err := NewWriter(&n, "bench.csv", benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		size = int64(n)
	}
	b.SetBytes(size)
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// countWriter counts the bytes written to it.
type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// BenchmarkReaderFile reads the rows from a file, which NewReader parses in
// parallel chunks (on every CPU) once the file reaches parallelMin.
func BenchmarkReaderFile(b *testing.B) {
	dir := b.TempDir()
	c := New(dir)
	w, err := c.Create(b.Context(), "bench.csv", benchSchema)
	if err != nil {
		b.Fatal(err)
	}
	for range 5 { // 500k rows, about 30 MB
		for _, r := range benchData(b) {
			if err := w.Write(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Open(b.Context(), "bench.csv", benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if n != 5*benchRows {
			b.Fatalf("read %d rows, want %d", n, 5*benchRows)
		}
	}
	b.ReportMetric(float64(5*benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteRows writes the rows in batches of 4096, formatted on every CPU.
func BenchmarkWriteRows(b *testing.B) {
	rows := benchData(b)
	b.ReportAllocs()
	for b.Loop() {
		var n countWriter
		w, err := NewWriter(&n, "bench.csv", benchSchema)
		if err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < len(rows); lo += 4096 {
			if err := w.WriteRows(rows[lo:min(lo+4096, len(rows))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
