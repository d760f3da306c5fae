package yamldoc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	const hint = ` (inside {...} a trailing ? starts a YAML key: quote the value, e.g. "int?")`
	const below = " (yaml reports this error at the line where the enclosing block starts: if this line looks right, check the indentation of the lines below it)"
	tests := []struct {
		name string
		src  string
		err  string // the Error text
		line string // the source line the error shows
	}{
		{name: "empty", src: "", err: "t.yaml:1:1: file is empty"},
		{name: "blank lines", src: "\n\n", err: "t.yaml:1:1: file is empty"},
		{name: "comment only", src: "# nothing here\n", err: "t.yaml:1:1: file is empty", line: "# nothing here"},
		{
			name: "unclosed flow list",
			src:  "name: x\nb: 2\nc: 3\nd: [1, 2\ne: 5\n",
			err:  "t.yaml:4:1: invalid YAML: did not find expected ',' or ']'",
			line: "d: [1, 2",
		},
		{
			name: "unclosed flow mapping",
			src:  "name: x\nb: 2\nc: {a: 1\n",
			err:  "t.yaml:3:1: invalid YAML: did not find expected ',' or '}'",
			line: "c: {a: 1",
		},
		{
			name: "quote inside a quote",
			src:  "name: x\nb: 2\nc: 'it's'\n",
			err:  "t.yaml:3:1: invalid YAML: did not find expected key" + below,
			line: "c: 'it's'",
		},
		{
			name: "list item in a mapping",
			src:  "name: x\nc:\n  - 1\n  x: 2\n",
			err: "t.yaml:4:3: invalid YAML: did not find expected '-' indicator in the block that starts at line 3 (where yaml reports it); " +
				"the likely cause is line 4: it is indented by 2 spaces like the list items above it, but is not one (a key of an item is indented like the item's first key)",
			line: "  x: 2",
		},
		// yaml.v3 reports a misindented key or item at the start of the
		// block that holds it: the line indented like no block is shown.
		{
			name: "key of a list item indented less than its first",
			src:  "name: x\nstages:\n  - name: a\n    kind: b\n   from: c\n  - name: d\n",
			err: "t.yaml:5:4: invalid YAML: did not find expected '-' indicator in the block that starts at line 3 (where yaml reports it); " +
				"the likely cause is line 5: it is indented by 3 spaces, like no block it could belong to (those are indented by 0, 2 and 4 spaces)",
			line: "   from: c",
		},
		{
			name: "key of a mapping indented less than its siblings",
			src:  "name: x\nconnectors:\n  db:\n    kind: mysql\n   dsn: x\n  bus:\n    kind: kafka\n",
			err: "t.yaml:5:4: invalid YAML: did not find expected key in the block that starts at line 3 (where yaml reports it); " +
				"the likely cause is line 5: it is indented by 3 spaces, like no block it could belong to (those are indented by 0, 2 and 4 spaces)",
			line: "   dsn: x",
		},
		{
			name: "item of a nested list indented less, after comments, a block scalar and flow items",
			src: "name: x\nstages:\n  - name: a\n    # a comment\n\n    description: |\n      text\n        more: text\n" +
				"    copy:\n      - {from: x, to: y}\n     - {from: z, to: w}\n",
			err: "t.yaml:11:6: invalid YAML: did not find expected key in the block that starts at line 3 (where yaml reports it); " +
				"the likely cause is line 11: it is indented by 5 spaces, like no block it could belong to (those are indented by 0, 2, 4 and 6 spaces)",
			line: "     - {from: z, to: w}",
		},
		{
			name: "key indented less than its siblings, reported where it is",
			src:  "a:\n  b: 1\n c: 2\nd: 3\n",
			err:  "t.yaml:3:1: invalid YAML: did not find expected key; it is indented by 1 space, like no block it could belong to (those are indented by 0 and 2 spaces)",
			line: " c: 2",
		},
		{
			name: "key indented deeper than a key with a value",
			src:  "a:\n  b: 1\n    c: 2\n",
			err:  "t.yaml:3:1: invalid YAML: mapping values are not allowed in this context; this line is indented deeper than line 2, which has a value already (only a key with no value, or a list item, opens a deeper block)",
			line: "    c: 2",
		},
		{
			name: "tab in the indentation",
			src:  "name: x\n\tkind: load\n",
			err:  "t.yaml:2:1: invalid YAML: found a tab character that violates indentation; YAML indents with spaces, not tabs",
			line: "\tkind: load",
		},
		{
			name: "undefined tag handle",
			src:  "name: x\nc: !foo!bar x\n",
			err:  "t.yaml:2:1: invalid YAML: found undefined tag handle",
			line: "c: !foo!bar x",
		},
		{
			name: "parser error found after the first line",
			src:  "- a\nb: 1\n",
			err:  "t.yaml:2:1: invalid YAML: did not find expected '-' indicator; it is indented by 0 spaces like the list items above it, but is not one (a key of an item is indented like the item's first key)",
			line: "b: 1",
		},
		{
			name: "scanner error",
			src:  "name: x\nb: 2\nc: 3\n d: 4\n",
			err:  "t.yaml:4:1: invalid YAML: mapping values are not allowed in this context; this line is indented deeper than line 3, which has a value already (only a key with no value, or a list item, opens a deeper block)",
			line: " d: 4",
		},
		{
			name: "scanner error on the first line",
			src:  "a: b: c\n",
			err:  "t.yaml:1:1: invalid YAML: mapping values are not allowed in this context",
			line: "a: b: c",
		},
		{
			name: "unclosed quote",
			src:  "name: x\nc: \"abc\n",
			err:  "t.yaml:2:1: invalid YAML: found unexpected end of stream",
			line: "c: \"abc",
		},
		{
			name: "end of file in a list", // at the line after the last
			src:  "[a, b\n",
			err:  "t.yaml:2:1: invalid YAML: did not find expected ',' or ']'",
		},
		{
			name: "control character",
			src:  "name: x\nb: \x01\n",
			err:  "t.yaml: invalid YAML: control characters are not allowed",
		},
		{
			name: "bad UTF-8",
			src:  "name: x\nb: \xff\n",
			err:  "t.yaml: invalid YAML: invalid leading UTF-8 octet",
		},
		{
			name: "unknown anchor",
			src:  "name: x\nb: *nowhere\n",
			err:  "t.yaml: invalid YAML: unknown anchor 'nowhere' referenced",
		},
		{
			name: "nullable type in a flow mapping",
			src:  "name: x\ntables:\n  t:\n    key: id\n    columns: {id: int, amount: money?}\n",
			err:  "t.yaml:5:1: invalid YAML: did not find expected ',' or '}'" + hint,
			line: "    columns: {id: int, amount: money?}",
		},
		{
			name: "nullable type in a flow mapping, not last",
			src:  "name: x\ncolumns: {id: int?, name: string}\nb: 1\n",
			err:  "t.yaml:2:1: invalid YAML: did not find expected ',' or '}'" + hint,
			line: "columns: {id: int?, name: string}",
		},
		{
			name: "nullable type in a flow mapping on the first line",
			src:  "columns: {id: int?}\n",
			err:  "t.yaml:1:1: invalid YAML: did not find expected ',' or '}'" + hint,
			line: "columns: {id: int?}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(tt.src))
			if f != nil {
				t.Errorf("Parse returned a file with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %v (%T), want an *Error", err, err)
			}
			if e.Error() != tt.err {
				t.Errorf("error:\n got %s\nwant %s", e.Error(), tt.err)
			}
			if e.Line != tt.line {
				t.Errorf("error line %q, want %q", e.Line, tt.line)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	data := []byte("a: " + strings.Repeat("x", MaxFileSize-3))
	if _, err := Parse("t.yaml", data); err != nil {
		t.Errorf("a file of MaxFileSize bytes: %v", err)
	}
	_, err := Parse("t.yaml", append(data, '\n'))
	if got, want := errText(err), "t.yaml: file is 1048577 bytes; the limit is 1048576"; got != want {
		t.Errorf("a file one byte too big:\n got %s\nwant %s", got, want)
	}
}

func TestParseRoot(t *testing.T) {
	f := parse(t, "# comment\nname: x\nlist: [a, b]\n")
	if f.Path != "t.yaml" || f.Root.Kind != yaml.MappingNode || f.Root.Line != 2 || f.Root.Column != 1 {
		t.Errorf("Root = %+v", f.Root)
	}
	f = parse(t, "---\n")
	if f.Root.Kind != yaml.ScalarNode || f.Root.Tag != "!!null" {
		t.Errorf("Root of an empty document = %+v, want a null scalar", f.Root)
	}
	// Only the first document is read.
	f = parse(t, "a: 1\n---\nb: 2\n")
	if got := Keys(f.Root); len(got) != 1 || got[0] != "a" {
		t.Errorf("keys of the first document = %q", got)
	}
}

func TestLineAndPos(t *testing.T) {
	f := parse(t, "a: 1\r\nb: [x, y]\r\n")
	for n, want := range map[int]string{-1: "", 0: "", 1: "a: 1", 2: "b: [x, y]", 3: "", 4: ""} {
		if got := f.Line(n); got != want {
			t.Errorf("Line(%d) = %q, want %q", n, got, want)
		}
	}
	y := f.Root.Content[3].Content[1]
	if got, want := f.Pos(y), (Pos{File: "t.yaml", Line: 2, Col: 8}); got != want {
		t.Errorf("Pos(y) = %v, want %v", got, want)
	}
	if got, want := f.Pos(nil), (Pos{File: "t.yaml"}); got != want {
		t.Errorf("Pos(nil) = %v, want %v", got, want)
	}
}

func TestLineBreaks(t *testing.T) {
	// YAML counts lines at \r, U+0085, U+2028 and U+2029 too; Line must agree.
	f := parse(t, "a: 1\rb: 2\u2028c: 3\u0085d: 4\r\ne: 5\u2029f: 6\n")
	for i, want := range []string{"a: 1", "b: 2", "c: 3", "d: 4", "e: 5", "f: 6", ""} {
		if got := f.Line(i + 1); got != want {
			t.Errorf("Line(%d) = %q, want %q", i+1, got, want)
		}
	}
	for i := 0; i < len(f.Root.Content); i += 2 {
		k := f.Root.Content[i]
		if got := f.Line(k.Line); !strings.HasPrefix(got, k.Value+":") {
			t.Errorf("key %s is at line %d, which is %q", k.Value, k.Line, got)
		}
	}
	_, err := Parse("t.yaml", []byte("a: 1\rb: [\rc: 3\r"))
	var e *Error
	if !errors.As(err, &e) || e.Error() != "t.yaml:2:1: invalid YAML: did not find expected ',' or ']'" || e.Line != "b: [" {
		t.Errorf("error %+v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(path, []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || f.Root.Kind != yaml.MappingNode || f.Line(1) != "name: x" {
		t.Errorf("ReadFile = %+v", f)
	}
	_, err = ReadFile(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(path, []byte("a: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(path)
	if got, want := errText(err), path+":2:1: invalid YAML: did not find expected node content"; got != want {
		t.Errorf("ReadFile of bad YAML:\n got %s\nwant %s", got, want)
	}
}
