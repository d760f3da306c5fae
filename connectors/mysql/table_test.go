package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

func TestRoundTrip(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, everyType("every_type"))
	seen := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	rows := []schema.Row{
		{"a", 1, dec("909.78"), dec("1.2500"), dec("909.78"), "plain", day(2024, 2, 29), seen, true,
			-7, dec("-0.01"), dec("12345678901234.56"), "x", day(1999, 12, 31), seen.Add(-time.Hour), false},
		{"b", -9223372036854775808, dec("-0.01"), dec("-0.0001"), dec("-0.01"), "", day(1000, 1, 1), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), false,
			nil, nil, nil, nil, nil, nil, nil},
		{"c", 9223372036854775807, dec("12345678901234.56"), dec("0.0000"), dec("12345678901234.56"), strings.Repeat("é", 2048), day(9999, 12, 31), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), true,
			0, dec("0.00"), dec("0.000000001"), "", day(2024, 1, 1), seen, true},
		{"d", 0, dec("0.00"), dec("1.0000"), dec("100"), "trailing zeros of any scale go", day(2024, 1, 2), seen, false,
			nil, nil, dec("1234567890123456789"), nil, nil, nil, nil},
	}
	upsert(t, ctx, tb, rows...)
	// Decimals of any scale come back without trailing zeros: 100 stays 100.
	got, err := tb.Get(ctx, []any{"d", "c", "a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "Get", got, []schema.Row{rows[3], rows[2], rows[0], rows[1]})
	checkRows(t, "Scan", scanAll(t, ctx, tb), rows)
	// A fresh connector reads the same values (nothing is cached).
	checkRows(t, "Scan again", scanAll(t, ctx, openTable(t, openDSN(t, dsnOf(t, c)), everyType("every_type"))), rows)
}

func TestValueConversion(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	s := schema.MustNew("conv", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "money", Type: schema.MoneyType},
		{Name: "amount", Type: schema.DecimalType},
		{Name: "born", Type: schema.DateType},
		{Name: "seen", Type: schema.DateTimeType},
	}, "id")
	tb := openTable(t, c, s)
	plus2 := time.FixedZone("+02", 2*3600)
	upsert(t, ctx, tb, schema.Row{1, 5, 7, time.Date(2024, 3, 1, 0, 0, 0, 0, plus2), time.Date(2024, 3, 1, 1, 30, 0, 999, plus2)},
		schema.Row{2, dec("1.005"), dec("1.50"), day(2024, 3, 2), day(2024, 3, 2)})
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{
		{1, dec("5.00"), dec("7"), day(2024, 3, 1), time.Date(2024, 2, 29, 23, 30, 0, 0, time.UTC)},
		{2, dec("1.00"), dec("1.5"), day(2024, 3, 2), day(2024, 3, 2)}, // money rounds half to even
	})
	bad := []struct {
		name string
		row  schema.Row
		want string
	}{
		{"too many places", schema.Row{3, dec("1"), dec("0.00000000001"), day(2024, 1, 1), day(2024, 1, 1)}, "more than the 10 decimal places"},
		{"null", schema.Row{3, nil, dec("1"), day(2024, 1, 1), day(2024, 1, 1)}, "column money: " + schema.ErrNull.Error()},
		{"wrong type", schema.Row{3, "1.00", dec("1"), day(2024, 1, 1), day(2024, 1, 1)}, "a string value does not fit a money column"},
		{"short row", schema.Row{3, dec("1")}, "row 0 has 2 values, want 5"},
		{"null key", schema.Row{nil, dec("1"), dec("1"), day(2024, 1, 1), day(2024, 1, 1)}, "column id: "},
	}
	for _, tc := range bad {
		err := tb.Upsert(ctx, []schema.Row{tc.row})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "mysql table conv on ") {
			t.Errorf("%s: Upsert: %v, want an error naming the table and containing %q", tc.name, err, tc.want)
		}
	}
	if n := len(scanAll(t, ctx, tb)); n != 2 {
		t.Errorf("%d rows after failed upserts, want 2", n)
	}
}

