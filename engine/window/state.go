package window

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// Value is one value a window computes for the records it holds.
type Value struct {
	Name string
	Func Func
	Arg  schema.Type // the type of the argument; unused by Count
	Type schema.Type // the value's type (Func.ResultType of Arg)
}

// Spec is what a window is: how far back it reaches and what it computes.
// It is safe for concurrent use; the states it works on are not.
type Spec struct {
	Span   time.Duration
	Values []Value
	span   int64
}

// NewSpec returns a window reaching span back (more than zero), computing
// values, whose Type it fills in.
func NewSpec(span time.Duration, values []Value) (*Spec, error) {
	if span <= 0 {
		return nil, fmt.Errorf("span %v: must be more than zero", span)
	}
	sp := &Spec{Span: span, span: int64(span), Values: make([]Value, len(values))}
	for i, v := range values {
		t, err := v.Func.ResultType(v.Arg)
		if err != nil {
			return nil, fmt.Errorf("value %s: %w", v.Name, err)
		}
		v.Type = t
		sp.Values[i] = v
	}
	return sp, nil
}

// Schema returns the window as a record of its values, named name.
func (sp *Spec) Schema(name string) *schema.Schema {
	cols := make([]schema.Column, len(sp.Values))
	for i, v := range sp.Values {
		cols[i] = schema.Column{Name: v.Name, Type: v.Type}
	}
	return schema.MustNew(name, cols, "")
}

// Entry is one record in a window: its time (Unix nanoseconds), its id (an
// int or a string, for explanations) and the arguments of the window's
// values, one per value (nil for count; Args may be nil when every value is
// a count).
type Entry struct {
	Time int64
	ID   any
	Args []any
}

// State is one key's records in one window, oldest first; records of the
// same time in the order they entered. Entries older than the span before
// the newest time seen are dropped, so a key costs what its last span holds.
type State struct {
	newest int64
	seen   bool
	// buf[head:] are the entries; those before head were dropped and are
	// cleared, to be reused once they are the greater part of buf.
	buf  []Entry
	head int
}

// entries returns the state's entries, oldest first.
func (s *State) entries() []Entry { return s.buf[s.head:] }

// Len returns how many records the state holds.
func (s *State) Len() int { return len(s.buf) - s.head }

// Newest returns the newest time the state has seen, and whether it has seen one.
func (s *State) Newest() (int64, bool) { return s.newest, s.seen }

// bounds returns the entries whose time lies in [t - span, t] as s.entries[lo:hi].
func (sp *Spec) bounds(s *State, t int64) (lo, hi int) {
	from := t - sp.span
	if from > t { // overflow: t is near the smallest time
		from = t
	}
	es := s.entries()
	n := len(es)
	if n == 0 || es[n-1].Time <= t {
		// The usual case, records in time order: every entry is at or
		// before t, and those in the span are the last ones, which the
		// caller reads anyway.
		lo = n
		for lo > 0 && es[lo-1].Time >= from {
			lo--
		}
		return lo, n
	}
	lo = sort.Search(n, func(i int) bool { return es[i].Time >= from })
	hi = lo + sort.Search(n-lo, func(i int) bool { return es[lo+i].Time > t })
	return lo, hi
}

// Range returns the records a record of time t sees: those whose time lies
// in [t - span, t], oldest first. The slice is the state's: read it before
// the state changes.
func (sp *Spec) Range(s *State, t int64) []Entry {
	lo, hi := sp.bounds(s, t)
	return s.entries()[lo:hi:hi]
}

// Aggregate sets out[i] to value i over the records a record of time t sees
// (Range): count and count_distinct an int, sum a number of the argument's
// type (0 when none), min and max an argument or nil when none. It fails
// only when a sum overflows.
func (sp *Spec) Aggregate(s *State, t int64, out []any) error {
	in := sp.Range(s, t)
	for i, v := range sp.Values {
		x, err := fold(v, i, in)
		if err != nil {
			return fmt.Errorf("%s(...) over %d records: %w", v.Func, len(in), err)
		}
		out[i] = x
	}
	return nil
}

