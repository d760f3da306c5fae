package stage

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/window"
	"pipeline/engine/yamldoc"
)

// streamWindow is one window of a stream stage (spec.Window): for each
// key, the records decided before within a span of event time, folded into
// a record of values that the stage's rules read.
type streamWindow struct {
	name   string
	spec   *window.Spec
	schema *schema.Schema // the record of its values
	v      int            // the scope variable that record is bound to
	key    int            // the stage record's column holding the key: the topic's key
	// time is the record's column holding its time, or -1 when timeExpr
	// computes it (output 0).
	time     int
	timeExpr *bound
	// where says which decided records enter (nil: all); it reads the
	// scope and the decision.
	where *bound
	// whereDecision is where when it only compares the decision's outcome
	// or rule with a string, tested without running it.
	whereDecision *decisionTest
	// args are the values' arguments: a copied field, or an output of
	// argExpr (nil when none is computed), or neither for count().
	args    []windowArg
	argExpr *bound
	argOuts []rules.Output              // argExpr's outputs, until compiled
	argSet  yamldoc.Map[yamldoc.String] // and their expressions
}

// windowArg is where a window value's argument comes from.
type windowArg struct {
	copy fieldOf // the field it copies, when v >= 0
	out  int     // the output of argExpr computing it, when >= 0
}

// windows compiles a stream stage's windows and adds their records to its
// scope, after the lookups (their where and arguments may read those).
func (b *builder) windows(s *streamStage, st *spec.Stage) bool {
	ok := true
	var specs []spec.Window
	for _, e := range st.Windows {
		w := b.window(s, e.Key, e.Value)
		if w == nil {
			ok = false
			continue
		}
		s.windows = append(s.windows, w)
		specs = append(specs, e.Value)
	}
	if !ok {
		return false
	}
	// Compiled over the whole scope, every window's record in it, so that
	// the decision these read is where the stage binds it at run time.
	for i, w := range s.windows {
		if !b.windowExprs(s, w, specs[i]) {
			ok = false
		}
	}
	return ok
}

// windowExprs compiles the arguments and the where of a window.
func (b *builder) windowExprs(s *streamStage, w *streamWindow, ws spec.Window) bool {
	if len(w.argSet) > 0 {
		w.argExpr = b.define(s.sc, rules.Definition{Name: "window " + w.name + " values", Outputs: w.argOuts,
			Default: &rules.RuleDef{ID: "values", Set: w.argSet, Pos: ws.Pos}})
		if w.argExpr == nil {
			return false
		}
	}
	if ws.Where.Set() {
		if w.where, w.whereDecision = b.decisionFilter(s, "window "+w.name+" where", ws.Where); w.where == nil {
			return false
		}
	}
	return true
}

// decisionFilter compiles where, a filter of s's records that may read
// their decision too, and returns it with its decisionTest when it is one.
func (b *builder) decisionFilter(s *streamStage, name string, where yamldoc.String) (*bound, *decisionTest) {
	def := rules.Filter(name, where)
	def.Inputs = []rules.Input{{Name: decisionVar, Record: true, Fields: decisionSchema.Columns}}
	bd := b.define(s.sc, def)
	if bd == nil {
		return nil, nil
	}
	return bd, parseDecisionTest(where.Value)
}

// window compiles window name of s: its key, span, time and values, and
// adds its record to s's scope.
func (b *builder) window(s *streamStage, name string, ws spec.Window) *streamWindow {
	if !namePattern.MatchString(name) || s.sc.index(name) >= 0 || name == decisionVar {
		b.errorf(ws.Pos, "window name %q must be a new name (not a record or lookup of the stage)", name)
		return nil
	}
	w := &streamWindow{name: name, time: -1}

	// The key: the record's topic key, or state would follow partition
	// order rather than time (see docs/ARCHITECTURE.md).
	if !ws.Key.Set() {
		b.errorf(ws.Pos, "window %s has no key (key: %s.%s, the topic's key)", name, s.sc.names[0], s.tspec.Key)
		return nil
	}
	if !b.stateKeyedExpr(s, ws.Key.Pos, "window "+name, ws.Key.Value) {
		return nil
	}
	// Whatever field names it, the key's value is the record's topic key.
	w.key = s.sc.schemas[0].Index(s.tspec.Key)

	span, ok := b.windowSpan(name, ws)
	if !ok || !b.windowTime(s, w, ws) {
		return nil
	}
	values, ok := b.windowValues(s, w, ws)
	if !ok {
		return nil
	}
	var err error
	if w.spec, err = window.NewSpec(span, values); err != nil {
		b.errorf(ws.Pos, "window %s: %v", name, err)
		return nil
	}
	w.schema = w.spec.Schema(name)
	w.v = s.sc.addRecord(name, w.schema)
	return w
}

// windowSpan returns the span of window name.
func (b *builder) windowSpan(name string, ws spec.Window) (time.Duration, bool) {
	span, err := parseSpan(ws.Span.Value)
	if ws.Span.Set() && err == nil {
		return span, true
	}
	if err == nil {
		err = fmt.Errorf("missing")
	}
	pos := ws.Span.Pos
	if !ws.Span.Set() {
		pos = ws.Pos
	}
	b.errorf(pos, "window %s: span: %v (write a Go duration such as 10m or 24h, or days such as 7d)", name, err)
	return 0, false
}

