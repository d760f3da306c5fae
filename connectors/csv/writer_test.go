package csv

import (
	"errors"
	"strings"
	"testing"

	"pipeline/engine/schema"
)

func TestWriterQuoting(t *testing.T) {
	s := schema.MustNew("notes", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "text", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "")
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"plain", "abc", "1,abc\n"},
		{"null", nil, "1,\n"},
		{"empty", "", "1,\n"},
		{"comma", "a,b", "1,\"a,b\"\n"},
		{"quote", `say "hi"`, "1,\"say \"\"hi\"\"\"\n"},
		{"only a quote", `"`, "1,\"\"\"\"\n"},
		{"lf", "a\nb", "1,\"a\nb\"\n"},
		{"cr", "a\rb", "1,\"a\rb\"\n"},
		{"crlf", "a\r\nb", "1,\"a\r\nb\"\n"},
		{"spaces kept as is", " a b ", "1, a b \n"},
		{"utf-8", "naïve ✓", "1,naïve ✓\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			w, err := NewWriter(&b, "out.csv", s, LF())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(schema.Row{1, tt.value}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), "id,text\n"+tt.want; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestWriterValues(t *testing.T) {
	s := schema.MustNew("all", []schema.Column{
		{Name: "n", Type: schema.IntType},
		{Name: "money", Type: schema.MoneyType},
		{Name: "dec", Type: schema.DecimalType},
		{Name: "day", Type: schema.DateType},
		{Name: "at", Type: schema.DateTimeType},
		{Name: "ok", Type: schema.BoolType},
		{Name: "when", Type: schema.Type{Kind: schema.DateTime, Nullable: true}},
	}, "")
	var b strings.Builder
	w, err := NewWriter(&b, "out.csv", s, LF())
	if err != nil {
		t.Fatal(err)
	}
	rows := []schema.Row{
		{-7, dec(t, "1.5"), dec(t, "1.500"), at(t, "2024-02-29 00:00:00"), at(t, "2024-02-29 13:14:15"), true, nil},
		{0, 3, 4, at(t, "1999-12-31 23:59:59"), at(t, "2000-01-01 00:00:00"), false, at(t, "2001-02-03 04:05:06")},
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "n,money,dec,day,at,ok,when\n" +
		"-7,1.50,1.500,2024-02-29,2024-02-29 13:14:15,true,\n" +
		"0,3.00,4,1999-12-31,2000-01-01 00:00:00,false,2001-02-03 04:05:06\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriterOneColumn(t *testing.T) {
	s := schema.MustNew("one", []schema.Column{{Name: "text", Type: schema.Type{Kind: schema.String, Nullable: true}}}, "")
	var b strings.Builder
	w, err := NewWriter(&b, "out.csv", s, LF())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{"a", nil, "", "b"} {
		if err := w.Write(schema.Row{v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "text\na\n\"\"\n\"\"\nb\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	r := openString(t, b.String(), s)
	diffResults(t, readAll(t, r), []result{{Line: 2, Row: `"a"`}, {Line: 3, Row: "null"}, {Line: 4, Row: "null"}, {Line: 5, Row: `"b"`}})
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		row  schema.Row
		want string
	}{
		{"too few values", schema.Row{1, 2}, "out.csv:4: row has 2 values, schema has 4 columns (id, amount, day, note)"},
		{"too many values", schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), nil, 5}, "out.csv:4: row has 5 values, schema has 4 columns (id, amount, day, note)"},
		{"null in a column that is not nullable", schema.Row{1, nil, at(t, "2024-01-01 00:00:00"), nil}, "out.csv:4: column amount: null in a column that is not nullable"},
		{"string in a money column", schema.Row{1, "12", at(t, "2024-01-01 00:00:00"), nil}, "out.csv:4: column amount: a string value does not fit column type money"},
		{"float in an int column", schema.Row{1.5, 1, at(t, "2024-01-01 00:00:00"), nil}, "out.csv:4: column id: a float64 value does not fit column type int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			w, err := NewWriter(&b, "out.csv", orders, LF())
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), "two\nlines"}); err != nil {
				t.Fatal(err)
			}
			err = w.Write(tt.row)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Write: got %v, want %q", err, tt.want)
			}
			if again := w.Write(schema.Row{2, 2, at(t, "2024-01-01 00:00:00"), nil}); again != err {
				t.Errorf("Write after an error: %v, want the first error", again)
			}
			if cerr := w.Close(); cerr != err {
				t.Errorf("Close: %v, want the first error", cerr)
			}
			if cerr := w.Close(); cerr != err {
				t.Errorf("second Close: %v, want the first error", cerr)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

var errFull = errors.New("no space left")

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

func TestWriterFlushError(t *testing.T) {
	w, err := NewWriter(failWriter{}, "out.csv", orders)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), nil}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, errFull) || err.Error() != "write out.csv: no space left" {
		t.Errorf("Close: %v, want the write error", err)
	}
	if err := w.Write(schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), nil}); err == nil {
		t.Error("Write after Close: no error")
	}
	if _, err := NewWriter(failWriter{}, "out.csv", schema.MustNew("none", nil, "")); err == nil {
		t.Error("NewWriter with no columns: no error")
	}
}

func TestWriterCRLFByDefault(t *testing.T) {
	s := schema.MustNew("t", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "text", Type: schema.StringType}}, "")
	var b strings.Builder
	w, err := NewWriter(&b, "out.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(schema.Row{1, "a\nb"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "id,text\r\n1,\"a\nb\"\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
