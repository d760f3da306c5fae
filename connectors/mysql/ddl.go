package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"pipeline/engine/schema"
)

// Column sizes of created tables.
const (
	keyStringLen  = 255  // VARCHAR length of a string key column (fits the InnoDB index limit in utf8mb4)
	stringLen     = 2048 // VARCHAR length of other string columns
	fixedDecPrec  = 30   // DECIMAL precision of a decimal(N) column: DECIMAL(30,N)
	anyDecPrec    = 38   // DECIMAL precision of a decimal column of any scale
	anyDecScale   = 10   // DECIMAL scale of a decimal column of any scale: DECIMAL(38,10)
	tableOptions  = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	identPattern  = `^[A-Za-z_][A-Za-z0-9_]*$`
	maxIdentBytes = 64 // longest identifier MySQL accepts
)

var identRE = regexp.MustCompile(identPattern)

// checkIdent reports why name cannot be used as a database, table or column name.
func checkIdent(name string) error {
	if !identRE.MatchString(name) || len(name) > maxIdentBytes {
		return fmt.Errorf("invalid identifier %q: want letters, digits and underscores, not starting with a digit, at most %d long", name, maxIdentBytes)
	}
	return nil
}

// quote backquotes name, an identifier checkIdent accepted.
func quote(name string) string { return "`" + name + "`" }

// checkSchema reports why s cannot be served as a MySQL table.
func checkSchema(s *schema.Schema) error {
	if s == nil {
		return errors.New("no schema")
	}
	if err := checkIdent(s.Name); err != nil {
		return fmt.Errorf("table name: %w", err)
	}
	if len(s.Columns) == 0 {
		return errors.New("schema has no columns")
	}
	if s.Key < 0 || s.Key >= len(s.Columns) {
		return errors.New("schema has no key column (a MySQL table needs one for its primary key)")
	}
	for _, c := range s.Columns {
		if err := checkIdent(c.Name); err != nil {
			return fmt.Errorf("column name: %w", err)
		}
		if c.Type.Kind < schema.Int || c.Type.Kind > schema.Bool {
			return fmt.Errorf("column %s: type %s has no MySQL column type", c.Name, c.Type)
		}
	}
	return nil
}

// sqlType returns the column type a created table gives column i of s.
// char(N) strings are CHAR(N); other non-key strings are VARCHAR(2048), or
// TEXT when the schema has too many of them for a row (see tooWide).
func sqlType(s *schema.Schema, i int) string {
	t := s.Columns[i].Type
	switch t.Kind {
	case schema.Int:
		return "BIGINT"
	case schema.Decimal:
		if t.Scale == schema.AnyScale {
			return fmt.Sprintf("DECIMAL(%d,%d)", anyDecPrec, anyDecScale)
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", fixedDecPrec, t.Scale)
	case schema.String:
		switch {
		case t.Len > 0:
			// Fixed width, so a value changed for one of the same width is
			// updated in place: the row keeps its size, nothing is moved.
			return fmt.Sprintf("CHAR(%d)", t.Len)
		case i == s.Key:
			return fmt.Sprintf("VARCHAR(%d)", keyStringLen)
		case tooWide(s):
			return "TEXT"
		}
		return fmt.Sprintf("VARCHAR(%d)", stringLen)
	case schema.Date:
		return "DATE"
	case schema.DateTime:
		return "DATETIME"
	case schema.Bool:
		return "BOOLEAN"
	}
	return "" // unreachable after checkSchema
}

// maxRowBytes is the most bytes the columns of a MySQL row may declare,
// BLOB and TEXT columns counting a few bytes only; rowMargin is kept free
// for the storage overhead the server adds.
const (
	maxRowBytes = 65535
	rowMargin   = 512
)

// tooWide reports whether the columns of s, with every string column that
// is not the key a VARCHAR(2048) (8194 bytes in utf8mb4), would not fit in
// a MySQL row: from 8 such columns on. The non-key string columns of such a
// schema are TEXT instead (up to 65535 bytes each).
func tooWide(s *schema.Schema) bool {
	size := len(s.Columns)/8 + 1 // null bitmap
	for i, c := range s.Columns {
		switch c.Type.Kind {
		case schema.String:
			if c.Type.Len > 0 {
				size += c.Type.Len * 4
			} else if i == s.Key {
				size += keyStringLen*4 + 2
			} else {
				size += stringLen*4 + 2
			}
		case schema.Decimal:
			size += 18
		default:
			size += 8
		}
	}
	return size > maxRowBytes-rowMargin
}

// columnDef returns the definition of column i of s in CREATE and ALTER TABLE.
func columnDef(s *schema.Schema, i int) string {
	def := quote(s.Columns[i].Name) + " " + sqlType(s, i)
	if s.Columns[i].Type.Nullable {
		return def + " NULL"
	}
	return def + " NOT NULL"
}

// createTableSQL returns the CREATE TABLE IF NOT EXISTS statement for s.
func createTableSQL(s *schema.Schema) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(quote(s.Name))
	b.WriteString(" (")
	for i := range s.Columns {
		b.WriteString(columnDef(s, i))
		b.WriteString(", ")
	}
	b.WriteString("PRIMARY KEY (")
	b.WriteString(quote(s.KeyName()))
	b.WriteString(")) ")
	b.WriteString(tableOptions)
	return b.String()
}

