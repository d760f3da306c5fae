package csv

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestParallelSameAsSequential reads inputs in chunks of a few bytes on
// several goroutines and checks every result (rows, lines, row errors and
// their payloads, the error that ends reading) is what reading in one go gives.
func TestParallelSameAsSequential(t *testing.T) {
	defer func(m int64, c int) { parallelMin, chunkSize = m, c }(parallelMin, chunkSize)
	parallelMin = 0
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	inputs := map[string]string{
		"plain":          "id,amount,day,note\n1,12.50,2024-01-02,first\n2,-3,2024-02-29,\n3,0.5,2024-03-01,third\n",
		"crlf":           "id,amount,day,note\r\n1,12.50,2024-01-02,first\r\n2,-3,2024-02-29,\r\n",
		"bom":            "\xEF\xBB\xBFid,amount,day,note\n1,12.50,2024-01-02,first\n",
		"no final eol":   "id,amount,day,note\n1,1,2024-01-02,a\n2,2,2024-01-02,b",
		"final cr":       "id,amount,day,note\n1,1,2024-01-02,a\r",
		"quoted lines":   "id,amount,day,note\n1,1,2024-01-02,\"a\nb\"\n2,2,2024-01-02,\"x,\"\"y\"\"\nz\"\n3,3,2024-01-03,c\n",
		"blank lines":    "id,amount,day,note\n\n1,1,2024-01-02,a\n\n\n2,2,2024-01-02,b\n\n",
		"bad values":     "id,amount,day,note\nx,1,2024-01-02,a\n2,1.001,2024-01-02,b\n3,1,2024-13-02,c\n4,4,2024-01-04,d\n",
		"field counts":   "id,amount,day,note\n1,1,2024-01-02\n2,2,2024-01-02,b,extra\n3,3,2024-01-03,c\n",
		"bare quote":     "id,amount,day,note\n1,1,2024-01-02,a\"b\n2,2,2024-01-02,\"b\n3,3,2024-01-03,c\n4,4,2024-01-04,\"d\"\n",
		"open quote":     "id,amount,day,note\n1,1,2024-01-02,a\n2,2,2024-01-02,\"b\n3,3,2024-01-03,c\n",
		"quote then bad": "id,amount,day,note\n1,1,2024-01-02,\"a\"x\n2,2,2024-01-02,b\n",
		"header only":    "id,amount,day,note\n",
		"quoted header":  "\"id\",\"amount\",\"day\",\"note\"\r\n1,1,2024-01-02,a\r\n2,2,2024-01-02,\"b\nc\"\r\n",
		"blank first":    "id,amount,day,note\n\n\n1,1,2024-01-02,a\n",
	}
	for _, seed := range []uint64{1, 2, 3} {
		inputs[fmt.Sprint("random ", seed)] = randomCSV(rand.New(rand.NewPCG(seed, 7)), 300)
	}
	dir := t.TempDir()
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			want := readAll(t, openString(t, in, orders))
			sub := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sub, "in.csv"), []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{1, 3, 16, 64, 1 << 20} {
				chunkSize = size
				r, err := New(sub).Open(t.Context(), "in.csv", orders)
				if err != nil {
					t.Fatal(err)
				}
				if in != "id,amount,day,note\n" && r.(*Reader).par == nil {
					t.Fatal("the file is not read in parallel")
				}
				got := readAll(t, r)
				if _, _, err := r.Read(); len(got) > 0 && !strings.HasPrefix(got[len(got)-1].Err, "fatal") && err != io.EOF {
					t.Fatalf("Read after the end: %v, want io.EOF again", err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("chunks of %d bytes: %d results, want %d", size, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("chunks of %d bytes: result %d\n got %+v\nwant %+v", size, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// randomCSV returns a file of n records of the orders schema with quoted
// fields, embedded line breaks and commas, blank lines and some bad values.
func randomCSV(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString("id,amount,day,note\r\n")
	notes := []string{"plain", `"with, comma"`, "\"two\nlines\"", `"say ""hi"""`, "", `"a""b""c"`, "\"\r\n\"", "x"}
	for i := range n {
		amount := fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100))
		if rng.IntN(40) == 0 {
			amount = "bad"
		}
		fmt.Fprintf(&b, "%d,%s,2024-01-%02d,%s\r\n", i, amount, 1+rng.IntN(28), notes[rng.IntN(len(notes))])
		if rng.IntN(30) == 0 {
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

// TestParallelClose closes a reader in the middle of a big file.
func TestParallelClose(t *testing.T) {
	defer func(m int64, c int) { parallelMin, chunkSize = m, c }(parallelMin, chunkSize)
	parallelMin, chunkSize = 0, 64
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.csv"), []byte(randomCSV(rand.New(rand.NewPCG(9, 9)), 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(dir).Open(t.Context(), "big.csv", orders)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		r.Read()
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Read(); err == nil {
		t.Fatal("Read after Close: no error")
	}
}

// FuzzParallelSameAsSequential reads fuzzed files in chunks of a fuzzed
// size on several goroutines and compares every result with reading in one
// go: the quote counting that cuts chunks must never change what is read.
func FuzzParallelSameAsSequential(f *testing.F) {
	f.Add([]byte("id,amount,day,note\n1,1,2024-01-02,\"a\nb\"\n2,2,2024-01-02,b\n"), uint8(3))
	f.Add([]byte("id,amount,day,note\n1,1,2024-01-02,a\"b\n2,2,2024-01-02,\"b\n3,3,2024-01-03,c\n"), uint8(1))
	f.Add([]byte("id,amount,day,note\r\n1,1,2024-01-02,\"\r\n\"\r\n\r\n2,x,2024-01-02,\"\"\"\"\r\n"), uint8(5))
	f.Add([]byte(randomCSV(rand.New(rand.NewPCG(9, 9)), 20)), uint8(16))
	defer func(m int64, c int) { parallelMin, chunkSize = m, c }(parallelMin, chunkSize)
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		parallelMin, chunkSize = 0, 1+int(size)
		seq, err := NewReader(strings.NewReader(string(data)), "in.csv", orders)
		n++
		sub := filepath.Join(dir, fmt.Sprint(n))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(sub)
		if err := os.WriteFile(filepath.Join(sub, "in.csv"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		par, perr := New(sub).Open(t.Context(), "in.csv", orders)
		if (err == nil) != (perr == nil) {
			t.Fatalf("opening: in one go %v, in chunks %v", err, perr)
		}
		if err != nil {
			return
		}
		want := readAll(t, seq)
		got := readAll(t, par)
		par.Close()
		if len(got) != len(want) {
			t.Fatalf("chunks of %d bytes: %d results, want %d:\n got %+v\nwant %+v", chunkSize, len(got), len(want), got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("chunks of %d bytes: result %d\n got %+v\nwant %+v", chunkSize, i, got[i], want[i])
			}
		}
	})
}
