package stage

import (
	"slices"
	"testing"

	"pipeline/engine/spec"
)

// TestEveryKindBuilds holds the builders to the kinds the spec declares:
// a kind added to one and not the other fails here, not in a user's run.
func TestEveryKindBuilds(t *testing.T) {
	kinds := spec.StageKinds()
	for _, k := range kinds {
		if builders[k] == nil {
			t.Errorf("stage kind %q has no builder in build.go", k)
		}
	}
	for k := range builders {
		if !slices.Contains(kinds, k) {
			t.Errorf("build.go builds kind %q, which the spec does not declare", k)
		}
	}
}