func TestScanKeyOrder(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		keyType schema.Type
		keys    []any
		want    []any
	}{
		{"ints", schema.IntType, []any{5, -3, 9, 0, 100, -100}, []any{-100, -3, 0, 5, 9, 100}},
		{"strings, binary order", schema.StringType, []any{"b", "B", "a", "A", "ab", "", "é", "z"}, []any{"", "A", "B", "a", "ab", "b", "z", "é"}},
		{"decimals", schema.DecimalType, []any{dec("10"), dec("-1.5"), dec("2"), dec("0.001")}, []any{dec("-1.5"), dec("0.001"), dec("2"), dec("10")}},
		{"dates", schema.DateType, []any{day(2024, 3, 1), day(2023, 12, 31), day(2024, 1, 15)}, []any{day(2023, 12, 31), day(2024, 1, 15), day(2024, 3, 1)}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := schema.MustNew(fmt.Sprintf("order_%d", i), []schema.Column{{Name: "k", Type: tc.keyType}, {Name: "v", Type: schema.IntType}}, "k")
			tb := openTable(t, c, s)
			var rows, want []schema.Row
			for j, k := range tc.keys {
				rows = append(rows, schema.Row{k, j})
			}
			upsert(t, ctx, tb, rows...)
			for _, k := range tc.want {
				for _, r := range rows {
					if schema.Compare(r[0], k) == 0 {
						want = append(want, r)
					}
				}
			}
			checkRows(t, "Scan", scanAll(t, ctx, tb), want)
		})
	}
}

func TestUpsertReplacesAndTruncate(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, tb, item(1, "one", "1.00"), item(2, "two", "2.00"))
	// Within one call the last row of a key wins.
	upsert(t, ctx, tb, item(2, "TWO", "-2.50"), item(3, "three", "3.00"), item(3, "THREE", "33.00"))
	checkRows(t, "Scan", scanAll(t, ctx, tb), []schema.Row{item(1, "one", "1.00"), item(2, "TWO", "-2.50"), item(3, "THREE", "33.00")})
	if err := tb.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	checkRows(t, "Scan after Truncate", scanAll(t, ctx, tb), nil)
	upsert(t, ctx, tb, item(4, "four", "4.00"))
	checkRows(t, "Scan after refill", scanAll(t, ctx, tb), []schema.Row{item(4, "four", "4.00")})
}

func TestUpsertLarge(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	// Many columns: fewer rows per statement (65535 parameters at most).
	cols := []schema.Column{{Name: "id", Type: schema.IntType}}
	for i := range 99 {
		cols = append(cols, schema.Column{Name: fmt.Sprintf("c%d", i), Type: schema.IntType})
	}
	wide := openTable(t, c, schema.MustNew("wide", cols, "id"))
	if got := wide.insert.maxRows; got != 655 {
		t.Errorf("rows per statement for 100 columns: %d, want 655", got)
	}
	var rows []schema.Row
	for i := range 2000 {
		r := make(schema.Row, len(cols))
		for j := range r {
			r[j] = i * j
		}
		r[0] = i
		rows = append(rows, r)
	}
	upsert(t, ctx, wide, rows...)
	checkRows(t, "Scan wide", scanAll(t, ctx, wide), rows)

	// Long strings: 3000 rows, three statements.
	tb := openTable(t, c, itemSchema("items"))
	rows = rows[:0]
	long := strings.Repeat("é", 2048)
	for i := range 3000 {
		rows = append(rows, item(i, long, "1.00"))
	}
	upsert(t, ctx, tb, rows...)
	if n := len(scanAll(t, ctx, tb)); n != 3000 {
		t.Fatalf("%d rows, want 3000", n)
	}
}

func TestInsertChunks(t *testing.T) {
	cols := make([]string, 10)
	for i := range cols {
		cols[i] = fmt.Sprint("c", i)
	}
	ins := newInsertSQL("t", cols, cols[:1])
	long := strings.Repeat("x", 2048)
	args := make([]any, 0, 1000*len(cols))
	for range 1000 * len(cols) {
		args = append(args, long)
	}
	row := 10 * (2048 + 9) // bytes of one row's values, with their length prefixes
	tests := []struct {
		name   string
		args   []any
		budget int
		want   int
	}{
		{"rows of 20 KiB under 4 MiB", args, maxWriteBytes, maxWriteBytes / row},
		{"3 rows", args[:30], maxWriteBytes, 3},
		{"budget of 2.5 rows", args, row * 5 / 2, 2},
		{"budget of exactly 2 rows", args, 2 * row, 2},
		{"a row over the budget goes alone", args, row / 2, 1},
	}
	for _, tt := range tests {
		if n := ins.chunkUnder(tt.args, 0, tt.budget); n != tt.want {
			t.Errorf("%s: %d rows per statement, want %d", tt.name, n, tt.want)
		}
	}
	if n := ins.chunk(args, 0); n != maxWriteBytes/row {
		t.Errorf("chunk: %d rows, want %d", n, maxWriteBytes/row)
	}
	if got := ins.statement(2); got != "INSERT INTO `t` (`c0`, `c1`, `c2`, `c3`, `c4`, `c5`, `c6`, `c7`, `c8`, `c9`) VALUES "+
		"(?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE `c1`=VALUES(`c1`), `c2`=VALUES(`c2`), `c3`=VALUES(`c3`), "+
		"`c4`=VALUES(`c4`), `c5`=VALUES(`c5`), `c6`=VALUES(`c6`), `c7`=VALUES(`c7`), `c8`=VALUES(`c8`), `c9`=VALUES(`c9`)" {
		t.Errorf("statement(2) = %s", got)
	}
}

