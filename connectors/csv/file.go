package csv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// outFile is a file written under a temporary name in the folder of its
// final path and renamed into place by end, so that readers never see a
// half-written file.
//
// The temporary name is .BASE.RANDOM.tmp, BASE the final name. A process
// killed while writing leaves it behind; createFile removes those of its
// final path that are stale. Where files can be locked (flock), the
// temporary file is held locked from its creation until it is renamed or
// removed, and stale means that no process holds it: the lock goes when its
// process dies, however that happens, while a live writer's file, of this
// process or another, is left alone.
type outFile struct {
	f      *os.File
	tmp    string // temporary path
	final  string // path to rename to
	name   string // path as given, for errors
	ctx    context.Context
	stop   func() bool // stops the removal on ctx's end
	unlock func()      // releases the lock on tmp

	mu    sync.Mutex
	ended bool // renamed into place or removed
}

// createFile creates a temporary file for final, making its folder, and
// removes the stale temporary files of final (see outFile). When ctx ends
// before end is called, the temporary file is removed.
func createFile(ctx context.Context, final, name string) (*outFile, error) {
	dir, base := filepath.Split(final)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
	}
	for try := 0; ; try++ {
		tmp := filepath.Join(dir, tempPrefix(base)+strconv.FormatUint(rand.Uint64(), 36)+tempSuffix)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		unlock, ok, err := lockTemp(f, tmp)
		if err != nil || !ok {
			_ = f.Close()
			if err == nil && try < 10 { // removed as stale before we locked it
				continue
			}
			if err == nil {
				err = errors.New("its temporary files keep being removed")
			}
			_ = os.Remove(tmp)
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		removeStale(dir, base, tmp)
		o := &outFile{f: f, tmp: tmp, final: final, name: name, ctx: ctx, unlock: unlock}
		o.stop = context.AfterFunc(ctx, o.abandon)
		return o, nil
	}
}

// tempSuffix ends the name of every temporary file.
const tempSuffix = ".tmp"

// tempPrefix starts the names of the temporary files of a file named base.
func tempPrefix(base string) string { return "." + base + "." }

// isTemp reports whether name is the name of a temporary file of base:
// its prefix, a random part in base 36, and the suffix.
func isTemp(name, base string) bool {
	mid, ok := strings.CutPrefix(name, tempPrefix(base))
	if !ok {
		return false
	}
	if mid, ok = strings.CutSuffix(mid, tempSuffix); !ok || mid == "" {
		return false
	}
	for _, c := range mid {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// removeStale removes the temporary files of base in dir, other than keep,
// that no process holds locked (see outFile). It removes nothing where
// files cannot be locked, and skips what it cannot check.
func removeStale(dir, base, keep string) {
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTemp(e.Name(), base) {
			continue
		}
		if path := filepath.Join(dir, e.Name()); path != keep {
			removeIfUnlocked(path)
		}
	}
}

// abandon removes the temporary file unless end already ran. It runs when
// ctx ends; the open file stays open for writes in flight and end closes it.
func (o *outFile) abandon() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ended {
		o.ended = true
		_ = os.Remove(o.tmp)
	}
}

// end closes the file and, when err is nil and ctx is live, syncs it and
// renames it into place. Otherwise it removes the temporary file. It returns
// err or the first error of its own.
func (o *outFile) end(err error) error {
	o.stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	// Unlocked once the file is renamed into place or removed.
	defer o.unlock()
	if o.ended { // abandoned when ctx ended
		_ = o.f.Close()
		if err == nil {
			err = fmt.Errorf("%s not written: %w", o.name, context.Cause(o.ctx))
		}
		return err
	}
	o.ended = true
	if err == nil && o.ctx.Err() != nil {
		err = fmt.Errorf("%s not written: %w", o.name, context.Cause(o.ctx))
	}
	if err == nil {
		if e := o.f.Sync(); e != nil {
			err = fmt.Errorf("write %s: %w", o.name, e)
		}
	}
	if e := o.f.Close(); e != nil && err == nil {
		err = fmt.Errorf("write %s: %w", o.name, e)
	}
	if err == nil {
		if e := os.Rename(o.tmp, o.final); e != nil {
			err = fmt.Errorf("create %s: %w", o.name, e)
		}
	}
	if err != nil {
		_ = os.Remove(o.tmp)
	}
	return err
}
