package csv

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// fuzzSchema is the schema FuzzReader reads arbitrary bytes with.
var fuzzSchema = schema.MustNew("fuzz", []schema.Column{
	{Name: "id", Type: schema.IntType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "note", Type: schema.StringType},
	{Name: "at", Type: schema.Type{Kind: schema.DateTime, Nullable: true}},
}, "")

// FuzzReader reads arbitrary bytes: it must not panic or loop, every Read
// error must be io.EOF or a *port.RowError, and the rows it reads must
// write and read back the same (but for decimals rounded to their column's
// places). Seeds are in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := fuzzRead(t, data, true)
		if rows == nil {
			return
		}
		var first bytes.Buffer
		fuzzWrite(t, &first, rows)
		again := fuzzRead(t, first.Bytes(), false)
		if len(again) != len(rows) {
			t.Fatalf("read %d rows, wrote them and read back %d:\n%q", len(rows), len(again), first.Bytes())
		}
		for i := range rows {
			if !sameRow(coerce(t, rows[i]), again[i]) {
				t.Fatalf("row %d: read %s, wrote it and read back %s", i, show(rows[i]), show(again[i]))
			}
		}
		var second bytes.Buffer
		fuzzWrite(t, &second, again)
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("writing again changed the text:\n%q\n%q", first.Bytes(), second.Bytes())
		}
	})
}

// coerce returns row with its values as the writer writes them: decimals
// rounded to their column's places, which Type.Parse does not do.
func coerce(t *testing.T, row schema.Row) schema.Row {
	t.Helper()
	out := make(schema.Row, len(row))
	for i, v := range row {
		c, err := fuzzSchema.Columns[i].Type.Coerce(v)
		if err != nil {
			t.Fatalf("value %v read for column %s: %v", v, fuzzSchema.Columns[i].Name, err)
		}
		out[i] = c
	}
	return out
}

// fuzzRead reads data with fuzzSchema and returns its good rows, or nil when
// the header was refused. With bad false every row must be good.
func fuzzRead(t *testing.T, data []byte, bad bool) []schema.Row {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), "fuzz.csv", fuzzSchema)
	if err != nil {
		var re *port.RowError
		if r != nil || errors.As(err, &re) || err == io.EOF {
			t.Fatalf("NewReader: reader %v, error %v (%T)", r, err, err)
		}
		return nil
	}
	rows := []schema.Row{}
	last := 0
	for range len(data) + 2 {
		row, src, err := r.Read()
		if err == io.EOF {
			return rows
		}
		if src.File != "fuzz.csv" || src.Line <= last {
			t.Fatalf("source %v after line %d", src, last)
		}
		last = src.Line
		var re *port.RowError
		switch {
		case errors.As(err, &re):
			if !bad {
				t.Fatalf("row error in written text: %v\n%q", err, data)
			}
			if re.Source != src || re.Err == nil {
				t.Fatalf("row error %+v at %v", re, src)
			}
		case err != nil:
			t.Fatalf("Read: %v (%T), want io.EOF or *port.RowError", err, err)
		default:
			if len(row) != len(fuzzSchema.Columns) {
				t.Fatalf("row %v has %d values", row, len(row))
			}
			rows = append(rows, row)
		}
	}
	t.Fatalf("reader does not end after %d reads", len(data)+2)
	return nil
}

// fuzzWrite writes rows with fuzzSchema to w.
func fuzzWrite(t *testing.T, w io.Writer, rows []schema.Row) {
	t.Helper()
	wr, err := NewWriter(w, "fuzz.csv", fuzzSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := wr.Write(row); err != nil {
			t.Fatalf("Write %s: %v", show(row), err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
}
