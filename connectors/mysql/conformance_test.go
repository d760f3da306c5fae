package mysql

import (
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/port/porttest"
)

// TestConformance runs the port contract tests on mysql connectors, each
// test on a fresh database.
func TestConformance(t *testing.T) {
	t.Run("Tables", func(t *testing.T) {
		porttest.Tables(t, func(t *testing.T) port.Tables { c, _ := openTest(t); return c })
	})
	t.Run("Committer", func(t *testing.T) {
		porttest.Committer(t, func(t *testing.T) port.Committer { c, _ := openTest(t); return c })
	})
	t.Run("Transactor", func(t *testing.T) {
		porttest.Transactor(t, func(t *testing.T) port.Transactor { c, _ := openTest(t); return c })
	})
}
