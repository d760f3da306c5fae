package schema

import (
	"reflect"
	"testing"
	"time"

	"github.com/govalues/decimal"
)

// errText returns the text of err, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		want Type
		err  string
	}{
		{in: "int", want: IntType},
		{in: "integer", want: IntType},
		{in: "int?", want: Type{Kind: Int, Nullable: true}},
		{in: "  int ? ", want: Type{Kind: Int, Nullable: true}},
		{in: "money", want: MoneyType},
		{in: "money?", want: Type{Kind: Decimal, Scale: 2, Nullable: true}},
		{in: "decimal", want: DecimalType},
		{in: "decimal?", want: Type{Kind: Decimal, Scale: AnyScale, Nullable: true}},
		{in: "decimal(0)", want: Type{Kind: Decimal, Scale: 0}},
		{in: "decimal(2)", want: MoneyType},
		{in: "decimal(3)", want: Type{Kind: Decimal, Scale: 3}},
		{in: "decimal(19)", want: Type{Kind: Decimal, Scale: 19}},
		{in: "decimal(3)?", want: Type{Kind: Decimal, Scale: 3, Nullable: true}},
		{in: "decimal(3) ?", want: Type{Kind: Decimal, Scale: 3, Nullable: true}},
		{in: "string", want: StringType},
		{in: "text", want: StringType},
		{in: "string?", want: Type{Kind: String, Nullable: true}},
		{in: "char(8)", want: Type{Kind: String, Len: 8}},
		{in: "char(1)?", want: Type{Kind: String, Len: 1, Nullable: true}},
		{in: "char(255)", want: Type{Kind: String, Len: 255}},
		{in: "date", want: DateType},
		{in: "date?", want: Type{Kind: Date, Nullable: true}},
		{in: "datetime", want: DateTimeType},
		{in: "timestamp", want: DateTimeType},
		{in: "datetime?", want: Type{Kind: DateTime, Nullable: true}},
		{in: "bool", want: BoolType},
		{in: "boolean", want: BoolType},
		{in: "bool?", want: Type{Kind: Bool, Nullable: true}},

		{in: "", err: `unknown type "" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "?", err: `unknown type "" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "float", err: `unknown type "float" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "Int", err: `unknown type "Int" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "int??", err: `unknown type "int?" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "?int", err: `unknown type "?int" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "decimal(2", err: `unknown type "decimal(2" (want int, decimal, decimal(N), money, string, char(N), date, datetime or bool, with ? for nullable)`},
		{in: "char(0)", err: `type "char(0)": length must be a whole number from 1 to 255`},
		{in: "char(256)", err: `type "char(256)": length must be a whole number from 1 to 255`},
		{in: "char()", err: `type "char()": length must be a whole number from 1 to 255`},
		{in: "decimal(20)", err: `type "decimal(20)": scale must be a whole number from 0 to 19`},
		{in: "decimal(-1)", err: `type "decimal(-1)": scale must be a whole number from 0 to 19`},
		{in: "decimal()", err: `type "decimal()": scale must be a whole number from 0 to 19`},
		{in: "decimal(x)", err: `type "decimal(x)": scale must be a whole number from 0 to 19`},
		{in: "decimal( 2)", err: `type "decimal( 2)": scale must be a whole number from 0 to 19`},
		{in: "decimal(2.5)?", err: `type "decimal(2.5)": scale must be a whole number from 0 to 19`},
		{in: "decimal(99999999999999999999)", err: `type "decimal(99999999999999999999)": scale must be a whole number from 0 to 19`},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if errText(err) != tt.err {
			t.Errorf("ParseType(%q) error:\n got %v\nwant %s", tt.in, err, tt.err)
		}
		if got != tt.want {
			t.Errorf("ParseType(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ  Type
		want string
	}{
		{IntType, "int"},
		{MoneyType, "money"},
		{DecimalType, "decimal"},
		{Type{Kind: Decimal, Scale: 0}, "decimal(0)"},
		{Type{Kind: Decimal, Scale: 3}, "decimal(3)"},
		{Type{Kind: Decimal, Scale: 19, Nullable: true}, "decimal(19)?"},
		{StringType, "string"},
		{Type{Kind: String, Len: 8, Nullable: true}, "char(8)?"},
		{DateType, "date"},
		{DateTimeType, "datetime"},
		{BoolType, "bool"},
		{Type{Kind: Bool, Nullable: true}, "bool?"},
		{Type{Kind: Decimal, Scale: 2, Nullable: true}, "money?"},
		{Type{}, "invalid"},
		{Type{Kind: 42}, "kind(42)"},
	}
	for _, tt := range tests {
		got := tt.typ.String()
		if got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.typ, got, tt.want)
		}
		if tt.typ.Kind == Invalid || tt.typ.Kind > Bool {
			continue
		}
		back, err := ParseType(got)
		if err != nil || back != tt.typ {
			t.Errorf("ParseType(%q) = %#v, %v; want %#v", got, back, err, tt.typ)
		}
	}
}

func TestGoType(t *testing.T) {
	tests := []struct {
		typ  Type
		want reflect.Type
		kind Kind // what TypeOfGo gives back for want
	}{
		{IntType, reflect.TypeOf(0), Int},
		{MoneyType, reflect.TypeOf(decimal.Decimal{}), Decimal},
		{DecimalType, reflect.TypeOf(decimal.Decimal{}), Decimal},
		{StringType, reflect.TypeOf(""), String},
		{DateType, reflect.TypeOf(time.Time{}), DateTime},
		{DateTimeType, reflect.TypeOf(time.Time{}), DateTime},
		{BoolType, reflect.TypeOf(false), Bool},
		{Type{}, reflect.TypeOf((*any)(nil)).Elem(), Invalid},
	}
	for _, tt := range tests {
		if got := tt.typ.GoType(); got != tt.want {
			t.Errorf("%s.GoType() = %v, want %v", tt.typ, got, tt.want)
		}
		if got := TypeOfGo(tt.want); got != tt.kind {
			t.Errorf("TypeOfGo(%v) = %s, want %s", tt.want, got, tt.kind)
		}
	}
	for _, rt := range []reflect.Type{reflect.TypeOf(int64(0)), reflect.TypeOf(1.5), reflect.TypeOf([]byte(nil))} {
		if got := TypeOfGo(rt); got != Invalid {
			t.Errorf("TypeOfGo(%v) = %s, want invalid", rt, got)
		}
	}
}

func TestAssignableFrom(t *testing.T) {
	nullable := func(t Type) Type { t.Nullable = true; return t }
	tests := []struct {
		dst, src Type
		want     bool
	}{
		{IntType, IntType, true},
		{MoneyType, IntType, true},
		{MoneyType, DecimalType, true},
		{DecimalType, MoneyType, true},
		{IntType, MoneyType, false},
		{StringType, IntType, false},
		{DateTimeType, DateType, true},
		{DateType, DateTimeType, false},
		{BoolType, StringType, false},
		{nullable(IntType), IntType, true},
		{IntType, nullable(IntType), false},
		{nullable(MoneyType), nullable(IntType), true},
		{MoneyType, nullable(IntType), false},
	}
	for _, tt := range tests {
		if got := tt.dst.AssignableFrom(tt.src); got != tt.want {
			t.Errorf("%s.AssignableFrom(%s) = %t, want %t", tt.dst, tt.src, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{Invalid: "invalid", Int: "int", Decimal: "decimal", String: "string",
		Date: "date", DateTime: "datetime", Bool: "bool", Bool + 1: "kind(7)"}
	for k, w := range want {
		if got := k.String(); got != w {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, w)
		}
	}
}
