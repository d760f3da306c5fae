package csv

import (
	"errors"
	"fmt"
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
