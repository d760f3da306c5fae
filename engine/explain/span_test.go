package explain

import (
	"testing"
	"time"
)

// TestSpanText writes spans as a spec does.
func TestSpanText(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Minute, "10m"}, {24 * time.Hour, "24h"}, {7 * 24 * time.Hour, "7d"}, {90 * time.Minute, "1h30m"}, {30 * time.Second, "30s"}, {49 * time.Hour, "49h"},
	} {
		if got := spanText(c.d); got != c.want {
			t.Errorf("spanText(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if records(1) != "1 record" || records(3) != "3 records" {
		t.Errorf("records: %q, %q", records(1), records(3))
	}
}
