package csv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pipeline/engine/schema"
)

// TestCheckFile: CheckFile finds what Open would fail on without reading
// rows, and only checks that a named pipe exists (opening one would wait
// for a writer, and reading it would take what the run needs).
func TestCheckFile(t *testing.T) {
	s := schema.MustNew("t", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "name", Type: schema.StringType},
		{Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "id")
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.csv", "id,name\n1,a\n2,\"unclosed\n")
	write("big.csv", "id,name\n"+strings.Repeat("1,"+strings.Repeat("x", 100)+"\n", 50_000)) // 5 MB: parsed in parallel by Open
	write("bad_header.csv", "id,nom\n1,a\n")
	write("empty.csv", "")
	if err := os.Mkdir(filepath.Join(dir, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string // "" for no error
	}{
		{"good.csv", ""},
		{"big.csv", ""},
		{"pipe.csv", ""},
		{"missing.csv", "open csv file: open " + filepath.Join(dir, "missing.csv") + ": no such file or directory"},
		{"folder.csv", "open csv file: " + filepath.Join(dir, "folder.csv") + " is a folder, not a file"},
		{"bad_header.csv", `bad_header.csv:1: header: missing columns name; unknown columns "nom" (schema t has columns id, name, note)`},
		{"empty.csv", "file empty.csv is empty: want a header row"},
	}
	c := New(dir)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- c.CheckFile(context.Background(), tt.path, s) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("CheckFile did not return within a minute")
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckFile: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckFile: %v, want an error containing %q", err, tt.want)
			}
			if tt.want != "" {
				if r, oerr := c.Open(context.Background(), tt.path, s); oerr == nil {
					r.Close()
					t.Errorf("CheckFile failed (%v) but Open succeeds", err)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.CheckFile(ctx, "good.csv", s); err == nil {
		t.Error("CheckFile with an ended context succeeded")
	}
}
