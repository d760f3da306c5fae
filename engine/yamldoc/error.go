package yamldoc

import (
	"errors"
	"fmt"
	"strings"
)

// Pos is a place in a source file. Line and Col count from 1; zero means unknown.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Shift returns p moved right by n columns on the same line (for an error
// inside a scalar value).
func (p Pos) Shift(n int) Pos { p.Col += n; return p }

// Error is a problem at a position in a source file.
type Error struct {
	Pos  Pos
	Msg  string
	Line string // the text of the source line, for the caret display; may be empty
	Err  error  // the underlying error, if any
}

// Error returns "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Detail returns the message followed by the source line and a caret under
// the column, as compilers print it.
func (e *Error) Detail() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Line != "" && e.Pos.Col > 0 {
		line := strings.ReplaceAll(e.Line, "\t", " ")
		fmt.Fprintf(&b, "\n    %s\n    %s^", line, strings.Repeat(" ", min(e.Pos.Col-1, len(line))))
	}
	return b.String()
}

// Errors is a list of positioned errors, reported together.
type Errors []*Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Details formats err for a person: positioned errors with their source line
// and caret, other errors as they are.
func Details(err error) string {
	var es Errors
	if errors.As(err, &es) {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Detail()
		}
		return strings.Join(parts, "\n")
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Detail()
	}
	return err.Error()
}
