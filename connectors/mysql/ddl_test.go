package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// everyType has a column of every type, nullable and not.
func everyType(name string) *schema.Schema {
	nullable := func(t schema.Type) schema.Type { t.Nullable = true; return t }
	return schema.MustNew(name, []schema.Column{
		{Name: "code", Type: schema.StringType},
		{Name: "n", Type: schema.IntType},
		{Name: "money", Type: schema.MoneyType},
		{Name: "rate", Type: schema.Type{Kind: schema.Decimal, Scale: 4}},
		{Name: "amount", Type: schema.DecimalType},
		{Name: "label", Type: schema.StringType},
		{Name: "born", Type: schema.DateType},
		{Name: "seen", Type: schema.DateTimeType},
		{Name: "ok", Type: schema.BoolType},
		{Name: "n_null", Type: nullable(schema.IntType)},
		{Name: "money_null", Type: nullable(schema.MoneyType)},
		{Name: "amount_null", Type: nullable(schema.DecimalType)},
		{Name: "label_null", Type: nullable(schema.StringType)},
		{Name: "born_null", Type: nullable(schema.DateType)},
		{Name: "seen_null", Type: nullable(schema.DateTimeType)},
		{Name: "ok_null", Type: nullable(schema.BoolType)},
	}, "code")
}

func TestCreateTableTypes(t *testing.T) {
	c, _ := openTest(t)
	openTable(t, c, everyType("every_type"))
	want := []struct{ name, columnType, nullable, key string }{
		{"code", "varchar(255)", "NO", "PRI"},
		{"n", "bigint(20)", "NO", ""},
		{"money", "decimal(30,2)", "NO", ""},
		{"rate", "decimal(30,4)", "NO", ""},
		{"amount", "decimal(38,10)", "NO", ""},
		{"label", "varchar(2048)", "NO", ""},
		{"born", "date", "NO", ""},
		{"seen", "datetime", "NO", ""},
		{"ok", "tinyint(1)", "NO", ""},
		{"n_null", "bigint(20)", "YES", ""},
		{"money_null", "decimal(30,2)", "YES", ""},
		{"amount_null", "decimal(38,10)", "YES", ""},
		{"label_null", "varchar(2048)", "YES", ""},
		{"born_null", "date", "YES", ""},
		{"seen_null", "datetime", "YES", ""},
		{"ok_null", "tinyint(1)", "YES", ""},
	}
	rows, err := c.db.Query(`SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'every_type' ORDER BY ORDINAL_POSITION`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var name, typ, null, key string
		if err := rows.Scan(&name, &typ, &null, &key); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Fatalf("extra column %s", name)
		}
		w := want[i]
		// MySQL 8 prints bigint without a display width.
		if name != w.name || strings.TrimSuffix(typ, "(20)") != strings.TrimSuffix(w.columnType, "(20)") || null != w.nullable || key != w.key {
			t.Errorf("column %d: %s %s null=%s key=%s, want %s %s null=%s key=%s", i, name, typ, null, key, w.name, w.columnType, w.nullable, w.key)
		}
	}
	if i != len(want) {
		t.Fatalf("%d columns, want %d", i, len(want))
	}
	var engine, collation string
	if err := c.db.QueryRow(`SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'every_type'`).Scan(&engine, &collation); err != nil {
		t.Fatal(err)
	}
	if engine != "InnoDB" || !strings.HasPrefix(collation, "utf8mb4_") {
		t.Errorf("engine %s collation %s, want InnoDB utf8mb4", engine, collation)
	}
	// Opening the existing table again with the same schema is fine.
	c2 := openDSN(t, dsnOf(t, c))
	openTable(t, c2, everyType("every_type"))
}

// dsnOf returns a DSN for the database of c on the test server.
func dsnOf(t testing.TB, c *Connector) string {
	t.Helper()
	var db string
	if err := c.db.QueryRow("SELECT DATABASE()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	mc, _ := driverConfig(testConfig(testServerDSN()))
	mc.DBName = db
	return mc.FormatDSN()
}

func TestExistingTableAddsNullableColumn(t *testing.T) {
	c, dsn := openTest(t)
	ctx := context.Background()
	old := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, old, item(1, "one", "1.00"))

	grown := schema.MustNew("items", append(itemSchema("items").Columns,
		schema.Column{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
		schema.Column{Name: "price", Type: schema.Type{Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}},
	), "id")
	// A later run (another connector) opens the table with the grown schema.
	tb := openTable(t, openDSN(t, dsn), grown)
	upsert(t, ctx, tb, schema.Row{2, "two", dec("2.00"), "new", dec("0.125")})
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{
		{1, "one", dec("1.00"), nil, nil},
		{2, "two", dec("2.00"), "new", dec("0.125")},
	})
	// The old schema still fits the grown table: extra columns are nullable.
	checkRows(t, "Scan old", scanAll(t, ctx, openTable(t, openDSN(t, dsn), itemSchema("items"))), []schema.Row{
		item(1, "one", "1.00"), item(2, "two", "2.00"),
	})
}

