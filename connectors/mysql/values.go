package mysql

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// toDriver converts v, a value for a column of type t whose table column
// keeps places decimal places, to the value sent as a statement parameter:
// int64, the text of a decimal, string, time.Time in UTC, bool, or nil.
// Decimals with more places than a decimal(N) column's N are rounded to N
// (as schema.Type.Append prints them); a decimal column of any scale
// rejects values that need more places than the table column has.
func toDriver(t schema.Type, places int, v any) (any, error) {
	if v == nil {
		if t.Nullable {
			return nil, nil
		}
		return nil, schema.ErrNull
	}
	switch t.Kind {
	case schema.Int:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		}
	case schema.Decimal:
		switch x := v.(type) {
		case decimal.Decimal:
			if x.Scale() > places {
				if t.Scale != schema.AnyScale {
					x = x.Round(places)
				} else if x = x.Trim(places); x.Scale() > places {
					return nil, fmt.Errorf("%s has more than the %d decimal places the table column keeps", x, places)
				}
			}
			return x.String(), nil
		case int:
			return strconv.Itoa(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		}
	case schema.String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case schema.Date:
		if d, ok := v.(time.Time); ok {
			y, m, day := d.Date() // the calendar date in the value's own location
			return time.Date(y, m, day, 0, 0, 0, 0, time.UTC), nil
		}
	case schema.DateTime:
		if d, ok := v.(time.Time); ok {
			return d.UTC().Truncate(time.Second), nil
		}
	case schema.Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a %T value does not fit a %s column", v, t)
}

// fromDriver converts v, a value the driver read from a column of type t, to
// the Go type that holds values of t. Decimals of a column of any scale lose
// their trailing zeros: DECIMAL(38,10) returns every value with 10 places.
func fromDriver(t schema.Type, v any) (any, error) {
	if v == nil {
		if t.Nullable {
			return nil, nil
		}
		return nil, fmt.Errorf("null in a column the schema says is %s (not nullable)", t)
	}
	switch t.Kind {
	case schema.Int:
		switch x := v.(type) {
		case int64:
			return int(x), nil
		case []byte:
			n, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", x)
			}
			return int(n), nil
		}
	case schema.Decimal:
		var text []byte
		switch x := v.(type) {
		case []byte:
			text = x
		case string:
			text = []byte(x)
		case int64:
			return decimal.New(x, 0)
		}
		if text != nil {
			if t.Scale == schema.AnyScale {
				text = trimZeros(text)
			}
			d, err := decimal.Parse(string(text))
			if err != nil {
				return nil, fmt.Errorf("%q does not fit a %s column: %w", text, t, err)
			}
			return d, nil
		}
	case schema.String:
		switch x := v.(type) {
		case []byte:
			return string(x), nil
		case string:
			return x, nil
		}
	case schema.Date, schema.DateTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case []byte:
			return t.Parse(string(x))
		}
	case schema.Bool:
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		case []byte:
			return len(x) > 0 && !bytes.Equal(x, []byte("0")) && x[0] != 0, nil
		}
	}
	return nil, fmt.Errorf("a %T value read from the table does not fit a %s column", v, t)
}

// trimZeros removes the trailing zeros of the fraction of the decimal text
// b, and the point when no fraction is left. b is not changed.
func trimZeros(b []byte) []byte {
	if bytes.IndexByte(b, '.') < 0 {
		return b
	}
	b = bytes.TrimRight(b, "0")
	return bytes.TrimSuffix(b, []byte("."))
}
