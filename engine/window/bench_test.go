package window

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/govalues/decimal"

	"pipeline/engine/schema"
)

// BenchmarkAggregateAndAdd is the work a record does in one window: see
// the values over its key's records, then enter (a 24 h sum over a key
// holding about as many records as a busy card of tools/gendata).
func BenchmarkAggregateAndAdd(b *testing.B) {
	sp, err := NewSpec(24*time.Hour, []Value{{Name: "amount", Func: Sum, Arg: schema.MoneyType}})
	if err != nil {
		b.Fatal(err)
	}
	s := &State{}
	out := make([]any, 1)
	amount := any(decimal.MustNew(1234, 2))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t := at(time.Duration(i) * 30 * time.Minute)
		if err := sp.Aggregate(s, t, out); err != nil {
			b.Fatal(err)
		}
		sp.Add(s, Entry{Time: t, ID: 123456, Args: []any{amount}})
	}
}

// BenchmarkBytesPerKey reports what one key of a window costs in memory:
// its state holding 2 records (a card of tools/gendata's 1M dataset holds
// 1 to 2 in a 24 h window), and the cache entry a stream stage keeps for it.
func BenchmarkBytesPerKey(b *testing.B) {
	for _, entries := range []int{0, 2, 10} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			sp, err := NewSpec(24*time.Hour, []Value{{Name: "count", Func: Count}, {Name: "amount", Func: Sum, Arg: schema.MoneyType}})
			if err != nil {
				b.Fatal(err)
			}
			const keys = 100_000
			var before, after runtime.MemStats
			for b.Loop() {
				runtime.GC()
				runtime.ReadMemStats(&before)
				cache := make(map[int]*State, keys)
				for k := range keys {
					s := &State{}
					for e := range entries {
						sp.Add(s, Entry{Time: at(time.Duration(e) * time.Hour), ID: 1_000_000 + k*entries + e,
							Args: []any{nil, decimal.MustNew(int64(k+e), 2)}})
					}
					if entries == 0 {
						sp.Observe(s, at(0))
					}
					cache[k] = s
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "bytes/key")
				runtime.KeepAlive(cache)
			}
		})
	}
}
