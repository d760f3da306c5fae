package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// TestRulesetHash: a rule file's hash is the first 12 hex digits of the
// SHA-256 of its bytes (what sha256sum prints), so any edit changes it,
// even one that keeps the version; every decision and explanation carries
// it, on both evaluation paths.
func TestRulesetHash(t *testing.T) {
	const base = `ruleset: h
version: 3
inputs:
  r: {amount: money}
rules:
  - id: big
    when: r.amount > 100
    outcome: declined
default: {outcome: ok}
`
	tests := []struct {
		name string
		src  string
	}{
		{"as written", base},
		{"a threshold changed, same version", strings.Replace(base, "> 100", "> 200", 1)},
		{"a comment added", base + "# why\n"},
		{"CRLF line breaks", strings.ReplaceAll(base, "\n", "\r\n")},
	}
	seen := map[string]string{}
	dir := t.TempDir()
	for i, tt := range tests {
		path := filepath.Join(dir, "h.yaml")
		if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
			t.Fatal(err)
		}
		rs, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, yamldoc.Details(err))
		}
		sum := sha256.Sum256([]byte(tt.src))
		want := hex.EncodeToString(sum[:])[:HashLen]
		if rs.Hash != want {
			t.Errorf("%s: hash %q, want %q (sha256sum's first %d digits)", tt.name, rs.Hash, want, HashLen)
		}
		if other, dup := seen[rs.Hash]; dup {
			t.Errorf("%s and %s share the hash %s", tt.name, other, rs.Hash)
		}
		seen[rs.Hash] = tt.name
		for _, path := range []string{"fast", "vm"} {
			if path == "vm" {
				vmOnly(rs)
			}
			e, err := rs.NewEvaluator(nil)
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Eval([]any{schema.Row{dec("150.00")}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Hash != rs.Hash || d.Version != 3 {
				t.Errorf("%s, %s path: decision version %d hash %q, want 3 %q", tt.name, path, d.Version, d.Hash, rs.Hash)
			}
			vals := make([]any, 5)
			e.DecisionValues(d, vals)
			if vals[3] != 3 || vals[4] != rs.Hash {
				t.Errorf("%s, %s path: decision values %v, want version 3 and hash %s last", tt.name, path, vals, rs.Hash)
			}
			if x := e.Explain([]any{schema.Row{dec("150.00")}}); x.Hash != rs.Hash || x.Decision.Hash != rs.Hash {
				t.Errorf("%s, %s path: explanation hash %q, its decision's %q, want %q", tt.name, path, x.Hash, x.Decision.Hash, rs.Hash)
			}
		}
		if i == 0 {
			// Parsed from the same bytes, the hash is the same.
			f, err := yamldoc.Parse("elsewhere.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			again, err := Compile(f)
			if err != nil {
				t.Fatal(err)
			}
			if again.Hash != rs.Hash {
				t.Errorf("the same bytes compiled again: hash %q, want %q", again.Hash, rs.Hash)
			}
		}
	}
}

// TestDefinitionHash: a ruleset defined by code hashes its definition's
// text: the same definition gives the same hash, another expression another.
func TestDefinitionHash(t *testing.T) {
	f := &yamldoc.File{Path: "spec.yaml"}
	def := func(when string) Definition {
		return Definition{Name: "where",
			Inputs:  []Input{{Name: "r", Record: true, Fields: []schema.Column{{Name: "amount", Type: schema.MoneyType}}}},
			Rules:   []RuleDef{{ID: "match", When: yamldoc.String{Value: when, Pos: yamldoc.Pos{File: f.Path, Line: 1, Col: 1}}, Outcome: "match"}},
			Default: &RuleDef{ID: "skip", Outcome: "skip"}}
	}
	hash := func(when string) string {
		rs, err := Define(f, def(when))
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(rs.Hash) != HashLen {
			t.Fatalf("%s: hash %q is not %d hex digits", when, rs.Hash, HashLen)
		}
		return rs.Hash
	}
	a, again, b := hash("r.amount > 1"), hash("r.amount > 1"), hash("r.amount > 2")
	if a != again {
		t.Errorf("one definition, two hashes: %s, %s", a, again)
	}
	if a == b {
		t.Errorf("two definitions share the hash %s", a)
	}
}
