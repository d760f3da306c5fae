package schema

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("a", 63) + "é" + strings.Repeat("b", 100)
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"12.5x", `"12.5x"`},
		{"tab\there", `"tab\there"`},
		{strings.Repeat("x", 64), `"` + strings.Repeat("x", 64) + `"`},
		{strings.Repeat("x", 65), `"` + strings.Repeat("x", 64) + `"... (65 bytes)`},
		// The cut never splits a rune: é starts at byte 63 and ends at 65.
		{long, `"` + strings.Repeat("a", 63) + `"... (165 bytes)`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.20q) = %s, want %s", c.in, got, c.want)
		}
	}
	if _, err := (Type{Kind: Decimal, Scale: AnyScale}).Parse(strings.Repeat("9", 10<<20) + "x"); err == nil || len(err.Error()) > 120 {
		t.Errorf("a 10 MB bad value gives an error of %d bytes, want a short one", len(err.Error()))
	}
}
