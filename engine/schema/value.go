package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/govalues/decimal"
)

// Layouts of date and datetime values as text.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02 15:04:05"
)

// ErrNull is returned when an empty field is parsed for a column that is not nullable.
var ErrNull = errors.New("empty value in a column that is not nullable")

// Parse converts the text s to a value of type t. An empty s is null for a
// nullable type and ErrNull otherwise (except for strings, where it is "").
func (t Type) Parse(s string) (any, error) {
	if s == "" {
		switch {
		case t.Nullable:
			return nil, nil
		case t.Kind == String:
			return "", nil
		default:
			return nil, ErrNull
		}
	}
	switch t.Kind {
	case Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", Quote(s))
		}
		return n, nil
	case Decimal:
		d, err := decimal.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not a decimal number", Quote(s))
		}
		if t.Scale != AnyScale {
			// A fixed-scale value holds exactly its places: 7500.0 is 7500.00
			// wherever it came from, and a fraction of a cent is refused, not rounded.
			if d.Scale() > t.Scale {
				return nil, fmt.Errorf("%s has more than %d decimal places", Quote(s), t.Scale)
			}
			d = d.Pad(t.Scale)
		}
		return d, nil
	case String:
		if t.Len > 0 {
			return t.fitChar(s)
		}
		return s, nil
	case Date:
		d, err := parseDate(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not a date (want YYYY-MM-DD)", Quote(s))
		}
		return d, nil
	case DateTime:
		d, err := parseDateTime(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not a datetime (want YYYY-MM-DD HH:MM:SS)", Quote(s))
		}
		return d, nil
	case Bool:
		switch strings.ToLower(s) {
		case "true", "t", "1", "yes":
			return true, nil
		case "false", "f", "0", "no":
			return false, nil
		}
		return nil, fmt.Errorf("%s is not a boolean (want true or false)", Quote(s))
	}
	return nil, fmt.Errorf("cannot parse a value of type %s", t)
}

// Append appends the text form of v, a value of type t, to b. Null is the
// empty string; decimals are printed with the type's scale.
func (t Type) Append(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case int:
		if t.Kind == Decimal {
			return t.Append(b, decimal.MustNew(int64(x), 0))
		}
		return strconv.AppendInt(b, int64(x), 10)
	case decimal.Decimal:
		if t.Kind == Decimal && t.Scale != AnyScale {
			x = x.Rescale(t.Scale)
		}
		out, err := x.AppendText(b)
		if err != nil {
			return fmt.Append(b, x)
		}
		return out
	case string:
		return append(b, x...)
	case time.Time:
		return appendTime(b, x, t.Kind == Date)
	case bool:
		return strconv.AppendBool(b, x)
	}
	return fmt.Append(b, v)
}

// appendTime appends x in DateLayout (date) or DateTimeLayout. Years 0 to
// 9999 are written digit by digit, which is several times faster than
// time.Time.AppendFormat and gives the same text; other years go through it.
func appendTime(b []byte, x time.Time, date bool) []byte {
	y, mo, d := x.Date()
	if y < 0 || y > 9999 {
		if date {
			return x.AppendFormat(b, DateLayout)
		}
		return x.AppendFormat(b, DateTimeLayout)
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	if date {
		return b
	}
	h, mi, sec := x.Clock()
	b = append(b, ' ')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, sec)
}

// append2 appends n, 0 to 99, as two digits.
func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// Format returns the text form of v, a value of type t.
func (t Type) Format(v any) string { return string(t.Append(nil, v)) }

// Coerce converts v, a value produced by an expression, to the Go type that
// holds values of t: ints widen to decimals, decimals are rounded (ties to
// even) to the type's scale. It fails when the kinds do not fit.
func (t Type) Coerce(v any) (any, error) {
	if v == nil {
		if t.Nullable {
			return nil, nil
		}
		return nil, ErrNull
	}
	// Values that already fit are returned as they are: boxed once, never again.
	switch t.Kind {
	case Int:
		if _, ok := v.(int); ok {
			return v, nil
		}
	case Decimal:
		switch x := v.(type) {
		case decimal.Decimal:
			if t.Scale != AnyScale && x.Scale() > t.Scale {
				return x.Round(t.Scale), nil
			}
			return v, nil
		case int:
			return decimal.New(int64(x), 0)
		}
	case String:
		if s, ok := v.(string); ok {
			if t.Len > 0 && (len(s) > t.Len || strings.HasSuffix(s, " ")) {
				return t.fitChar(s) // may have too many characters, or spaces to drop
			}
			return v, nil
		}
	case Date, DateTime:
		if _, ok := v.(time.Time); ok {
			return v, nil
		}
	case Bool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("a %T value does not fit a %s column", v, t)
}

// fitChar returns s, a value for a char(N) type t, without trailing
// spaces, or an error when it has more than N characters.
func (t Type) fitChar(s string) (any, error) {
	s = strings.TrimRight(s, " ")
	if len(s) > t.Len && utf8.RuneCountInString(s) > t.Len {
		return nil, fmt.Errorf("%s is longer than %d characters", Quote(s), t.Len)
	}
	return s, nil
}

// Compare orders two non-null values of the same kind: -1, 0 or +1. Nulls sort first.
func Compare(a, b any) int {
	switch x := a.(type) {
	case nil:
		if b == nil {
			return 0
		}
		return -1
	case int:
		if y, ok := b.(int); ok {
			return cmpOrdered(x, y)
		}
	case decimal.Decimal:
		if y, ok := b.(decimal.Decimal); ok {
			return x.Cmp(y)
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	}
	if b == nil {
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func cmpOrdered[T int | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseDate parses YYYY-MM-DD without the generality (and cost) of time.Parse.
func parseDate(s string) (time.Time, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, errBadTime
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return time.Time{}, errBadTime
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// parseDateTime parses YYYY-MM-DD HH:MM:SS (a T between date and time is accepted too).
func parseDateTime(s string) (time.Time, error) {
	if len(s) == 10 {
		return parseDate(s)
	}
	if len(s) != 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, errBadTime
	}
	day, err := parseDate(s[:10])
	if err != nil {
		return day, err
	}
	h, ok1 := digits(s[11:13])
	mi, ok2 := digits(s[14:16])
	se, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || se > 59 {
		return time.Time{}, errBadTime
	}
	return day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(se)*time.Second), nil
}

var errBadTime = errors.New("bad date or time")

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
