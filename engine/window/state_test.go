package window

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// testSpec is a window of span with count(), sum(amount), min(amount),
// max(amount) and count_distinct(merchant).
func testSpec(t testing.TB, span time.Duration) *Spec {
	t.Helper()
	sp, err := NewSpec(span, []Value{
		{Name: "count", Func: Count},
		{Name: "amount", Func: Sum, Arg: schema.MoneyType},
		{Name: "least", Func: Min, Arg: schema.MoneyType},
		{Name: "most", Func: Max, Arg: schema.MoneyType},
		{Name: "merchants", Func: CountDistinct, Arg: schema.StringType},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

var t0 = time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

func money(s string) decimal.Decimal { return decimal.MustParse(s) }

func entry(d time.Duration, id, amount, merchant string) Entry {
	var a, m any
	if amount != "" {
		a = money(amount)
	}
	if merchant != "" {
		m = merchant
	}
	var key any = id
	if n, err := strconv.Atoi(id); err == nil {
		key = n
	}
	return Entry{Time: at(d), ID: key, Args: []any{nil, a, a, a, m}}
}

// values formats Aggregate's output as count sum min max distinct.
func values(t *testing.T, sp *Spec, s *State, d time.Duration) string {
	t.Helper()
	out := make([]any, len(sp.Values))
	if err := sp.Aggregate(s, at(d), out); err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(out))
	for i, v := range out {
		if v == nil {
			parts[i] = "null"
		} else {
			parts[i] = sp.Values[i].Type.Format(v)
		}
	}
	return strings.Join(parts, " ")
}

func TestAggregateBoundaries(t *testing.T) {
	sp := testSpec(t, 10*time.Minute)
	s := &State{}
	for _, e := range []Entry{
		entry(0, "1", "10.00", "a"),
		entry(time.Minute, "2", "0.01", "b"),
		entry(time.Minute, "3", "", "a"), // same time, null amount
		entry(5*time.Minute, "4", "-2.50", ""),
	} {
		sp.Add(s, e)
	}
	tests := []struct {
		at   time.Duration
		want string // count sum min max distinct
	}{
		{-time.Second, "0 0.00 null null 0"},                        // before every record
		{0, "1 10.00 10.00 10.00 1"},                                // a record at the same time is seen
		{time.Minute, "3 10.01 0.01 10.00 2"},                       // both records of one time
		{10 * time.Minute, "4 7.51 -2.50 10.00 2"},                  // exactly the span after the first: still in
		{10*time.Minute + time.Nanosecond, "3 -2.49 -2.50 0.01 2"},  // a nanosecond more: out
		{11 * time.Minute, "3 -2.49 -2.50 0.01 2"},                  // the minute-1 records are exactly on the edge
		{11*time.Minute + time.Nanosecond, "1 -2.50 -2.50 -2.50 0"}, // then only the last one
		{16 * time.Minute, "0 0.00 null null 0"},
	}
	for _, tt := range tests {
		if got := values(t, sp, s, tt.at); got != tt.want {
			t.Errorf("at +%v: %s, want %s", tt.at, got, tt.want)
		}
	}
}

func TestOutOfOrderTimes(t *testing.T) {
	sp := testSpec(t, 10*time.Minute)
	s := &State{}
	sp.Add(s, entry(5*time.Minute, "late-first", "1.00", "a"))
	sp.Add(s, entry(2*time.Minute, "early-second", "2.00", "b"))
	sp.Add(s, entry(2*time.Minute, "early-third", "4.00", "c"))
	var ids []string
	for _, e := range sp.Range(s, at(10*time.Minute)) {
		ids = append(ids, e.ID.(string))
	}
	if got := strings.Join(ids, " "); got != "early-second early-third late-first" {
		t.Errorf("range in time order, equal times in entering order: %s", got)
	}
	// A record of time +3m sees only what is not after it.
	if got := values(t, sp, s, 3*time.Minute); got != "2 6.00 2.00 4.00 2" {
		t.Errorf("at +3m: %s", got)
	}
}

func TestEviction(t *testing.T) {
	sp := testSpec(t, time.Hour)
	s := &State{}
	for i := range 1000 {
		sp.Add(s, entry(time.Duration(i)*time.Minute, fmt.Sprint(i), "1.00", "m"))
		if s.Len() > 61 {
			t.Fatalf("after %d records a 1 h window of one record a minute holds %d", i+1, s.Len())
		}
	}
	if cap(s.buf) > 4*61 {
		t.Errorf("the state's array grew to %d entries for at most 61 live ones", cap(s.buf))
	}
	// A record that did not enter still moves the newest time on.
	sp.Observe(s, at(5000*time.Minute))
	if s.Len() != 0 {
		t.Errorf("%d entries left after a record far later", s.Len())
	}
	// A record older than the span before the newest is not kept.
	sp.Add(s, entry(4000*time.Minute, "late", "1.00", "m"))
	if s.Len() != 0 {
		t.Errorf("a record far behind the newest time was kept")
	}
}

func TestExactSums(t *testing.T) {
	sp := testSpec(t, 24*time.Hour)
	s := &State{}
	for i := range 1000 {
		sp.Add(s, entry(time.Duration(i)*time.Second, fmt.Sprint(i), "0.10", "m"))
	}
	if got := values(t, sp, s, time.Hour); got != "1000 100.00 0.10 0.10 1" {
		t.Errorf("1000 x 0.10: %s", got)
	}
	ints, err := NewSpec(time.Hour, []Value{{Name: "n", Func: Sum, Arg: schema.IntType}})
	if err != nil {
		t.Fatal(err)
	}
	big := &State{}
	ints.Add(big, Entry{Time: at(0), Args: []any{1 << 62}})
	ints.Add(big, Entry{Time: at(0), Args: []any{1 << 62}})
	if err := ints.Aggregate(big, at(0), make([]any, 1)); err == nil {
		t.Error("a sum past int64 gave no error")
	}
}

func TestResultTypes(t *testing.T) {
	for _, tt := range []struct {
		f    Func
		arg  schema.Type
		want string // type, or the error's start
	}{
		{Count, schema.Type{}, "int"},
		{Sum, schema.MoneyType, "money"},
		{Sum, schema.Type{Kind: schema.Int, Nullable: true}, "int"},
		{Sum, schema.StringType, "sum needs a number"},
		{Min, schema.MoneyType, "money?"},
		{Max, schema.DateTimeType, "datetime?"},
		{Max, schema.BoolType, "max needs values that order"},
		{CountDistinct, schema.StringType, "int"},
	} {
		got, err := tt.f.ResultType(tt.arg)
		text := got.String()
		if err != nil {
			text = err.Error()
		}
		if !strings.HasPrefix(text, tt.want) {
			t.Errorf("%s(%s): %s, want %s", tt.f, tt.arg, text, tt.want)
		}
	}
	if _, err := NewSpec(0, nil); err == nil {
		t.Error("a window of span 0 was accepted")
	}
}

// record is one record of the property test: its time, whether it enters,
// and its arguments.
type record struct {
	t      int64
	enters bool
	amount any
	name   any
}

// TestAgainstRecount: on random streams of one key (times mostly rising,
// some late, some equal; some records not entering; nulls), every value a
// record sees equals a naive recount over every earlier record, and the
// state survives being encoded and decoded at any point.
func TestAgainstRecount(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for round := range 200 {
		span := time.Duration(1+rng.IntN(20)) * time.Minute
		sp := testSpec(t, span)
		s := &State{}
		var seen []record
		clock := at(0)
		n := 1 + rng.IntN(300)
		for j := range n {
			r := record{t: clock, enters: rng.IntN(5) > 0}
			switch rng.IntN(10) {
			case 0:
				r.t = clock - int64(rng.IntN(int(2*span))) // late
			case 1, 2:
				// the same time as the last
			default:
				clock += int64(rng.IntN(int(span / 4)))
				r.t = clock
			}
			if rng.IntN(8) > 0 {
				r.amount = decimal.MustNew(int64(rng.IntN(200000)-100000), 2)
			}
			if rng.IntN(8) > 0 {
				r.name = fmt.Sprint("m", rng.IntN(6))
			}
			got := make([]any, len(sp.Values))
			if err := sp.Aggregate(s, r.t, got); err != nil {
				t.Fatal(err)
			}
			want := recount(seen, r.t, int64(span))
			for i := range got {
				if !sameValue(got[i], want[i]) {
					t.Fatalf("round %d record %d (time %d, span %v): %s = %v, recount %v", round, j, r.t, span, sp.Values[i].Name, got[i], want[i])
				}
			}
			sp.Observe(s, r.t)
			if r.enters {
				sp.Add(s, Entry{Time: r.t, ID: j, Args: []any{nil, r.amount, r.amount, r.amount, r.name}})
			}
			seen = append(seen, r)
			if rng.IntN(20) == 0 {
				back, err := sp.Decode(sp.Encode(s))
				if err != nil {
					t.Fatalf("round %d: decode: %v", round, err)
				}
				if sp.Encode(back) != sp.Encode(s) {
					t.Fatalf("round %d: the state changed through Encode and Decode", round)
				}
				s = back
			}
		}
	}
}

// recount computes the values a record of time t sees from every record
// before it: those that entered, whose time lies in [t-span, t] and is not
// older than the span before the newest time seen before it.
func recount(seen []record, t, span int64) []any {
	var newest int64
	for i, r := range seen {
		if i == 0 || r.t > newest {
			newest = r.t
		}
	}
	count, sum := 0, decimal.Decimal{}
	var least, most any
	names := map[string]bool{}
	for _, r := range seen {
		if !r.enters || r.t < t-span || r.t > t || r.t < newest-span {
			continue
		}
		count++
		if a, ok := r.amount.(decimal.Decimal); ok {
			sum, _ = sum.Add(a)
			if least == nil || a.Cmp(least.(decimal.Decimal)) < 0 {
				least = a
			}
			if most == nil || a.Cmp(most.(decimal.Decimal)) > 0 {
				most = a
			}
		}
		if n, ok := r.name.(string); ok {
			names[n] = true
		}
	}
	return []any{count, sum, least, most, len(names)}
}

func sameValue(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return schema.Compare(a, b) == 0
}

// TestSteadyStateAllocatesNothing: once a key's window holds its usual
// number of records, entering one and dropping the oldest allocates nothing.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	sp := testSpec(t, time.Hour)
	s := &State{}
	args := []any{nil, money("1.00"), money("1.00"), money("1.00"), "m"}
	id := any(123456) // ids and arguments come boxed in the records
	i := 0
	next := func() {
		sp.Add(s, Entry{Time: at(time.Duration(i) * time.Minute), ID: id, Args: args})
		i++
	}
	for range 500 {
		next()
	}
	if n := testing.AllocsPerRun(1000, next); n != 0 {
		t.Errorf("%v allocations per record in steady state, want 0", n)
	}
}