// errOverflow is a sum out of range.
var errOverflow = errors.New("the sum is out of range")

// fold computes value v, the i-th, over entries.
func fold(v Value, i int, entries []Entry) (any, error) {
	switch v.Func {
	case Count:
		return len(entries), nil
	case Sum:
		if v.Arg.Kind == schema.Int {
			var sum int64
			for _, e := range entries {
				if x, ok := e.Args[i].(int); ok {
					s := sum + int64(x) // wraps on overflow, which the test below sees
					if (x > 0 && s < sum) || (x < 0 && s > sum) {
						return nil, errOverflow
					}
					sum = s
				}
			}
			return int(sum), nil
		}
		var sum decimal.Decimal
		for _, e := range entries {
			if x, ok := e.Args[i].(decimal.Decimal); ok {
				s, err := sum.Add(x)
				if err != nil {
					return nil, fmt.Errorf("%w: %w", errOverflow, err)
				}
				sum = s
			}
		}
		return sum, nil
	case Min, Max:
		var best any
		for _, e := range entries {
			x := e.Args[i]
			if x == nil {
				continue
			}
			if best == nil {
				best = x
				continue
			}
			c := schema.Compare(x, best)
			if (v.Func == Min && c < 0) || (v.Func == Max && c > 0) {
				best = x
			}
		}
		return best, nil
	case CountDistinct:
		return countDistinct(i, entries), nil
	}
	return nil, fmt.Errorf("unknown function %s", v.Func)
}

// countDistinct counts the different non-null i-th arguments of entries.
// Numbers are equal by value (1.5 and 1.50), times by instant.
func countDistinct(i int, entries []Entry) int {
	if len(entries) <= 16 {
		n := 0
	next:
		for j, e := range entries {
			x := e.Args[i]
			if x == nil {
				continue
			}
			for _, f := range entries[:j] {
				if y := f.Args[i]; y != nil && schema.Compare(x, y) == 0 {
					continue next
				}
			}
			n++
		}
		return n
	}
	seen := make(map[any]struct{}, len(entries))
	for _, e := range entries {
		if x := e.Args[i]; x != nil {
			seen[canonical(x)] = struct{}{}
		}
	}
	return len(seen)
}

// canonical returns a map key equal for values that compare equal.
func canonical(x any) any {
	switch v := x.(type) {
	case decimal.Decimal:
		return v.Trim(0)
	case time.Time:
		return v.UnixNano()
	}
	return x
}

// Observe notes that a record of time t was decided for the key, whether
// or not it enters, and drops the entries older than the span before the
// newest time seen.
func (sp *Spec) Observe(s *State, t int64) {
	if s.seen && t <= s.newest {
		return
	}
	s.newest, s.seen = t, true
	cut := s.newest - sp.span
	es := s.entries()
	if cut > s.newest || len(es) == 0 || es[0].Time >= cut { // nothing to drop (or overflow)
		return
	}
	n := sort.Search(len(es), func(i int) bool { return es[i].Time >= cut })
	clear(es[:n])
	s.head += n
	if s.head > len(s.buf)/2 {
		// More dropped than kept: move what is kept to the front, once
		// for as many drops as there are kept entries, so the array
		// stops growing without allocating again.
		live := copy(s.buf, s.buf[s.head:])
		clear(s.buf[live:])
		s.buf, s.head = s.buf[:live], 0
	}
}

// Add enters a record (after its time was observed or with it): it goes
// after the entries of the same or an earlier time. Its Args must hold one
// value per value of the window, of the argument types. Entries older than
// the span before the newest time seen are dropped, the new one too.
func (sp *Spec) Add(s *State, e Entry) {
	sp.Observe(s, e.Time)
	if e.Time < s.newest-sp.span && s.newest-sp.span < s.newest {
		return // already out of every window a later record can see
	}
	es := s.entries()
	at := s.head + sort.Search(len(es), func(i int) bool { return es[i].Time > e.Time })
	s.buf = append(s.buf, Entry{})
	copy(s.buf[at+1:], s.buf[at:])
	s.buf[at] = e
}
