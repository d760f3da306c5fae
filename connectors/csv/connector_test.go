package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func TestKind(t *testing.T) {
	k := Kind()
	if k.Name != "csv" || k.Service || k.Doc == "" || k.New == nil {
		t.Fatalf("Kind() = %+v", k)
	}
	if len(k.Options) != 2 || k.Options[0].Name != "dir" || k.Options[1].Name != "line_ending" || k.Options[0].Doc == "" {
		t.Fatalf("options %+v, want dir and line_ending", k.Options)
	}
	var reg port.Registry
	reg.Register(k)
	if err := reg.Check(port.Config{Kind: "csv", Options: map[string]string{"dir": "x"}}); err != nil {
		t.Errorf("Check: %v", err)
	}
	tests := []struct {
		name    string
		cfg     port.Config
		wantDir string
	}{
		{"spec folder", port.Config{Dir: "/specs"}, "/specs"},
		{"working directory", port.Config{}, ""},
		{"absolute dir", port.Config{Dir: "/specs", Options: map[string]string{"dir": "/data"}}, "/data"},
		{"dir relative to spec", port.Config{Dir: "/specs", Options: map[string]string{"dir": "data/in"}}, "/specs/data/in"},
		{"relative dir without spec folder", port.Config{Options: map[string]string{"dir": "data"}}, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k.New(t.Context(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cc, ok := c.(*Connector)
			if !ok {
				t.Fatalf("New returned %T, want *Connector", c)
			}
			if cc.Dir() != tt.wantDir {
				t.Errorf("Dir() = %q, want %q", cc.Dir(), tt.wantDir)
			}
		})
	}
}

func TestConnectorPath(t *testing.T) {
	tests := []struct{ dir, path, want string }{
		{"/data", "in.csv", "/data/in.csv"},
		{"/data", "sub/in.csv", "/data/sub/in.csv"},
		{"/data", "/abs/in.csv", "/abs/in.csv"},
		{"", "in.csv", "in.csv"},
		{"rel", "in.csv", "rel/in.csv"},
	}
	for _, tt := range tests {
		if got := New(tt.dir).Path(tt.path); got != tt.want {
			t.Errorf("New(%q).Path(%q) = %q, want %q", tt.dir, tt.path, got, tt.want)
		}
	}
}

// files lists the names in dir, hidden ones included.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	s := schema.MustNew("everything", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "amount", Type: schema.MoneyType},
		{Name: "rate", Type: schema.Type{Kind: schema.Decimal, Scale: schema.AnyScale, Nullable: true}},
		{Name: "day", Type: schema.DateType},
		{Name: "at", Type: schema.Type{Kind: schema.DateTime, Nullable: true}},
		{Name: "text", Type: schema.StringType},
		{Name: "maybe", Type: schema.Type{Kind: schema.String, Nullable: true}},
		{Name: "ok", Type: schema.Type{Kind: schema.Bool, Nullable: true}},
	}, "id")
	rows := []schema.Row{
		{1, dec(t, "12.50"), dec(t, "0.125"), at(t, "2024-01-02 00:00:00"), at(t, "2024-01-02 03:04:05"), "plain", "x", true},
		{2, dec(t, "-0.01"), nil, at(t, "2024-02-29 00:00:00"), nil, "", nil, nil},
		{3, dec(t, "1000000.00"), dec(t, "-3"), at(t, "1970-01-01 00:00:00"), at(t, "2099-12-31 23:59:59"), "comma, \"quote\"\nand lines\n", "\r", false},
		{-9223372036854775808, dec(t, "0.00"), dec(t, "1e-5"), at(t, "0001-01-01 00:00:00"), nil, "\"", ",", nil},
		{9223372036854775807, dec(t, "99999999999999999.99"), dec(t, "0"), at(t, "9999-12-31 00:00:00"), nil, "ünïcødé ✓", " lead and trail ", true},
	}
	dir := t.TempDir()
	c := New(dir)
	w, err := c.Create(t.Context(), "out/rows.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := files(t, filepath.Join(dir, "out")); !slices.Equal(got, []string{"rows.csv"}) {
		t.Errorf("files after Close: %q, want just rows.csv", got)
	}
	r, err := c.Open(t.Context(), "out/rows.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	line := 2
	for i, want := range rows {
		got, src, err := r.Read()
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !sameRow(got, want) || show(got) != show(want) {
			t.Errorf("row %d:\n got %s\nwant %s", i, show(got), show(want))
		}
		if src != (port.Source{File: "out/rows.csv", Line: line}) {
			t.Errorf("row %d: source %v, want out/rows.csv:%d", i, src, line)
		}
		line++
		for _, v := range want {
			if s, ok := v.(string); ok {
				line += strings.Count(s, "\n")
			}
		}
	}
	if _, _, err := r.Read(); err == nil {
		t.Error("read past the last row: no error")
	}
}

