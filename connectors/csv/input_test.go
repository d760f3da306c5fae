//go:build unix

package csv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pipeline/engine/port"
)

// mkfifo makes a named pipe in a fresh folder and returns the folder and its name.
func mkfifo(t *testing.T) (dir, name string) {
	t.Helper()
	dir = t.TempDir()
	name = "in.csv"
	if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return dir, name
}

// stillWaiting fails the test when ch delivers within a short while: the
// call behind it must wait for a writer that never comes.
func stillWaiting[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned without a writer: %v", what, v)
	case <-time.After(100 * time.Millisecond):
	}
}

// within returns what ch delivers, failing the test after 10 s.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still blocked 10 s after the context ended", what)
	}
	var zero T
	return zero
}

// noReader waits until nobody holds the pipe open for reading: opening it
// for writing without blocking then fails with ENXIO.
func noReader(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, syscall.ENXIO) {
			return
		}
		if err == nil {
			_ = w.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipe is still open for reading (open for writing: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenNamedPipeStopsWithContext: opening a named pipe that no process
// writes waits, and returns the context's error once it ends, leaving the
// pipe closed. The context ends at once as well as after a while, since
// the opening goroutine may or may not have reached open(2) by then.
func TestOpenNamedPipeStopsWithContext(t *testing.T) {
	for _, wait := range []bool{true, false} {
		for range 5 {
			dir, name := mkfifo(t)
			c := New(dir)
			ctx, cancel := context.WithCancel(context.Background())
			errs := make(chan error, 1)
			go func() {
				r, err := c.Open(ctx, name, orders)
				if err == nil {
					_ = r.Close()
				}
				errs <- err
			}()
			if wait {
				stillWaiting(t, errs, "Open")
			}
			cancel()
			err := within(t, errs, "Open")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Open: got %v, want an error wrapping context.Canceled", err)
			}
			if wait {
				t.Logf("Open: %v", err)
			}
			noReader(t, filepath.Join(dir, name))
		}
	}
}

// TestReadNamedPipeStopsWithContext: a Read waiting for the writer of a
// named pipe to write more returns the context's error once it ends.
func TestReadNamedPipeStopsWithContext(t *testing.T) {
	dir, name := mkfifo(t)
	wrote := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
		if err != nil {
			wrote <- err
			return
		}
		t.Cleanup(func() { _ = w.Close() }) // the writer stays until the test ends
		_, err = w.WriteString("id,amount,day,note\n1,12.50,2024-01-02,first\n")
		wrote <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := New(dir).Open(ctx, name, orders)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if err := within(t, wrote, "the writer"); err != nil {
		t.Fatalf("writer: %v", err)
	}
	row, src, err := r.Read()
	if err != nil || src.Line != 2 || show(row) != `1 d12.50 t2024-01-02 00:00:00 "first"` {
		t.Fatalf("first Read: %s at %v, %v", show(row), src, err)
	}
	type read struct {
		row string
		src port.Source
		err error
	}
	reads := make(chan read, 1)
	go func() {
		row, src, err := r.Read()
		reads <- read{show(row), src, err}
	}()
	stillWaiting(t, reads, "Read")
	cancel()
	got := within(t, reads, "Read")
	if !errors.Is(got.err, context.Canceled) {
		t.Fatalf("Read: got %s at %v, %v; want an error wrapping context.Canceled", got.row, got.src, got.err)
	}
	t.Logf("Read: %v", got.err)
}
