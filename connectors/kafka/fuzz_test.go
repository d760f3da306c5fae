package kafka

import (
	"bytes"
	"encoding/json"
	"testing"

	"pipeline/engine/schema"
)

// FuzzDecode decodes arbitrary bytes as a ledger record: it must not panic;
// it returns a row or an error, never both nor neither; a row it returns
// holds values of its columns' Go types, encodes to valid JSON that decodes
// back to the same row (decimals rounded to their column's places, as
// encoding does), and encoding that row again gives the same bytes. Seeds
// are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	c, err := newCodec(ledger, "id")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := c.decodeFlat(data); ok {
			slow, err := c.decodeJSON(data)
			if err != nil || !sameRow(fast, slow) {
				t.Fatalf("fast path %q = %s, general path %s, %v", data, show(fast), show(slow), err)
			}
		}
		row, err := c.decode(data)
		if (row == nil) == (err == nil) {
			t.Fatalf("decode(%q) = %s, %v: want a row or an error", data, show(row), err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("decode(%q): empty error", data)
			}
			return
		}
		if len(data) > MaxPayload {
			t.Fatalf("decode accepted %d bytes", len(data))
		}
		if err := c.check(row); err != nil {
			t.Fatalf("decode(%q) = %s, which does not fit the schema: %v", data, show(row), err)
		}
		first, _ := c.appendValue(nil, nil, row)
		if !json.Valid(first) {
			t.Fatalf("row %s encodes to invalid JSON %q", show(row), first)
		}
		again, err := c.decode(first)
		if err != nil {
			t.Fatalf("row %s encodes to %q, which does not decode: %v", show(row), first, err)
		}
		if want := rounded(t, row); !sameRow(again, want) {
			t.Fatalf("row %s encodes to %q, which decodes to %s, want %s", show(row), first, show(again), show(want))
		}
		second, _ := c.appendValue(nil, nil, again)
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding again changed the value:\n%q\n%q", first, second)
		}
	})
}

// rounded returns row with its decimals rounded to their column's places, as encoding writes them.
func rounded(t *testing.T, row schema.Row) schema.Row {
	t.Helper()
	out := make(schema.Row, len(row))
	for i, v := range row {
		x, err := ledger.Columns[i].Type.Coerce(v)
		if err != nil {
			t.Fatalf("value %v of column %s: %v", v, ledger.Columns[i].Name, err)
		}
		out[i] = x
	}
	return out
}
