package csv

import (
	stdcsv "encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestReaderRows(t *testing.T) {
	const head = "id,amount,day,note\n"
	row1 := `1 d12.50 t2024-01-02 00:00:00 "first"`
	row2 := `2 d-3.00 t2024-02-29 00:00:00 null`
	tests := []struct {
		name string
		in   string
		want []result
	}{
		{"lf", head + "1,12.50,2024-01-02,first\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Row: row1}, {Line: 3, Row: row2}}},
		{"crlf", "id,amount,day,note\r\n1,12.50,2024-01-02,first\r\n2,-3,2024-02-29,\r\n",
			[]result{{Line: 2, Row: row1}, {Line: 3, Row: row2}}},
		{"no final line ending", head + "1,12.50,2024-01-02,first\n2,-3,2024-02-29,",
			[]result{{Line: 2, Row: row1}, {Line: 3, Row: row2}}},
		{"no final line ending after cr", head + "1,12.50,2024-01-02,first\r",
			[]result{{Line: 2, Row: row1}}},
		{"utf-8 bom", "\xEF\xBB\xBF" + head + "1,12.50,2024-01-02,first\n",
			[]result{{Line: 2, Row: row1}}},
		{"header in another order", "note,day,id,amount\nfirst,2024-01-02,1,12.50\n",
			[]result{{Line: 2, Row: row1}}},
		{"nullable column missing from header", "id,amount,day\n2,-3,2024-02-29\n",
			[]result{{Line: 2, Row: row2}}},
		{"header only", head, nil},
		{"header only without line ending", "id,amount,day,note", nil},
		{"header and blank lines", head + "\n\r\n\n", nil},
		{"blank lines between rows", "\n" + head + "\n1,12.50,2024-01-02,first\n\r\n\n2,-3,2024-02-29,\n",
			[]result{{Line: 4, Row: row1}, {Line: 7, Row: row2}}},
		{"quoted fields", head + `"1","12.50","2024-01-02","fir""st, ok"` + "\n",
			[]result{{Line: 2, Row: `1 d12.50 t2024-01-02 00:00:00 "fir\"st, ok"`}}},
		{"quoted newlines", head + "1,12.50,2024-01-02,\"a\nb\r\nc\"\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Row: `1 d12.50 t2024-01-02 00:00:00 "a\nb\nc"`}, {Line: 5, Row: row2}}},
		{"quoted empty nullable field is null", head + `2,-3,2024-02-29,""` + "\n",
			[]result{{Line: 2, Row: row2}}},
		{"too few fields", head + "1,12.50,2024-01-02\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: "in.csv:2: has 3 fields, header has 4", Payload: "1,12.50,2024-01-02"}, {Line: 3, Row: row2}}},
		{"too many fields", head + "1,12.50,2024-01-02,\"a,b\",x\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: "in.csv:2: has 5 fields, header has 4", Payload: `1,12.50,2024-01-02,"a,b",x`}, {Line: 3, Row: row2}}},
		{"amount not a number", head + "1,abc,2024-01-02,first\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: `in.csv:2: column amount: "abc" is not a decimal number`, Payload: "1,abc,2024-01-02,first"}, {Line: 3, Row: row2}}},
		{"bad date", head + "1,12.50,2024-13-01,\"x\ny\"\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: `in.csv:2: column day: "2024-13-01" is not a date (want YYYY-MM-DD)`, Payload: "1,12.50,2024-13-01,\"x\ny\""}, {Line: 4, Row: row2}}},
		{"empty int", head + ",12.50,2024-01-02,first\n",
			[]result{{Line: 2, Err: `in.csv:2: column id: empty value in a column that is not nullable`, Payload: ",12.50,2024-01-02,first"}}},
		{"bare quote", head + "1,12\"50,2024-01-02,first\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: `in.csv:2: column amount: bare " in non-quoted-field at line 2, byte 5`, Payload: `1,12"50,2024-01-02,first`}, {Line: 3, Row: row2}}},
		{"text after closing quote", head + "1,12.50,2024-01-02,\"a\nb\"c\r\n2,-3,2024-02-29,\n",
			[]result{{Line: 2, Err: `in.csv:2: column note: extraneous or missing " in quoted-field at line 3, byte 2`, Payload: "1,12.50,2024-01-02,\"a\nb\"c"}, {Line: 4, Row: row2}}},
		{"quote never closed", head + "2,-3,2024-02-29,\n1,12.50,2024-01-02,\"a\nb\n",
			[]result{{Line: 3, Row: ""}, {Line: 3, Err: `in.csv:3: column note: extraneous or missing " in quoted-field at line 4, byte 3`, Payload: "1,12.50,2024-01-02,\"a\nb"}}},
		{"syntax error in a field past the header", head + "1,12.50,2024-01-02,x,y\"\n",
			[]result{{Line: 2, Err: `in.csv:2: field 5: bare " in non-quoted-field at line 2, byte 23`, Payload: `1,12.50,2024-01-02,x,y"`}}},
	}
	tests[len(tests)-2].want[0] = result{Line: 2, Row: row2}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := openString(t, tt.in, orders)
			defer r.Close()
			diffResults(t, readAll(t, r), tt.want)
			if _, _, err := r.Read(); err != io.EOF {
				t.Errorf("Read after the end: %v, want io.EOF", err)
			}
		})
	}
}

func TestReaderErrorsWrap(t *testing.T) {
	r := openString(t, "id,amount,day\n,1,2024-01-01\n1,1\"2,2024-01-01\n", orders)
	_, _, err := r.Read()
	if !errors.Is(err, schema.ErrNull) {
		t.Errorf("empty id: %v does not wrap schema.ErrNull", err)
	}
	_, _, err = r.Read()
	if !errors.Is(err, stdcsv.ErrBareQuote) {
		t.Errorf("bare quote: %v does not wrap csv.ErrBareQuote", err)
	}
}

func TestReaderHeaderErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty file", "", "file in.csv is empty: want a header row"},
		{"only a bom", "\xEF\xBB\xBF", "file in.csv is empty: want a header row"},
		{"only blank lines", "\n\r\n\n", "file in.csv is empty: want a header row"},
		{"missing columns", "note,id\n1,2\n",
			"in.csv:1: header: missing columns amount, day (schema orders has columns id, amount, day, note)"},
		{"unknown columns", "id,amount,day,Note,x\n",
			`in.csv:1: header: unknown columns "Note", "x" (schema orders has columns id, amount, day, note)`},
		{"missing and unknown", "\n\nid,amount,dy\n",
			`in.csv:3: header: missing columns day; unknown columns "dy" (schema orders has columns id, amount, day, note)`},
		{"column twice", "id,amount,day,id\n",
			`in.csv:1: header: columns named twice id (schema orders has columns id, amount, day, note)`},
		{"bare quote", "id,am\"ount\n",
			`in.csv: header row: parse error on line 1, column 6: bare " in non-quoted-field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.in), "in.csv", orders)
			if err == nil {
				r.Close()
				t.Fatalf("NewReader: no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("NewReader:\n got %q\nwant %q", err, tt.want)
			}
		})
	}
	if _, err := NewReader(strings.NewReader("a\n"), "in.csv", nil); err == nil {
		t.Error("NewReader with no schema: no error")
	}
}

func TestReaderLargeField(t *testing.T) {
	big := strings.Repeat("0123456789,\"\n", 10<<20/13+1)
	in := "id,amount,day,note\n1,1,2024-01-02,\"" + strings.ReplaceAll(big, `"`, `""`) + "\"\n2,abc,2024-02-29,\"" + strings.ReplaceAll(big, `"`, `""`) + "\"\n3,1,2024-01-02,x\n"
	r := openString(t, in, orders)
	row, src, err := r.Read()
	if err != nil || src.Line != 2 || row[3] != big {
		t.Fatalf("big quoted field: line %d, error %v, equal %v", src.Line, err, err == nil && row[3] == big)
	}
	_, src, err = r.Read()
	var re *port.RowError
	if !errors.As(err, &re) || src.Line != 3+strings.Count(big, "\n") || len(re.Payload) != len(big)+strings.Count(big, `"`)+len(`2,abc,2024-02-29,""`) {
		t.Fatalf("big bad field: line %d, error %.100v", src.Line, err)
	}
	row, src, err = r.Read()
	if err != nil || row[0] != 3 {
		t.Fatalf("row after the big bad field: line %d, error %.100v, row %.100v", src.Line, err, row)
	}
	unquoted := strings.Repeat("x", 10<<20)
	r = openString(t, "id,amount,day,note\n1,1,2024-01-02,"+unquoted+"\n", orders)
	if row, _, err := r.Read(); err != nil || row[3] != unquoted {
		t.Fatalf("big unquoted field: error %v", err)
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader("id,amount,day\n1,1,2024-01-01\n2,2,2024-01"), iotest.ErrReader(boom))
	r, err := NewReader(in, "in.csv", orders)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err != nil {
		t.Fatalf("first row: %v", err)
	}
	for range 2 {
		_, _, err := r.Read()
		var re *port.RowError
		if !errors.Is(err, boom) || errors.As(err, &re) || err.Error() != "read in.csv: disk on fire" {
			t.Fatalf("read error: got %v (%T), want the read error, not a row error", err, err)
		}
	}
}

func TestReaderClose(t *testing.T) {
	r := openString(t, "id,amount,day\n1,1,2024-01-01\n", orders)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err == nil || err == io.EOF {
		t.Errorf("Read after Close: %v, want an error", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenTestdata(t *testing.T) {
	want := []result{
		{Line: 2, Row: `1 d12.50 t2024-01-02 00:00:00 "first"`},
		{Line: 3, Row: `2 d-3.00 t2024-02-29 00:00:00 null`},
		{Line: 4, Row: `3 d0.01 t2024-03-01 00:00:00 "two\nlines"`},
		{Line: 6, Row: `4 d1000000.00 t2024-12-31 00:00:00 "comma, and \"quotes\""`},
		{Line: 7, Err: `orders.csv:7: column amount: "1,5" is not a decimal number`, Payload: `5,"1,5",2024-01-01,`},
		{Line: 8, Row: `6 d7.00 t2024-01-01 00:00:00 "last"`},
	}
	c := New("testdata")
	for _, name := range []string{"orders.csv", "orders_crlf.csv", "orders_bom.csv"} {
		t.Run(name, func(t *testing.T) {
			r, err := c.Open(t.Context(), name, orders)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			w := append([]result(nil), want...)
			w[4].Err = strings.Replace(w[4].Err, "orders.csv", name, 1)
			diffResults(t, readAll(t, r), w)
		})
	}
	abs, err := filepath.Abs("testdata/orders.csv")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(t.TempDir()).Open(t.Context(), abs, orders)
	if err != nil {
		t.Fatalf("absolute path: %v", err)
	}
	if _, src, err := r.Read(); err != nil || src.File != abs {
		t.Errorf("absolute path: source %v, error %v", src, err)
	}
	r.Close()
	if _, err := c.Open(t.Context(), "nothing.csv", orders); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}
