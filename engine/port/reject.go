package port

import (
	"errors"
	"fmt"
)

// RejectedRows is the error of a write of many rows that refused some of
// them for what they are, however often it is retried: a record over a
// broker's size limit, a row bigger than a database takes in one
// statement. The caller sends the rejected rows to the dead letters, with
// Err as the reason, and goes on. Each write says what became of the other
// rows: Topic.Publish has written them, in order; Table.Upsert has written
// none, and the caller writes them again without the rejected ones.
//
// Any other error of such a write means that an unknown part of the rows
// may not be written; the caller cannot go on as if they were.
type RejectedRows struct {
	Rows []RejectedRow // in the order of the rows given, at least one
}

// RejectedRow is one row a write refused.
type RejectedRow struct {
	Index int   // the row's index in the rows given to the write
	Err   error // why: what is wrong with it, and what would let it through
}

// Error says how many rows were rejected, and why the first was.
func (e *RejectedRows) Error() string {
	if len(e.Rows) == 0 {
		return "no row rejected"
	}
	first := e.Rows[0]
	if len(e.Rows) == 1 {
		return fmt.Sprintf("row %d rejected: %v", first.Index, first.Err)
	}
	return fmt.Sprintf("%d rows rejected; the first, row %d: %v", len(e.Rows), first.Index, first.Err)
}

// Rejected returns the rejections err holds when it is (or wraps) a
// *RejectedRows, and nil otherwise.
func Rejected(err error) []RejectedRow {
	var rr *RejectedRows
	if errors.As(err, &rr) {
		return rr.Rows
	}
	return nil
}
