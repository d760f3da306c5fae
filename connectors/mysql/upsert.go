package mysql

import (
	"context"
	"slices"
	"strings"
)

// Limits of one multi-row INSERT.
const (
	maxRowsPerWrite = 1000    // rows in one statement
	maxPlaceholders = 65535   // the protocol's limit of parameters per statement (exclusive)
	maxWriteBytes   = 4 << 20 // rough size of one statement's values, well below max_allowed_packet (16 MiB by default)
	fixedValueBytes = 16      // rough size of a parameter that is not a string
)

// insertSQL builds the multi-row INSERT ... ON DUPLICATE KEY UPDATE
// statements that upsert rows into one table.
type insertSQL struct {
	prefix  string // INSERT INTO `t` (`a`, `b`) VALUES
	row     string // (?,?)
	suffix  string //  ON DUPLICATE KEY UPDATE `b`=VALUES(`b`)
	cols    int
	maxRows int    // rows in one statement
	full    string // the statement for maxRows rows
}

// newInsertSQL returns the upsert statements of columns cols of table,
// whose primary key is made of the columns named in key. VALUES(col) is
// used rather than MySQL 8's row alias, which MariaDB rejects.
func newInsertSQL(table string, cols, key []string) insertSQL {
	return newInsert(table, cols, key, true)
}

// newPlainInsertSQL returns plain INSERT statements of columns cols of
// table: a row whose key exists fails the statement (error 1062).
func newPlainInsertSQL(table string, cols []string) insertSQL {
	return newInsert(table, cols, nil, false)
}

// newUpsertColumnsSQL returns upsert statements of columns cols of table
// that, for a row whose key exists, change only the columns named in update.
func newUpsertColumnsSQL(table string, cols, update []string) insertSQL {
	var key []string
	for _, c := range cols {
		if !slices.Contains(update, c) {
			key = append(key, c) // not updated: kept as the table holds it
		}
	}
	return newInsert(table, cols, key, true)
}

func newInsert(table string, cols, key []string, upsert bool) insertSQL {
	quoted := make([]string, len(cols))
	var set []string
	for i, c := range cols {
		quoted[i] = quote(c)
		if !slices.Contains(key, c) {
			set = append(set, quoted[i]+"=VALUES("+quoted[i]+")")
		}
	}
	if len(set) == 0 { // a table of key columns only: nothing to update
		set = append(set, quoted[0]+"="+quoted[0])
	}
	suffix := " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	if !upsert {
		suffix = ""
	}
	s := insertSQL{
		prefix:  "INSERT INTO " + quote(table) + " (" + strings.Join(quoted, ", ") + ") VALUES ",
		row:     "(" + placeholders(len(cols)) + ")",
		suffix:  suffix,
		cols:    len(cols),
		maxRows: max(1, min(maxRowsPerWrite, (maxPlaceholders-1)/max(1, len(cols)))),
	}
	s.full = s.statement(s.maxRows)
	return s
}

// statement returns the upsert of n rows.
func (s insertSQL) statement(n int) string {
	if n == s.maxRows && s.full != "" {
		return s.full
	}
	var b strings.Builder
	b.Grow(len(s.prefix) + n*(len(s.row)+1) + len(s.suffix))
	b.WriteString(s.prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.row)
	}
	b.WriteString(s.suffix)
	return b.String()
}

// chunk returns how many of the rows of args, from row start on, go into
// one statement of at most maxWriteBytes of values.
func (s insertSQL) chunk(args []any, start int) int {
	return s.chunkUnder(args, start, maxWriteBytes)
}

// chunkUnder returns how many of the rows of args, from row start on, go
// into one statement: at most maxRows, whose values take at most budget
// bytes (see valueBytes), and at least one row.
func (s insertSQL) chunkUnder(args []any, start, budget int) int {
	rows := len(args) / s.cols
	n, size := 0, 0
	for start+n < rows && n < s.maxRows {
		row := 0
		for _, v := range args[(start+n)*s.cols : (start+n+1)*s.cols] {
			row += valueBytes(v)
		}
		if n > 0 && size+row > budget {
			break
		}
		size += row
		n++
	}
	return n
}

// exec upserts args, the values of whole rows one after the other, on q:
// one statement per chunk of at most maxRows rows and c.writeBudget() bytes
// of values. Statements of maxRows rows are kept prepared by c.
func (s insertSQL) exec(ctx context.Context, c *Connector, q querier, args []any) error {
	rows := len(args) / s.cols
	budget := c.writeBudget()
	for start := 0; start < rows; {
		n := s.chunkUnder(args, start, budget)
		chunk := args[start*s.cols : (start+n)*s.cols]
		var err error
		if n == s.maxRows {
			err = c.execCached(ctx, q, s.full, chunk)
		} else {
			_, err = q.ExecContext(ctx, s.statement(n), chunk...)
		}
		if err != nil {
			return err
		}
		start += n
	}
	return nil
}
