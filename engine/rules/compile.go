package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// MaxNodes bounds the size of one expression.
const MaxNodes = 2000

var idPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Load reads, compiles and type-checks the rule file at path.
func Load(path string) (*Ruleset, error) {
	f, err := yamldoc.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Compile(f)
}

// Compile compiles a parsed rule file. Every problem found is reported as a
// positioned error (file:line:col) in a yamldoc.Errors.
func Compile(f *yamldoc.File) (*Ruleset, error) {
	d := &yamldoc.Decoder{File: f}
	var spec fileSpec
	if err := d.Decode(f.Root, &spec); err != nil {
		return nil, err
	}
	c := &compiler{d: d, f: f, rs: &Ruleset{Name: spec.Ruleset.Value, Version: spec.Version, Hash: shortHash(f.SHA256()), Path: f.Path, file: f, tests: spec.Tests}}
	c.build(&spec)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c.rs, nil
}

// HashLen is the number of hex digits of Ruleset.Hash.
const HashLen = 12

// shortHash returns the first HashLen hex digits of a SHA-256.
func shortHash(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:HashLen/2])
}

type compiler struct {
	d        *yamldoc.Decoder
	f        *yamldoc.File
	rs       *Ruleset
	env      map[string]any // types for checking: zero values of inputs and lets
	inputEnv map[string]any // the same for the inputs alone
	fields   map[string]bool
	used     map[string]bool
	// The null check (nullable.go): the names that may be null, the parse
	// trees of the lets (guards may be lets), and what it found of each
	// compiled expression.
	nulls map[string]*nullable
	// optFields maps each field of an optional record input to the
	// record, and ownNulls holds why such a field may be null when the
	// record has a row (its declared type), if it may.
	optFields map[string]string
	ownNulls  map[string]*nullable
	letTrees  map[string]ast.Node
	exprs     map[*vm.Program]exprInfo
	conds     []cond // each rule's condition, for the shadow check (shadow.go)
}

func (c *compiler) errorf(pos yamldoc.Pos, format string, args ...any) {
	c.d.Add(c.f.Errorf(pos, format, args...))
}

func (c *compiler) build(spec *fileSpec) {
	if !spec.Ruleset.Set() {
		c.errorf(spec.Pos, "missing key \"ruleset\": name the ruleset")
	}
	c.env = map[string]any{budgetKey: (*budget)(nil)}
	c.fields = map[string]bool{}
	c.used = map[string]bool{}
	c.nulls = map[string]*nullable{}
	c.letTrees = map[string]ast.Node{}
	c.exprs = map[*vm.Program]exprInfo{}
	c.inputs(spec)
	c.outputs(spec)
	c.inputEnv = make(map[string]any, len(c.env))
	for k, v := range c.env {
		c.inputEnv[k] = v
	}
	for _, l := range spec.Let {
		if c.declared(l.Key) {
			c.errorf(l.Pos, "let %q shadows an input or output of the same name", l.Key)
			continue
		}
		prog := c.compileExpr(l.Value, nil)
		if prog == nil {
			c.env[l.Key] = nil
			continue
		}
		c.env[l.Key] = zeroOf(prog.Node().Type())
		c.rs.lets = append(c.rs.lets, let{name: l.Key, prog: prog, src: l.Value.Value})
		c.letTrees[l.Key] = c.exprs[prog].tree
		if v := c.null(prog); v != nil {
			c.nulls[l.Key] = &nullable{name: l.Key, why: v.from(), typ: schema.Type{Kind: schema.TypeOfGo(prog.Node().Type())}}
		}
	}
	if spec.Table != nil {
		if len(spec.Rules) > 0 || spec.Default != nil {
			c.errorf(spec.Table.Pos, "a ruleset has either rules (with a default) or a table, not both")
		}
		c.table(spec.Table)
	} else {
		seen := map[string]bool{}
		for i := range spec.Rules {
			r := &spec.Rules[i]
			if !r.When.Set() {
				c.errorf(r.Pos, "rule has no \"when\": say when it applies")
				continue
			}
			id := r.ID.Value
			switch {
			case id == "":
				id = fmt.Sprintf("rule%d", i+1)
			case !idPattern.MatchString(id):
				c.errorf(r.ID.Pos, "rule id %q must be a name (letters, digits, _)", id)
			case seen[id] || id == "default":
				c.errorf(r.ID.Pos, "rule id %q is used twice", id)
			}
			seen[id] = true
			c.addRule(id, r)
		}
		if spec.Default != nil {
			if spec.Default.When.Set() {
				c.errorf(spec.Default.When.Pos, "the default has no \"when\": it applies when no rule does")
			}
			c.addRule("default", spec.Default)
		}
	}
	if c.d.Err() == nil {
		c.shadows(c.conds, spec.Table != nil)
	}
	if len(spec.Then) > 0 {
		c.then(spec.Then)
	}
	c.outputsNull()
	if c.d.Err() == nil {
		c.inline()
	}
	c.refs()
	if c.d.Err() == nil {
		c.compileFast()
	}
}

