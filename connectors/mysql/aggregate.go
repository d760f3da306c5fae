package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Aggregate groups and folds the table's rows in one SELECT ... GROUP BY
// (in the tx of ctx when there is one). It implements port.Aggregator.
func (t *Table) Aggregate(ctx context.Context, by string, where port.ColumnValue, folds []port.Fold) (map[any][]any, error) {
	bi := t.schema.Index(by)
	if bi < 0 {
		return nil, t.errorf("aggregate: no column %q", by)
	}
	sel := []string{quote(by)}
	for _, f := range folds {
		switch f.Func {
		case "count":
			sel = append(sel, "COUNT(*)")
		case "sum", "min", "max":
			if t.schema.Index(f.Column) < 0 {
				return nil, t.errorf("aggregate: no column %q", f.Column)
			}
			sel = append(sel, strings.ToUpper(f.Func)+"("+quote(f.Column)+")")
		default:
			return nil, t.errorf("aggregate: unknown function %q", f.Func)
		}
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quote(t.schema.Name)
	var args []any
	if where.Column != "" {
		wi := t.schema.Index(where.Column)
		if wi < 0 {
			return nil, t.errorf("aggregate: no column %q", where.Column)
		}
		dv, err := toDriver(t.schema.Columns[wi].Type, t.places[wi], where.Value)
		if err != nil {
			return nil, t.errorf("aggregate: column %s: %w", where.Column, err)
		}
		q += " WHERE " + quote(where.Column) + " = ?"
		args = append(args, dv)
	}
	q += " GROUP BY " + quote(by)
	out := map[any][]any{}
	err := t.c.run(ctx, func(ctx context.Context, db querier) error {
		clear(out)
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		raw := make([]sql.NullString, len(sel))
		ptrs := make([]any, len(sel))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			key, err := t.schema.Columns[bi].Type.Parse(raw[0].String)
			if err != nil {
				return fmt.Errorf("group key %q: %w", raw[0].String, err)
			}
			vals := make([]any, len(folds))
			for i, f := range folds {
				if vals[i], err = t.foldValue(f, raw[i+1]); err != nil {
					return err
				}
			}
			out[key] = vals
		}
		return rows.Err()
	})
	if err != nil {
		return nil, t.errorf("aggregate: %w", err)
	}
	return out, nil
}

// foldValue converts one folded value as the server printed it; decimals
// of columns with no fixed scale lose the padding the column adds, as rows
// read by Scan do.
func (t *Table) foldValue(f port.Fold, v sql.NullString) (any, error) {
	if !v.Valid {
		if f.Func == "sum" {
			return decimal.Decimal{}, nil
		}
		return nil, nil
	}
	if f.Func == "count" {
		return schema.IntType.Parse(v.String)
	}
	d, err := decimal.Parse(v.String)
	if err != nil {
		return nil, fmt.Errorf("%s(%s) = %q: %w", f.Func, f.Column, v.String, err)
	}
	if col, ok := t.schema.Column(f.Column); ok && col.Type.Kind == schema.Decimal && col.Type.Scale == schema.AnyScale {
		d = d.Trim(0)
	}
	return d, nil
}
