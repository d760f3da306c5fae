package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/yamldoc"
)

// TestStreamOutputMustCommit: a stream stage commits its decisions, saved
// state and offsets in one commit, so Load refuses a spec whose stream
// stage writes to a connector that cannot commit, or saves a lookup in
// another connector than its output's, saying where and why.
func TestStreamOutputMustCommit(t *testing.T) {
	spec, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("testdata/shop/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"plain kind", "db: {kind: memory}", "db: {kind: plain}",
			"stream stage decide writes to db:orders, a connector of kind plain, which cannot commit decisions with their offsets: its output table must live in a connector of kind memory"},
		{"saved elsewhere", "db: {kind: memory}", "db: {kind: memory}\n  other: {kind: memory}",
			"stream stage decide saves lookup account in connector other, not in db, which holds its output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(string(spec), tt.old, tt.new, 1)
			if tt.name == "saved elsewhere" {
				text = strings.Replace(text, `account: "db:accounts[order.account_id]"`, `account: "other:accounts[order.account_id]"`, 1)
			}
			dir := t.TempDir()
			for name, b := range map[string]string{"spec.yaml": text, "rules.yaml": string(rules)} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			reg := registry()
			reg.Register(port.Kind{Name: "plain", New: func(context.Context, port.Config) (port.Connector, error) { return memory.New(), nil }})
			_, err := engine.Load(filepath.Join(dir, "spec.yaml"), yamldoc.MapEnv(map[string]string{"OUT": dir}), reg)
			if err == nil || !strings.Contains(yamldoc.Details(err), tt.want) {
				t.Errorf("Load = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
