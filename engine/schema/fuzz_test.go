package schema

import (
	"reflect"
	"testing"
)

// FuzzParseType parses arbitrary type names: ParseType must not panic, and a
// type that parses must print as text that parses back to the same type and
// prints the same again. Seeds are in testdata/fuzz/FuzzParseType.
func FuzzParseType(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		typ, err := ParseType(s)
		if err != nil {
			if typ != (Type{}) {
				t.Fatalf("ParseType(%q) = %#v with error %v", s, typ, err)
			}
			return
		}
		if typ.Kind == Invalid || typ.Kind > Bool || typ.Scale < AnyScale || (typ.Kind != Decimal && typ.Scale != 0) {
			t.Fatalf("ParseType(%q) = %#v, not a valid type", s, typ)
		}
		text := typ.String()
		back, err := ParseType(text)
		if err != nil {
			t.Fatalf("ParseType(%q) = %#v, which prints as %q: %v", s, typ, text, err)
		}
		if back != typ {
			t.Fatalf("ParseType(%q) = %#v prints as %q, which parses to %#v", s, typ, text, back)
		}
		if again := back.String(); again != text {
			t.Fatalf("%q prints as %q, then as %q", s, text, again)
		}
	})
}

// fuzzTypes are the types FuzzParseValue parses every input with.
var fuzzTypes = func() []Type {
	base := []Type{IntType, MoneyType, DecimalType, {Kind: Decimal, Scale: 0}, {Kind: Decimal, Scale: 3},
		{Kind: Decimal, Scale: 19}, StringType, DateType, DateTimeType, BoolType}
	var all []Type
	for _, t := range base {
		all = append(all, t, nullable(t))
	}
	return all
}()

// FuzzParseValue parses arbitrary text as a value of every kind: Parse must
// not panic, must return a value of the type's Go type (or nil with an
// error), and a value that parses must format to text that parses back to
// an equal value under Compare (for decimals, the value rounded to the
// type's places, as Coerce rounds it), and that formats the same again.
// Seeds are in testdata/fuzz/FuzzParseValue.
func FuzzParseValue(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range fuzzTypes {
			v, err := typ.Parse(s)
			if err != nil {
				if v != nil {
					t.Fatalf("%s.Parse(%q) = %s with error %v", typ, s, show(v), err)
				}
				continue
			}
			if v == nil {
				if !typ.Nullable || s != "" {
					t.Fatalf("%s.Parse(%q) = null", typ, s)
				}
			} else if got := TypeOfGo(reflect.TypeOf(v)); got != typ.Kind && !(typ.Kind == Date && got == DateTime) {
				t.Fatalf("%s.Parse(%q) = %s, a %T", typ, s, show(v), v)
			}
			want, err := typ.Coerce(v)
			if err != nil {
				t.Fatalf("%s.Coerce(%s) (parsed from %q): %v", typ, show(v), s, err)
			}
			text := typ.Format(v)
			back, err := typ.Parse(text)
			if err != nil {
				t.Fatalf("%s.Parse(%q) = %s, formatted %q, which does not parse: %v", typ, s, show(v), text, err)
			}
			if Compare(want, back) != 0 || Compare(back, want) != 0 {
				t.Fatalf("%s.Parse(%q) = %s, formatted %q, parsed back %s, want %s", typ, s, show(v), text, show(back), show(want))
			}
			if again := typ.Format(back); again != text {
				t.Fatalf("%s: %q formats as %q, then as %q", typ, s, text, again)
			}
		}
	})
}
