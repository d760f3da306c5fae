package stage

import (
	"context"
	"fmt"
	"strings"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// aggregate groups the rows of a table by a key column and folds values per group.
type aggregate struct {
	ref    spec.Ref
	schema *schema.Schema
	by     int    // the source column holding the group key
	where  *bound // over the source record
	values *bound // computes each folded expression as an output
	fns    []aggFn
	push   *aggPush // the aggregate as one GROUP BY, when it is that simple
}

// aggPush is an aggregate a port.Aggregator table can run itself: a where
// comparing one column with a constant (or none), and folds of plain columns.
type aggPush struct {
	where port.ColumnValue
	folds []port.Fold
}

// aggFn is one folded value: sum, count, min or max.
type aggFn struct {
	kind string
	v    int // step scope variable receiving the result
	out  int // output of values computing the argument; -1 for count()
}

var (
	aggType = map[string]schema.Type{"sum": schema.DecimalType, "count": schema.IntType,
		"min": {Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true},
		"max": {Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}}
)

func (b *builder) aggregate(p *step, a *spec.Aggregate) *aggregate {
	g := &aggregate{}
	var ok bool
	if g.ref, g.schema, ok = b.tableRef(a.From, "aggregate from"); !ok {
		return nil
	}
	as := a.As.Value
	if as == "" {
		as = g.schema.Name
	}
	if p.sc.index(as) >= 0 || !namePattern.MatchString(as) {
		b.errorf(a.Pos, "aggregate: name the source rows with a new name (as: ...), %q is taken or not a name", as)
		return nil
	}
	src := &scope{}
	src.addRecord(as, g.schema)
	by, ok := rules.PlainField(a.By.Value)
	if !ok || by.Record != as || g.schema.Index(by.Field) < 0 {
		b.errorf(a.By.Pos, "aggregate by: write %s.column, a column of %s (%s)", as, g.schema.Name, joinNames(g.schema.Names()))
		return nil
	}
	g.by = g.schema.Index(by.Field)
	if kt, bt := p.schema.Columns[p.schema.Key].Type, g.schema.Columns[g.by].Type; kt.Kind != bt.Kind {
		b.errorf(a.By.Pos, "aggregate by: %s is %s but the key of %s is %s", a.By.Value, bt, p.schema.Name, kt)
		return nil
	}
	g.where = b.filter(src, a.Where, "aggregate")
	var outs []rules.Output
	var set yamldoc.Map[yamldoc.String]
	for _, v := range a.Values {
		kind, arg, ok := rules.ParseFold(v.Value)
		if _, known := aggType[kind]; !ok || !known {
			b.errorf(v.Value.Pos, "aggregate value %s: write sum(expr), count(), min(expr) or max(expr)", v.Key)
			return nil
		}
		if p.sc.index(v.Key) >= 0 || !namePattern.MatchString(v.Key) {
			b.errorf(v.Pos, "aggregate value %q: the name is taken or not a name", v.Key)
			return nil
		}
		fn := aggFn{kind: kind, v: p.sc.addScalar(v.Key, aggType[kind]), out: -1}
		if kind == "count" {
			if strings.TrimSpace(arg.Value) != "" {
				b.errorf(arg.Pos, "count() takes no argument: filter rows with where")
				return nil
			}
		} else {
			fn.out = len(outs)
			name := fmt.Sprintf("_v%d", len(outs))
			outs = append(outs, rules.Output{Name: name, Type: schema.Type{Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}, Pos: v.Pos})
			set = append(set, yamldoc.Entry[yamldoc.String]{Key: name, Pos: arg.Pos, Value: arg})
		}
		g.fns = append(g.fns, fn)
	}
	if len(set) > 0 {
		g.values = b.define(src, rules.Definition{Name: "aggregate values", Outputs: outs, Default: &rules.RuleDef{ID: "values", Set: set, Pos: a.Pos}})
		if g.values == nil {
			return nil
		}
	}
	if a.Where.Set() && g.where == nil {
		return nil
	}
	g.push = pushableAggregate(a, as, g.schema)
	return g
}

// pushableAggregate returns the aggregate as an aggPush, or nil.
func pushableAggregate(a *spec.Aggregate, as string, s *schema.Schema) *aggPush {
	push := &aggPush{}
	if a.Where.Set() {
		w, ok := columnEquals(a.Where.Value, as, s)
		if !ok {
			return nil
		}
		push.where = w
	}
	for _, v := range a.Values {
		kind, arg, _ := rules.ParseFold(v.Value)
		f := port.Fold{Func: kind}
		if f.Func != "count" {
			ref, ok := rules.PlainField(arg.Value)
			if !ok || ref.Record != as {
				return nil
			}
			col, ok := s.Column(ref.Field)
			if !ok || (col.Type.Kind != schema.Decimal && col.Type.Kind != schema.Int) {
				return nil
			}
			f.Column = ref.Field
		}
		push.folds = append(push.folds, f)
	}
	return push
}

// run folds the source table into one slice of values per group key.
func (g *aggregate) run(ctx context.Context, rt *Runtime) (map[any][]any, error) {
	t, err := rt.Resources.Table(ctx, g.ref, g.schema)
	if err != nil {
		return nil, err
	}
	if a, ok := t.(port.Aggregator); ok && g.push != nil {
		groups, err := a.Aggregate(ctx, g.schema.Columns[g.by].Name, g.push.where, g.push.folds)
		if err != nil {
			return nil, fmt.Errorf("aggregating %s: %w", g.ref, err)
		}
		for _, vals := range groups {
			g.sumsOfNullsAreZero(vals)
		}
		return groups, nil
	}
	var where, values *evaluator
	if g.where != nil {
		where = g.where.evaluator()
	}
	if g.values != nil {
		values = g.values.evaluator()
	}
	groups := map[any][]any{}
	vars := make([]any, 1)
	err = t.Scan(ctx, func(r schema.Row) error {
		vars[0] = r
		if where != nil {
			ok, err := where.matches(vars)
			if err != nil || !ok {
				return err
			}
		}
		if values != nil {
			if _, err := values.eval(vars); err != nil {
				return fmt.Errorf("row %s: %w", payloadOf(g.schema, r), err)
			}
		}
		key := r[g.by]
		acc, ok := groups[key]
		if !ok {
			acc = g.zero()
			groups[key] = acc
		}
		return g.fold(acc, values)
	})
	if err != nil {
		return nil, fmt.Errorf("aggregating %s: %w", g.ref, err)
	}
	return groups, nil
}

// sumsOfNullsAreZero gives a pushed-down group the stage's own meaning of
// sum: a table answers as SQL does (the sum of only nulls is null), but a
// sum over no values is 0 here, in a group that has rows whose values are
// all null as in an empty group, whichever way the group was folded
// (docs/ARCHITECTURE.md, "Aggregates").
func (g *aggregate) sumsOfNullsAreZero(vals []any) {
	for i, f := range g.fns {
		if f.kind == "sum" && vals[i] == nil {
			vals[i] = decimal.Decimal{}
		}
	}
}

// zero returns the values of an empty group: sums and counts are 0, min and max null.
func (g *aggregate) zero() []any {
	acc := make([]any, len(g.fns))
	for i, f := range g.fns {
		switch f.kind {
		case "sum":
			acc[i] = decimal.Decimal{}
		case "count":
			acc[i] = 0
		}
	}
	return acc
}

func (g *aggregate) fold(acc []any, values *evaluator) error {
	for i, f := range g.fns {
		if f.kind == "count" {
			acc[i] = acc[i].(int) + 1
			continue
		}
		x, ok := values.Output(f.out).(decimal.Decimal)
		if !ok {
			continue // null: ignored, as SQL aggregates do
		}
		switch f.kind {
		case "sum":
			s, err := acc[i].(decimal.Decimal).Add(x)
			if err != nil {
				return err
			}
			acc[i] = s
		case "min", "max":
			cur, ok := acc[i].(decimal.Decimal)
			if !ok || (f.kind == "min" && x.Cmp(cur) < 0) || (f.kind == "max" && x.Cmp(cur) > 0) {
				acc[i] = x
			}
		}
	}
	return nil
}

// bind sets the step's aggregate variables from a group (nil: the empty group).
func (g *aggregate) bind(vars []any, group []any) {
	if group == nil {
		group = g.zero()
	}
	for i, f := range g.fns {
		vars[f.v] = group[i]
	}
}
