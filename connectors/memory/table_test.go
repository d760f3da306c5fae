package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func itemSchema(name string, keyType schema.Type) *schema.Schema {
	return schema.MustNew(name, []schema.Column{
		{Name: "id", Type: keyType},
		{Name: "label", Type: schema.StringType},
	}, "id")
}

func openTable(t testing.TB, c *Connector, s *schema.Schema) *Table {
	t.Helper()
	tb, err := c.Table(context.Background(), s)
	if err != nil {
		t.Fatalf("Table(%s): %v", s.Name, err)
	}
	return tb.(*Table)
}

func scanAll(t testing.TB, tb port.Table) []schema.Row {
	t.Helper()
	var out []schema.Row
	if err := tb.Scan(context.Background(), func(r schema.Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func TestTableUpsertGetScan(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	dec := func(s string) decimal.Decimal { return decimal.MustParse(s) }
	tests := []struct {
		name    string
		keyType schema.Type
		batches [][]any // keys upserted per call; Scan is checked after each call
	}{
		{"ascending ints", schema.IntType, [][]any{{1, 2, 3}, {4, 5}, {6}}},
		{"out of order ints", schema.IntType, [][]any{{5, 3, 9, 1}, {7, 2}, {8}, {0, 10, -4}}},
		{"ascending then out of order", schema.IntType, [][]any{{1, 2, 3, 10}, {11, 4}, {12}, {0}}},
		{"replace same key", schema.IntType, [][]any{{1, 2, 3}, {2, 2, 1}, {3, 0, 3}}},
		{"out of order strings", schema.StringType, [][]any{{"pear", "apple", "fig"}, {"banana", "apple"}, {"zucchini", "", "Apple"}}},
		{"ascending strings", schema.StringType, [][]any{{"a", "b"}, {"c"}, {"b", "d"}}},
		{"decimals", schema.DecimalType, [][]any{{dec("2.5"), dec("-1"), dec("10")}, {dec("0.01"), dec("2.5")}}},
		{"dates", schema.DateType, [][]any{{day(3), day(1)}, {day(2), day(3)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tb := openTable(t, New(), itemSchema("items", tc.keyType))
			want := map[any]schema.Row{}
			for b, keys := range tc.batches {
				rows := make([]schema.Row, len(keys))
				for i, k := range keys {
					rows[i] = schema.Row{k, fmt.Sprintf("batch %d row %d", b, i)}
					want[k] = rows[i]
				}
				if err := tb.Upsert(ctx, rows); err != nil {
					t.Fatalf("Upsert batch %d: %v", b, err)
				}
				checkTable(t, tb, want)
			}
		})
	}
}

// checkTable asserts that tb holds exactly want, scans in key order and serves Get.
func checkTable(t *testing.T, tb *Table, want map[any]schema.Row) {
	t.Helper()
	keys := make([]any, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, schema.Compare)
	got := scanAll(t, tb)
	if len(got) != len(keys) || tb.Len() != len(keys) {
		t.Fatalf("Scan returned %d rows, Len %d, want %d", len(got), tb.Len(), len(keys))
	}
	for i, k := range keys {
		if schema.Compare(got[i][0], k) != 0 || got[i][1] != want[k][1] {
			t.Fatalf("Scan row %d = %v, want %v", i, got[i], want[k])
		}
	}
	rows, err := tb.Get(context.Background(), append(keys, "missing", nil))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	for i, k := range keys {
		if rows[i] == nil || rows[i][1] != want[k][1] {
			t.Fatalf("Get(%v) = %v, want %v", k, rows[i], want[k])
		}
	}
	if rows[len(keys)] != nil || rows[len(keys)+1] != nil {
		t.Fatalf("Get of a missing key and a nil key = %v, %v, want nil, nil", rows[len(keys)], rows[len(keys)+1])
	}
}

func TestTableRandomOrder(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[any]schema.Row{}
	for b := range 30 {
		n := rng.IntN(200)
		rows := make([]schema.Row, n)
		for i := range rows {
			k := rng.IntN(2000)
			if b%3 == 0 {
				k = 2000*b + i // an ascending run
			}
			rows[i] = schema.Row{k, fmt.Sprint(b, "/", i)}
			want[k] = rows[i]
		}
		if err := tb.Upsert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		if b%4 == 0 {
			checkTable(t, tb, want)
		}
	}
	checkTable(t, tb, want)
}

func TestTableTruncate(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	if err := tb.Upsert(ctx, []schema.Row{{3, "c"}, {1, "a"}}); err != nil {
		t.Fatal(err)
	}
	scanAll(t, tb)
	if err := tb.Truncate(ctx); err != nil {
		t.Fatal(err)
	}
	checkTable(t, tb, map[any]schema.Row{})
	if err := tb.Upsert(ctx, []schema.Row{{9, "i"}, {2, "b"}, {5, "e"}}); err != nil {
		t.Fatal(err)
	}
	checkTable(t, tb, map[any]schema.Row{9: {9, "i"}, 2: {2, "b"}, 5: {5, "e"}})
}

func TestTableUpsertErrors(t *testing.T) {
	tests := []struct {
		name string
		row  schema.Row
		want string
	}{
		{"too short", schema.Row{1}, "has 1 values, want 2"},
		{"too long", schema.Row{1, "a", "b"}, "has 3 values, want 2"},
		{"nil row", nil, "has 0 values, want 2"},
		{"nil key", schema.Row{nil, "a"}, "key column id is null"},
		{"wrong key type", schema.Row{"1", "a"}, "key column id holds a string, want a int"},
		{"unhashable key", schema.Row{[]byte("1"), "a"}, "holds a []uint8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tb := openTable(t, New(), itemSchema("items", schema.IntType))
			err := tb.Upsert(ctx, []schema.Row{{7, "ok"}, tc.row})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "items") {
				t.Fatalf("Upsert error = %v, want one naming the table and containing %q", err, tc.want)
			}
			if tb.Len() != 0 {
				t.Fatalf("a failed Upsert stored %d rows, want none", tb.Len())
			}
		})
	}
}

func TestTableGetOddKeys(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	if err := tb.Upsert(ctx, []schema.Row{{1, "a"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := tb.Get(ctx, []any{[]byte("1"), int64(1), "1", 1, nil})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0] != nil || rows[1] != nil || rows[2] != nil || rows[3] == nil || rows[4] != nil {
		t.Fatalf("Get = %v, want only the int key found", rows)
	}
}

func TestConnectorTable(t *testing.T) {
	ctx := context.Background()
	c := New()
	first := openTable(t, c, itemSchema("items", schema.IntType))
	again := openTable(t, c, itemSchema("items", schema.IntType))
	if first != again {
		t.Fatal("second Table call with the same schema returned another table")
	}
	other := openTable(t, c, itemSchema("others", schema.IntType))
	if other == first {
		t.Fatal("tables of different names are the same table")
	}
	bad := []struct {
		name string
		s    *schema.Schema
		want string
	}{
		{"other key type", itemSchema("items", schema.StringType), "memory table items: already open"},
		{"other key column", schema.MustNew("items", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "label", Type: schema.StringType}}, "label"), "memory table items: already open"},
		{"more columns", schema.MustNew("items", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "label", Type: schema.StringType}, {Name: "n", Type: schema.IntType}}, "id"), "memory table items: already open"},
		{"no key", schema.MustNew("loose", []schema.Column{{Name: "id", Type: schema.IntType}}, ""), "memory table loose: schema has no key column"},
		{"no schema", nil, "no schema"},
		{"no name", schema.MustNew("", []schema.Column{{Name: "id", Type: schema.IntType}}, "id"), "no name"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Table(ctx, tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Table error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTableScanStopsAndReenters(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	if err := tb.Upsert(ctx, []schema.Row{{2, "b"}, {1, "a"}, {3, "c"}}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	seen := 0
	err := tb.Scan(ctx, func(r schema.Row) error {
		seen++
		// fn may use the table it scans: Scan holds no lock while fn runs.
		if err := tb.Upsert(ctx, []schema.Row{{r[0].(int) + 10, "x"}}); err != nil {
			return err
		}
		if seen == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 2 {
		t.Fatalf("Scan = %v after %d rows, want stop after 2", err, seen)
	}
	if tb.Len() != 5 {
		t.Fatalf("Len = %d, want 5", tb.Len())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := tb.Scan(cancelled, func(schema.Row) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestTableConcurrent(t *testing.T) {
	ctx := context.Background()
	tb := openTable(t, New(), itemSchema("items", schema.IntType))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := (i*7919 + w) % 500
				if err := tb.Upsert(ctx, []schema.Row{{k, "x"}}); err != nil {
					t.Error(err)
					return
				}
				if _, err := tb.Get(ctx, []any{k}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				prev := -1 << 62
				for _, r := range scanAll(t, tb) {
					if r[0].(int) <= prev {
						t.Errorf("Scan out of order: %d after %d", r[0], prev)
						return
					}
					prev = r[0].(int)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkUpsert(b *testing.B) {
	const n = 1_000_000
	s := itemSchema("items", schema.IntType)
	ascending := make([]schema.Row, n)
	for i := range ascending {
		ascending[i] = schema.Row{i, "x"}
	}
	shuffled := slices.Clone(ascending)
	rand.New(rand.NewPCG(3, 4)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		rows  []schema.Row
		batch int
	}{
		{"ascending/one-call", ascending, n},
		{"ascending/batches-of-1000", ascending, 1000},
		{"shuffled/one-call", shuffled, n},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tb := newTable(s)
				for i := 0; i < n; i += bc.batch {
					if err := tb.Upsert(ctx, bc.rows[i:min(n, i+bc.batch)]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1M-rows")
		})
	}
	b.Run("shuffled/upsert+scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb := newTable(s)
			if err := tb.Upsert(ctx, shuffled); err != nil {
				b.Fatal(err)
			}
			if err := tb.Scan(ctx, func(schema.Row) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1M-rows")
	})
}

func TestTableKeysAsGiven(t *testing.T) {
	ctx := context.Background()
	c := New()
	// Decimals of different scales are different keys: nothing is normalised.
	dt := openTable(t, c, itemSchema("decimals", schema.DecimalType))
	one, oneHundredths := decimal.MustParse("1.0"), decimal.MustParse("1.00")
	if err := dt.Upsert(ctx, []schema.Row{{one, "a"}, {oneHundredths, "b"}, {one, "c"}}); err != nil {
		t.Fatal(err)
	}
	if dt.Len() != 2 {
		t.Fatalf("Len = %d, want 2", dt.Len())
	}
	rows, _ := dt.Get(ctx, []any{one, oneHundredths})
	if rows[0][1] != "c" || rows[1][1] != "b" {
		t.Fatalf("Get = %v, want rows c and b", rows)
	}
	// A key column of no declared kind takes any comparable value, and
	// refuses values that cannot be map keys instead of panicking.
	s := schema.MustNew("loose", []schema.Column{{Name: "id"}, {Name: "label", Type: schema.StringType}}, "id")
	lt := openTable(t, c, s)
	if lt.Schema() != s {
		t.Fatal("Schema returned another schema")
	}
	if err := lt.Upsert(ctx, []schema.Row{{"b", "x"}, {2, "y"}, {true, "z"}}); err != nil {
		t.Fatal(err)
	}
	if got := len(scanAll(t, lt)); got != 3 {
		t.Fatalf("Scan returned %d rows, want 3", got)
	}
	if err := lt.Upsert(ctx, []schema.Row{{[]int{1}, "x"}}); err == nil {
		t.Fatal("Upsert of an unhashable key succeeded")
	}
	if rows, err := lt.Get(ctx, []any{[]int{1}, 2}); err != nil || rows[0] != nil || rows[1] == nil {
		t.Fatalf("Get = %v, %v, want nil and the row of key 2", rows, err)
	}
}
