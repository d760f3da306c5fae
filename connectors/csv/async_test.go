package csv

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"pipeline/engine/schema"
)

// TestWriterLargeOutput writes enough rows for several buffers to go
// through the writing goroutine, and checks every byte arrives in order.
func TestWriterLargeOutput(t *testing.T) {
	s := schema.MustNew("lines", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "text", Type: schema.StringType},
	}, "")
	var got, want strings.Builder
	w, err := NewWriter(&got, "out.csv", s, LF())
	if err != nil {
		t.Fatal(err)
	}
	want.WriteString("id,text\n")
	for i := range 100_000 {
		text := fmt.Sprintf("line %d, with a comma", i)
		if err := w.Write(schema.Row{i, text}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, "%d,\"%s\"\n", i, text)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got.Len() < 4*writeBufferSize {
		t.Fatalf("wrote %d bytes, want several buffers", got.Len())
	}
	if got.String() != want.String() {
		t.Fatal("the output differs from the rows written in order")
	}
}

// TestWriterLargeOutputError checks that a write failing in the writing
// goroutine fails a later Write or Close, and that Close returns.
func TestWriterLargeOutputError(t *testing.T) {
	s := schema.MustNew("lines", []schema.Column{{Name: "text", Type: schema.StringType}}, "")
	w, err := NewWriter(failWriter{}, "out.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	row := schema.Row{strings.Repeat("x", 1000)}
	var werr error
	for i := 0; i < 10_000 && werr == nil; i++ {
		werr = w.Write(row)
	}
	cerr := w.Close()
	if !errors.Is(cerr, errFull) {
		t.Fatalf("Close = %v, want %v", cerr, errFull)
	}
	if werr != nil && !errors.Is(werr, errFull) {
		t.Fatalf("Write = %v, want %v", werr, errFull)
	}
}

// TestWriteRowsSameAsWrite checks WriteRows writes what Write does row by
// row, and fails on the same row with the same error (line numbers too).
func TestWriteRowsSameAsWrite(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(3, runtime.GOMAXPROCS(0))))
	s := schema.MustNew("lines", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "text", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "")
	texts := []any{"plain", "two\nlines", nil, `a "quote"`, "x,y", "three\nmore\nlines"}
	rows := make([]schema.Row, 5000)
	for i := range rows {
		rows[i] = schema.Row{i, texts[i%len(texts)]}
	}
	bad := slices.Clone(rows)
	bad[3210] = schema.Row{3210, 7} // an int in a string column
	for _, tc := range []struct {
		name string
		rows []schema.Row
	}{{"good", rows}, {"bad row", bad}, {"few rows", rows[:10]}} {
		t.Run(tc.name, func(t *testing.T) {
			var one, many strings.Builder
			w1, _ := NewWriter(&one, "out.csv", s)
			var err1 error
			for _, r := range tc.rows {
				if err1 = w1.Write(r); err1 != nil {
					break
				}
			}
			w1.Close()
			w2, _ := NewWriter(&many, "out.csv", s)
			var err2 error
			for lo := 0; lo < len(tc.rows) && err2 == nil; lo += 1500 {
				err2 = w2.WriteRows(tc.rows[lo:min(lo+1500, len(tc.rows))])
			}
			w2.Close()
			if fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("WriteRows error %v, Write error %v", err2, err1)
			}
			if err1 == nil && one.String() != many.String() {
				t.Fatal("WriteRows wrote other text than Write")
			}
		})
	}
}
