package yamldoc

import (
	"errors"
	"strings"
	"testing"
)

// fuzzDoc is what FuzzParse decodes arbitrary documents into.
type fuzzDoc struct {
	Name    String            `yaml:"name"`
	Count   int               `yaml:"count"`
	On      bool              `yaml:"on"`
	Options Map[String]       `yaml:"options"`
	Nested  Map[Map[String]]  `yaml:"nested"`
	Items   []fuzzItem        `yaml:"items"`
	Plain   map[string]string `yaml:"plain"`
	Kids    []fuzzDoc         `yaml:"kids"` // recursive, for alias cycles
	Custom  upper             `yaml:"custom"`
	Pos     Pos               `yaml:"-"`
	//lint:ignore U1000 no key reaches it
	ignored map[string]fuzzDoc
}

type fuzzItem struct {
	ID   int    `yaml:"id"`
	Text String `yaml:"text"`
	Pos  Pos    `yaml:"-"`
}

var fuzzEnv = MapEnv(map[string]string{"A": "a", "B": "${A}", "EMPTY": ""})

// FuzzParse parses arbitrary bytes and decodes what parses into fuzzDoc,
// expanding ${VAR}: neither may panic, every error must be positioned in
// the file, and Details must show it. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data)
		if err != nil {
			var e *Error
			if file != nil || !errors.As(err, &e) {
				t.Fatalf("Parse: file %v, error %v (%T)", file, err, err)
			}
			checkError(t, e, data)
			return
		}
		if file.Root == nil {
			t.Fatal("Parse returned no root")
		}
		d := &Decoder{File: file, Env: fuzzEnv, Expand: true}
		var out fuzzDoc
		err = d.Decode(file.Root, &out)
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("Decode error %v (%T), want Errors", err, err)
		}
		for _, e := range es {
			checkError(t, e, data)
		}
	})
}

// checkError checks that e is positioned in the file f.yaml made of data.
func checkError(t *testing.T, e *Error, data []byte) {
	t.Helper()
	// YAML breaks lines at \n, \r\n, \r, U+0085, U+2028 and U+2029.
	text := string(data)
	lines := 1 + strings.Count(text, "\n") + strings.Count(text, "\r") - strings.Count(text, "\r\n") +
		strings.Count(text, "\u0085") + strings.Count(text, "\u2028") + strings.Count(text, "\u2029")
	if e.Pos.File != "f.yaml" || e.Pos.Line < 0 || e.Pos.Line > lines+1 || e.Pos.Col < 0 || e.Msg == "" {
		t.Fatalf("error %q at %#v in a file of %d lines", e.Msg, e.Pos, lines)
	}
	if !strings.HasPrefix(e.Detail(), e.Error()) {
		t.Fatalf("Detail %q does not start with %q", e.Detail(), e.Error())
	}
}

// FuzzExpand expands arbitrary text: Expand must not panic, must return
// text without $ unchanged, must undo $$ escaping, and must give an offset
// at the ${ that is wrong with an error. Seeds are in testdata/fuzz/FuzzExpand.
func FuzzExpand(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, off, err := fuzzEnv.Expand(s)
		switch {
		case err != nil:
			if got != "" || off < 0 || !strings.HasPrefix(s[min(off, len(s)):], "${") {
				t.Fatalf("Expand(%q) = %q, %d, %v", s, got, off, err)
			}
		case off != 0:
			t.Fatalf("Expand(%q) = %q, offset %d without an error", s, got, off)
		}
		if !strings.Contains(s, "$") && (got != s || err != nil) {
			t.Fatalf("Expand(%q) = %q, %v; want it unchanged", s, got, err)
		}
		if !strings.Contains(s, "${") && (got != strings.ReplaceAll(s, "$$", "$") || err != nil) {
			t.Fatalf("Expand(%q) = %q, %v; want only $$ replaced", s, got, err)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		if back, _, err := fuzzEnv.Expand(escaped); back != s || err != nil {
			t.Fatalf("Expand(%q) = %q, %v; want %q", escaped, back, err, s)
		}
	})
}
