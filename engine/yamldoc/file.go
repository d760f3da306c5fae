package yamldoc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds the size of a spec or rule file (1 MiB).
const MaxFileSize = 1 << 20

// File is a parsed YAML document with its source lines.
type File struct {
	Path  string
	Root  *yaml.Node // the document's top node (a mapping for specs and rule files)
	lines []string
	sum   [sha256.Size]byte
}

// SHA256 returns the SHA-256 of the file's bytes as read: what
// `sha256sum FILE` prints.
func (f *File) SHA256() [sha256.Size]byte { return f.sum }

// ReadFile reads and parses the YAML file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses data, read from path, as one YAML document.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, lines: splitLines(string(data)), sum: sha256.Sum256(data)}
	if len(data) > MaxFileSize {
		return nil, f.Errorf(Pos{File: path}, "file is %d bytes; the limit is %d", len(data), MaxFileSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, errEOF(err)) {
			return nil, f.Errorf(Pos{File: path, Line: 1, Col: 1}, "file is empty")
		}
		return nil, f.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return nil, f.Errorf(Pos{File: path, Line: 1, Col: 1}, "file is empty")
	}
	f.Root = doc.Content[0]
	return f, nil
}

func errEOF(err error) error {
	if err != nil && err.Error() == "EOF" {
		return err
	}
	return errNotEOF
}

var errNotEOF = errors.New("not eof")

// syntaxError turns yaml.v3's "yaml: line N: msg" into a positioned error.
func (f *File) syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ":"); ok {
			fmt.Sscanf(n, "%d", &line)
			msg = strings.TrimSpace(tail)
		}
	}
	switch {
	case yamlParserProblems[msg]:
		line++ // yaml.v3 counts the lines of parser errors from 0, and leaves out line 0
	case line == 0 && !yamlNoLine(msg):
		line = 1 // yaml.v3 leaves out the line of a scanner error on the first line
	}
	col := 1
	hintLine, hint := f.indentHint(line, msg)
	if hintLine > 0 {
		line, col = hintLine, indentOf(f.Line(hintLine))+1
	}
	e := f.Errorf(Pos{File: f.Path, Line: line, Col: col}, "invalid YAML: %s%s", msg, hint)
	if text := f.Line(line); strings.Contains(text, "?}") || strings.Contains(text, "?,") {
		e.Msg += ` (inside {...} a trailing ? starts a YAML key: quote the value, e.g. "int?")`
	}
	return e
}

// yamlParserProblems are the messages of yaml.v3's parser errors (its
// scanner errors have others).
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlNoLine reports whether msg is a yaml.v3 error that has no position:
// one of its reader (encoding) errors or an unknown anchor.
func yamlNoLine(msg string) bool {
	for _, p := range []string{"control characters are not allowed", "invalid ", "incomplete UTF-",
		"expected low surrogate area", "unexpected low surrogate area", "input error", "unknown anchor"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lineBreaks are the line breaks YAML counts lines by, longest first.
var lineBreaks = []string{"\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029"}

// splitLines splits s into lines as YAML counts them.
func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		for _, br := range lineBreaks {
			if strings.HasPrefix(s[i:], br) {
				lines = append(lines, s[start:i])
				i += len(br) - 1
				start = i + 1
				break
			}
		}
	}
	return append(lines, s[start:])
}

// Pos returns the position of n in f.
func (f *File) Pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: f.Path}
	}
	return Pos{File: f.Path, Line: n.Line, Col: n.Column}
}

// Line returns the text of line n (from 1), or "".
func (f *File) Line(n int) string {
	if n < 1 || n > len(f.lines) {
		return ""
	}
	return strings.TrimRight(f.lines[n-1], "\r")
}

// Errorf returns a positioned error at pos, with the source line attached.
func (f *File) Errorf(pos Pos, format string, args ...any) *Error {
	e := &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Line: f.Line(pos.Line)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.Err = err
		}
	}
	return e
}
