package main

import "testing"

func TestMemTotal(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"MemTotal:       24684084 kB\nMemFree:         1000 kB\n", 24684084 << 10},
		{"MemFree:  5 kB\nMemTotal: 2048 kB", 2048 << 10},
		{"MemTotal: 2048 MB\n", 0},
		{"MemTotal: lots kB\n", 0},
		{"MemTotal: -5 kB\n", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := memTotal(tt.in); got != tt.want {
			t.Errorf("memTotal(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