// declared reports whether name is already an input, output or let.
func (c *compiler) declared(name string) bool {
	_, ok := c.env[name]
	return ok || c.rs.Output(name) >= 0
}

func (c *compiler) inputs(spec *fileSpec) {
	for _, in := range spec.declared {
		c.declareInput(in)
	}
	for _, in := range spec.Inputs {
		name, optional := strings.CutSuffix(in.Key, "?")
		if !idPattern.MatchString(name) {
			c.errorf(in.Pos, "input name %q must be a name (letters, digits, _)", in.Key)
			continue
		}
		if name+"." == ListPrefix {
			c.errorf(in.Pos, "input name %q is taken: declare lists under the top-level key lists (lists: {name: string})", name)
			continue
		}
		input := Input{Name: name, Pos: in.Pos, Optional: optional}
		if optional && in.Value.Fields == nil {
			c.errorf(in.Pos, "%s: only a record input may be optional (name?: {field: type}); a value is made nullable by its type (%s: \"int?\")", in.Key, name)
			continue
		}
		if in.Value.Fields != nil {
			input.Record = true
			for _, f := range in.Value.Fields {
				t, err := schema.ParseType(f.Value.Value)
				if err != nil {
					c.errorf(f.Value.Pos, "%v", err)
					continue
				}
				input.Fields = append(input.Fields, schema.Column{Name: f.Key, Type: t})
			}
		} else {
			t, err := schema.ParseType(in.Value.Scalar.Value)
			if err != nil {
				c.errorf(in.Value.Scalar.Pos, "%v", err)
				continue
			}
			input.Type = t
		}
		c.declareInput(input)
	}
	for _, l := range spec.Lists {
		if !idPattern.MatchString(l.Key) {
			c.errorf(l.Pos, "list name %q must be a name (letters, digits, _)", l.Key)
			continue
		}
		t, err := schema.ParseType(l.Value.Value)
		if err != nil {
			c.errorf(l.Value.Pos, "%v", err)
			continue
		}
		if _, ok := listGoType(t); !ok || t.Nullable {
			c.errorf(l.Value.Pos, "list %s: elements are int or string (char(N) too), not %s", l.Key, t)
			continue
		}
		c.declareInput(Input{Name: ListPrefix + l.Key, Pos: l.Pos, List: true, Type: t})
	}
}

// listGoType returns the Go type of a list of elements of type t: a set of
// the elements' Go type.
func listGoType(t schema.Type) (reflect.Type, bool) {
	switch t.Kind {
	case schema.String:
		return reflect.TypeFor[map[string]struct{}](), true
	case schema.Int:
		return reflect.TypeFor[map[int]struct{}](), true
	}
	return nil, false
}

