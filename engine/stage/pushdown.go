package stage

import (
	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// pushdown is a batch step simple enough for the table to run itself, as
// one UPDATE ... SET col = constant WHERE col = constant: no aggregate, no
// lookup, no ruleset, a where comparing one column with a constant, and
// constant assignments. Tables that are port.Updaters run it without the
// rows leaving the database; others run the step the general way.
type pushdown struct {
	set   []port.ColumnValue
	where port.ColumnValue
}

// pushable returns the step as a pushdown, or nil when it is not that simple.
func pushable(p *step, sp *spec.Step) *pushdown {
	if p.agg != nil || len(p.lookups) > 0 || p.rules != nil || !sp.Where.Set() {
		return nil
	}
	as := p.sc.names[0]
	where, ok := columnEquals(sp.Where.Value, as, p.schema)
	if !ok {
		return nil
	}
	pd := &pushdown{where: where}
	for _, e := range sp.Set {
		col, _ := p.schema.Column(e.Key)
		v, ok := rules.Constant(e.Value.Value, col.Type)
		if !ok {
			return nil
		}
		pd.set = append(pd.set, port.ColumnValue{Column: e.Key, Value: v})
	}
	return pd
}

// columnEquals returns where as the column of the rows of s named rec it
// compares with a constant, when it is that simple (see rules.ColumnEquals).
func columnEquals(where, rec string, s *schema.Schema) (port.ColumnValue, bool) {
	col, v, ok := rules.ColumnEquals(where, rec, s)
	return port.ColumnValue{Column: col, Value: v}, ok
}
