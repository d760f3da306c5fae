package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// batchStage runs set-based steps over tables, in order. When the tables
// live in a port.Transactor the whole stage is atomic (one database tx).
type batchStage struct {
	name  string
	steps []*step
	guard *guard
}

// guard is a batch stage's only_if: a table and a filter.
type guard struct {
	ref    spec.Ref
	schema *schema.Schema
	where  *bound
}

func (s *batchStage) Name() string { return s.name }
func (s *batchStage) Kind() string { return spec.KindBatch }

// TablesOnly reports true: a batch stage reads and writes tables only.
func (s *batchStage) TablesOnly() bool { return true }

// step updates the rows of one table: filter, join an aggregate of another
// table and keyed lookups, evaluate a ruleset, set columns.
type step struct {
	name    string
	target  spec.Ref
	schema  *schema.Schema
	sc      *scope // target, aggregate values, lookups, ruleset outputs
	where   *bound // over target and aggregate values only
	agg     *aggregate
	lookups []lookup
	rules   *bound
	outVars []int // scope variable of each ruleset output
	set     *bound
	setCols []int     // the columns set names (Runtime.Wrote)
	push    *pushdown // the step as one set-based update, when it is that simple
}

func (b *builder) batchStage(st *spec.Stage) Runner {
	s := &batchStage{name: st.Name.Value}
	if len(st.Steps) == 0 {
		b.errorf(st.Pos, "batch stage %s has no steps", s.name)
	}
	for i := range st.Steps {
		if p := b.step(s.name, i, &st.Steps[i]); p != nil {
			s.steps = append(s.steps, p)
		}
	}
	if len(s.steps) != len(st.Steps) {
		return nil
	}
	if g := st.OnlyIf; g != nil {
		s.guard = &guard{}
		var ok bool
		if s.guard.ref, s.guard.schema, ok = b.tableRef(g.From, "only_if from"); !ok {
			return nil
		}
		as := g.As.Value
		if as == "" {
			as = s.guard.schema.Name
		}
		sc := &scope{}
		sc.addRecord(as, s.guard.schema)
		if !g.Where.Set() {
			b.errorf(g.Pos, "only_if needs a where: the condition some row must meet")
			return nil
		}
		if s.guard.where = b.filter(sc, g.Where, s.name+" only_if"); s.guard.where == nil {
			return nil
		}
	}
	return s
}

// errFound stops a scan at the first row a guard matches.
var errFound = errors.New("found")