func TestCreateReplacesOnClose(t *testing.T) {
	dir := t.TempDir()
	c := New(dir)
	final := filepath.Join(dir, "a", "b", "out.csv")
	w, err := c.Create(t.Context(), "a/b/out.csv", orders)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(final); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file exists before Close: %v", err)
	}
	if got := files(t, filepath.Dir(final)); len(got) != 1 || got[0][0] != '.' {
		t.Fatalf("before Close: files %q, want one hidden temporary file", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	if want := "id,amount,day,note\r\n1,2.00,2024-01-01,\r\n"; string(b) != want {
		t.Errorf("file holds %q, want %q", b, want)
	}
	if got := files(t, filepath.Dir(final)); !slices.Equal(got, []string{"out.csv"}) {
		t.Errorf("after Close: files %q, want just out.csv", got)
	}
	fi, err := os.Stat(final)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o044 == 0 {
		t.Errorf("file mode %v: others cannot read it", fi.Mode())
	}
}

func TestCreateLeavesNoFileOnError(t *testing.T) {
	old := "id,amount,day,note\n9,9.00,2024-01-01,old\n"
	tests := []struct {
		name string
		run  func(t *testing.T, w port.RowWriter, cancel context.CancelFunc) error // returns the error Close must return
	}{
		{"close never reached", func(t *testing.T, w port.RowWriter, cancel context.CancelFunc) error {
			return nil
		}},
		{"write error", func(t *testing.T, w port.RowWriter, cancel context.CancelFunc) error {
			err := w.Write(schema.Row{1})
			if err == nil {
				t.Fatal("short row: no error")
			}
			return err
		}},
		{"context ends before close", func(t *testing.T, w port.RowWriter, cancel context.CancelFunc) error {
			cancel()
			return context.Canceled
		}},
	}
	for _, tt := range tests {
		for _, exists := range []bool{false, true} {
			name := tt.name
			if exists {
				name += " over an old file"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				final := filepath.Join(dir, "out.csv")
				if exists {
					if err := os.WriteFile(final, []byte(old), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				w, err := New(dir).Create(ctx, "out.csv", orders)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(schema.Row{1, 2, at(t, "2024-01-01 00:00:00"), "new"}); err != nil {
					t.Fatal(err)
				}
				wantErr := tt.run(t, w, cancel)
				if wantErr != nil {
					if err := w.Close(); !errors.Is(err, wantErr) {
						t.Errorf("Close: %v, want %v", err, wantErr)
					}
					if got := files(t, dir); exists && !slices.Equal(got, []string{"out.csv"}) || !exists && len(got) != 0 {
						t.Errorf("files after a failed Close: %q", got)
					}
				}
				if wantErr == nil { // Close never reached: ending ctx removes the temporary file
					cancel()
					for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
						got := files(t, dir)
						if exists && slices.Equal(got, []string{"out.csv"}) || !exists && len(got) == 0 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatalf("files after ctx ended: %q", got)
						}
					}
					if err := w.Close(); !errors.Is(err, context.Canceled) {
						t.Errorf("Close after ctx ended: %v, want context.Canceled", err)
					}
				}
				b, err := os.ReadFile(final)
				switch {
				case exists && string(b) != old:
					t.Errorf("old file holds %q, %v; want it unchanged", b, err)
				case !exists && !errors.Is(err, os.ErrNotExist):
					t.Errorf("file exists: %q, %v", b, err)
				}
			})
		}
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(dir)
	if _, err := c.Create(t.Context(), "file/out.csv", orders); err == nil {
		t.Error("Create under a file: no error")
	}
	if _, err := c.Create(t.Context(), "out.csv", nil); err == nil {
		t.Error("Create with no schema: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Create(ctx, "out.csv", orders); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with an ended context: %v", err)
	}
	if _, err := c.Open(ctx, "out.csv", orders); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with an ended context: %v", err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"file"}) {
		t.Errorf("files left: %q", got)
	}
}
