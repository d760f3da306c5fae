package mysql

import (
	"context"
	"strings"

	"pipeline/engine/port"
)

// UpdateWhere sets the columns of set in every row whose column
// where.Column equals where.Value, in one UPDATE statement (in the tx of
// ctx when there is one, else in a tx of its own), moving the table's
// version on, and returns how many rows it changed. It implements port.Updater.
func (t *Table) UpdateWhere(ctx context.Context, set []port.ColumnValue, where port.ColumnValue) (int64, error) {
	if len(set) == 0 {
		return 0, nil
	}
	var assigns []string
	args := make([]any, 0, len(set)+1)
	for _, cv := range append(set, where) {
		i := t.schema.Index(cv.Column)
		if i < 0 {
			return 0, t.errorf("update: no column %q", cv.Column)
		}
		dv, err := toDriver(t.schema.Columns[i].Type, t.places[i], cv.Value)
		if err != nil {
			return 0, t.errorf("update: column %s: %w", cv.Column, err)
		}
		args = append(args, dv)
		assigns = append(assigns, quote(cv.Column)+" = ?")
	}
	q := "UPDATE " + quote(t.schema.Name) + " SET " + strings.Join(assigns[:len(set)], ", ") + " WHERE " + assigns[len(set)]
	var n int64
	err := t.c.runTx(ctx, func(ctx context.Context, db querier) error {
		if err := t.c.touch(ctx, db, t.schema.Name); err != nil {
			return err
		}
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, t.errorf("update: %w", err)
	}
	return n, nil
}
