//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package csv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"pipeline/engine/schema"
)

// writerEnv, when set, makes the test binary a writer process (see
// TestMain): it starts writing the file it names and never finishes.
const writerEnv = "CSV_TEST_WRITER"

// TestMain runs the tests, or, as a process that startWriter starts, writes
// the file named by $CSV_TEST_WRITER: it creates it, writes a row, prints
// the temporary file's name and waits, as an export does, until killed.
func TestMain(m *testing.M) {
	path := os.Getenv(writerEnv)
	if path == "" {
		os.Exit(m.Run())
	}
	dir, base := filepath.Split(path)
	w, err := New(dir).Create(context.Background(), base, orders)
	if err == nil {
		err = w.Write(schema.Row{1, 2, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), nil})
	}
	var tmp []string
	if err == nil {
		tmp, err = temps(dir, base)
	}
	if err != nil || len(tmp) != 1 {
		fmt.Println("error:", err, tmp)
		os.Exit(1)
	}
	fmt.Println("writing", tmp[0])
	select {}
}

// startWriter starts a process that writes path and never finishes, and
// returns it with the name of its temporary file.
func startWriter(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), writerEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	tmp, ok := strings.CutPrefix(strings.TrimSpace(line), "writing ")
	if err != nil || !ok {
		t.Fatalf("writer process: %q, %v", line, err)
	}
	return cmd, tmp
}

// temps returns the names of the temporary files of base in dir, sorted.
func temps(dir, base string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if isTemp(e.Name(), base) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// mustTemps is temps for a test.
func mustTemps(t *testing.T, dir, base string) []string {
	t.Helper()
	out, err := temps(dir, base)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// create writes one row to base in dir through Create and Close.
func create(t *testing.T, dir, base string) {
	t.Helper()
	w, err := New(dir).Create(t.Context(), base, orders)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(schema.Row{2, 3, at(t, "2024-01-02 00:00:00"), nil}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStaleTempFilesRemoved: the temporary file of an export whose process
// was killed is removed by the next Create of the same file, while the
// temporary file of a live export, in another process or in this one, is
// left alone, and so are other files' temporary files and other files.
func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	// Leftovers of earlier killed runs (no process holds them), and files
	// that only look alike.
	leftovers := []string{".out.csv.1x2y3z.tmp", ".out.csv.0.tmp"}
	others := []string{".other.csv.1x2y3z.tmp", ".out.csv.notes", ".out.csv.UPPER.tmp", "out.csv.1x2y3z.tmp", ".out.csv..tmp"}
	for _, name := range append(slices.Clone(leftovers), others...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("id,amount\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A live export in another process, and one in this process.
	writer, live := startWriter(t, path)
	w, err := New(dir).Create(t.Context(), "out.csv", orders)
	if err != nil {
		t.Fatal(err)
	}
	ours := slices.DeleteFunc(mustTemps(t, dir, "out.csv"), func(n string) bool { return n == live })
	if len(ours) != 1 {
		t.Fatalf("after Create: temporary files %q besides the other process's %s; want only ours", ours, live)
	}

	create(t, dir, "out.csv") // a second export of the same file, finished
	got := mustTemps(t, dir, "out.csv")
	if want := []string{live, ours[0]}; !sameSet(got, want) {
		t.Errorf("with two live exports: temporary files %q, want theirs %q (the leftovers removed)", got, want)
	}
	if err := w.Close(); err != nil { // our live export's file was kept
		t.Fatalf("Close of the live export: %v", err)
	}

	// The other process is killed: its file is stale now.
	if err := writer.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = writer.Wait()
	if got := mustTemps(t, dir, "out.csv"); !sameSet(got, []string{live}) {
		t.Fatalf("after the kill: temporary files %q, want the killed one's %s", got, live)
	}
	create(t, dir, "out.csv")
	if got := mustTemps(t, dir, "out.csv"); len(got) != 0 {
		t.Errorf("after a Create that follows the kill: temporary files %q, want none", got)
	}
	for _, name := range append([]string{"out.csv"}, others...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v (only stale temporary files of out.csv may go)", name, err)
		}
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestLockTempNoticesRemoval: a temporary file removed as stale by another
// process between its creation and its lock is not used; Create makes
// another one.
func TestLockTempNoticesRemoval(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".out.csv.abc.tmp")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	removeIfUnlocked(path) // what another process's Create does before our lock
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the unlocked temporary file was not removed: %v", err)
	}
	if _, ok, err := lockTemp(f, path); ok || err != nil {
		t.Fatalf("lockTemp of a removed file: ok %v, err %v; want false, nil", ok, err)
	}
	// Recreated under the same name (it cannot be, names are random, but
	// the check is by file, not name): still not ours.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := lockTemp(f, path); ok || err != nil {
		t.Fatalf("lockTemp of a file replaced under its name: ok %v, err %v; want false, nil", ok, err)
	}
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	unlock, ok, err := lockTemp(g, path)
	if !ok || err != nil {
		t.Fatalf("lockTemp: ok %v, err %v", ok, err)
	}
	removeIfUnlocked(path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a locked temporary file was removed: %v", err)
	}
	unlock()
	removeIfUnlocked(path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the temporary file is still there after its lock was released: %v", err)
	}
}
