package stage

import (
	"fmt"
	"strings"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// Shadow rules (champion/challenger): a stream stage may name a second
// ruleset, `shadow`, over the same inputs. Every record the live ruleset
// decides, the shadow decides too, first, against the same values: the
// record, its lookups and its windows as the live ruleset sees them. A
// record input the shadow may assign is given to it as a copy, so what it
// sets goes nowhere: it never changes state (saved lookups, windows) or the
// stage's output. Its decision goes to Runtime.Decided beside the live one
// (Decided.Shadow), to explain as a trace of its own, and, when the stage
// names `shadow_to`, as a row of that table, written in the same commit as
// the live decision's output row.

// shadowFrom says where a column of the shadow decisions table comes from.
type shadowFrom int

const (
	fromShadow shadowFrom = iota // a field of the shadow's decision (decisionSchema)
	fromLive                     // a field of the live decision (decisionSchema)
	fromError                    // the shadow's evaluation error, or null
	fromRecord                   // a column of the stage's record
)

// shadowCol is how one column of the shadow decisions table is filled.
type shadowCol struct {
	from shadowFrom
	idx  int // the decisionSchema column, or the record's column
}

// livePrefix names the columns of the shadow decisions table that take the
// live decision's fields (live_outcome, live_rule...).
const livePrefix = "live_"

// shadow compiles a stream stage's shadow ruleset and its table. The
// ruleset must bind to the stage's scope like the live one.
func (b *builder) shadow(s *streamStage, st *spec.Stage) bool {
	if !st.Shadow.Set() {
		if st.ShadowTo.Set() {
			b.errorf(st.ShadowTo.Pos, "shadow_to: stage %s has no shadow ruleset (shadow: PATH) whose decisions it would take", s.name)
			return false
		}
		return true
	}
	rs := b.ruleset(st.Shadow)
	if rs == nil {
		return false
	}
	if s.rules != nil && rs == s.rules.rs {
		b.errorf(st.Shadow.Pos, "shadow: %s is the stage's live rules; name the rule file to try beside them (a copy you change)", st.Shadow.Value)
		return false
	}
	if s.shadow = b.bind(rs, s.sc, st.Shadow.Pos); s.shadow == nil {
		return false
	}
	if !st.ShadowTo.Set() {
		return true
	}
	ref, sch, ok := b.tableRef(st.ShadowTo, "shadow_to")
	if !ok {
		return false
	}
	if st.To.Set() {
		if to, err := spec.ParseRef(st.To); err == nil {
			if ref.Connector != to.Connector {
				b.errorf(st.ShadowTo.Pos, "shadow_to: %s is on connector %s, but the stage's decisions go to %s: put it beside them, so that both are written in one commit",
					ref, ref.Connector, to.Connector)
				return false
			}
			if ref.Name == to.Name {
				b.errorf(st.ShadowTo.Pos, "shadow_to: %s is the stage's own output table: the shadow's decisions need a table of their own", ref)
				return false
			}
		}
	}
	for _, l := range s.lookups {
		if l.ref.Connector == ref.Connector && l.schema.Name == sch.Name {
			b.errorf(st.ShadowTo.Pos, "shadow_to: %s is the table of lookup %s: the shadow never writes what the stage reads", ref, l.name)
			return false
		}
	}
	cols, ok := b.shadowColumns(s, sch, st)
	if !ok {
		return false
	}
	s.shadowOut, s.shadowSchema, s.shadowCols = ref, sch, cols
	return true
}

// shadowColumns maps each column of the shadow decisions table sch to its
// source, by name: the shadow decision's outcome, rule, reason, version and
// hash; the live decision's, prefixed live_; error; or a column of the
// stage's record (its key among them).
func (b *builder) shadowColumns(s *streamStage, sch *schema.Schema, st *spec.Stage) ([]shadowCol, bool) {
	rec := s.tspec.Schema
	if rec.Index(sch.KeyName()) < 0 {
		b.errorf(st.ShadowTo.Pos, "shadow_to: the key of table %s, %s, is not a column of the stage's record %s: key it by the record's id (columns: %s)",
			sch.Name, sch.KeyName(), s.sc.names[0], joinNames(rec.Names()))
		return nil, false
	}
	ok := true
	cols := make([]shadowCol, len(sch.Columns))
	for i, c := range sch.Columns {
		name, from := c.Name, fromShadow
		if strings.HasPrefix(name, livePrefix) && decisionSchema.Index(name[len(livePrefix):]) >= 0 {
			name, from = name[len(livePrefix):], fromLive
		}
		want, known := schema.Type{}, true
		switch {
		case name == "error" && from == fromShadow:
			cols[i] = shadowCol{from: fromError}
			want = schema.Type{Kind: schema.String, Nullable: true}
		case decisionSchema.Index(name) >= 0:
			cols[i] = shadowCol{from: from, idx: decisionSchema.Index(name)}
			want = decisionSchema.Columns[cols[i].idx].Type
		case rec.Index(c.Name) >= 0:
			cols[i] = shadowCol{from: fromRecord, idx: rec.Index(c.Name)}
			want = rec.Columns[cols[i].idx].Type
		default:
			known = false
		}
		switch {
		case !known:
			b.errorf(st.ShadowTo.Pos, "shadow_to: column %s.%s is none the stage fills: the shadow decision's %s, the live one's (%s...), error, or a column of %s (%s)",
				sch.Name, c.Name, joinNames(decisionSchema.Names()), livePrefix+"outcome", s.sc.names[0], joinNames(rec.Names()))
			ok = false
		case !shadowFits(c.Type, want, name):
			b.errorf(st.ShadowTo.Pos, "shadow_to: column %s.%s is %s, but what fills it is %s", sch.Name, c.Name, c.Type, want)
			ok = false
		}
	}
	return cols, ok
}

// shadowFits reports whether a column of type t can hold the values of
// type want, as they are: the same kind, scale and length, nullable when
// they may be null. A hash may go to a char(N) of at least its length.
func shadowFits(t, want schema.Type, name string) bool {
	if want.Nullable && !t.Nullable {
		return false
	}
	t.Nullable, want.Nullable = false, false
	if name == "hash" && t.Kind == schema.String && t.Len >= rules.HashLen {
		return true
	}
	return t == want
}

// evalShadow decides the record of vars with the shadow ruleset, on copies
// of the records it may assign. A traced record's explanation is held, to
// follow the live one's.
func (d *decider) evalShadow(vars []any, key any, src port.Source, windows []WindowTrace) (rules.Decision, error) {
	sv := d.shadowVars
	copy(sv, vars)
	for j, row := range d.shadowRows {
		if row != nil {
			copy(row, vars[j].(schema.Row))
			sv[j] = d.shadowBoxed[j]
		}
	}
	rt := d.r.rt
	if !rt.traced(key) {
		return d.shadow.eval(sv)
	}
	x := d.shadow.explain(sv)
	d.heldTrace = &Trace{Stage: d.r.s.name, Source: src, Explanation: x, Windows: windows, Shadow: true}
	return x.Decision, x.Err
}

// useShadow sets d up to evaluate the shadow ruleset sh (nil for none):
// its evaluator, and a copy of each record of the scope it may assign.
func (d *decider) useShadow(sh *bound) {
	d.shadow, d.shadowRows, d.shadowBoxed = nil, nil, nil
	if sh == nil {
		return
	}
	sc := d.r.s.sc
	d.shadow = sh.evaluator()
	d.shadowVars = make([]any, len(sc.names))
	d.shadowRows = make([]schema.Row, len(sc.names))
	d.shadowBoxed = make([]any, len(sc.names))
	d.shadowDec = make(schema.Row, len(decisionSchema.Columns))
	for i, in := range sh.rs.Inputs {
		if j := sh.idx[i]; in.Record && len(sh.rs.Sets(in.Name)) > 0 {
			d.shadowRows[j] = make(schema.Row, len(sc.schemas[j].Columns))
			d.shadowBoxed[j] = d.shadowRows[j] // boxed once
		}
	}
}

// shadowRow returns the shadow decisions table's row for the record of m:
// sd and serr are what the shadow decided, d.dec the live decision.
func (d *decider) shadowRow(m port.Message, sd rules.Decision, serr error) schema.Row {
	s := d.r.s
	w := len(s.shadowCols)
	if len(d.shadowBlock) < w {
		d.shadowBlock = make([]any, outBlock*w)
	}
	row := schema.Row(d.shadowBlock[:w:w])
	d.shadowBlock = d.shadowBlock[w:]
	d.shadow.DecisionValues(sd, d.shadowDec)
	for i, c := range s.shadowCols {
		switch c.from {
		case fromShadow:
			row[i] = d.shadowDec[c.idx]
		case fromLive:
			row[i] = d.dec[c.idx]
		case fromError:
			if serr != nil {
				row[i] = serr.Error()
			}
		case fromRecord:
			row[i] = m.Row[c.idx]
		}
	}
	return row
}

// shadowDecided is the shadow's decision as Decided.Shadow reports it: a
// failed evaluation has no rule or outcome, and its error as the reason.
func shadowDecided(sd rules.Decision, serr error) *rules.Decision {
	if serr != nil {
		sd.Rule, sd.Outcome, sd.Reason = "", "", fmt.Sprintf("error: %v", serr)
	}
	return &sd
}