// dbColumn is a column of an existing table, from information_schema.COLUMNS.
type dbColumn struct {
	name       string
	dataType   string // lower case: bigint, decimal, varchar, ...
	columnType string // full type: decimal(30,2), tinyint(1), ...
	nullable   bool
	primary    bool
	scale      int  // decimal places of a decimal column
	defaulted  bool // has a default value (or generates one)
}

// readColumns returns the columns of table name in the connection's
// database, in order; none when the table does not exist.
func readColumns(ctx context.Context, q querier, name string) ([]dbColumn, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY,
		COALESCE(NUMERIC_SCALE, 0), COLUMN_DEFAULT IS NOT NULL OR EXTRA <> ''
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []dbColumn
	for rows.Next() {
		var c dbColumn
		var nullable, key string
		if err := rows.Scan(&c.name, &c.dataType, &c.columnType, &nullable, &key, &c.scale, &c.defaulted); err != nil {
			return nil, err
		}
		c.dataType, c.columnType = strings.ToLower(c.dataType), strings.ToLower(c.columnType)
		c.nullable, c.primary = nullable == "YES", key == "PRI"
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// fits reports whether an existing column of type c can hold column i of s
// as this connector reads and writes it, and if not, what it would need.
// Beyond the types tables are created with, it accepts the narrower and
// wider relatives an existing table may use: other integer sizes, char and
// text for strings, timestamp for datetime, and decimals of any precision.
func fits(c dbColumn, s *schema.Schema, i int) bool {
	t := s.Columns[i].Type
	switch t.Kind {
	case schema.Int:
		switch c.dataType {
		case "bigint", "int", "mediumint", "smallint":
			return true
		case "tinyint":
			return c.columnType != "tinyint(1)"
		}
	case schema.Decimal:
		return c.dataType == "decimal" && (t.Scale == schema.AnyScale || c.scale == t.Scale)
	case schema.String:
		switch c.dataType {
		case "varchar", "char":
			return true
		case "text", "tinytext", "mediumtext", "longtext":
			return i != s.Key
		}
	case schema.Date:
		return c.dataType == "date"
	case schema.DateTime:
		return c.dataType == "datetime" || c.dataType == "timestamp"
	case schema.Bool:
		return c.columnType == "tinyint(1)" || c.columnType == "bit(1)"
	}
	return false
}

// compareColumns compares the columns of an existing table with s. It
// returns the definitions of the schema's columns the table lacks, to add,
// the decimal places of each schema column in the table (0 for others), and
// every difference that adding columns cannot fix.
func compareColumns(cols []dbColumn, s *schema.Schema) (add []string, scales []int, problems []string) {
	byName := make(map[string]dbColumn, len(cols))
	for _, c := range cols {
		byName[strings.ToLower(c.name)] = c
	}
	scales = make([]int, len(s.Columns))
	for i, sc := range s.Columns {
		c, ok := byName[strings.ToLower(sc.Name)]
		switch {
		case !ok && i == s.Key:
			problems = append(problems, fmt.Sprintf("key column %s is missing", sc.Name))
			continue
		case !ok && sc.Type.Nullable:
			add = append(add, "ADD COLUMN "+columnDef(s, i))
			if sc.Type.Kind == schema.Decimal {
				scales[i] = anyDecScale
				if sc.Type.Scale != schema.AnyScale {
					scales[i] = sc.Type.Scale
				}
			}
			continue
		case !ok:
			problems = append(problems, fmt.Sprintf("column %s is missing, and only a nullable column can be added to an existing table", sc.Name))
			continue
		}
		delete(byName, strings.ToLower(sc.Name))
		scales[i] = c.scale
		if !fits(c, s, i) {
			problems = append(problems, fmt.Sprintf("column %s is %s in the table, but the schema says %s (%s)", sc.Name, c.columnType, sc.Type, strings.ToLower(sqlType(s, i))))
		}
		switch {
		case c.nullable && !sc.Type.Nullable:
			problems = append(problems, fmt.Sprintf("column %s admits NULL in the table, but the schema says %s is not nullable", sc.Name, sc.Type))
		case !c.nullable && sc.Type.Nullable:
			problems = append(problems, fmt.Sprintf("column %s is NOT NULL in the table, but the schema says %s (nullable)", sc.Name, sc.Type))
		}
		if (i == s.Key) != c.primary {
			if i == s.Key {
				problems = append(problems, fmt.Sprintf("key column %s is not the table's primary key", sc.Name))
			} else {
				problems = append(problems, fmt.Sprintf("column %s is part of the table's primary key, but the schema's key is %s", sc.Name, s.KeyName()))
			}
		}
	}
	for _, c := range cols {
		if _, extra := byName[strings.ToLower(c.name)]; !extra {
			continue
		}
		switch {
		case c.primary:
			problems = append(problems, fmt.Sprintf("column %s, not in the schema, is part of the table's primary key", c.name))
		case !c.nullable && !c.defaulted:
			problems = append(problems, fmt.Sprintf("column %s, not in the schema, is NOT NULL without a default, so rows cannot be inserted", c.name))
		}
	}
	return add, scales, problems
}

// ensureTable creates the table of s when missing, adds the nullable columns
// an existing table lacks, and checks the rest of its columns against s. It
// returns the decimal places of each schema column in the table.
func ensureTable(ctx context.Context, db *sql.DB, s *schema.Schema) ([]int, error) {
	if _, err := db.ExecContext(ctx, createTableSQL(s)); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	cols, err := readColumns(ctx, db, s.Name)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	if len(cols) == 0 {
		return nil, errors.New("table not found in information_schema after CREATE TABLE")
	}
	add, scales, problems := compareColumns(cols, s)
	if len(problems) > 0 {
		return nil, &mismatchError{table: s.Name, problems: problems}
	}
	if len(add) > 0 {
		if _, err := db.ExecContext(ctx, "ALTER TABLE "+quote(s.Name)+" "+strings.Join(add, ", ")); err != nil {
			return nil, fmt.Errorf("add columns: %w", err)
		}
	}
	return scales, nil
}

// mismatchError says how an existing table differs from the schema.
type mismatchError struct {
	table    string
	problems []string
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("existing table does not match the schema: %s; hint: drop the table (DROP TABLE %s) to have it recreated, or change the schema to match it",
		strings.Join(e.problems, "; "), quote(e.table))
}
