package window

import (
	"fmt"

	"pipeline/engine/schema"
)

// Func is how a window folds the records it holds into one value.
type Func uint8

// The functions a window value may use.
const (
	Count         Func = iota // count(): the records, 0 when none
	Sum                       // sum(x): the sum of x, nulls ignored, 0 when none
	Min                       // min(x): the least x, null when none
	Max                       // max(x): the greatest x, null when none
	CountDistinct             // count_distinct(x): how many different x, nulls ignored
)

var funcNames = [...]string{Count: "count", Sum: "sum", Min: "min", Max: "max", CountDistinct: "count_distinct"}

// String returns the function's name as written in specs.
func (f Func) String() string {
	if int(f) < len(funcNames) {
		return funcNames[f]
	}
	return fmt.Sprintf("func(%d)", f)
}

// ParseFunc returns the function called name.
func ParseFunc(name string) (Func, bool) {
	for i, n := range funcNames {
		if n == name {
			return Func(i), true
		}
	}
	return 0, false
}

// Names lists the functions' names, for messages.
func Names() []string { return funcNames[:] }

// TakesArg reports whether the function reads an argument (all but count).
func (f Func) TakesArg() bool { return f != Count }

// ResultType returns the type of the function's value over arguments of
// type arg, or an error when it cannot fold them: sum needs numbers, min
// and max values that order (numbers, strings, dates, times).
func (f Func) ResultType(arg schema.Type) (schema.Type, error) {
	switch f {
	case Count, CountDistinct:
		return schema.IntType, nil
	case Sum:
		if arg.Kind != schema.Int && arg.Kind != schema.Decimal {
			return schema.Type{}, fmt.Errorf("sum needs a number, not %s", arg)
		}
		arg.Nullable = false
		return arg, nil
	case Min, Max:
		if arg.Kind == schema.Bool || arg.Kind == schema.Invalid {
			return schema.Type{}, fmt.Errorf("%s needs values that order (numbers, strings, dates, times), not %s", f, arg)
		}
		arg.Nullable = true
		return arg, nil
	}
	return schema.Type{}, fmt.Errorf("unknown function %s", f)
}