func TestGet(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, itemSchema("items"))
	var rows []schema.Row
	for i := range 2500 {
		rows = append(rows, item(i*2, fmt.Sprint("item ", i), fmt.Sprintf("%d.%02d", i, i%100)))
	}
	upsert(t, ctx, tb, rows...)

	tests := []struct {
		name string
		keys []any
		want []schema.Row
	}{
		{"none", nil, []schema.Row{}},
		{"missing and odd keys", []any{1, 0, nil, "0", 4, 4, 99999, 2.0},
			[]schema.Row{nil, rows[0], nil, nil, rows[2], rows[2], nil, nil}},
	}
	// 2500 present keys in reverse and 2500 missing ones, interleaved: 5000 keys, 5 statements.
	var many []any
	var manyWant []schema.Row
	for i := 2499; i >= 0; i-- {
		many = append(many, i*2, i*2+1)
		manyWant = append(manyWant, rows[i], nil)
	}
	tests = append(tests, struct {
		name string
		keys []any
		want []schema.Row
	}{"chunked", many, manyWant})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tb.Get(ctx, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, "Get", got, tc.want)
		})
	}
}

func TestGetKeysAsTheDatabaseCompares(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	ds := schema.MustNew("by_decimal", []schema.Column{{Name: "k", Type: schema.DecimalType}, {Name: "v", Type: schema.IntType}}, "k")
	dt := openTable(t, c, ds)
	upsert(t, ctx, dt, schema.Row{dec("1.5"), 1}, schema.Row{dec("2"), 2})
	got, err := dt.Get(ctx, []any{dec("1.50"), dec("2.000"), 2, dec("3")})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "Get decimals", got, []schema.Row{{dec("1.5"), 1}, {dec("2"), 2}, {dec("2"), 2}, nil})

	ss := schema.MustNew("by_string", []schema.Column{{Name: "k", Type: schema.StringType}, {Name: "v", Type: schema.IntType}}, "k")
	st := openTable(t, c, ss)
	upsert(t, ctx, st, schema.Row{"a", 1}, schema.Row{"", 2})
	got, err = st.Get(ctx, []any{"A", "a", "", "b"})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "Get strings", got, []schema.Row{nil, {"a", 1}, {"", 2}, nil})
}

