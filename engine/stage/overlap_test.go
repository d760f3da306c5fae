package stage

import (
	"testing"

	"pipeline/engine/spec"
)

func TestExportOverlaps(t *testing.T) {
	export := func(files ...string) *copyStage {
		s := &copyStage{name: "x"}
		for _, f := range files {
			s.jobs = append(s.jobs, copyJob{file: spec.Ref{Connector: "files", Name: f}})
		}
		return s
	}
	a := export("out/a.csv", "out/b.csv")
	tests := []struct {
		name string
		next Runner
		want bool
	}{
		{"a batch stage", &batchStage{name: "settle"}, true},
		{"an export of other files", export("out/c.csv"), true},
		{"an export of one of its files", export("out/c.csv", "out/b.csv"), false},
		{"an export of a file of the same base name", export("elsewhere/a.csv"), false},
		{"a load", &copyStage{name: "load", load: true}, false},
		{"a stream stage", &streamStage{name: "decide"}, false},
	}
	for _, tt := range tests {
		if got := a.Overlaps(tt.next); got != tt.want {
			t.Errorf("%s: Overlaps = %v, want %v", tt.name, got, tt.want)
		}
	}
	if (&copyStage{load: true}).Overlaps(&batchStage{}) {
		t.Errorf("a load overlaps a batch stage")
	}
}