// due reports whether the guard lets the stage run: some row matches.
func (g *guard) due(ctx context.Context, rt *Runtime) (bool, error) {
	t, err := rt.Resources.Table(ctx, g.ref, g.schema)
	if err != nil {
		return false, err
	}
	e := g.where.evaluator()
	vars := make([]any, 1)
	err = t.Scan(ctx, func(r schema.Row) error {
		vars[0] = r
		ok, err := e.matches(vars)
		if err != nil {
			return err
		}
		if ok {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

func (b *builder) step(stage string, i int, sp *spec.Step) *step {
	p := &step{name: sp.Name.Value, sc: &scope{}}
	if p.name == "" {
		p.name = fmt.Sprintf("%s step %d", stage, i+1)
	}
	var ok bool
	if p.target, p.schema, ok = b.tableRef(sp.Update, "update"); !ok {
		if !sp.Update.Set() {
			b.errorf(sp.Pos, "step %s: say which table it updates (update: connector:table)", p.name)
		}
		return nil
	}
	as := sp.As.Value
	if as == "" {
		as = p.schema.Name
	}
	if !namePattern.MatchString(as) {
		b.errorf(sp.As.Pos, "step %s: %q is not a usable name", p.name, as)
		return nil
	}
	p.sc.addRecord(as, p.schema)
	if sp.Aggregate != nil {
		if p.agg = b.aggregate(p, sp.Aggregate); p.agg == nil {
			return nil
		}
	}
	p.where = b.filter(p.sc, sp.Where, p.name)
	for _, l := range sp.Lookup {
		lk, ok := b.lookup(p.sc, l, false)
		if !ok {
			return nil
		}
		p.lookups = append(p.lookups, lk)
	}
	if sp.Rules.Set() && !b.stepRules(p, stage, sp) {
		return nil
	}
	if sp.Measure.Set() && p.rules == nil {
		b.errorf(sp.Measure.Pos, "step %s: measure: the step has no rules, so there is nothing to measure (measure sums an amount per rule and outcome)", p.name)
		return nil
	}
	var set yamldoc.Map[yamldoc.String]
	for _, e := range sp.Set {
		if p.schema.Index(e.Key) < 0 {
			b.errorf(e.Pos, "set %s: table %s has no such column (columns: %s)", e.Key, p.schema.Name, joinNames(p.schema.Names()))
			continue
		}
		if e.Key == p.schema.KeyName() {
			b.errorf(e.Pos, "set %s: the key of %s cannot change", e.Key, p.schema.Name)
			continue
		}
		set = append(set, yamldoc.Entry[yamldoc.String]{Key: as + "." + e.Key, Pos: e.Pos, Value: e.Value})
		p.setCols = append(p.setCols, p.schema.Index(e.Key))
	}
	if len(set) == 0 {
		b.errorf(sp.Pos, "step %s sets nothing: list column: expression under set", p.name)
		return nil
	}
	p.set = b.define(p.sc, rules.Definition{Name: p.name + " set", Default: &rules.RuleDef{ID: "set", Set: set, Pos: sp.Pos}})
	if p.set == nil || (sp.Where.Set() && p.where == nil) {
		return nil
	}
	p.push = pushable(p, sp)
	return p
}

// stepRules binds the ruleset of step p and its measure, and adds the
// ruleset's outputs to the step's scope, after the row, the aggregate
// values and the lookups the ruleset reads.
func (b *builder) stepRules(p *step, stage string, sp *spec.Step) bool {
	rs := b.ruleset(sp.Rules)
	if rs == nil {
		return false
	}
	if p.rules = b.bind(rs, p.sc, sp.Rules.Pos); p.rules == nil {
		return false
	}
	var ok bool
	if p.rules.measure, ok = b.measure(p.sc, sp.Measure, stage+", step "+p.name); !ok {
		return false
	}
	for i, o := range rs.Outputs {
		if p.sc.index(o.Name) >= 0 {
			b.errorf(sp.Rules.Pos, "ruleset %s output %q has the name of a record or value of the step", rs.Name, o.Name)
			return false
		}
		// Null when the deciding rule does not set it.
		t := o.Type
		t.Nullable = rs.OutputMayBeNull(i)
		v := p.sc.addScalar(o.Name, t)
		if t.Nullable && !o.Type.Nullable {
			if p.sc.why == nil {
				p.sc.why = map[int]string{}
			}
			p.sc.why[v] = rs.OutputNullReason(i)
		}
		p.outVars = append(p.outVars, v)
	}
	return true
}

// Run runs the stage's steps. When the tables live in a port.Transactor,
// the stage is one serializable tx (what it reads cannot change under it,
// and stream stages that read what it writes decide again after it), and
// when that connector is a port.Locker, no other run of the same stage
// overlaps it: a second run waits for the first, then finds its only_if
// false if the first did the work. See docs/ARCHITECTURE.md.
func (s *batchStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	// Open every table first: opening one may create it, which the
	// database does outside the stage's tx.
	for _, ref := range s.tables() {
		if _, err := rt.Resources.Table(ctx, ref.ref, ref.schema); err != nil {
			return st, fmt.Errorf("stage %s: %w", s.name, err)
		}
	}
	tx := s.transactor(rt)
	if l, ok := tx.(port.Locker); ok {
		release, err := l.Lock(ctx, "stage "+s.name, func(holder string) {
			if rt.Log != nil {
				rt.Log.Warn("another run of this stage is running: waiting for it to end", "stage", s.name, "holder", holder)
			}
		})
		if err != nil {
			return st, fmt.Errorf("stage %s: waiting for another run of it to end: %w", s.name, err)
		}
		defer release()
	}
	// Dead letters reach the runtime once the stage is done: a tx run
	// again after a deadlock finds them again.
	var dead []port.DeadLetter
	local := *rt
	local.DeadLetter = func(d port.DeadLetter) { dead = append(dead, d) }
	skipped := false
	run := func(ctx context.Context) error {
		st, dead, skipped = Stats{}, dead[:0], false
		if s.guard != nil {
			// Inside the tx: a run that waited for another finds the work
			// done (and locks what it read, so the answer holds).
			due, err := s.guard.due(ctx, &local)
			if err != nil {
				return fmt.Errorf("stage %s: only_if: %w", s.name, err)
			}
			if !due {
				skipped = true
				return nil
			}
		}
		for i, p := range s.steps {
			rt.Progress.SetStep(i+1, len(s.steps), p.name)
			if err := p.run(ctx, &local, s.name, &st); err != nil {
				return fmt.Errorf("stage %s, step %s: %w", s.name, p.name, err)
			}
		}
		return nil
	}
	var err error
	if tx != nil {
		err = tx.InTx(ctx, s.writes(), run)
	} else {
		err = run(ctx)
	}
	if err == nil && rt.DeadLetter != nil {
		for _, d := range dead {
			rt.DeadLetter(d)
		}
	}
	if err == nil && skipped && rt.Log != nil {
		rt.Log.Info("nothing to do: no row meets only_if", "stage", s.name)
	}
	st.Elapsed = time.Since(start)
	return st, err
}

// writes names the tables the stage's steps change.
func (s *batchStage) writes() []string {
	var out []string
	for _, p := range s.steps {
		if !slices.Contains(out, p.schema.Name) {
			out = append(out, p.schema.Name)
		}
	}
	return out
}

// tableRef is a table a stage uses, with its schema.
type tableRef struct {
	ref    spec.Ref
	schema *schema.Schema
}

// tables lists the tables the stage reads and writes.
func (s *batchStage) tables() []tableRef {
	var out []tableRef
	if s.guard != nil {
		out = append(out, tableRef{s.guard.ref, s.guard.schema})
	}
	for _, p := range s.steps {
		out = append(out, tableRef{p.target, p.schema})
		if p.agg != nil {
			out = append(out, tableRef{p.agg.ref, p.agg.schema})
		}
		for _, l := range p.lookups {
			out = append(out, tableRef{l.ref, l.schema})
		}
	}
	return out
}

// transactor returns the connector that can make the whole stage atomic:
// the one holding every table the stage reads and writes, when it is a
// port.Transactor. Otherwise nil.
func (s *batchStage) transactor(rt *Runtime) port.Transactor {
	refs := s.tables()
	if len(refs) == 0 {
		return nil
	}
	for _, r := range refs[1:] {
		if r.ref.Connector != refs[0].ref.Connector {
			return nil
		}
	}
	tx, _ := rt.Resources.Connector(refs[0].ref).(port.Transactor)
	return tx
}

// run executes one step: every row of the target table that passes the
// filter is evaluated, and the rows it changed are written back in batches.
func (p *step) run(ctx context.Context, rt *Runtime, stage string, st *Stats) error {
	table, err := rt.Resources.Table(ctx, p.target, p.schema)
	if err != nil {
		return err
	}
	if u, ok := table.(port.Updater); ok && p.push != nil && rt.Wrote == nil {
		n, err := u.UpdateWhere(ctx, p.push.set, p.push.where)
		if err != nil {
			return fmt.Errorf("updating %s: %w", p.target, err)
		}
		st.In += n
		st.Out += n
		rt.Progress.Add(n)
		return nil
	}
	var groups map[any][]any
	if p.agg != nil {
		if groups, err = p.agg.run(ctx, rt); err != nil {
			return err
		}
	}
	var where *evaluator
	if p.where != nil {
		where = p.where.evaluator()
	}
	// Collect the rows to evaluate first: lookups are then read in batches,
	// and the table is not written while it is scanned.
	var vars [][]any
	v := make([]any, len(p.sc.names)) // the row in hand; kept rows get their own copy
	err = table.Scan(ctx, func(r schema.Row) error {
		st.In++
		rt.Progress.Add(1)
		v[0] = r
		if p.agg != nil {
			p.agg.bind(v, groups[r[p.schema.Key]])
		}
		if where != nil {
			ok, err := where.matches(v)
			if err != nil {
				deadLetter(rt, st, stage, p.source(r), payloadOf(p.schema, r), fmt.Sprintf("step %s: where: %v", p.name, err))
				return nil
			}
			if !ok {
				return nil
			}
		}
		kept := append([]any(nil), v...)
		kept[0] = r.Clone()
		vars = append(vars, kept)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", p.target, err)
	}
	if vars, err = p.fetchLookups(ctx, rt, stage, st, vars); err != nil {
		return err
	}
	return p.apply(ctx, rt, stage, st, table, vars)
}

// fetchLookups binds each lookup's rows, one Get per lookup and batch of keys.
func (p *step) fetchLookups(ctx context.Context, rt *Runtime, stage string, st *Stats, vars [][]any) ([][]any, error) {
	for _, l := range p.lookups {
		t, err := rt.Resources.Table(ctx, l.ref, l.schema)
		if err != nil {
			return nil, err
		}
		found := map[any]schema.Row{}
		var keys []any
		for _, v := range vars {
			k := keyOf(v[l.from], l.field)
			if _, ok := found[k]; !ok && k != nil {
				found[k] = nil
				keys = append(keys, k)
			}
		}
		for lo := 0; lo < len(keys); lo += writeBatch {
			chunk := keys[lo:min(lo+writeBatch, len(keys))]
			rows, err := t.Get(ctx, chunk)
			if err != nil {
				return nil, fmt.Errorf("looking up %s: %w", l.ref, err)
			}
			for i, r := range rows {
				found[chunk[i]] = r
			}
		}
		kept := vars[:0]
		for _, v := range vars {
			k := keyOf(v[l.from], l.field)
			if r := found[k]; r != nil || l.optional {
				v[l.v] = nil // an optional lookup with no row: a null record
				if r != nil {
					v[l.v] = r
				}
				kept = append(kept, v)
				continue
			}
			deadLetter(rt, st, stage, p.source(v[0].(schema.Row)), payloadOf(p.schema, v[0].(schema.Row)),
				fmt.Sprintf("step %s: lookup %s: no row in %s with %s = %s (from %s)", p.name, l.name, l.schema.Name, l.schema.KeyName(), keyText(k), l.expr))
		}
		vars = kept
	}
	return vars, nil
}

// apply evaluates the ruleset and assignments for every collected row and
// writes the changed rows.
func (p *step) apply(ctx context.Context, rt *Runtime, stage string, st *Stats, table port.Table, vars [][]any) error {
	var rulesEval *evaluator
	if p.rules != nil {
		rulesEval = p.rules.evaluator()
	}
	set := p.set.evaluator()
	changed := make([]schema.Row, 0, min(len(vars), writeBatch))
	for _, v := range vars {
		row := v[0].(schema.Row)
		if rulesEval != nil && rulesEval.bd.absent {
			continue // the version of the rules built has no such file: nothing is decided
		}
		if rulesEval != nil {
			if _, err := rulesEval.evalObserved(v, rt, p.schema.KeyOf(row), stage, p.name, p.source(row)); err != nil {
				deadLetter(rt, st, stage, p.source(row), payloadOf(p.schema, row), fmt.Sprintf("step %s: ruleset %s: %v", p.name, rulesEval.bd.rs.Name, err))
				continue
			}
			for i, o := range p.outVars {
				v[o] = rulesEval.Output(i)
			}
		}
		if _, err := set.eval(v); err != nil {
			deadLetter(rt, st, stage, p.source(row), payloadOf(p.schema, row), fmt.Sprintf("step %s: set: %v", p.name, err))
			continue
		}
		if rt.Wrote != nil {
			rt.Wrote(Written{Stage: stage, Step: p.name, Table: p.schema, Key: keyText(p.schema.KeyOf(row)), Columns: p.setCols, Row: row})
		}
		changed = append(changed, row)
		if len(changed) == writeBatch {
			if err := table.Upsert(ctx, changed); err != nil {
				return fmt.Errorf("writing %s: %w", p.target, err)
			}
			st.Out += int64(len(changed))
			changed = make([]schema.Row, 0, writeBatch)
		}
	}
	if len(changed) > 0 {
		if err := table.Upsert(ctx, changed); err != nil {
			return fmt.Errorf("writing %s: %w", p.target, err)
		}
		st.Out += int64(len(changed))
	}
	return nil
}

// source names a row of the step's table by its key, for dead letters.
func (p *step) source(r schema.Row) port.Source {
	return port.Source{Table: p.schema.Name, Key: keyText(p.schema.KeyOf(r))}
}
