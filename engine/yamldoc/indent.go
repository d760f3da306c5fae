package yamldoc

import (
	"fmt"
	"strings"
)

// blockStartProblems are the yaml.v3 parser errors it reports at the line
// where the enclosing block starts, not at the line that broke it: a key
// or a list item indented like none of its siblings, further down.
var blockStartProblems = map[string]bool{
	"did not find expected key":           true,
	"did not find expected '-' indicator": true,
}

// indentHint explains a syntax error msg that yaml.v3 reported at line
// (1-based), when indentation is the likely cause. It returns the line to
// show instead (0 to keep line) and what to add to the message ("" when it
// has nothing to say).
func (f *File) indentHint(line int, msg string) (int, string) {
	if line < 1 || line > len(f.lines) {
		return 0, ""
	}
	if strings.Contains(leadingSpace(f.lines[line-1]), "\t") {
		return 0, "; YAML indents with spaces, not tabs"
	}
	switch {
	case blockStartProblems[msg]:
		bad, why := misindented(f.lines, line)
		switch {
		case bad == 0:
			return 0, " (yaml reports this error at the line where the enclosing block starts: if this line looks right, check the indentation of the lines below it)"
		case bad == line:
			return 0, "; " + why
		}
		return bad, fmt.Sprintf(" in the block that starts at line %d (where yaml reports it); the likely cause is line %d: %s", line, bad, why)
	case msg == "mapping values are not allowed in this context":
		if prev := previousContent(f.lines, line); prev > 0 && indentOf(f.lines[line-1]) > indentOf(f.lines[prev-1]) {
			return 0, fmt.Sprintf("; this line is indented deeper than line %d, which has a value already (only a key with no value, or a list item, opens a deeper block)", prev)
		}
	}
	return 0, ""
}

// misindented returns the first line at or after from whose indentation
// matches none of the blocks open above it (a key or item indented like
// no sibling), or a key among list items of one block, with why; 0 when
// none is found. It reads the text, not the YAML: comments, blank lines
// and the lines of block scalars (| and >) are skipped, and flow
// collections spread over several lines may mislead it.
func misindented(lines []string, from int) (int, string) {
	var open []level
	scalar := -1 // the indentation of the line that starts a block scalar, -1 outside one
	prev := -1   // the indentation of the previous line with content
	for i, text := range lines {
		content := strings.TrimLeft(text, " ")
		ind := len(text) - len(content)
		if content == "" || strings.HasPrefix(content, "#") {
			continue
		}
		if scalar >= 0 {
			if ind > scalar {
				continue
			}
			scalar = -1
		}
		n := i + 1
		around := open // the blocks it could belong to, for the message
		for len(open) > 0 && open[len(open)-1].indent > ind {
			open = open[:len(open)-1]
		}
		item := content == "-" || strings.HasPrefix(content, "- ")
		switch {
		case len(open) > 0 && open[len(open)-1].indent == ind:
			if open[len(open)-1].items && !item && n >= from {
				return n, fmt.Sprintf("it is indented by %s like the list items above it, but is not one (a key of an item is indented like the item's first key)", spaces(ind))
			}
		case ind < prev && n >= from:
			return n, fmt.Sprintf("it is indented by %s, like no block it could belong to (those are indented by %s)", spaces(ind), indents(around))
		default:
			open = append(open, level{indent: ind, items: item})
		}
		prev = ind
		// A list item's content opens a block of its own: "- name: x" at 2
		// opens 4 for the item's other keys.
		for rest := content; strings.HasPrefix(rest, "- "); {
			after := strings.TrimLeft(rest[1:], " ")
			inner := ind + len(content) - len(after)
			if !opensBlock(after) {
				break
			}
			open = append(open, level{indent: inner, items: strings.HasPrefix(after, "- ")})
			prev, rest = inner, after
		}
		if startsBlockScalar(content) {
			scalar = ind
		}
	}
	return 0, ""
}

// level is a block open at a line: its indentation, and whether it is a
// list (its lines start with "- ").
type level struct {
	indent int
	items  bool
}

// indents lists the indentations of open blocks for a message: "0, 2 and 4 spaces".
func indents(open []level) string {
	var s []string
	for _, l := range open {
		s = append(s, fmt.Sprint(l.indent))
	}
	if len(s) == 1 {
		return spaces(open[0].indent)
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1] + " spaces"
}

// spaces returns "1 space" or "N spaces".
func spaces(n int) string {
	if n == 1 {
		return "1 space"
	}
	return fmt.Sprintf("%d spaces", n)
}

// opensBlock reports whether the content of a list item opens a block for
// the lines below: a key (name: ...) or another item; not a scalar, a flow
// collection or a comment.
func opensBlock(content string) bool {
	if strings.HasPrefix(content, "- ") {
		return true
	}
	if content == "" || strings.ContainsAny(content[:1], "{[\"'#|>&*!") {
		return false
	}
	return strings.Contains(content, ": ") || strings.HasSuffix(content, ":")
}

// startsBlockScalar reports whether a line's content ends with a block
// scalar's header (| or >, with its chomping and indentation indicators).
func startsBlockScalar(content string) bool {
	if i := strings.Index(content, " #"); i >= 0 {
		content = content[:i]
	}
	content = strings.TrimRight(content, " ")
	content = strings.TrimRight(content, "+-0123456789")
	return strings.HasSuffix(content, "|") || strings.HasSuffix(content, ">")
}

// previousContent returns the number of the last line before line that
// holds more than a comment, or 0.
func previousContent(lines []string, line int) int {
	for n := line - 1; n >= 1; n-- {
		c := strings.TrimLeft(lines[n-1], " ")
		if c != "" && !strings.HasPrefix(c, "#") {
			return n
		}
	}
	return 0
}

// indentOf returns the number of spaces a line starts with.
func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// leadingSpace returns the spaces and tabs a line starts with.
func leadingSpace(line string) string { return line[:len(line)-len(strings.TrimLeft(line, " \t"))] }
