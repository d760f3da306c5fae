package yamldoc

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "a.yaml", Line: 3, Col: 7}, "a.yaml:3:7"},
		{Pos{File: "a.yaml", Line: 3}, "a.yaml:3"},
		{Pos{File: "a.yaml"}, "a.yaml"},
		{Pos{File: "a.yaml", Col: 7}, "a.yaml"},
		{Pos{}, ""},
		{Pos{File: "a.yaml", Line: 3, Col: 7}.Shift(4), "a.yaml:3:11"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
}

func TestErrorDetail(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "caret under the column",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 4, Col: 9}, Msg: "bad", Line: "    to: db:nowhere"},
			want: "s.yaml:4:9: bad\n    " + "    to: db:nowhere\n    " + "        ^",
		},
		{
			name: "first column",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 1, Col: 1}, Msg: "bad", Line: "x"},
			want: "s.yaml:1:1: bad\n    x\n    ^",
		},
		{
			name: "tabs become spaces",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 1, Col: 3}, Msg: "bad", Line: "\t\tx"},
			want: "s.yaml:1:3: bad\n      x\n      ^",
		},
		{
			name: "column past the end of the line",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 1, Col: 40}, Msg: "bad", Line: "abc"},
			want: "s.yaml:1:40: bad\n    abc\n       ^",
		},
		{
			name: "no column",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 2}, Msg: "bad", Line: "abc"},
			want: "s.yaml:2: bad",
		},
		{
			name: "no line text",
			err:  &Error{Pos: Pos{File: "s.yaml", Line: 2, Col: 1}, Msg: "bad"},
			want: "s.yaml:2:1: bad",
		},
	}
	for _, tt := range tests {
		if got := tt.err.Detail(); got != tt.want {
			t.Errorf("%s: Detail() =\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

func TestErrorf(t *testing.T) {
	f := parse(t, "a: 1\nb: 2\n")
	e := f.Errorf(Pos{File: "t.yaml", Line: 2, Col: 4}, "value %d: %v", 2, fs.ErrPermission)
	if e.Error() != "t.yaml:2:4: value 2: permission denied" || e.Line != "b: 2" {
		t.Errorf("Errorf = %+v", e)
	}
	if !errors.Is(e, fs.ErrPermission) || e.Unwrap() != fs.ErrPermission {
		t.Errorf("Errorf does not wrap its error argument")
	}
	if e := f.Errorf(Pos{File: "t.yaml", Line: 9, Col: 1}, "no such line"); e.Line != "" || e.Err != nil {
		t.Errorf("Errorf past the end = %+v", e)
	}
}

func TestErrors(t *testing.T) {
	var none Errors
	if none.Err() != nil {
		t.Errorf("empty Errors.Err() = %v, want nil", none.Err())
	}
	es := Errors{
		{Pos: Pos{File: "a.yaml", Line: 1, Col: 2}, Msg: "one", Line: "x: y"},
		{Pos: Pos{File: "a.yaml", Line: 3}, Msg: "two"},
	}
	err := es.Err()
	if err == nil || err.Error() != "a.yaml:1:2: one\na.yaml:3: two" {
		t.Errorf("Err() = %v", err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"errors", err, "a.yaml:1:2: one\n    x: y\n     ^\na.yaml:3: two"},
		{"wrapped errors", fmt.Errorf("loading: %w", err), "a.yaml:1:2: one\n    x: y\n     ^\na.yaml:3: two"},
		{"one error", es[0], "a.yaml:1:2: one\n    x: y\n     ^"},
		{"wrapped error", fmt.Errorf("loading: %w", es[0]), "a.yaml:1:2: one\n    x: y\n     ^"},
		{"plain error", errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		if got := Details(tt.err); got != tt.want {
			t.Errorf("%s: Details =\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

// TestDetailsGolden decodes a document with many mistakes and compares what
// a person sees with testdata/details.golden.
func TestDetailsGolden(t *testing.T) {
	src := strings.Join([]string{
		"# a document with mistakes",
		"name: [not, a, string]",
		"count: twelve",
		"small: 99999999999",
		"tags: {a: b}",
		"options:",
		"  a: 1",
		"  a: 2",
		"nmae: typo",
		"note: café ${UNSET}",
		"items:",
		"  - id: 1",
		"    text: ${ALSO_UNSET:-${INNER}}",
		"  - {id: 2, txt: x}",
		"upper: bad",
		"on: maybe",
		"",
	}, "\n")
	f := parse(t, src)
	d := &Decoder{File: f, Env: MapEnv(nil), Expand: true}
	var out doc
	err := d.Decode(f.Root, &out)
	golden(t, "details.golden", Details(err)+"\n")
}

// TestSyntaxGolden parses files that are not YAML and compares what a
// person sees with testdata/syntax.golden.
func TestSyntaxGolden(t *testing.T) {
	files := []string{
		"name: x\ntables:\n  t:\n    key: id\n    columns: {id: int, amount: money?}\n",
		"name: x\nstages:\n  - name: a\n   kind: load\n",
		"name: x\n\tkind: load\n",
		"name: x\ndescription: \"it is \"quoted\" here\"\n",
		"# only a comment\n",
	}
	var b strings.Builder
	for i, src := range files {
		_, err := Parse(fmt.Sprintf("file%d.yaml", i+1), []byte(src))
		if err == nil {
			t.Errorf("file %d parsed", i+1)
			continue
		}
		fmt.Fprintf(&b, "%s\n\n", Details(err))
	}
	golden(t, "syntax.golden", b.String())
}
