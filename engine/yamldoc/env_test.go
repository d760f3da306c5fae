package yamldoc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := MapEnv(map[string]string{"A": "a", "B": "bee", "EMPTY": "", "DOLLAR": "$X", "_x9": "under", "REF": "${A}"})
	tests := []struct {
		in   string
		want string
		off  int
		err  string
	}{
		{in: "", want: ""},
		{in: "no dollar", want: "no dollar"},
		{in: "${A}", want: "a"},
		{in: "x${A}y${B}z", want: "xaybeez"},
		{in: "${_x9}", want: "under"},
		{in: "${A:-default}", want: "a"},
		{in: "${NOPE:-default}", want: "default"},
		{in: "${NOPE:-}", want: ""},
		{in: "${EMPTY:-e}", want: "e"}, // empty counts as unset
		{in: "${NOPE:-a:-b}", want: "a:-b"},
		{in: "${NOPE:-with spaces, and: colons}", want: "with spaces, and: colons"},
		{in: "${NOPE:-${B}}", want: "bee"},
		{in: "${NOPE:-${NADA:-x}}", want: "x"},
		{in: "${A:-${NADA}}", want: "a"}, // an unused default is not expanded
		{in: "${NOPE:-${NADA:-${B}}}!", want: "bee!"},
		{in: "${NOPE:-../dir/${NADA:-x}}", want: "../dir/x"}, // text and a reference in one default
		{in: "${NOPE:-../dir/${B:-x}}/y", want: "../dir/bee/y"},
		{in: "${NOPE:-{x}}", want: "{x}"},
		{in: "${DOLLAR}", want: "$X"}, // values are not expanded again
		{in: "${REF}", want: "${A}"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "$$${A}", want: "$a"},
		{in: "${NOPE:-$$}", want: "$"},
		{in: "${NOPE:-$${}", want: "${"},
		{in: "${NOPE:-$${B}}", want: "${B}"},
		{in: "$", want: "$"},
		{in: "a$", want: "a$"},
		{in: "$A", want: "$A"},
		{in: "5$ and $ 6", want: "5$ and $ 6"},
		{in: "${A}$", want: "a$"},
		{in: "}", want: "}"},

		{in: "${NOPE}", off: 0, err: "variable NOPE is not set and has no default (set it, put it in .env, or write ${NOPE:-default})"},
		{in: "x-${EMPTY}", off: 2, err: "variable EMPTY is not set and has no default (set it, put it in .env, or write ${EMPTY:-default})"},
		{in: "${A}/${B}/${C}", off: 10, err: "variable C is not set and has no default (set it, put it in .env, or write ${C:-default})"},
		{in: "ab${NOPE:-${NADA}}", off: 10, err: "variable NADA is not set and has no default (set it, put it in .env, or write ${NADA:-default})"},
		{in: "${X:-${Y:-${Z}}}", off: 10, err: "variable Z is not set and has no default (set it, put it in .env, or write ${Z:-default})"},
		{in: "é${NOPE}", off: 2, err: "variable NOPE is not set and has no default (set it, put it in .env, or write ${NOPE:-default})"},
		{in: "${}", off: 0, err: `bad variable name "" in ${}`},
		{in: "${:-x}", off: 0, err: `bad variable name "" in ${:-x}`},
		{in: "x${1A}", off: 1, err: `bad variable name "1A" in ${1A}`},
		{in: "${A-B}", off: 0, err: `bad variable name "A-B" in ${A-B}`},
		{in: "${A:B}", off: 0, err: `bad variable name "A:B" in ${A:B}`},
		{in: "${ A }", off: 0, err: `bad variable name " A " in ${ A }`},
		{in: "${é}", off: 0, err: `bad variable name "é" in ${é}`},
		{in: "${X:-${ }}", off: 5, err: `bad variable name " " in ${ }`},
		{in: "${", off: 0, err: `unclosed ${ in "${"`},
		{in: "ok ${A", off: 3, err: `unclosed ${ in "ok ${A"`},
		{in: "${A:-${B}", off: 0, err: `unclosed ${ in "${A:-${B}"`},
		{in: "${A}${", off: 4, err: `unclosed ${ in "${A}${"`},
		{in: "${NOPE:-${}", off: 0, err: `unclosed ${ in "${NOPE:-${}"`},
	}
	for _, tt := range tests {
		got, off, err := env.Expand(tt.in)
		if errText(err) != tt.err {
			t.Errorf("Expand(%q) error:\n got %v\nwant %s", tt.in, err, tt.err)
			continue
		}
		if got != tt.want || off != tt.off {
			t.Errorf("Expand(%q) = %q, %d; want %q, %d", tt.in, got, off, tt.want, tt.off)
		}
	}
}

func TestZeroEnv(t *testing.T) {
	var env Env
	if v, ok := env.Lookup("PATH"); ok || v != "" {
		t.Errorf("Lookup in the zero Env = %q, %t", v, ok)
	}
	if got, _, err := env.Expand("${PATH:-none}"); got != "none" || err != nil {
		t.Errorf("Expand in the zero Env = %q, %v", got, err)
	}
}

func TestNewEnv(t *testing.T) {
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	src := "# settings\nFROM_FILE=file\nBOTH=from file\nQUOTED=\"a b\"\nexport EXPORTED=yes\nEMPTY_IN_FILE=\n"
	if err := os.WriteFile(dotenv, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BOTH", "from process")
	t.Setenv("ONLY_PROCESS", "process")
	env, err := NewEnv(dotenv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string
		ok   bool
	}{
		{"FROM_FILE", "file", true},
		{"BOTH", "from process", true}, // the process wins
		{"ONLY_PROCESS", "process", true},
		{"QUOTED", "a b", true},
		{"EXPORTED", "yes", true},
		{"EMPTY_IN_FILE", "", false},
		{"NOT_ANYWHERE_AT_ALL", "", false},
	}
	for _, tt := range tests {
		if got, ok := env.Lookup(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%s) = %q, %t; want %q, %t", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if got, _, err := env.Expand("${BOTH}/${FROM_FILE}"); got != "from process/file" || err != nil {
		t.Errorf("Expand = %q, %v", got, err)
	}

	// A missing .env file and no file at all are fine.
	for _, path := range []string{filepath.Join(dir, "missing.env"), ""} {
		env, err := NewEnv(path)
		if err != nil {
			t.Fatalf("NewEnv(%q): %v", path, err)
		}
		if got, _ := env.Lookup("ONLY_PROCESS"); got != "process" {
			t.Errorf("NewEnv(%q): ONLY_PROCESS = %q", path, got)
		}
		if _, ok := env.Lookup("FROM_FILE"); ok {
			t.Errorf("NewEnv(%q) read %s", path, dotenv)
		}
	}

	// A .env that cannot be read is an error.
	_, err = NewEnv(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "reading "+dir+": ") {
		t.Errorf("NewEnv(a directory) error: %v", err)
	}
}