// declareList adds list input in to the environment: as the field of the
// record lists, so that expr type-checks lists.name, and as the name
// lists.name the field patcher turns lists.name into.
func (c *compiler) declareList(in Input) {
	gt, ok := listGoType(in.Type)
	if !ok {
		c.errorf(in.Pos, "list %s: elements are int or string (char(N) too), not %s", strings.TrimPrefix(in.Name, ListPrefix), in.Type)
		return
	}
	c.fields[in.Name] = true
	c.env[in.Name] = reflect.Zero(gt).Interface()
	c.rs.Inputs = append(c.rs.Inputs, in)
	var sfs []reflect.StructField
	for _, x := range c.rs.Inputs {
		if x.List {
			g, _ := listGoType(x.Type)
			sfs = append(sfs, reflect.StructField{Name: fmt.Sprintf("F%d", len(sfs)), Type: g,
				Tag: reflect.StructTag(`expr:"` + strings.TrimPrefix(x.Name, ListPrefix) + `"`)})
		}
	}
	c.env[strings.TrimSuffix(ListPrefix, ".")] = reflect.New(reflect.StructOf(sfs)).Elem().Interface()
}

// declareInput adds an input to the ruleset and its type to the environment.
func (c *compiler) declareInput(in Input) {
	if _, dup := c.env[in.Name]; dup {
		c.errorf(in.Pos, "input %q is declared twice", in.Name)
		return
	}
	if in.List {
		c.declareList(in)
		return
	}
	if !in.Record {
		c.declareNullable(in.Name, in.Type)
		if v := c.nulls[in.Name]; v != nil && in.NullReason != "" {
			v.why = in.NullReason
		}
		c.env[in.Name] = reflect.Zero(in.Type.GoType()).Interface()
		c.rs.Inputs = append(c.rs.Inputs, in)
		return
	}
	sfs := make([]reflect.StructField, 0, len(in.Fields))
	for i, f := range in.Fields {
		sfs = append(sfs, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: f.Type.GoType(), Tag: reflect.StructTag(`expr:"` + f.Name + `"`)})
		key := in.Name + "." + f.Name
		c.fields[key] = true
		c.declareNullable(key, f.Type)
		if in.Optional {
			c.declareOptional(in.Name, key, f.Type)
		}
		c.env[key] = reflect.Zero(f.Type.GoType()).Interface()
	}
	if in.Optional {
		c.nulls[in.Name] = &nullable{name: in.Name, why: optionalWhy(in.Name)}
	}
	c.env[in.Name] = reflect.New(reflect.StructOf(sfs)).Elem().Interface()
	c.rs.Inputs = append(c.rs.Inputs, in)
}

func (c *compiler) outputs(spec *fileSpec) {
	for _, o := range spec.Outputs {
		t, err := schema.ParseType(o.Value.Value)
		if err != nil {
			c.errorf(o.Value.Pos, "%v", err)
			continue
		}
		if _, clash := c.env[o.Key]; clash {
			c.errorf(o.Pos, "output %q has the name of an input", o.Key)
			continue
		}
		c.rs.Outputs = append(c.rs.Outputs, Output{Name: o.Key, Type: t, Pos: o.Pos})
	}
}

func (c *compiler) table(t *tableSpec) {
	out := c.rs.Output(t.Output.Value)
	if out < 0 {
		c.errorf(t.Output.Pos, "table output %q is not declared under outputs", t.Output.Value)
		return
	}
	for i := range t.Rows {
		row := &t.Rows[i]
		id := row.ID.Value
		if id == "" {
			id = fmt.Sprintf("row%d", i+1)
		}
		if !row.When.Set() || !row.Value.Set() {
			c.errorf(row.Pos, "a table row needs \"when\" and \"value\"")
			continue
		}
		c.addRule(id, &ruleSpec{ID: row.ID, When: row.When, Pos: row.Pos,
			Set: yamldoc.Map[yamldoc.String]{{Key: t.Output.Value, Pos: row.Value.Pos, Value: row.Value}}})
		c.rs.rules[len(c.rs.rules)-1].row = true
	}
	if t.Default.Set() {
		c.addRule("default", &ruleSpec{Pos: t.Default.Pos,
			Set: yamldoc.Map[yamldoc.String]{{Key: t.Output.Value, Pos: t.Default.Pos, Value: t.Default}}})
		c.rs.rules[len(c.rs.rules)-1].row = true
	}
}

