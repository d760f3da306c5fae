// Package schema holds the typed columns of tables and topics: column types,
// ordered schemas, rows, and the parsing and formatting of values as text.
//
// Values travel as Go values inside a Row: int for int columns,
// decimal.Decimal for decimal and money columns (never float64), string,
// time.Time for date and datetime, bool, and nil for a null in a nullable column.
package schema
