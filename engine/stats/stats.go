// Package stats counts what the rulesets of a run decided: per stream
// stage and batch step, the records each rule decided, those where its
// condition held, the sum of the stage's measure, the outcome totals, and
// how often a shadow ruleset agreed (`pipeline dry-run --stats`).
package stats

import (
	"cmp"
	"slices"
	"sync"

	"pipeline/engine/rules"
	"pipeline/engine/stage"
)

// Report is the statistics of one run, as `pipeline dry-run --stats-json`
// writes them.
type Report struct {
	Spec string `json:"spec"`
	// Records is how many records the first ruleset evaluated: the
	// records that entered the pipeline.
	Records  int64     `json:"records"`
	Rulesets []Ruleset `json:"rulesets"`
}

// Where names a stream stage, or a step of a batch stage, in the reports
// of a run (here and engine/diff's).
type Where struct {
	Stage string `json:"stage"`
	Step  string `json:"step"` // "" for a stream stage
}

// Ruleset is what one ruleset decided in one stream stage or batch step.
type Ruleset struct {
	Where
	Ruleset string `json:"ruleset"`
	Version int    `json:"version"`
	Hash    string `json:"hash"`
	// Measure is the stage's measure as the spec writes it; amounts below
	// sum it, and are "" without one.
	Measure string `json:"measure,omitempty"`
	// Records evaluated, and of them those whose evaluation failed (they
	// went to the dead letters).
	Records  int64     `json:"records"`
	Dead     int64     `json:"dead"`
	Outcomes []Outcome `json:"outcomes"`
	Rules    []Rule    `json:"rules"`
	Shadow   *Shadow   `json:"shadow,omitempty"`
}

// Outcome is how many records got one outcome, and the sum of their measure.
type Outcome struct {
	Outcome string `json:"outcome"`
	Records int64  `json:"records"`
	Amount  string `json:"amount,omitempty"`
}

// Rule is one rule's (or table row's, or the default's) count: the records
// it decided, those where its condition held (fired) whether or not an
// earlier rule decided, and the sum of the measure of those it decided.
type Rule struct {
	Rule    string `json:"rule"`
	Line    int    `json:"line"`
	Decided int64  `json:"decided"`
	Fired   int64  `json:"fired"`
	Amount  string `json:"amount,omitempty"`
}

// Shadow is how the shadow ruleset's decisions compare with the live ones:
// a record agrees when both gave the same outcome by the same rule.
type Shadow struct {
	Ruleset     string       `json:"ruleset"`
	Version     int          `json:"version"`
	Hash        string       `json:"hash"`
	Agree       int64        `json:"agree"`
	Disagree    int64        `json:"disagree"`
	Transitions []Transition `json:"transitions"`
}

// Transition counts the records that went from one decision to another,
// written outcome/rule (the rule alone when there is no outcome), and the
// sum of their measure.
type Transition struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Records int64  `json:"records"`
	Amount  string `json:"amount,omitempty"`
}

// Collector gathers statistics from a run's observations. Its Observe is
// safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	entries []*entry
	by      map[where]*entry
}

type where struct{ stage, step string }

// entry counts one stage's or step's ruleset.
type entry struct {
	place        stage.Place
	rules        []rules.RuleInfo
	index        map[string]int // rule id -> its index in rules
	records      int64
	dead         int64
	decided      []int64
	fired        []int64
	amounts      []Sum // per rule, of the records it decided
	outcomes     map[string]*tally
	shadow       *rules.Ruleset
	shadowD      *rules.Decision // the last shadow decision, for its version
	agree        int64
	disagree     int64
	transitions  map[[2]string]*tally
	measureScale int // the largest scale a measure had
}

type tally struct {
	records int64
	amount  Sum
}

// New returns a collector for the stages and steps with rules of plan, in
// its order; those that see no record are reported with zeros.
func New(plan *stage.Plan) *Collector {
	c := &Collector{by: map[where]*entry{}}
	for _, r := range plan.Places() {
		if r.Ruleset == nil || r.Absent {
			continue
		}
		c.entry(r)
	}
	return c
}

func (c *Collector) entry(r stage.Place) *entry {
	infos := r.Ruleset.Rules()
	n := len(infos)
	e := &entry{place: r, rules: infos, index: map[string]int{}, decided: make([]int64, n), fired: make([]int64, n), amounts: make([]Sum, n),
		outcomes: map[string]*tally{}, transitions: map[[2]string]*tally{}}
	for i, ri := range infos {
		e.index[ri.ID] = i
	}
	c.entries = append(c.entries, e)
	c.by[where{r.Stage, r.Step}] = e
	return e
}