func TestExistingTableConflicts(t *testing.T) {
	c, dsn := openTest(t)
	openTable(t, c, itemSchema("items"))
	cols := itemSchema("items").Columns
	with := func(i int, col schema.Column) []schema.Column {
		out := append([]schema.Column(nil), cols...)
		out[i] = col
		return out
	}
	tests := []struct {
		name string
		s    *schema.Schema
		want []string
	}{
		{"type", schema.MustNew("items", with(2, schema.Column{Name: "amount", Type: schema.StringType}), "id"),
			[]string{"column amount is decimal(30,2) in the table, but the schema says string (varchar(2048))"}},
		{"scale", schema.MustNew("items", with(2, schema.Column{Name: "amount", Type: schema.Type{Kind: schema.Decimal, Scale: 3}}), "id"),
			[]string{"column amount is decimal(30,2) in the table, but the schema says decimal(3)"}},
		{"nullable", schema.MustNew("items", with(1, schema.Column{Name: "label", Type: schema.Type{Kind: schema.String, Nullable: true}}), "id"),
			[]string{"column label is NOT NULL in the table, but the schema says string? (nullable)"}},
		{"missing not null", schema.MustNew("items", append(cols, schema.Column{Name: "extra", Type: schema.IntType}), "id"),
			[]string{"column extra is missing, and only a nullable column can be added"}},
		{"key", schema.MustNew("items", cols, "label"),
			[]string{"key column label is not the table's primary key", "column id is part of the table's primary key, but the schema's key is label"}},
		{"dropped column", schema.MustNew("items", cols[:2], "id"),
			[]string{"column amount, not in the schema, is NOT NULL without a default"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openDSN(t, dsn).Table(context.Background(), tc.s)
			if err == nil {
				t.Fatal("Table succeeded")
			}
			msg := err.Error()
			want := append([]string{"mysql table items on ", "drop the table (DROP TABLE `items`)"}, tc.want...)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
	// The same connector refuses another schema under an open table's name.
	if _, err := c.Table(context.Background(), tests[0].s); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Errorf("Table with another schema on the same connector: %v, want an already open error", err)
	}
}

func TestWideStringsBecomeText(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	cols := []schema.Column{{Name: "id", Type: schema.StringType}}
	for i := range 12 {
		cols = append(cols, schema.Column{Name: fmt.Sprint("s", i), Type: schema.StringType})
	}
	tb := openTable(t, c, schema.MustNew("wide_strings", cols, "id"))
	var typ string
	if err := c.db.QueryRow(`SELECT COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'wide_strings' AND COLUMN_NAME = 's11'`).Scan(&typ); err != nil || typ != "text" {
		t.Fatalf("column type %q (%v), want text", typ, err)
	}
	row := make(schema.Row, len(cols))
	row[0] = "k"
	for i := 1; i < len(row); i++ {
		row[i] = strings.Repeat("ü", 3000)
	}
	upsert(t, ctx, tb, row)
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{row})
	// Seven fit as VARCHAR(2048).
	if tooWide(schema.MustNew("x", cols[:8], "id")) || !tooWide(schema.MustNew("x", cols[:9], "id")) {
		t.Error("tooWide: want 7 non-key strings to fit and 8 not")
	}
}

// A char(N) column is CHAR(N): a value changed for one of the same width is
// updated in place, and values read back as written (without trailing spaces).
func TestCharColumn(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	char8 := schema.Type{Kind: schema.String, Len: 8, Nullable: true}
	tb := openTable(t, c, schema.MustNew("chars", []schema.Column{
		{Name: "id", Type: schema.IntType}, {Name: "status", Type: char8}}, "id"))
	var typ string
	if err := c.db.QueryRow(`SELECT COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'chars' AND COLUMN_NAME = 'status'`).Scan(&typ); err != nil || typ != "char(8)" {
		t.Fatalf("column type %q (%v), want char(8)", typ, err)
	}
	upsert(t, ctx, tb, schema.Row{1, "pending"}, schema.Row{2, "déclinés"}, schema.Row{3, nil}, schema.Row{4, ""})
	n, err := tb.UpdateWhere(ctx, []port.ColumnValue{{Column: "status", Value: "approved"}}, port.ColumnValue{Column: "status", Value: "pending"})
	if err != nil || n != 1 {
		t.Fatalf("UpdateWhere = %d, %v; want 1 row", n, err)
	}
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{{1, "approved"}, {2, "déclinés"}, {3, nil}, {4, ""}})
	// Opening the existing table again with the same schema is fine.
	openTable(t, openDSN(t, dsnOf(t, c)), tb.Schema())
}
