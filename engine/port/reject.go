package port

import (
	"context"
	"fmt"

	"pipeline/engine/schema"
)

// RejectedRows is the error of a table write (Table.Upsert) that some of
// its rows can never succeed, however often it is retried: a row bigger
// than the store takes in one statement, for example. The write applied
// nothing. The caller may dead-letter the rows named here and write the
// others again.
type RejectedRows struct {
	// Rows lists the rejected rows in increasing Index order.
	Rows []RejectedRow
}

// RejectedRow is one row a write rejected.
type RejectedRow struct {
	Index  int    // of the row in the slice handed to the write
	Reason string // why, for a person (a dead letter's reason)
}

// Error says how many rows were rejected, and why the first was.
func (e *RejectedRows) Error() string {
	if len(e.Rows) == 0 {
		return "no row rejected"
	}
	if len(e.Rows) == 1 {
		return fmt.Sprintf("row %d rejected: %s", e.Rows[0].Index, e.Rows[0].Reason)
	}
	return fmt.Sprintf("%d rows rejected; row %d: %s", len(e.Rows), e.Rows[0].Index, e.Rows[0].Reason)
}

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
