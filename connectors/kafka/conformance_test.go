package kafka

import (
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/port/porttest"
)

// TestConformance runs the port contract tests on topics of a connector
// with an embedded broker, a fresh one for each test.
func TestConformance(t *testing.T) {
	porttest.Topics(t, func(t *testing.T) port.Topics { return newConnector(t) })
}
