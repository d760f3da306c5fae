package window

import (
	"strconv"
	"testing"
	"time"
)

func TestCodec(t *testing.T) {
	sp := testSpec(t, time.Hour)
	s := &State{}
	sp.Add(s, entry(0, "1", "10.00", `a "quoted", name; with separators`))
	sp.Add(s, entry(time.Minute, "two", "", ""))
	text := sp.Encode(s)
	want := `w1;` + itoa(at(time.Minute)) + `;` + itoa(at(0)) + `,1,10.00,10.00,10.00,"a \"quoted\", name; with separators";` +
		itoa(at(time.Minute)) + `,"two",,,,`
	if text != want {
		t.Fatalf("Encode:\n got %s\nwant %s", text, want)
	}
	back, err := sp.Decode(text)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Encode(back) != text {
		t.Errorf("Decode(Encode) encodes as %s", sp.Encode(back))
	}
	if got := sp.Encode(&State{}); got != "w1;" {
		t.Errorf("empty state: %q", got)
	}
	for _, bad := range []string{"", "w2;", "w1;x", "w1;1;2", "w1;1;2,\"id", "w1;1;2,\"id\",1.005,,,", "w1;1;2,\"i\",x,,,", "w1;1;5,\"a\",,,,;4,\"b\",,,,", `w1;1;2,"i",,,,5`} {
		if _, err := sp.Decode(bad); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzDecode: Decode never panics on any text (the state table could hold
// anything), and what it accepts encodes back to a state it decodes alike.
func FuzzDecode(f *testing.F) {
	sp := testSpec(f, time.Hour)
	s := &State{}
	sp.Add(s, entry(0, "1", "10.00", "a,b;c"))
	sp.Add(s, entry(time.Second, "2", "", ""))
	f.Add(sp.Encode(s))
	f.Add("w1;")
	f.Add("w1;5")
	f.Add(`w1;1;2,"\x00",1,1,1,"\u00e9"`)
	f.Fuzz(func(t *testing.T, text string) {
		st, err := sp.Decode(text)
		if err != nil {
			return
		}
		again := sp.Encode(st)
		st2, err := sp.Decode(again)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))): %v", text, err)
		}
		if sp.Encode(st2) != again {
			t.Fatalf("not stable: %q then %q", again, sp.Encode(st2))
		}
	})
}
