package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/govalues/decimal"

	"pipeline/engine/yamldoc"
)

// Shadowed rules. The first rule (or table row) whose condition holds
// decides, so a rule whose condition implies the condition of a rule before
// it never decides: `usage <= 5` after `usage <= 10`, `x > 50` after
// `x > 30`, the same condition twice, or a default after rows that cover
// every value. Lint warns where it can tell: conditions that are `and`s of
// comparisons of a value with a number constant (bounds), and of other
// conditions compared as written.

// bound is one end of an interval; a nil value is infinite.
type bound struct {
	v    *Dec
	open bool // the end itself is out
}

// interval is the values a condition leaves for one value.
type interval struct{ lo, hi bound }

var everything = interval{}

// cond is a rule's condition as a conjunction: intervals of values (by the
// value's text) and other conditions (by their text).
type cond struct {
	id    string
	line  int
	pos   yamldoc.Pos
	ok    bool // the condition is understood (else it shadows nothing)
	bands map[string]interval
	other []string
}

// shadowCond breaks the condition tree n into a cond.
func shadowCond(id string, line int, pos yamldoc.Pos, n ast.Node) cond {
	c := cond{id: id, line: line, pos: pos, ok: n != nil, bands: map[string]interval{}}
	if n == nil {
		return c
	}
	var conj []ast.Node
	var split func(n ast.Node)
	split = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "and" || b.Operator == "&&") {
			split(b.Left)
			split(b.Right)
			return
		}
		conj = append(conj, n)
	}
	split(n)
	for _, a := range conj {
		if key, iv, ok := band(a); ok {
			c.bands[key] = intersect(c.band(key), iv)
			continue
		}
		c.other = append(c.other, a.String())
	}
	return c
}

// band returns the value and interval of a comparison of a value with a
// number constant (either way round).
func band(n ast.Node) (string, interval, bool) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return "", interval{}, false
	}
	op := b.Operator
	val, k := b.Left, number(b.Right)
	if k == nil {
		val, k = b.Right, number(b.Left)
		op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}[op]
	}
	if k == nil || number(val) != nil {
		return "", interval{}, false
	}
	var iv interval
	switch op {
	case "<":
		iv.hi = bound{v: k, open: true}
	case "<=":
		iv.hi = bound{v: k}
	case ">":
		iv.lo = bound{v: k, open: true}
	case ">=":
		iv.lo = bound{v: k}
	case "==":
		iv.lo, iv.hi = bound{v: k}, bound{v: k}
	default:
		return "", interval{}, false
	}
	return val.String(), iv, true
}

