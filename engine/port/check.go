package port

import (
	"context"

	"pipeline/engine/schema"
)

// FileChecker is implemented by file connectors that can check, before a
// run changes anything, that a file they would be asked to Open is there,
// readable, and begins as a file of schema s must (its header names the
// schema's columns), without reading its rows.
type FileChecker interface {
	// CheckFile reports why Open(ctx, path, s) would fail, or nil when it
	// should succeed. It consumes nothing: a file that cannot be read
	// twice (a named pipe) is only checked to exist.
	CheckFile(ctx context.Context, path string, s *schema.Schema) error
}

// GroupsLister is implemented by Committers that can list every consumer
// group that has committed offsets of a topic with them.
type GroupsLister interface {
	// CommittedGroups returns, for every group with committed offsets of
	// topic, the sum of its committed next offsets (0 when all are 0).
	CommittedGroups(ctx context.Context, topic string) (map[string]int64, error)
}