func (c *compiler) addRule(id string, r *ruleSpec) {
	cr := &rule{id: id, outcome: r.Outcome.Value, pos: r.Pos, whenSrc: r.When.Value}
	if r.When.Set() {
		cr.when = c.compileExpr(r.When, []expr.Option{expr.AsBool()})
		if v := c.null(cr.when); v != nil {
			c.errorf(c.exprPos(r.When, 1, 0), "%s", nullMessage(v, "a condition", schema.Type{Kind: schema.Bool}))
		}
		var tree ast.Node
		if cr.when != nil {
			tree = c.exprs[cr.when].tree
		}
		c.conds = append(c.conds, shadowCond(id, r.Pos.Line, c.exprPos(r.When, 1, 0), tree))
	} else {
		c.conds = append(c.conds, cond{id: id, line: r.Pos.Line, pos: r.Pos, ok: true})
	}
	cr.reason = c.template(r.Reason)
	for _, s := range r.Set {
		if a, ok := c.assignment(s); ok {
			cr.sets = append(cr.sets, a)
		}
	}
	cr.boxed = [3]any{cr.id, cr.outcome, nil}
	if len(cr.reason.progs) == 0 {
		reason, _ := cr.reason.render(nil)
		cr.boxed[2] = reason
	}
	c.rs.rules = append(c.rs.rules, cr)
}

// assignment compiles one set entry and checks its type against the target.
func (c *compiler) assignment(s yamldoc.Entry[yamldoc.String]) (assign, bool) {
	a := assign{target: s.Key, input: -1, output: -1, src: s.Value.Value}
	if rec, field, ok := strings.Cut(s.Key, "."); ok {
		a.input = c.rs.Input(rec)
		if a.input < 0 || !c.rs.Inputs[a.input].Record {
			c.errorf(s.Pos, "cannot set %q: %q is not a record input", s.Key, rec)
			return a, false
		}
		if c.rs.Inputs[a.input].Optional {
			c.errorf(s.Pos, "cannot set %q: %s is optional (declared %s?), so it may have no row to set it in", s.Key, rec, rec)
			return a, false
		}
		a.field = c.rs.Inputs[a.input].Field(field)
		if a.field < 0 {
			c.errorf(s.Pos, "cannot set %q: input %s declares no field %q", s.Key, rec, field)
			return a, false
		}
		a.typ = c.rs.Inputs[a.input].Fields[a.field].Type
	} else {
		a.output = c.rs.Output(s.Key)
		if a.output < 0 {
			c.errorf(s.Pos, "cannot set %q: declare it under outputs, or set a record field as record.field", s.Key)
			return a, false
		}
		a.typ = c.rs.Outputs[a.output].Type
	}
	a.prog = c.compileExpr(s.Value, nil)
	if a.prog == nil {
		return a, false
	}
	a.node = a.prog.Node()
	if v := c.null(a.prog); v != nil && !a.typ.Nullable {
		c.errorf(c.exprPos(s.Value, 1, 0), "%s", nullMessage(v, targetName(s.Key)+" (declared "+strconv.Quote(a.typ.String())+")", a.typ))
		return a, false
	}
	if id, ok := a.prog.Node().(*ast.IdentifierNode); ok && c.fields[id.Value] {
		rec, field, _ := strings.Cut(id.Value, ".")
		a.copyInput = c.rs.Input(rec)
		a.copyField = c.rs.Inputs[a.copyInput].Field(field)
	} else {
		a.copyInput = -1
	}
	if got := a.prog.Node().Type(); got != nil && got.Kind() != reflect.Interface {
		k := schema.TypeOfGo(got)
		if k == schema.Invalid || !a.typ.AssignableFrom(schema.Type{Kind: k, Nullable: a.typ.Nullable}) {
			c.errorf(s.Value.Pos, "%s is %s but this expression gives %s", s.Key, a.typ, strings.ReplaceAll(got.String(), "decimal.Decimal", "decimal"))
			return a, false
		}
	}
	return a, true
}