// number returns the value of a number literal (or a negated one), or nil.
func number(n ast.Node) *Dec {
	var d Dec
	var err error
	switch x := n.(type) {
	case *ast.IntegerNode:
		d, err = decimal.New(int64(x.Value), 0)
	case *ast.FloatNode:
		d, err = decimal.NewFromFloat64(x.Value)
	case *ast.UnaryNode:
		if x.Operator != "-" {
			return nil
		}
		v := number(x.Node)
		if v == nil {
			return nil
		}
		d = v.Neg()
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return &d
}

func (c *cond) band(key string) interval {
	if iv, ok := c.bands[key]; ok {
		return iv
	}
	return everything
}

// lowerWithin reports whether lower end a is at or above lower end b.
func lowerWithin(a, b bound) bool { return endWithin(a, b, 1) }

// upperWithin reports whether upper end a is at or below upper end b.
func upperWithin(a, b bound) bool { return endWithin(a, b, -1) }

// endWithin reports whether end a is inside end b of the same side: for lower
// ends (sign 1) at or above it, for upper ends (sign -1) at or below it.
// A missing end is unbounded; an open end is inside a closed one at the
// same value.
func endWithin(a, b bound, sign int) bool {
	switch {
	case b.v == nil:
		return true
	case a.v == nil:
		return false
	}
	c := a.v.Cmp(*b.v) * sign
	return c > 0 || (c == 0 && (a.open || !b.open))
}

func intersect(a, b interval) interval {
	if !lowerWithin(a.lo, b.lo) {
		a.lo = b.lo
	}
	if !upperWithin(a.hi, b.hi) {
		a.hi = b.hi
	}
	return a
}

// within reports whether interval a lies inside b.
func within(a, b interval) bool { return lowerWithin(a.lo, b.lo) && upperWithin(a.hi, b.hi) }

// empty reports whether no value lies in iv.
func (iv interval) empty() bool {
	if iv.lo.v == nil || iv.hi.v == nil {
		return false
	}
	c := iv.lo.v.Cmp(*iv.hi.v)
	return c > 0 || (c == 0 && (iv.lo.open || iv.hi.open))
}

// implies reports whether c holding means d holds.
func (c *cond) implies(d *cond) bool {
	if !c.ok || !d.ok {
		return false
	}
	for _, o := range d.other {
		if !slices.Contains(c.other, o) {
			return false
		}
	}
	for key, iv := range d.bands {
		if !within(c.band(key), iv) {
			return false
		}
	}
	return true
}

// contradiction returns a value c bounds to no value at all, or "".
func (c *cond) contradiction() string {
	keys := make([]string, 0, len(c.bands))
	for k := range c.bands {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if c.bands[k].empty() {
			return k
		}
	}
	return ""
}

// only returns the value c bounds and its interval, when c is that alone.
func (c *cond) only() (string, interval, bool) {
	if !c.ok || len(c.other) > 0 || len(c.bands) != 1 {
		return "", interval{}, false
	}
	for k, iv := range c.bands {
		return k, iv, true
	}
	return "", interval{}, false
}

// covered reports whether the intervals ivs, together, hold all of iv.
func covered(iv interval, ivs []interval) bool {
	// Walk up from iv's lower end: each step takes, of the intervals that
	// hold the point reached, the one reaching highest, and moves just
	// past its upper end.
	at := iv.lo
	for range len(ivs) {
		var next *bound
		for _, x := range ivs {
			if startsBy(x.lo, at) && endsAfter(x.hi, at) && (next == nil || !upperWithin(x.hi, *next)) {
				h := x.hi
				next = &h
			}
		}
		if next == nil {
			return false
		}
		if upperWithin(iv.hi, *next) {
			return true
		}
		at = bound{v: next.v, open: !next.open}
	}
	return false
}

// endsAfter reports whether an interval with upper end hi holds the point
// at (a lower end: at.open means just above at.v; a nil at.v is the bottom).
func endsAfter(hi, at bound) bool {
	if hi.v == nil || at.v == nil {
		return true
	}
	c := hi.v.Cmp(*at.v)
	return c > 0 || (c == 0 && !hi.open && !at.open)
}

// startsBy reports whether an interval with lower end lo holds the point
// at (a lower end: at.open means just above at.v).
func startsBy(lo, at bound) bool {
	if lo.v == nil {
		return true
	}
	if at.v == nil {
		return false
	}
	c := lo.v.Cmp(*at.v)
	return c < 0 || (c == 0 && (!lo.open || at.open))
}

// shadows warns of each rule (or row, or the default) of the ruleset that
// an earlier one, or the earlier ones together on one value, always decide
// before it.
func (c *compiler) shadows(conds []cond, table bool) {
	word := "rule"
	if table {
		word = "row"
	}
	for j := range conds {
		cj := &conds[j]
		what := word + " " + cj.id
		if cj.id == "default" {
			what = "the default"
		}
		if key := cj.contradiction(); key != "" {
			c.warnf(cj.pos, "%s never holds: no value of %s meets all its bounds", what, key)
			continue
		}
		if j == 0 {
			continue
		}
		found := false
		for i := range j {
			if cj.id != "default" && cj.implies(&conds[i]) {
				c.warnf(cj.pos, "%s never decides: %s %s (line %d), before it, holds whenever it does (move it above %s if it should decide first)",
					what, word, conds[i].id, conds[i].line, conds[i].id)
				found = true
				break
			}
		}
		if found {
			continue
		}
		// Earlier rules that each bound one value, together.
		key, iv, ok := cj.only()
		if cj.id == "default" {
			ok = true
		}
		if !ok {
			continue
		}
		for _, k := range c.shadowKeys(conds[:j], key) {
			want := iv
			if cj.id == "default" {
				want = everything
			}
			var ivs []interval
			var by []string
			for i := range j {
				if k2, x, ok := conds[i].only(); ok && k2 == k {
					ivs = append(ivs, x)
					by = append(by, fmt.Sprintf("%s (line %d)", conds[i].id, conds[i].line))
				}
			}
			if len(by) > 1 && covered(want, ivs) {
				msg := fmt.Sprintf("%s never decides: %ss %s, before it, cover every value of %s", what, word, joinAnd(by), k)
				if cj.id != "default" {
					msg += " (move it up if it should decide first)"
				}
				c.warnf(cj.pos, "%s", msg)
				break
			}
		}
	}
}

// shadowKeys returns the values the earlier conditions bound alone: key
// when given, else all of them in order.
func (c *compiler) shadowKeys(conds []cond, key string) []string {
	if key != "" {
		return []string{key}
	}
	var keys []string
	for i := range conds {
		if k, _, ok := conds[i].only(); ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// warnf adds a warning: a positioned message that does not stop the ruleset.
func (c *compiler) warnf(pos yamldoc.Pos, format string, args ...any) {
	e := c.f.Errorf(pos, format, args...)
	e.Msg = "warning: " + e.Msg
	c.rs.warnings = append(c.rs.warnings, e)
}
