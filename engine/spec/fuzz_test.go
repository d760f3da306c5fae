package spec

import (
	"errors"
	"testing"

	"pipeline/engine/yamldoc"
)

var fuzzEnv = yamldoc.MapEnv(map[string]string{"DATA": "in", "EMPTY": ""})

// FuzzLoad decodes arbitrary bytes as a spec file: Decode must not panic,
// must return a spec or an error but not both, and a spec it returns must
// have a name and stages. Seeds, among them the banking spec, are in
// testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := yamldoc.Parse("s.yaml", data)
		if err != nil {
			return
		}
		s, err := Decode(file, fuzzEnv)
		if err != nil {
			var es yamldoc.Errors
			var e *yamldoc.Error
			if s != nil || !errors.As(err, &es) && !errors.As(err, &e) {
				t.Fatalf("Decode = %v, error %v (%T)", s, err, err)
			}
			_ = yamldoc.Details(err)
			return
		}
		if s == nil || !s.Name.Set() || len(s.Stages) == 0 || s.File != file {
			t.Fatalf("Decode = %+v without an error", s)
		}
		for _, st := range s.Stages {
			if !st.Name.Set() || !st.Kind.Set() {
				t.Fatalf("stage %+v without an error", st)
			}
		}
		for _, c := range s.Connectors {
			if !c.Value.Kind.Set() {
				t.Fatalf("connector %s has no kind, without an error", c.Key)
			}
		}
	})
}
