//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package csv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockTemp takes an exclusive lock on the temporary file at path, just
// created and open as f, that lasts until unlock is called; it is taken on
// a descriptor of its own, so that closing f keeps it. ok is false when the
// file was removed as stale by another process's removeStale between its
// creation and the lock: the caller makes another one.
func lockTemp(f *os.File, path string) (unlock func(), ok bool, err error) {
	lk, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("lock: %w", err)
	}
	if err := flock(lk, syscall.LOCK_EX); err != nil {
		_ = lk.Close()
		return nil, false, fmt.Errorf("lock: %w", err)
	}
	if !samePath(f, path) {
		_ = lk.Close()
		return nil, false, nil
	}
	return func() { _ = lk.Close() }, true, nil
}

// removeIfUnlocked removes the temporary file at path when no process holds
// it locked: its writer died before it was finished.
func removeIfUnlocked(path string) {
	lk, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer lk.Close()
	if flock(lk, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // a live writer's, or we cannot tell
	}
	// Still the file we locked: not renamed into place meanwhile by a
	// writer that finished between our open and our lock.
	if samePath(lk, path) {
		_ = os.Remove(path)
	}
}

// samePath reports whether path names the file f is open on.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// flock calls flock(2) on f, again when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