func TestScanStopsAtFnError(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	tb := openTable(t, c, itemSchema("items"))
	upsert(t, ctx, tb, item(1, "a", "1"), item(2, "b", "2"), item(3, "c", "3"))
	stop := errors.New("enough")
	calls := 0
	err := tb.Scan(ctx, func(r schema.Row) error {
		calls++
		if calls == 2 {
			return stop
		}
		// fn may use the table while Scan streams.
		_, err := tb.Get(ctx, []any{r[0]})
		return err
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("Scan: %v after %d calls, want %v after 2", err, calls, stop)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := tb.Scan(cctx, func(schema.Row) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with a cancelled context: %v", err)
	}
}

// TestScanPages reads tables larger than a page, keyed by ints and by
// strings (including keys that differ in case, and in a trailing character
// that sorts before a space), every row once and in key order, all from one
// snapshot; and a scan stopped early reads only its first pages.
func TestScanPages(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	const n = 3*firstScanPage + 17 // the first three pages and part of a fourth
	tb := openTable(t, c, benchSchema())
	want := benchRows(n)
	upsert(t, ctx, tb, want...)
	for _, r := range want {
		r[4] = r[4].(decimal.Decimal).Trim(0) // read back without trailing zeros
	}
	got := scanAll(t, ctx, tb)
	checkRows(t, "Scan of int keys", got, want)

	st := openTable(t, c, schema.MustNew("strs", []schema.Column{
		{Name: "k", Type: schema.StringType},
		{Name: "v", Type: schema.IntType},
	}, "k"))
	var rows []schema.Row
	for i := range n {
		rows = append(rows, schema.Row{fmt.Sprintf("k%05d", i), i})
	}
	rows = append(rows, schema.Row{"K00001", -1}, schema.Row{"k00001\t", -2}, schema.Row{"", -3})
	upsert(t, ctx, st, rows...)
	seen := map[string]bool{}
	err := st.Scan(ctx, func(r schema.Row) error {
		k := r[0].(string)
		if seen[k] {
			return fmt.Errorf("key %q twice", k)
		}
		// Rows written while the scan runs are not seen: one snapshot.
		if len(seen) == firstScanPage+1 {
			if err := st.Upsert(ctx, []schema.Row{{"zzz", 0}}); err != nil {
				return err
			}
		}
		seen[k] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !seen[r[0].(string)] {
			t.Errorf("Scan of string keys: %q missing", r[0])
		}
	}
	if len(seen) != len(rows) {
		t.Errorf("Scan of string keys: %d keys, want %d", len(seen), len(rows))
	}

	stop := errors.New("enough")
	calls := 0
	err = tb.Scan(ctx, func(schema.Row) error {
		calls++
		if calls == firstScanPage+1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != firstScanPage+1 {
		t.Fatalf("Scan stopped in the second page: %v after %d calls", err, calls)
	}
}

func TestScanBatches(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	const n = 3*firstScanPage + 17
	tb := openTable(t, c, benchSchema())
	want := benchRows(n)
	upsert(t, ctx, tb, want...)
	for _, r := range want {
		r[4] = r[4].(decimal.Decimal).Trim(0) // read back without trailing zeros
	}
	for _, size := range []int{0, 1, 300, 4096} {
		var got []schema.Row
		err := tb.ScanBatches(ctx, size, func(rows []schema.Row) error {
			if len(rows) == 0 || len(rows) > max(size, 1024) || (size > 0 && len(rows) > size) {
				return fmt.Errorf("a batch of %d rows", len(rows))
			}
			for _, r := range rows {
				got = append(got, r.Clone())
			}
			return nil
		})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		checkRows(t, fmt.Sprintf("ScanBatches(%d)", size), got, want)
	}
	// Inside a tx too, and an error of fn stops it.
	stop := errors.New("enough")
	var got []schema.Row
	err := c.InTx(ctx, nil, func(ctx context.Context) error {
		return tb.ScanBatches(ctx, 1000, func(rows []schema.Row) error {
			got = append(got, rows...)
			if len(got) == 2000 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || len(got) != 2000 {
		t.Fatalf("ScanBatches in a tx stopped with %v after %d rows", err, len(got))
	}
	checkRows(t, "ScanBatches in a tx", got, want[:2000])
}

// ScanBatches of an int-keyed table reads slices of keys on two connections
// within one snapshot: rows written while it runs are not seen, keys far
// apart and an empty table are read too, and a writer with a tx open
// holds the scan up until it commits.
func TestScanBatchesParallel(t *testing.T) {
	c, _ := openTest(t)
	ctx := context.Background()
	s := schema.MustNew("par", []schema.Column{{Name: "k", Type: schema.IntType}, {Name: "v", Type: schema.IntType}}, "k")
	tb := openTable(t, c, s)
	collect := func() ([]schema.Row, error) {
		var got []schema.Row
		err := tb.ScanBatches(ctx, 1000, func(rows []schema.Row) error {
			for _, r := range rows {
				got = append(got, r.Clone())
			}
			return nil
		})
		return got, err
	}
	if got, err := collect(); err != nil || len(got) != 0 {
		t.Fatalf("empty table: %d rows, %v", len(got), err)
	}
	const n = 5*sliceKeys + 77
	var want []schema.Row
	for i := range n {
		want = append(want, schema.Row{i*3 - 1000, i}) // gaps, negative keys
	}
	upsert(t, ctx, tb, want...)
	// Rows written once the scan has begun are not seen.
	var got []schema.Row
	err := tb.ScanBatches(ctx, 4096, func(rows []schema.Row) error {
		if len(got) == 0 {
			if err := tb.Upsert(ctx, []schema.Row{{-5000, 1}, {n * 3, 1}, {0, -1}}); err != nil {
				return err
			}
		}
		for _, r := range rows {
			got = append(got, r.Clone())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, "ScanBatches while writing", got, want)

	// Keys too far apart for slices: read as Scan reads them.
	upsert(t, ctx, tb, schema.Row{1 << 50, 7})
	got, err = collect()
	if err != nil || len(got) != n+4 || got[len(got)-1][0] != 1<<50 || got[0][0] != -5000 {
		t.Fatalf("sparse keys: %d rows, %v", len(got), err)
	}

	// A writer's open tx: the scan waits for it, then sees its rows.
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM `par` WHERE `k` >= ?", 1<<40); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO `par` VALUES (?, ?)", 1<<20, 9); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		tx.Commit()
	}()
	got, err = collect()
	if err != nil || len(got) != n+4 || got[len(got)-1][0] != 1<<20 {
		t.Fatalf("after a writer: %d rows, last %v, %v", len(got), got[len(got)-1], err)
	}
}
