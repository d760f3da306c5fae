package rules

// RuleInfo describes one rule of a ruleset as its file gives it: a rule,
// a decision-table row, or the default.
type RuleInfo struct {
	ID      string // "default" for the default
	Outcome string // "" for table rows and rules without one
	Line    int    // line of the rule in its file (0 when defined by code without a position)
}

// Rules describes the rules in order, the default last when there is one
// (the order of RuleIDs and of Evaluator.Fired).
func (rs *Ruleset) Rules() []RuleInfo {
	out := make([]RuleInfo, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = RuleInfo{ID: r.id, Outcome: r.outcome, Line: r.pos.Line}
	}
	return out
}

// Fired reports which rules' conditions held for the record the last Eval
// decided, as statistics count them: fired[i] for rule i of Rules. The
// rules before the deciding one did not hold (the first that holds
// decides), the deciding rule did, the default holds always, and the
// conditions of the rules after the deciding one are evaluated now, with
// the values and lets the record was decided with (the deciding rule's
// assignments are not seen). A condition that fails counts as not held.
// fired is reused when it is long enough; nothing holds when the last Eval
// failed or no rule decided.
//
// The deciding rule is known without evaluating anything, so records
// decided by the default, the most common, cost nothing more.
func (e *Evaluator) Fired(fired []bool) []bool {
	n := len(e.rs.rules)
	if cap(fired) < n {
		fired = make([]bool, n)
	}
	fired = fired[:n]
	clear(fired)
	at := -1
	for i, r := range e.rs.rules {
		if r == e.last {
			at = i
			break
		}
	}
	if at < 0 {
		return fired
	}
	fired[at] = true
	for i := at + 1; i < n; i++ {
		fired[i] = e.holds(i)
	}
	return fired
}

// holds evaluates the condition of rule i for the record in hand: through
// its closure when it compiled to one, else through the VM.
func (e *Evaluator) holds(i int) bool {
	r := e.rs.rules[i]
	if r.when == nil {
		return true
	}
	if p := e.rs.fast; p != nil && p.decideOK && p.whens[i] != nil {
		if e.fastLets(p.decide) == nil {
			if ok, err := p.whens[i](e); err == nil {
				return ok
			}
		}
	}
	if e.setLets() != nil {
		return false
	}
	v, err := e.run(r.when)
	return err == nil && v == true
}
