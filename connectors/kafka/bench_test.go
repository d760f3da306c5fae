package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pipeline/engine/port"
)

// benchRows is the number of rows each benchmark iteration publishes and consumes.
const benchRows = 100_000

// BenchmarkPublishConsume publishes benchRows rows (5 columns, 1000 keys) to
// a fresh 6-partition topic of the embedded broker and consumes them in a
// group, reporting rows per second of each half and of the whole.
func BenchmarkPublishConsume(b *testing.B) {
	c := newConnector(b)
	rows := eventRows(benchRows, 1000)
	ctx := context.Background()
	var pubTime, conTime time.Duration
	i := 0
	for b.Loop() {
		tp := openTopic(b, c, fmt.Sprintf("bench-%d", i), 6)
		i++
		start := time.Now()
		if err := tp.Publish(ctx, rows); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		n := 0
		err := tp.Consume(ctx, port.ConsumeOptions{Group: "bench"}, func(_ context.Context, msgs []port.Message) error {
			for _, m := range msgs {
				if m.Err != nil {
					return m.Err
				}
			}
			n += len(msgs)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != benchRows {
			b.Fatalf("consumed %d rows, want %d", n, benchRows)
		}
		pubTime += mid.Sub(start)
		conTime += time.Since(mid)
	}
	total := float64(benchRows * i)
	b.ReportMetric(total/pubTime.Seconds(), "publish-rows/s")
	b.ReportMetric(total/conTime.Seconds(), "consume-rows/s")
	b.ReportMetric(total/(pubTime+conTime).Seconds(), "rows/s")
}
