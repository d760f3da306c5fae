package mysql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// testServerDSN is the server the integration tests use: $MYSQL_DSN, or
// root without password on 127.0.0.1:3306. Its database part is ignored.
func testServerDSN() string {
	if dsn := os.Getenv("MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// needServer fails the test unless PIPELINE_SKIP_MYSQL=1, in which case it skips it.
func needServer(t testing.TB) {
	t.Helper()
	if os.Getenv("PIPELINE_SKIP_MYSQL") == "1" {
		t.Skip("PIPELINE_SKIP_MYSQL=1: skipping a test that needs MySQL")
	}
}

// testDSN returns a DSN for a new, uniquely named database on the test server.
func testDSN(t testing.TB) (dsn, dbName string) {
	t.Helper()
	mc, err := mysql.ParseDSN(testServerDSN())
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	mc.DBName = "pipeline_test_" + hex.EncodeToString(b)
	return mc.FormatDSN(), mc.DBName
}

// openTest connects to a new database on the test server and drops it when
// the test ends. It fails (never skips, unless PIPELINE_SKIP_MYSQL=1) when
// the server cannot be reached.
func openTest(t testing.TB) (*Connector, string) {
	t.Helper()
	needServer(t)
	dsn, db := testDSN(t)
	c := openDSN(t, dsn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quote(db)); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c, dsn
}

// unreachable remembers the first failure to reach the test server, so that
// the other tests fail at once instead of retrying for 5 seconds each.
var unreachable struct {
	sync.Mutex
	err error
}

// openDSN opens another connector on dsn, closed when the test ends.
func openDSN(t testing.TB, dsn string) *Connector {
	t.Helper()
	const need = "the MySQL integration tests need a server (set MYSQL_DSN, or PIPELINE_SKIP_MYSQL=1 to skip them)"
	unreachable.Lock()
	defer unreachable.Unlock()
	if unreachable.err != nil {
		t.Fatalf("%s: %v", need, unreachable.err)
	}
	c, err := New(context.Background(), testConfig(dsn))
	if err != nil {
		unreachable.err = err
		t.Fatalf("%s: %v", need, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openTable(t testing.TB, c *Connector, s *schema.Schema) *Table {
	t.Helper()
	tb, err := c.Table(context.Background(), s)
	if err != nil {
		t.Fatalf("Table(%s): %v", s.Name, err)
	}
	return tb.(*Table)
}

func scanAll(t testing.TB, ctx context.Context, tb port.Table) []schema.Row {
	t.Helper()
	var out []schema.Row
	if err := tb.Scan(ctx, func(r schema.Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func upsert(t testing.TB, ctx context.Context, tb port.Table, rows ...schema.Row) {
	t.Helper()
	if err := tb.Upsert(ctx, rows); err != nil {
		t.Fatalf("Upsert: %v", err)
	}
}

func dec(s string) decimal.Decimal { return decimal.MustParse(s) }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// itemSchema is a small table keyed by an int id.
func itemSchema(name string) *schema.Schema {
	return schema.MustNew(name, []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "label", Type: schema.StringType},
		{Name: "amount", Type: schema.MoneyType},
	}, "id")
}

// item is a row of itemSchema; amount is padded to the 2 places money is read back with.
func item(id int, label, amount string) schema.Row { return schema.Row{id, label, dec(amount).Pad(2)} }

// sameRow reports whether a and b hold equal values (decimals by value and
// scale, times by instant).
func sameRow(a, b schema.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		switch x := a[i].(type) {
		case decimal.Decimal:
			y, ok := b[i].(decimal.Decimal)
			if !ok || x.Cmp(y) != 0 || x.Scale() != y.Scale() {
				return false
			}
		case time.Time:
			y, ok := b[i].(time.Time)
			if !ok || !x.Equal(y) || y.Location() != time.UTC {
				return false
			}
		default:
			if a[i] != b[i] {
				return false
			}
		}
	}
	return true
}

func checkRows(t testing.TB, what string, got, want []schema.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d:\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range want {
		if (got[i] == nil) != (want[i] == nil) || (want[i] != nil && !sameRow(got[i], want[i])) {
			t.Fatalf("%s: row %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

func testConfig(dsn string) port.Config {
	return port.Config{Name: "test", Kind: KindName, Options: map[string]string{"dsn": dsn}}
}