var placeholder = regexp.MustCompile(`\{\{(.*?)\}\}`)

func (c *compiler) template(s yamldoc.String) template {
	var t template
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(s.Value, -1) {
		t.text = append(t.text, s.Value[last:m[0]])
		src := yamldoc.String{Value: s.Value[m[2]:m[3]], Pos: s.Pos.Shift(m[2])}
		if p := c.compileExpr(src, nil); p != nil {
			t.progs = append(t.progs, p)
		} else {
			t.progs = append(t.progs, nil)
		}
		last = m[1]
	}
	t.text = append(t.text, s.Value[last:])
	return t
}

// compileExpr compiles one expression against the environment built so far.
func (c *compiler) compileExpr(s yamldoc.String, extra []expr.Option) *vm.Program {
	if strings.TrimSpace(s.Value) == "" {
		c.errorf(s.Pos, "empty expression")
		return nil
	}
	if off := nestingOffset(s.Value); off >= 0 {
		line, col := lineCol(s.Value, off)
		c.d.Add(c.f.Errorf(c.exprPos(s, line, col), "expression nests deeper than %d levels (brackets and unary operators): split it into lets", MaxNesting))
		return nil
	}
	fp := &fieldPatcher{fields: c.fields, used: map[string]bool{}}
	opts := []expr.Option{expr.Env(c.env), expr.Patch(fp), expr.Patch(&literalPatcher{}), expr.Patch(aggregatePatcher{}), expr.Patch(&budgetPatcher{}), expr.MaxNodes(MaxNodes)}
	opts = append(opts, functionOptions()...)
	opts = append(opts, aggregateOptions()...)
	opts = append(opts, budgetOptions()...)
	opts = append(opts, extra...)
	if c.unknownFields(s) {
		return nil
	}
	prog, err := expr.Compile(s.Value, opts...)
	if err != nil {
		c.exprError(s, err)
		return nil
	}
	c.exprs[prog] = c.checkNulls(s)
	return prog
}

// exprError maps an expr error inside a YAML scalar to the file position.
func (c *compiler) exprError(s yamldoc.String, err error) {
	var fe *file.Error
	if !errors.As(err, &fe) {
		c.errorf(s.Pos, "%s", strings.ReplaceAll(err.Error(), "decimal.Decimal", "decimal"))
		return
	}
	pos := c.exprPos(s, fe.Line, fe.Column)
	msg := strings.ReplaceAll(fe.Message, "decimal.Decimal", "decimal")
	if strings.Contains(msg, "unknown field") || strings.Contains(msg, "unknown name") {
		msg += " (declare it under inputs, or check its spelling)"
	}
	c.d.Add(c.f.Errorf(pos, "%s", msg))
}

// refs lists the record fields the programs that run through the VM read,
// for binding. Assignments that merely copy a field read it directly.
func (c *compiler) refs() {
	progs := []*vm.Program{c.rs.decide}
	for _, l := range c.rs.lets {
		progs = append(progs, l.prog)
	}
	sets := append([]assign(nil), c.rs.then...)
	for _, r := range c.rs.rules {
		progs = append(progs, r.when)
		progs = append(progs, r.reason.progs...)
		sets = append(sets, r.sets...)
	}
	for _, a := range sets {
		if a.copyInput < 0 {
			progs = append(progs, a.prog)
		}
	}
	for _, p := range progs {
		if p == nil {
			continue
		}
		v := &identVisitor{names: map[string]bool{}}
		node := p.Node()
		ast.Walk(&node, v)
		for name := range v.names {
			if c.fields[name] {
				c.used[name] = true
			}
		}
	}
	for i, in := range c.rs.Inputs {
		if !in.Record {
			continue
		}
		for j, f := range in.Fields {
			key := in.Name + "." + f.Name
			if c.used[key] {
				c.rs.refs = append(c.rs.refs, ref{key: key, input: i, field: j})
			}
		}
	}
}

