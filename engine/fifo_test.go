//go:build unix

package engine_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInterruptWhileWaitingForANamedPipe: a run whose input file is a named
// pipe that nobody writes stops when its context ends (Ctrl-C), naming the
// stage, instead of waiting for a writer for ever.
func TestInterruptWhileWaitingForANamedPipe(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	b, err := os.ReadFile("testdata/shop/in/accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "accounts.csv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(in, "orders.csv"), 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	plan, err := engine.Load("testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"IN": in, "OUT": out}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: registry(), DryRun: true, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, nil)
		errs <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `msg="stage starting" stage=publish`); {
		if time.Now().After(deadline) {
			t.Fatalf("publish did not start:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err = <-errs:
	case <-time.After(10 * time.Second):
		t.Fatal("the run is still waiting for the pipe 10 s after its context ended")
	}
	var se *engine.StageError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Stage != "publish" {
		t.Fatalf("got %v, want a StageError of publish wrapping context.Canceled", err)
	}
	t.Logf("run: %v", err)
}
