package rules

import (
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"pipeline/engine/yamldoc"
)

// Hot-path programs declare the lets they read in front of their own
// expression ("let pending = ...; pending + tx.amount"), so one VM run
// evaluates a whole decision, without writing lets into the environment.

// identVisitor collects the identifiers an expression names.
type identVisitor struct{ names map[string]bool }

func (v *identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v.names[id.Value] = true
	}
}

// identifiers returns the names an expression's source refers to.
func identifiers(src string) map[string]bool {
	v := &identVisitor{names: map[string]bool{}}
	tree, err := parser.Parse(src)
	if err != nil {
		return v.names
	}
	ast.Walk(&tree.Node, v)
	return v.names
}

// letsFor returns, in declaration order, the lets the sources read,
// directly or through other lets.
func (c *compiler) letsFor(srcs ...string) []let {
	need := map[string]bool{}
	var visit func(src string)
	visit = func(src string) {
		for name := range identifiers(src) {
			for _, l := range c.rs.lets {
				if l.name == name && !need[name] {
					need[name] = true
					visit(l.src)
				}
			}
		}
	}
	for _, s := range srcs {
		visit(s)
	}
	var out []let
	for _, l := range c.rs.lets {
		if need[l.name] {
			out = append(out, l)
		}
	}
	return out
}

// withLets prefixes body with declarations of the lets it needs.
func withLets(lets []let, body string) string {
	var b strings.Builder
	for _, l := range lets {
		b.WriteString("let ")
		b.WriteString(l.name)
		b.WriteString(" = (")
		b.WriteString(l.src)
		b.WriteString(");\n")
	}
	b.WriteString(body)
	return b.String()
}

// compileInline compiles a hot-path program over the inputs alone.
func (c *compiler) compileInline(pos yamldoc.Pos, src string, extra ...expr.Option) *vm.Program {
	fp := &fieldPatcher{fields: c.fields, used: map[string]bool{}}
	opts := []expr.Option{expr.Env(c.inputEnv), expr.Patch(fp), expr.Patch(&literalPatcher{}), expr.Patch(&budgetPatcher{}), expr.MaxNodes(4 * MaxNodes)}
	opts = append(opts, functionOptions()...)
	opts = append(opts, budgetOptions()...)
	opts = append(opts, extra...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		// Each part compiled alone, so this is a limit of inlining; report it plainly.
		c.errorf(pos, "cannot combine the ruleset's expressions into one program: %v", err)
		return nil
	}
	return prog
}

// inline builds the decision program and the assignment programs once every
// part has compiled on its own.
func (c *compiler) inline() {
	if len(c.rs.rules) == 0 {
		return
	}
	var srcs []string
	var body strings.Builder
	open := 0
	for i, r := range c.rs.rules {
		if r.when == nil {
			body.WriteString(itoa(i))
			break
		}
		srcs = append(srcs, r.whenSrc)
		body.WriteString("(" + r.whenSrc + ") ? " + itoa(i) + " : ")
		open++
		if i == len(c.rs.rules)-1 {
			body.WriteString("-1")
		}
	}
	c.rs.decide = c.compileInline(c.rs.rules[0].pos, withLets(c.letsFor(srcs...), body.String()))
	inline := func(pos yamldoc.Pos, sets []assign) {
		for i := range sets {
			a := &sets[i]
			if lets := c.letsFor(a.src); len(lets) > 0 {
				a.prog = c.compileInline(pos, withLets(lets, a.src))
			}
		}
	}
	for _, r := range c.rs.rules {
		inline(r.pos, r.sets)
	}
	inline(yamldoc.Pos{File: c.f.Path}, c.rs.then)
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// unknownFields finds record.field references to undeclared fields. expr's
// checker misses some of them inside calls of overloaded functions, and a
// misspelt field must never reach run time.
func (c *compiler) unknownFields(s yamldoc.String) bool {
	tree, err := parser.Parse(s.Value)
	if err != nil {
		return false
	}
	v := &memberVisitor{c: c}
	ast.Walk(&tree.Node, v)
	if v.bad == nil {
		return false
	}
	pos := c.exprPos(s, 1, v.bad.Location().From)
	if v.rec+"." == ListPrefix {
		var names []string
		for _, in := range c.rs.Inputs {
			if in.List {
				names = append(names, strings.TrimPrefix(in.Name, ListPrefix))
			}
		}
		sort.Strings(names)
		c.d.Add(c.f.Errorf(pos, "no list named %s (declared lists: %s; declare it under lists, e.g. lists: {%s: string}, or check its spelling)",
			v.field, strings.Join(names, ", "), v.field))
		return true
	}
	in := c.rs.Inputs[c.rs.Input(v.rec)]
	names := make([]string, len(in.Fields))
	for i, f := range in.Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	c.d.Add(c.f.Errorf(pos, "%s has no field %s (declared fields: %s; declare it under inputs, or check its spelling)",
		v.rec, v.field, strings.Join(names, ", ")))
	return true
}

type memberVisitor struct {
	c          *compiler
	bad        ast.Node
	rec, field string
}

func (v *memberVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok || v.bad != nil {
		return
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok1 || !ok2 {
		return
	}
	if id.Value+"." == ListPrefix {
		if v.c.rs.Input(ListPrefix+prop.Value) < 0 {
			v.bad, v.rec, v.field = prop, id.Value, prop.Value
		}
		return
	}
	i := v.c.rs.Input(id.Value)
	if i < 0 || !v.c.rs.Inputs[i].Record {
		return
	}
	if v.c.rs.Inputs[i].Field(prop.Value) < 0 {
		v.bad, v.rec, v.field = prop, id.Value, prop.Value
	}
}