// Observe counts one evaluation: pass it as stage.Runtime.Observe.
func (c *Collector) Observe(o stage.Observed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.by[where{o.Stage, o.Step}]
	if e == nil {
		e = c.entry(stage.Place{Stage: o.Stage, Step: o.Step, Ruleset: o.Ruleset})
	}
	e.records++
	if o.Err != nil {
		e.dead++
		return
	}
	m, hasMeasure := o.Measure.(rules.Dec)
	if hasMeasure {
		e.measureScale = max(e.measureScale, m.Scale())
	}
	for i, f := range o.Fired {
		if f && i < len(e.fired) {
			e.fired[i]++
		}
	}
	if i, ok := e.index[o.Rule]; ok {
		e.decided[i]++
		if hasMeasure {
			e.amounts[i].Add(m)
		}
	}
	if o.Outcome != "" {
		t := e.outcomes[o.Outcome]
		if t == nil {
			t = &tally{}
			e.outcomes[o.Outcome] = t
		}
		t.records++
		if hasMeasure {
			t.amount.Add(m)
		}
	}
	if o.Shadow != nil {
		if o.ShadowRuleset != nil {
			e.shadow = o.ShadowRuleset
		}
		e.shadowD = o.Shadow
		live, shadow := Label(o.Outcome, o.Rule), Label(o.Shadow.Outcome, o.Shadow.Rule)
		if live == shadow {
			e.agree++
			return
		}
		e.disagree++
		t := e.transitions[[2]string{live, shadow}]
		if t == nil {
			t = &tally{}
			e.transitions[[2]string{live, shadow}] = t
		}
		t.records++
		if hasMeasure {
			t.amount.Add(m)
		}
	}
}

// Label writes a decision as outcome/rule, or the rule alone when it has
// no outcome (decision-table rows).
func Label(outcome, rule string) string {
	if outcome == "" {
		return rule
	}
	return outcome + "/" + rule
}

// Report returns the statistics gathered so far, for the spec at path.
func (c *Collector) Report(spec string) *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Report{Spec: spec, Rulesets: []Ruleset{}}
	for _, e := range c.entries {
		r.Rulesets = append(r.Rulesets, e.report())
	}
	if len(r.Rulesets) > 0 {
		r.Records = r.Rulesets[0].Records
	}
	return r
}

func (e *entry) report() Ruleset {
	rs := e.place.Ruleset
	out := Ruleset{Where: Where{Stage: e.place.Stage, Step: e.place.Step}, Ruleset: rs.Name, Version: rs.Version, Hash: rs.Hash,
		Measure: e.place.Measure, Records: e.records, Dead: e.dead, Outcomes: []Outcome{}, Rules: []Rule{}}
	amount := func(s *Sum) string {
		if e.place.Measure == "" {
			return ""
		}
		return s.String(e.measureScale)
	}
	// Outcomes in the order the rules give them first, then any other.
	var order []string
	for _, r := range e.rules {
		if r.Outcome != "" && !slices.Contains(order, r.Outcome) {
			order = append(order, r.Outcome)
		}
	}
	var others []string
	for o := range e.outcomes {
		if !slices.Contains(order, o) {
			others = append(others, o)
		}
	}
	slices.Sort(others)
	for _, o := range append(order, others...) {
		if t := e.outcomes[o]; t != nil {
			out.Outcomes = append(out.Outcomes, Outcome{Outcome: o, Records: t.records, Amount: amount(&t.amount)})
		}
	}
	for i, r := range e.rules {
		out.Rules = append(out.Rules, Rule{Rule: r.ID, Line: r.Line, Decided: e.decided[i], Fired: e.fired[i], Amount: amount(&e.amounts[i])})
	}
	if e.shadowD != nil {
		sh := &Shadow{Version: e.shadowD.Version, Agree: e.agree, Disagree: e.disagree, Transitions: []Transition{}}
		if e.shadow != nil {
			sh.Ruleset, sh.Version, sh.Hash = e.shadow.Name, e.shadow.Version, e.shadow.Hash
		}
		for k, t := range e.transitions {
			sh.Transitions = append(sh.Transitions, Transition{From: k[0], To: k[1], Records: t.records, Amount: amount(&t.amount)})
		}
		slices.SortFunc(sh.Transitions, func(a, b Transition) int {
			return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
		})
		out.Shadow = sh
	}
	return out
}
