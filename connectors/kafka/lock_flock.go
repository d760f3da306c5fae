//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package kafka

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in a data folder that a running broker holds locked.
const lockFile = "pipeline-broker.lock"

// lockDir takes an exclusive lock on the data folder dir, so that two
// brokers never write one folder; the lock goes when the returned function
// is called or the process ends.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another broker (stop it, or point brokers at it instead of starting an embedded one)")
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