// windowTime compiles the time of window w: a plain field of the record is
// read as it is, anything else computed.
func (b *builder) windowTime(s *streamStage, w *streamWindow, ws spec.Window) bool {
	rec, recSchema := s.sc.names[0], s.sc.schemas[0]
	if !ws.Time.Set() {
		b.errorf(ws.Pos, "window %s has no time (time: %s.some_datetime, the record's event time)", w.name, rec)
		return false
	}
	if c, ok := s.recordField(ws.Time.Value); ok && c >= 0 {
		k := recSchema.Columns[c].Type.Kind
		if k != schema.Date && k != schema.DateTime {
			b.errorf(ws.Time.Pos, "window %s: time %s is %s, want a date or datetime", w.name, ws.Time.Value, recSchema.Columns[c].Type)
			return false
		}
		w.time = c
		return true
	}
	only := &scope{}
	only.addRecord(rec, recSchema)
	w.timeExpr = b.define(only, rules.Definition{Name: "window " + w.name + " time",
		Outputs: []rules.Output{{Name: "_t", Type: schema.DateTimeType, Pos: ws.Time.Pos}},
		Default: &rules.RuleDef{ID: "time", Set: yamldoc.Map[yamldoc.String]{{Key: "_t", Pos: ws.Time.Pos, Value: ws.Time}}, Pos: ws.Time.Pos}})
	return w.timeExpr != nil
}

// windowValues returns the values of window w, and sets where the argument
// each folds comes from: a plain field copied, or an expression computed as
// an output of the window's argument set.
func (b *builder) windowValues(s *streamStage, w *streamWindow, ws spec.Window) ([]window.Value, bool) {
	name := w.name
	if len(ws.Values) == 0 {
		b.errorf(ws.Pos, "window %s has no values (values: {count: count(), amount: sum(%s.some_amount)})", name, s.sc.names[0])
		return nil, false
	}
	var values []window.Value
	for _, v := range ws.Values {
		fname, arg, ok := rules.ParseFold(v.Value)
		fn, known := window.Func(0), false
		if ok {
			fn, known = window.ParseFunc(fname)
		}
		if !known || !namePattern.MatchString(v.Key) {
			b.errorf(v.Value.Pos, "window %s value %s: write %s", name, v.Key, "count(), sum(expr), min(expr), max(expr) or count_distinct(expr)")
			return nil, false
		}
		wv := window.Value{Name: v.Key, Func: fn}
		wa := windowArg{copy: fieldOf{v: -1}, out: -1}
		switch {
		case !fn.TakesArg():
			if strings.TrimSpace(arg.Value) != "" {
				b.errorf(arg.Pos, "window %s value %s: count() takes no argument (say which records enter with where)", name, v.Key)
				return nil, false
			}
		default:
			if f, t, ok := s.plainField(arg.Value); ok {
				wa.copy, wv.Arg = f, t
				break
			}
			// A computed argument: a number for sum, min and max, a
			// string for count_distinct (a plain field may be any type).
			wv.Arg = schema.Type{Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}
			if fn == window.CountDistinct {
				wv.Arg = schema.Type{Kind: schema.String, Nullable: true}
			}
			wa.out = len(w.argOuts)
			out := fmt.Sprintf("_a%d", len(w.argOuts))
			w.argOuts = append(w.argOuts, rules.Output{Name: out, Type: wv.Arg, Pos: arg.Pos})
			w.argSet = append(w.argSet, yamldoc.Entry[yamldoc.String]{Key: out, Pos: arg.Pos, Value: arg})
		}
		if _, err := fn.ResultType(wv.Arg); err != nil {
			b.errorf(arg.Pos, "window %s value %s: %v", name, v.Key, err)
			return nil, false
		}
		values = append(values, wv)
		w.args = append(w.args, wa)
	}
	return values, true
}

// recordField returns the column of the stage's record that text names
// (rec.column), when text is exactly that; -1 when it names no column.
func (s *streamStage) recordField(text string) (int, bool) {
	f, ok := rules.PlainField(text)
	if !ok || f.Record != s.sc.names[0] {
		return -1, false
	}
	return s.sc.schemas[0].Index(f.Field), true
}

// plainField returns the field of a record of the scope (the stage's
// record or a lookup) that text names, with its type.
func (s *streamStage) plainField(text string) (fieldOf, schema.Type, bool) {
	v, c, ok := s.fieldRef(text)
	if !ok {
		return fieldOf{}, schema.Type{}, false
	}
	return fieldOf{v: v, col: c}, s.sc.schemas[v].Columns[c].Type, true
}

// parseSpan reads a span: a Go duration (90s, 10m, 1h30m) or whole days,
// optionally followed by a duration (7d, 1d12h).
func parseSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return check(days)
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return check(days + d)
}

func check(d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, fmt.Errorf("%v: must be more than zero", d)
	}
	return d, nil
}
