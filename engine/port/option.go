package port

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OptionType is what values a connector option takes.
type OptionType uint8

// The option types.
const (
	Text     OptionType = iota // any text
	Int                        // a whole number, at least Min (and at most Max when set)
	Duration                   // a Go duration such as 30s or 5m, at least Min
	Enum                       // one of Values
	Bool                       // true or false
)

// Parse reads text as a value of the option: a string (Text, Enum), an int
// (Int), a time.Duration (Duration) or a bool (Bool); the error says what
// the option takes. Leading and trailing spaces are ignored, except by Text.
func (o Option) Parse(text string) (any, error) {
	s := strings.TrimSpace(text)
	switch o.Type {
	case Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < o.Min || (o.Max != 0 && n > o.Max) {
			return nil, fmt.Errorf("%q is not %s", text, o.TypeText())
		}
		return int(n), nil
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil || int64(d) < o.Min || (o.Max != 0 && int64(d) > o.Max) {
			return nil, fmt.Errorf("%q is not %s", text, o.TypeText())
		}
		return d, nil
	case Enum:
		for _, v := range o.Values {
			if s == v {
				return s, nil
			}
		}
		return nil, fmt.Errorf("%q is not %s", text, o.TypeText())
	case Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not %s", text, o.TypeText())
		}
		return b, nil
	}
	return text, nil
}

// TypeText says what values the option takes, for messages and docs.
func (o Option) TypeText() string {
	switch o.Type {
	case Int:
		if o.Max != 0 {
			return fmt.Sprintf("a whole number from %d to %d", o.Min, o.Max)
		}
		return fmt.Sprintf("a whole number of at least %d", o.Min)
	case Duration:
		if o.Min > 0 {
			return fmt.Sprintf("a duration of at least %v, such as 30s or 5m", time.Duration(o.Min))
		}
		return "a duration, such as 30s or 5m"
	case Enum:
		return "one of " + strings.Join(o.Values, ", ")
	case Bool:
		return "true or false"
	}
	return "text"
}

// Value returns the value cfg gives the option called name of options,
// parsed (see Option.Parse), and whether cfg sets it (an empty value counts
// as unset). An error names the connector.
func (c Config) Value(options []Option, name string) (any, bool, error) {
	text, ok := c.Options[name]
	if !ok || strings.TrimSpace(text) == "" {
		return nil, false, nil
	}
	for _, o := range options {
		if o.Name == name {
			v, err := o.Parse(text)
			if err != nil {
				return nil, true, fmt.Errorf("connector %s: option %s: %w", c.Name, name, err)
			}
			return v, true, nil
		}
	}
	return nil, true, fmt.Errorf("connector %s: no option %s", c.Name, name)
}
