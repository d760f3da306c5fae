package window

import (
	"fmt"
	"strconv"
	"strings"

	"pipeline/engine/schema"
)

// codecVersion starts every encoded state, so that a later format can tell.
const codecVersion = "w1"

// Encode returns s as text: the format version, the newest time seen, then
// each entry as its time (Unix nanoseconds), its id (a number, or quoted) and its
// arguments (strings quoted, other values in their type's text form, nulls
// empty), fields separated by commas and entries by semicolons.
func (sp *Spec) Encode(s *State) string {
	b := make([]byte, 0, 16+s.Len()*(24+8*len(sp.Values)))
	b = append(b, codecVersion...)
	b = append(b, ';')
	if s.seen {
		b = strconv.AppendInt(b, s.newest, 10)
	}
	for _, e := range s.entries() {
		b = append(b, ';')
		b = strconv.AppendInt(b, e.Time, 10)
		b = append(b, ',')
		switch id := e.ID.(type) {
		case int:
			b = strconv.AppendInt(b, int64(id), 10)
		case string:
			b = strconv.AppendQuote(b, id)
		default:
			b = strconv.AppendQuote(b, fmt.Sprint(id))
		}
		for i, v := range sp.Values {
			if !v.Func.TakesArg() {
				continue
			}
			b = append(b, ',')
			x := e.Args[i]
			switch {
			case x == nil:
			case v.Arg.Kind == schema.String:
				s, _ := x.(string)
				b = strconv.AppendQuote(b, s)
			default:
				b = v.Arg.Append(b, x)
			}
		}
	}
	return string(b)
}

// Decode reads a state Encode wrote for a window with the same values.
func (sp *Spec) Decode(text string) (*State, error) {
	d := decoder{text: text}
	if v := d.field(); v != codecVersion || !d.endOfEntry() {
		return nil, fmt.Errorf("window state: starts with %q, want %q", v, codecVersion)
	}
	s := &State{}
	if n := d.field(); n != "" {
		t, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("window state: newest time %q: %w", n, err)
		}
		s.newest, s.seen = t, true
	}
	for d.more() {
		if !d.endOfEntry() {
			return nil, d.errorf("a ; before each entry")
		}
		var e Entry
		t, err := strconv.ParseInt(d.field(), 10, 64)
		if err != nil {
			return nil, d.errorf("a time: %v", err)
		}
		e.Time = t
		if !d.comma() {
			return nil, d.errorf("an id after the time")
		}
		if d.at < len(d.text) && d.text[d.at] == '"' {
			if e.ID, err = d.quoted(); err != nil {
				return nil, err
			}
		} else if e.ID, err = strconv.Atoi(d.field()); err != nil {
			return nil, d.errorf("an id, a whole number or a quoted string")
		}
		e.Args = make([]any, len(sp.Values))
		for i, v := range sp.Values {
			if !v.Func.TakesArg() {
				continue
			}
			if !d.comma() {
				return nil, d.errorf("value %s", v.Name)
			}
			if e.Args[i], err = d.value(v.Arg); err != nil {
				return nil, fmt.Errorf("window state: value %s: %w", v.Name, err)
			}
		}
		if len(s.buf) > 0 && e.Time < s.buf[len(s.buf)-1].Time {
			return nil, d.errorf("entries in time order")
		}
		s.buf = append(s.buf, e)
	}
	return s, nil
}

// decoder reads encoded state text.
type decoder struct {
	text string
	at   int
}

func (d *decoder) more() bool { return d.at < len(d.text) }

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("window state: at byte %d: want %s", d.at, fmt.Sprintf(format, args...))
}

// field reads up to the next comma or semicolon.
func (d *decoder) field() string {
	end := strings.IndexAny(d.text[d.at:], ",;")
	if end < 0 {
		end = len(d.text) - d.at
	}
	f := d.text[d.at : d.at+end]
	d.at += end
	return f
}

func (d *decoder) sep(c byte) bool {
	if d.at < len(d.text) && d.text[d.at] == c {
		d.at++
		return true
	}
	return false
}

func (d *decoder) comma() bool      { return d.sep(',') }
func (d *decoder) endOfEntry() bool { return d.sep(';') }

// quoted reads a Go-quoted string.
func (d *decoder) quoted() (string, error) {
	if d.at >= len(d.text) || d.text[d.at] != '"' {
		return "", d.errorf("a quoted string")
	}
	end := d.at + 1
	for end < len(d.text) && d.text[end] != '"' {
		if d.text[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(d.text) {
		return "", d.errorf("the end of a quoted string")
	}
	s, err := strconv.Unquote(d.text[d.at : end+1])
	if err != nil {
		return "", d.errorf("a quoted string: %v", err)
	}
	d.at = end + 1
	return s, nil
}

// value reads a value of type t: nil when empty.
func (d *decoder) value(t schema.Type) (any, error) {
	if d.at < len(d.text) && d.text[d.at] == '"' {
		if t.Kind != schema.String {
			return nil, d.errorf("a %s, not a string", t)
		}
		return d.quoted()
	}
	f := d.field()
	if f == "" {
		return nil, nil
	}
	if t.Kind == schema.String {
		return nil, d.errorf("a quoted string")
	}
	t.Nullable = false
	return t.Parse(f)
}