func zeroOf(t reflect.Type) any {
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	return reflect.Zero(t).Interface()
}

// exprPos maps a line and column (from 0) inside an expression to the file.
func (c *compiler) exprPos(s yamldoc.String, line, col int) yamldoc.Pos {
	pos := s.Pos
	text := c.f.Line(pos.Line)
	if pos.Col >= 1 && pos.Col <= len(text) && (text[pos.Col-1] == '"' || text[pos.Col-1] == '\'') {
		pos = pos.Shift(1) // past the opening quote
	}
	if line <= 1 {
		return pos.Shift(col)
	}
	pos.Line += line - 1
	pos.Col = 1
	return pos
}

// thenDecision is the record then's assignments read the decision as
// (decision.outcome, decision.rule), unless the ruleset uses the name.
const thenDecision = "decision"

// then compiles the assignments made after the deciding rule: they read the
// outputs the rule set, by name, and the decision.
func (c *compiler) then(sets yamldoc.Map[yamldoc.String]) {
	for i, o := range c.rs.Outputs {
		c.env[o.Name] = reflect.Zero(o.Type.GoType()).Interface()
		c.inputEnv[o.Name] = c.env[o.Name]
		c.declareNullable(o.Name, o.Type)
		if id := c.unsetBy(i); id != "" && c.nulls[o.Name] == nil {
			c.nulls[o.Name] = &nullable{name: o.Name, why: fmt.Sprintf("rule %s does not set it", id), typ: o.Type}
		}
	}
	if _, taken := c.env[thenDecision]; !taken {
		c.rs.thenDecision = true
		sfs := []reflect.StructField{
			{Name: "Outcome", Type: reflect.TypeOf(""), Tag: `expr:"outcome"`},
			{Name: "Rule", Type: reflect.TypeOf(""), Tag: `expr:"rule"`},
		}
		for _, f := range []string{"outcome", "rule"} {
			c.fields[thenDecision+"."+f] = true
			c.env[thenDecision+"."+f] = ""
			c.inputEnv[thenDecision+"."+f] = ""
		}
		c.env[thenDecision] = reflect.New(reflect.StructOf(sfs)).Elem().Interface()
		c.inputEnv[thenDecision] = c.env[thenDecision]
	}
	for _, s := range sets {
		if a, ok := c.assignment(s); ok {
			c.rs.then = append(c.rs.then, a)
		}
	}
}

// unsetBy returns the id of the first rule that does not set output i, or
// "" when every rule sets it.
func (c *compiler) unsetBy(i int) string {
	for _, r := range c.rs.rules {
		sets := false
		for _, a := range r.sets {
			sets = sets || (a.input < 0 && a.output == i)
		}
		if !sets {
			return r.id
		}
	}
	return ""
}

// outputsNull notes which outputs may be null after a record is decided:
// those declared nullable, those some rule leaves unset (then not setting
// them either), and all when no default decides every record.
func (c *compiler) outputsNull() {
	c.rs.outNull = make([]string, len(c.rs.Outputs))
	for i, o := range c.rs.Outputs {
		byThen := false
		for _, a := range c.rs.then {
			byThen = byThen || (a.input < 0 && a.output == i)
		}
		switch id := c.unsetBy(i); {
		case o.Type.Nullable:
			c.rs.outNull[i] = fmt.Sprintf("declared %q", o.Type.String())
		case !c.rs.HasDefault():
			c.rs.outNull[i] = fmt.Sprintf("ruleset %s has no default", c.rs.Name)
		case !byThen && id != "":
			c.rs.outNull[i] = fmt.Sprintf("rule %s of ruleset %s does not set it", id, c.rs.Name)
		}
	}
}
