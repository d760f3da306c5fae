package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// noteSchema is a table with a LONGTEXT column (created by the test: the
// connector creates VARCHAR(2048)), to hold values of megabytes.
func noteSchema(t *testing.T, c *Connector, name string) *Table {
	t.Helper()
	if _, err := c.db.Exec("CREATE TABLE " + quote(name) + " (id BIGINT NOT NULL PRIMARY KEY, note LONGTEXT NOT NULL) " + tableOptions); err != nil {
		t.Fatal(err)
	}
	return openTable(t, c, schema.MustNew(name, []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "note", Type: schema.StringType},
	}, "id"))
}

// TestUpsertRejectsOversizeRows: a row bigger than the server's
// max_allowed_packet fails Upsert at once with a *port.RejectedRows naming
// it, writes nothing, and leaves the connection usable; the other rows can
// then be written, inside a tx too.
func TestUpsertRejectsOversizeRows(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	var server int
	if err := c.db.QueryRow("SELECT @@max_allowed_packet").Scan(&server); err != nil {
		t.Fatal(err)
	}
	if c.packetLimit != min(server, mysql.NewConfig().MaxAllowedPacket) {
		t.Fatalf("packet limit %d, want the smaller of the server's %d and the driver's %d", c.packetLimit, server, mysql.NewConfig().MaxAllowedPacket)
	}
	tb := openTable(t, c, itemSchema("items"))
	big := strings.Repeat("x", c.packetLimit)
	rows := []schema.Row{item(1, "a", "1.00"), item(2, big, "2.00"), item(3, "c", "3.00"), item(4, big, "4.00")}
	for _, inTx := range []bool{false, true} {
		upsert := func(ctx context.Context) error { return tb.Upsert(ctx, rows) }
		if inTx {
			upsert = func(ctx context.Context) error {
				return c.InTx(ctx, nil, func(ctx context.Context) error {
					if err := tb.Upsert(ctx, []schema.Row{item(9, "in the tx", "9.00")}); err != nil {
						return err
					}
					return tb.Upsert(ctx, rows)
				})
			}
		}
		err := upsert(ctx)
		var rej *port.RejectedRows
		if !errors.As(err, &rej) {
			t.Fatalf("in a tx %v: Upsert of a row of %d bytes: %v, want a *port.RejectedRows", inTx, len(big), err)
		}
		if len(rej.Rows) != 2 || rej.Rows[0].Index != 1 || rej.Rows[1].Index != 3 {
			t.Fatalf("rejected %+v, want rows 1 and 3", rej.Rows)
		}
		for _, want := range []string{"row is 1", "bytes, more than the", "max_allowed_packet"} {
			if !strings.Contains(rej.Rows[0].Err.Error(), want) {
				t.Errorf("reason %q does not say %q", rej.Rows[0].Err.Error(), want)
			}
		}
		if !strings.Contains(err.Error(), "mysql table items") {
			t.Errorf("error %q does not name the table", err)
		}
		if got := scanAll(t, ctx, tb); len(got) != 0 {
			t.Fatalf("in a tx %v: %d rows written, want none", inTx, len(got))
		}
	}
	err := c.InTx(ctx, nil, func(ctx context.Context) error {
		if err := tb.Upsert(ctx, rows); err == nil {
			return errors.New("the oversize rows were accepted")
		}
		return tb.Upsert(ctx, []schema.Row{rows[0], rows[2]})
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "after the rejection", scanAll(t, ctx, tb), []schema.Row{rows[0], rows[2]})
}

// TestUpsertUnderThePacketLimit: with a small packet limit (the dsn's
// maxAllowedPacket), rows are sent in statements under it, and a row
// over it is rejected.
func TestUpsertUnderThePacketLimit(t *testing.T) {
	_, dsn := openTest(t)
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 64 << 10
	mc.MaxAllowedPacket = limit
	small := openDSN(t, mc.FormatDSN())
	if small.packetLimit != limit {
		t.Fatalf("packet limit %d, want the dsn's %d", small.packetLimit, limit)
	}
	if got := small.writeBudget(); got != limit-packetMargin {
		t.Errorf("write budget %d, want %d", got, limit-packetMargin)
	}
	tb := noteSchema(t, small, "notes")
	ctx := context.Background()
	var rows []schema.Row
	for i := range 40 {
		rows = append(rows, schema.Row{i, strings.Repeat(string(rune('a'+i%26)), 20<<10)}) // 20 KiB: 3 a statement at most
	}
	for _, n := range []int{1, 40} { // one statement, and many in a tx of their own
		if err := tb.Upsert(ctx, rows[:n]); err != nil {
			t.Fatalf("Upsert of %d rows of 20 KiB under a 64 KiB limit: %v", n, err)
		}
	}
	checkRows(t, "rows of 20 KiB", scanAll(t, ctx, tb), rows)
	err = tb.Upsert(ctx, []schema.Row{{100, strings.Repeat("x", limit-packetMargin)}})
	var rej *port.RejectedRows
	if !errors.As(err, &rej) || len(rej.Rows) != 1 || rej.Rows[0].Index != 0 {
		t.Fatalf("Upsert of a row over the 64 KiB limit: %v, want it rejected", err)
	}
}
