package schema

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// Kind is the base kind of a column type.
type Kind uint8

// The column kinds a schema can declare.
const (
	Invalid  Kind = iota
	Int           // a signed 64-bit integer, held as int
	Decimal       // an exact decimal of up to 19 digits, held as decimal.Decimal
	String        // text, held as string
	Date          // a calendar date YYYY-MM-DD, held as time.Time (UTC)
	DateTime      // a timestamp YYYY-MM-DD HH:MM:SS, held as time.Time (UTC)
	Bool          // true or false, held as bool
)

var kindNames = [...]string{Invalid: "invalid", Int: "int", Decimal: "decimal", String: "string",
	Date: "date", DateTime: "datetime", Bool: "bool"}

// String returns the kind's name as written in specs.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// AnyScale marks a decimal type that keeps the scale each value was written with.
const AnyScale = -1

// Type is a column type: a kind, for decimals the number of places it is
// printed with, for short fixed-width strings (char(N)) their most
// characters, and whether the column admits null.
type Type struct {
	Kind     Kind
	Scale    int  // decimal places printed; AnyScale keeps each value's own scale
	Len      int  // a char(N) string's most characters (trailing spaces dropped); 0 for any string and other kinds
	Nullable bool // an empty field parses as null
}

// MaxCharLen is the most characters a char(N) type may declare, as SQL's CHAR.
const MaxCharLen = 255

// Common types.
var (
	IntType      = Type{Kind: Int}
	MoneyType    = Type{Kind: Decimal, Scale: 2}
	DecimalType  = Type{Kind: Decimal, Scale: AnyScale}
	StringType   = Type{Kind: String}
	DateType     = Type{Kind: Date}
	DateTimeType = Type{Kind: DateTime}
	BoolType     = Type{Kind: Bool}
)

// ParseType parses a type as written in specs and rule files: int, decimal,
// decimal(N), money (decimal(2)), string, char(N), date, datetime or bool,
// with a trailing ? for a nullable column.
//
// char(N) is a string of at most N characters (1 to MaxCharLen) without
// trailing spaces: values lose them, as SQL CHAR columns drop them, and a
// longer value is an error. Databases may store it fixed-width, so that
// changing a value for another of the same width rewrites nothing else.
func ParseType(s string) (Type, error) {
	var t Type
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "?") {
		t.Nullable = true
		s = strings.TrimSpace(s[:len(s)-1])
	}
	switch s {
	case "int", "integer":
		t.Kind = Int
	case "money":
		t.Kind, t.Scale = Decimal, 2
	case "decimal":
		t.Kind, t.Scale = Decimal, AnyScale
	case "string", "text":
		t.Kind = String
	case "date":
		t.Kind = Date
	case "datetime", "timestamp":
		t.Kind = DateTime
	case "bool", "boolean":
		t.Kind = Bool
	default:
		if rest, ok := strings.CutPrefix(s, "char("); ok && strings.HasSuffix(rest, ")") {
			n, err := strconv.Atoi(rest[:len(rest)-1])
			if err != nil || n < 1 || n > MaxCharLen {
				return Type{}, fmt.Errorf("type %q: length must be a whole number from 1 to %d", s, MaxCharLen)
			}
			t.Kind, t.Len = String, n
			return t, nil
		}
		if rest, ok := strings.CutPrefix(s, "decimal("); ok && strings.HasSuffix(rest, ")") {
			n, err := strconv.Atoi(rest[:len(rest)-1])
			if err != nil || n < 0 || n > decimal.MaxScale {
				return Type{}, fmt.Errorf("type %q: scale must be a whole number from 0 to %d", s, decimal.MaxScale)
			}
			t.Kind, t.Scale = Decimal, n
			return t, nil
		}
		return Type{}, fmt.Errorf("unknown type %q (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)", s)
	}
	return t, nil
}

// String returns the type as written in specs.
func (t Type) String() string {
	s := t.Kind.String()
	if t.Kind == Decimal {
		switch t.Scale {
		case AnyScale:
		case 2:
			s = "money"
		default:
			s = fmt.Sprintf("decimal(%d)", t.Scale)
		}
	}
	if t.Kind == String && t.Len > 0 {
		s = fmt.Sprintf("char(%d)", t.Len)
	}
	if t.Nullable {
		s += "?"
	}
	return s
}

// Go types of values, as the rule language sees them.
var (
	goInt      = reflect.TypeOf(0)
	goDecimal  = reflect.TypeOf(decimal.Decimal{})
	goString   = reflect.TypeOf("")
	goTime     = reflect.TypeOf(time.Time{})
	goBool     = reflect.TypeOf(false)
	goInvalid  = reflect.TypeOf((*any)(nil)).Elem()
	kindGoType = [...]reflect.Type{Invalid: goInvalid, Int: goInt, Decimal: goDecimal, String: goString,
		Date: goTime, DateTime: goTime, Bool: goBool}
)

// GoType returns the Go type that holds values of t.
func (t Type) GoType() reflect.Type { return kindGoType[t.Kind] }

// AssignableFrom reports whether a value of type src may be stored in a column of type t.
// Ints widen to decimals; a nullable value needs a nullable column.
func (t Type) AssignableFrom(src Type) bool {
	if src.Nullable && !t.Nullable {
		return false
	}
	if t.Kind == src.Kind || (t.Kind == DateTime && src.Kind == Date) {
		return true
	}
	return t.Kind == Decimal && src.Kind == Int
}

// TypeOfGo returns the column kind that holds Go values of type rt, or Invalid.
func TypeOfGo(rt reflect.Type) Kind {
	for k, g := range kindGoType {
		if g == rt && Kind(k) != Date {
			if Kind(k) == Invalid {
				return Invalid
			}
			return Kind(k)
		}
	}
	return Invalid
}
