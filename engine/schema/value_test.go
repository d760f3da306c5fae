package schema

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// show formats a value so that its Go type shows: i7, d7.50, s"x",
// t2025-04-01 01:03:44, btrue, null.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case int:
		return "i" + strconv.Itoa(x)
	case decimal.Decimal:
		return "d" + x.String()
	case string:
		return "s" + strconv.Quote(x)
	case time.Time:
		s := "t" + x.Format(DateTimeLayout)
		if x.Location() != time.UTC {
			s += "(not UTC)"
		}
		return s
	case bool:
		return "b" + strconv.FormatBool(x)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

// dec parses a decimal for a test.
func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse(s)
	if err != nil {
		t.Fatalf("decimal.Parse(%q): %v", s, err)
	}
	return d
}

// at parses a datetime for a test.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(DateTimeLayout, s)
	if err != nil {
		t.Fatalf("time.Parse(%q): %v", s, err)
	}
	return d
}

func nullable(t Type) Type { t.Nullable = true; return t }

var (
	decimal3  = Type{Kind: Decimal, Scale: 3}
	decimal0  = Type{Kind: Decimal, Scale: 0}
	decimal19 = Type{Kind: Decimal, Scale: 19}
)

func TestParse(t *testing.T) {
	tests := []struct {
		typ  Type
		in   string
		want string // shown value
		text string // the value formatted again; "" means in
		err  string
	}{
		{typ: IntType, in: "0", want: "i0"},
		{typ: IntType, in: "42", want: "i42"},
		{typ: IntType, in: "-7", want: "i-7"},
		{typ: IntType, in: "+7", want: "i7", text: "7"},
		{typ: IntType, in: "007", want: "i7", text: "7"},
		{typ: IntType, in: "9223372036854775807", want: "i9223372036854775807"},
		{typ: IntType, in: "-9223372036854775808", want: "i-9223372036854775808"},
		{typ: IntType, in: "9223372036854775808", err: `"9223372036854775808" is not an integer`},
		{typ: IntType, in: "1.5", err: `"1.5" is not an integer`},
		{typ: IntType, in: " 1", err: `" 1" is not an integer`},
		{typ: IntType, in: "1_000", err: `"1_000" is not an integer`},
		{typ: IntType, in: "x", err: `"x" is not an integer`},

		{typ: DecimalType, in: "909.78", want: "d909.78"},
		{typ: DecimalType, in: "-0.01", want: "d-0.01"},
		{typ: DecimalType, in: "7500", want: "d7500"},
		{typ: DecimalType, in: "1.50", want: "d1.50"},
		{typ: DecimalType, in: "0.125", want: "d0.125"},
		{typ: DecimalType, in: "+1.50", want: "d1.50", text: "1.50"},
		{typ: DecimalType, in: ".5", want: "d0.5", text: "0.5"},
		{typ: DecimalType, in: "1e3", want: "d1000", text: "1000"},
		{typ: DecimalType, in: "-0", want: "d0", text: "0"},
		{typ: DecimalType, in: "9999999999999999999", want: "d9999999999999999999"},
		{typ: DecimalType, in: "99999999999999999999", err: `"99999999999999999999" is not a decimal number`},
		{typ: DecimalType, in: "1,5", err: `"1,5" is not a decimal number`},
		{typ: DecimalType, in: " 1.5", err: `" 1.5" is not a decimal number`},
		{typ: DecimalType, in: "NaN", err: `"NaN" is not a decimal number`},
		{typ: MoneyType, in: "909.78", want: "d909.78"},
		{typ: MoneyType, in: "-0.01", want: "d-0.01"},
		{typ: MoneyType, in: "7500", want: "d7500.00", text: "7500.00"}, // fixed scale: padded on parse
		{typ: MoneyType, in: "7500.5", want: "d7500.50", text: "7500.50"},
		{typ: MoneyType, in: "0.125", err: `"0.125" has more than 2 decimal places`}, // a fraction of a cent is refused, not rounded
		{typ: MoneyType, in: "0.135", err: `"0.135" has more than 2 decimal places`},
		{typ: MoneyType, in: "-0", want: "d0.00", text: "0.00"},
		{typ: MoneyType, in: "$5", err: `"$5" is not a decimal number`},
		{typ: decimal0, in: "2.5", err: `"2.5" has more than 0 decimal places`},
		{typ: decimal0, in: "3", want: "d3", text: "3"},
		{typ: decimal3, in: "1.5", want: "d1.500", text: "1.500"},
		{typ: decimal19, in: "0.5", want: "d0.5000000000000000000", text: "0.5000000000000000000"},
		{typ: decimal19, in: "909.78", want: "d909.7800000000000000", text: "909.7800000000000000"}, // no more than 19 digits in all

		{typ: StringType, in: "plain", want: `s"plain"`},
		{typ: StringType, in: " lead and trail ", want: `s" lead and trail "`},
		{typ: StringType, in: "ünïcødé ✓", want: `s"ünïcødé ✓"`},

		{typ: DateType, in: "2025-04-01", want: "t2025-04-01 00:00:00"},
		{typ: DateType, in: "2024-02-29", want: "t2024-02-29 00:00:00"},
		{typ: DateType, in: "2000-02-29", want: "t2000-02-29 00:00:00"},
		{typ: DateType, in: "0001-01-01", want: "t0001-01-01 00:00:00"},
		{typ: DateType, in: "9999-12-31", want: "t9999-12-31 00:00:00"},
		{typ: DateType, in: "2025-02-30", err: `"2025-02-30" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-02-29", err: `"2025-02-29" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "1900-02-29", err: `"1900-02-29" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-13-01", err: `"2025-13-01" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-00-01", err: `"2025-00-01" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-04-00", err: `"2025-04-00" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-04-31", err: `"2025-04-31" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-4-01", err: `"2025-4-01" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025/04/01", err: `"2025/04/01" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-04-01 00:00:00", err: `"2025-04-01 00:00:00" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "+025-04-01", err: `"+025-04-01" is not a date (want YYYY-MM-DD)`},
		{typ: DateType, in: "2025-0x-01", err: `"2025-0x-01" is not a date (want YYYY-MM-DD)`},

		{typ: DateTimeType, in: "2025-04-01 01:03:44", want: "t2025-04-01 01:03:44"},
		{typ: DateTimeType, in: "2025-04-01T01:03:44", want: "t2025-04-01 01:03:44", text: "2025-04-01 01:03:44"},
		{typ: DateTimeType, in: "2025-04-01", want: "t2025-04-01 00:00:00", text: "2025-04-01 00:00:00"},
		{typ: DateTimeType, in: "2099-12-31 23:59:59", want: "t2099-12-31 23:59:59"},
		{typ: DateTimeType, in: "2025-04-01 24:00:00", err: `"2025-04-01 24:00:00" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 23:60:00", err: `"2025-04-01 23:60:00" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 23:59:60", err: `"2025-04-01 23:59:60" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-02-30 01:03:44", err: `"2025-02-30 01:03:44" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-13-01 01:03:44", err: `"2025-13-01 01:03:44" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01t01:03:44", err: `"2025-04-01t01:03:44" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 01:03", err: `"2025-04-01 01:03" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 01:03:44Z", err: `"2025-04-01 01:03:44Z" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 01-03-44", err: `"2025-04-01 01-03-44" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},
		{typ: DateTimeType, in: "2025-04-01 1a:03:44", err: `"2025-04-01 1a:03:44" is not a datetime (want YYYY-MM-DD HH:MM:SS)`},

		{typ: BoolType, in: "true", want: "btrue"},
		{typ: BoolType, in: "TRUE", want: "btrue", text: "true"},
		{typ: BoolType, in: "t", want: "btrue", text: "true"},
		{typ: BoolType, in: "1", want: "btrue", text: "true"},
		{typ: BoolType, in: "Yes", want: "btrue", text: "true"},
		{typ: BoolType, in: "false", want: "bfalse"},
		{typ: BoolType, in: "F", want: "bfalse", text: "false"},
		{typ: BoolType, in: "0", want: "bfalse", text: "false"},
		{typ: BoolType, in: "no", want: "bfalse", text: "false"},
		{typ: BoolType, in: "y", err: `"y" is not a boolean (want true or false)`},
		{typ: BoolType, in: "2", err: `"2" is not a boolean (want true or false)`},

		{typ: Type{}, in: "x", err: `cannot parse a value of type invalid`},
	}
	for _, tt := range tests {
		got, err := tt.typ.Parse(tt.in)
		if errText(err) != tt.err {
			t.Errorf("%s.Parse(%q) error:\n got %v\nwant %s", tt.typ, tt.in, err, tt.err)
		}
		if tt.err != "" {
			if got != nil {
				t.Errorf("%s.Parse(%q) = %s with an error, want nil", tt.typ, tt.in, show(got))
			}
			continue
		}
		if show(got) != tt.want {
			t.Errorf("%s.Parse(%q) = %s, want %s", tt.typ, tt.in, show(got), tt.want)
		}
		text := tt.text
		if text == "" {
			text = tt.in
		}
		if s := tt.typ.Format(got); s != text {
			t.Errorf("%s.Format(%s) = %q, want %q", tt.typ, show(got), s, text)
		}
		if b := tt.typ.Append([]byte("x,"), got); string(b) != "x,"+text {
			t.Errorf("%s.Append(\"x,\", %s) = %q, want %q", tt.typ, show(got), b, "x,"+text)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	types := []Type{IntType, MoneyType, DecimalType, decimal3, StringType, DateType, DateTimeType, BoolType}
	for _, typ := range types {
		got, err := nullable(typ).Parse("")
		if got != nil || err != nil {
			t.Errorf("%s.Parse(\"\") = %s, %v; want null", nullable(typ), show(got), err)
		}
		got, err = typ.Parse("")
		switch typ.Kind {
		case String:
			if got != "" || err != nil {
				t.Errorf("%s.Parse(\"\") = %s, %v; want \"\"", typ, show(got), err)
			}
		default:
			if got != nil || !errors.Is(err, ErrNull) {
				t.Errorf("%s.Parse(\"\") = %s, %v; want ErrNull", typ, show(got), err)
			}
		}
	}
	if got := ErrNull.Error(); got != "empty value in a column that is not nullable" {
		t.Errorf("ErrNull = %q", got)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		typ  Type
		v    any
		want string
	}{
		{MoneyType, nil, ""},
		{nullable(IntType), nil, ""},
		{IntType, 7500, "7500"},
		{MoneyType, 7500, "7500.00"}, // an int in a decimal column
		{DecimalType, 7500, "7500"},
		{decimal3, -2, "-2.000"},
		{MoneyType, dec(t, "7500"), "7500.00"},
		{MoneyType, dec(t, "909.78"), "909.78"},
		{MoneyType, dec(t, "-0.01"), "-0.01"},
		{MoneyType, dec(t, "0.005"), "0.00"},
		{MoneyType, dec(t, "0.015"), "0.02"},
		{MoneyType, dec(t, "-2.675"), "-2.68"},
		{MoneyType, dec(t, "99999999999999999.99"), "99999999999999999.99"},
		{MoneyType, dec(t, "9999999999999999999"), "9999999999999999999"}, // no room for places
		{DecimalType, dec(t, "1.500"), "1.500"},
		{DecimalType, dec(t, "0.0001"), "0.0001"},
		{decimal0, dec(t, "0.5"), "0"},
		{StringType, dec(t, "1.50"), "1.50"}, // a decimal in another column keeps its places
		{StringType, "a,b", "a,b"},
		{DateType, at(t, "2025-04-01 01:03:44"), "2025-04-01"},
		{DateTimeType, at(t, "2025-04-01 01:03:44"), "2025-04-01 01:03:44"},
		{DateTimeType, at(t, "2025-04-01 00:00:00"), "2025-04-01 00:00:00"},
		{BoolType, true, "true"},
		{BoolType, false, "false"},
		{IntType, int64(5), "5"},
		{StringType, 1.5, "1.5"},
	}
	for _, tt := range tests {
		if got := tt.typ.Format(tt.v); got != tt.want {
			t.Errorf("%s.Format(%s) = %q, want %q", tt.typ, show(tt.v), got, tt.want)
		}
	}
}

// char8 is the type char(8).
var char8 = Type{Kind: String, Len: 8}

func TestParseChar(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"pending", "pending", ""},
		{"pending ", "pending", ""},
		{" a b ", " a b", ""},
		{"äöüéèàçñ", "äöüéèàçñ", ""},
		{"approved!", "", `"approved!" is longer than 8 characters`},
		{"äöüéèàçñx", "", `"äöüéèàçñx" is longer than 8 characters`},
	} {
		got, err := char8.Parse(tt.in)
		if errText(err) != tt.err {
			t.Errorf("char(8).Parse(%q) error:\n got %v\nwant %s", tt.in, err, tt.err)
		}
		if tt.err == "" && got != tt.want {
			t.Errorf("char(8).Parse(%q) = %#v, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		typ  Type
		v    any
		want string // shown
		err  string
	}{
		{IntType, 7, "i7", ""},
		{MoneyType, 7, "d7", ""},
		{DecimalType, -7, "d-7", ""},
		{MoneyType, 9223372036854775807, "d9223372036854775807", ""},
		{MoneyType, dec(t, "0.125"), "d0.12", ""},
		{MoneyType, dec(t, "0.135"), "d0.14", ""},
		{MoneyType, dec(t, "-0.125"), "d-0.12", ""},
		{MoneyType, dec(t, "2.5"), "d2.5", ""}, // fewer places are kept
		{MoneyType, dec(t, "909.78"), "d909.78", ""},
		{decimal0, dec(t, "2.5"), "d2", ""},
		{decimal0, dec(t, "3.5"), "d4", ""},
		{DecimalType, dec(t, "0.125"), "d0.125", ""},
		{StringType, "x", `s"x"`, ""},
		{StringType, "x  ", `s"x  "`, ""},
		{char8, "approved", `s"approved"`, ""},
		{char8, "ok  ", `s"ok"`, ""},
		{char8, "äöüéèàçñ  ", `s"äöüéèàçñ"`, ""}, // characters, not bytes
		{char8, "   ", `s""`, ""},
		{char8, "approved!", "null", `"approved!" is longer than 8 characters`},
		{DateType, at(t, "2025-04-01 00:00:00"), "t2025-04-01 00:00:00", ""},
		{DateTimeType, at(t, "2025-04-01 01:03:44"), "t2025-04-01 01:03:44", ""},
		{BoolType, true, "btrue", ""},
		{nullable(IntType), nil, "null", ""},
		{nullable(MoneyType), nil, "null", ""},

		{IntType, nil, "null", ErrNull.Error()},
		{StringType, nil, "null", ErrNull.Error()},
		{IntType, dec(t, "1"), "null", "a decimal.Decimal value does not fit a int column"},
		{IntType, "1", "null", "a string value does not fit a int column"},
		{MoneyType, 1.5, "null", "a float64 value does not fit a money column"},
		{MoneyType, "1.50", "null", "a string value does not fit a money column"},
		{StringType, 1, "null", "a int value does not fit a string column"},
		{DateType, "2025-04-01", "null", "a string value does not fit a date column"},
		{nullable(DateTimeType), 0, "null", "a int value does not fit a datetime? column"},
		{BoolType, 1, "null", "a int value does not fit a bool column"},
		{Type{}, 1, "null", "a int value does not fit a invalid column"},
	}
	for _, tt := range tests {
		got, err := tt.typ.Coerce(tt.v)
		if errText(err) != tt.err {
			t.Errorf("%s.Coerce(%s) error:\n got %v\nwant %s", tt.typ, show(tt.v), err, tt.err)
		}
		if show(got) != tt.want {
			t.Errorf("%s.Coerce(%s) = %s, want %s", tt.typ, show(tt.v), show(got), tt.want)
		}
	}
	if _, err := IntType.Coerce(nil); err != ErrNull {
		t.Errorf("IntType.Coerce(nil) error is %v, want ErrNull itself", err)
	}
}

func TestCompare(t *testing.T) {
	// Each list is in ascending order; values in one inner list are equal.
	tests := []struct {
		name  string
		order [][]any
	}{
		{"int", [][]any{{nil}, {-9223372036854775808}, {-1}, {0}, {2}, {10}, {9223372036854775807}}},
		{"decimal", [][]any{{nil}, {dec(t, "-0.01")}, {dec(t, "0"), dec(t, "0.00"), dec(t, "-0")}, {dec(t, "0.125")}, {dec(t, "2"), dec(t, "2.000")}, {dec(t, "10")}, {dec(t, "909.78")}}},
		{"string", [][]any{{nil}, {""}, {"A"}, {"a"}, {"a "}, {"ab"}, {"b"}, {"é"}}},
		{"time", [][]any{{nil}, {at(t, "0001-01-01 00:00:00")}, {at(t, "2025-03-31 23:59:59")}, {at(t, "2025-04-01 00:00:00")}, {at(t, "2025-04-01 01:03:44")}}},
		{"bool", [][]any{{nil}, {false}, {true}}},
	}
	for _, tt := range tests {
		for i, as := range tt.order {
			for j, bs := range tt.order {
				want := cmpInt(i, j)
				for _, a := range as {
					for _, b := range bs {
						if got := Compare(a, b); got != want {
							t.Errorf("%s: Compare(%s, %s) = %d, want %d", tt.name, show(a), show(b), got, want)
						}
					}
				}
			}
		}
	}
	// Values of different kinds get some order that is at least antisymmetric.
	mixed := []any{1, dec(t, "1"), "1", true, at(t, "2025-04-01 00:00:00")}
	for _, a := range mixed {
		for _, b := range mixed {
			if Compare(a, b) != -Compare(b, a) {
				t.Errorf("Compare(%s, %s) = %d but Compare(%s, %s) = %d", show(a), show(b), Compare(a, b), show(b), show(a), Compare(b, a))
			}
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestAppendTimeSameAsLayout checks the digit-by-digit date and datetime
// text against time.Time.AppendFormat, years outside 0..9999 included.
func TestAppendTimeSameAsLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	zones := []*time.Location{time.UTC, time.FixedZone("x", -5*3600-30*60), time.FixedZone("y", 14*3600)}
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(-1, 6, 15, 12, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 7, 8, 9, 0, zones[1]),
	}
	for range 2000 {
		times = append(times, time.Unix(rng.Int64N(400_000_000_000)-200_000_000_000, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))]))
	}
	for _, x := range times {
		for _, typ := range []Type{DateType, DateTimeType} {
			layout := DateTimeLayout
			if typ.Kind == Date {
				layout = DateLayout
			}
			if got, want := typ.Format(x), x.Format(layout); got != want {
				t.Fatalf("%s of %v: %q, want %q", typ, x, got, want)
			}
		}
	}
}
