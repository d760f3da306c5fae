package rules

import (
	"path/filepath"
	"testing"
)

// TestShippedRulesStayOnFastPath fails when an expression of a shipped
// rule file would run through expr's VM instead of the compiled closures:
// every let, every condition, every assignment and every reason. The fast
// path depends on the shapes expr's checker leaves in the tree, so an expr
// upgrade or a new function could turn it off without any result changing;
// this is where that shows (docs/PERFORMANCE.md).
func TestShippedRulesStayOnFastPath(t *testing.T) {
	paths, _ := filepath.Glob("../../rules/*.yaml")
	legacy, _ := filepath.Glob("../../rules/legacy/*.yaml")
	paths = append(paths, legacy...)
	if len(paths) < 8 {
		t.Fatalf("found %d rule files, want the shipped ones (8 or more)", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			rs, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			p := rs.fast
			if p == nil {
				t.Fatal("no fast path at all")
			}
			for i, l := range p.lets {
				if l.k == kNone {
					t.Errorf("let %s runs through the VM", rs.lets[i].name)
				}
			}
			if rs.decide != nil && !p.decideOK {
				t.Error("the decision (the rules' conditions) runs through the VM")
			}
			sets := func(where string, as []assign) {
				for _, a := range as {
					if a.copyInput < 0 && a.node != nil && a.fast == nil {
						t.Errorf("%s: set %s: %s runs through the VM", where, a.target, a.src)
					}
				}
			}
			for _, r := range rs.rules {
				sets("rule "+r.id, r.sets)
				if len(r.reason.progs) > 0 && r.reason.fast == nil {
					t.Errorf("rule %s: its reason runs through the VM", r.id)
				}
			}
			sets("then", rs.then)
		})
	}
}
