package csv

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// orders is the schema most tests read: a key, a money amount, a date and a nullable note.
var orders = schema.MustNew("orders", []schema.Column{
	{Name: "id", Type: schema.IntType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "day", Type: schema.DateType},
	{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
}, "id")

// result is one Read, shown as text so tests can compare it.
type result struct {
	Line    int
	Row     string // shown row, "" for an error
	Err     string // the error text, "" for a row
	Payload string // the payload of a *port.RowError
}

// readAll reads r until io.EOF or an error that ends reading, which becomes the last result.
func readAll(t *testing.T, r port.RowReader) []result {
	t.Helper()
	var out []result
	for range 1000 {
		row, src, err := r.Read()
		if err == io.EOF {
			return out
		}
		res := result{Line: src.Line}
		var re *port.RowError
		switch {
		case errors.As(err, &re):
			if re.Source != src {
				t.Errorf("row error source %v, Read returned source %v", re.Source, src)
			}
			res.Err, res.Payload = err.Error(), re.Payload
		case err != nil:
			res.Err = "fatal: " + err.Error()
			return append(out, res)
		default:
			res.Row = show(row)
		}
		out = append(out, res)
	}
	t.Fatal("reader does not end")
	return nil
}

// show formats a row as text that tells the Go types of its values apart.
func show(row schema.Row) string {
	parts := make([]string, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case nil:
			parts[i] = "null"
		case int:
			parts[i] = strconv.Itoa(x)
		case decimal.Decimal:
			parts[i] = "d" + x.String()
		case string:
			parts[i] = strconv.Quote(x)
		case time.Time:
			parts[i] = "t" + x.Format(schema.DateTimeLayout)
			if x.Location() != time.UTC {
				parts[i] += "(not UTC)"
			}
		case bool:
			parts[i] = strconv.FormatBool(x)
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return strings.Join(parts, " ")
}

// sameRow reports whether two rows hold equal values.
func sameRow(a, b schema.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if schema.Compare(a[i], b[i]) != 0 {
			return false
		}
	}
	return true
}

// openString reads text with NewReader as file "in.csv".
func openString(t *testing.T, text string, s *schema.Schema) *Reader {
	t.Helper()
	r, err := NewReader(strings.NewReader(text), "in.csv", s)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return r
}

// dec parses a decimal for a test row.
func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// at parses a datetime for a test row.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(schema.DateTimeLayout, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// diffResults reports the differences between two read results.
func diffResults(t *testing.T, got, want []result) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("read %d: missing, want %+v", i, want[i])
		case i >= len(want):
			t.Errorf("read %d: got %+v, want nothing", i, got[i])
		case got[i] != want[i]:
			t.Errorf("read %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
