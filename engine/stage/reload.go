package stage

import (
	"fmt"
	"slices"
)

// Hot reload: a stream stage running under --follow takes new rules between
// two batches, never within one, and only once no chunk it decided is left
// to commit: every chunk is decided by one ruleset and committed as decided.
// The engine watches the rule files, lints and tests a changed one, builds
// the spec again with it and hands the new stage to Reload (engine/reload.go).

// stageRules are the rulesets a stream stage decides with, swapped whole.
type stageRules struct {
	live   *bound
	shadow *bound // nil without a shadow
}

// Reloadable is implemented by stages that can take new rules while they run.
type Reloadable interface {
	Runner
	// RuleFiles returns the paths of the rule files the stage decides
	// with, as the spec resolves them (rules.Ruleset.Path).
	RuleFiles() []string
	// Reload checks that next, the same stage of the spec built again
	// with changed rule files, decides with rules this stage can take
	// while it runs, and returns swap, which makes it decide with them
	// from its next batch on (and in later runs).
	Reload(next Runner) (swap func(), err error)
}

// RuleFiles implements Reloadable.
func (s *streamStage) RuleFiles() []string {
	cur := s.cur.Load()
	files := []string{cur.live.rs.Path}
	if cur.shadow != nil {
		files = append(files, cur.shadow.rs.Path)
	}
	return files
}

// Reload implements Reloadable. The new live ruleset must assign the same
// fields of the saved lookups as the one running: those are the columns the
// stage's commits own, fixed while it runs.
func (s *streamStage) Reload(next Runner) (func(), error) {
	n, ok := next.(*streamStage)
	if !ok || n.name != s.name || len(n.lookups) != len(s.lookups) {
		return nil, fmt.Errorf("stage %s: the spec built again has no such stream stage", s.name)
	}
	cur := s.cur.Load()
	for i, l := range s.lookups {
		if !l.save || slices.Equal(l.owned, n.lookups[i].owned) {
			continue
		}
		return nil, fmt.Errorf("stage %s: ruleset %s would set %s of %s, where the running one sets %s: "+
			"what the stage saves cannot change while it runs; restart it to take these rules",
			s.name, n.rules.rs.Name, joinNames(n.lookups[i].owned), l.name, joinNames(l.owned))
	}
	if (cur.shadow == nil) != (n.shadow == nil) {
		return nil, fmt.Errorf("stage %s: the spec built again has another shadow", s.name)
	}
	rs := &stageRules{live: n.rules, shadow: n.shadow}
	return func() { s.cur.Store(rs) }, nil
}

// useLatest makes the deciders decide with the stage's current rules, when
// a reload changed them since they last decided. Call it only when no
// chunk decided is left to commit.
func (r *streamRun) useLatest() {
	cur := r.s.cur.Load()
	if cur == r.using {
		return
	}
	r.using = cur
	for _, w := range r.workers {
		w.rules = cur.live.evaluator()
		w.useShadow(cur.shadow)
	}
	if r.rt.Log != nil {
		args := []any{"stage", r.s.name, "ruleset", cur.live.rs.Name, "version", cur.live.rs.Version, "hash", cur.live.rs.Hash}
		if cur.shadow != nil {
			args = append(args, "shadow", cur.shadow.rs.Name, "shadow_version", cur.shadow.rs.Version, "shadow_hash", cur.shadow.rs.Hash)
		}
		r.rt.Log.Info("deciding with reloaded rules from this batch on", args...)
	}
}
