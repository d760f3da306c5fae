package memory

import (
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/port/porttest"
)

// TestConformance runs the port contract tests on memory connectors.
func TestConformance(t *testing.T) {
	t.Run("Tables", func(t *testing.T) {
		porttest.Tables(t, func(*testing.T) port.Tables { return New() })
	})
	t.Run("Topics", func(t *testing.T) {
		porttest.Topics(t, func(*testing.T) port.Topics { return New() })
	})
	t.Run("Committer", func(t *testing.T) {
		porttest.Committer(t, func(*testing.T) port.Committer { return New() })
	})
	t.Run("Transactor", func(t *testing.T) {
		porttest.Transactor(t, func(*testing.T) port.Transactor { return New() })
	})
}
