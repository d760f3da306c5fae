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
	"sync"
)

// outFile is a file written under a temporary name in the folder of its
// final path and renamed into place by end, so that readers never see a
// half-written file.
type outFile struct {
	f     *os.File
	tmp   string // temporary path
	final string // path to rename to
	name  string // path as given, for errors
	ctx   context.Context
	stop  func() bool // stops the removal on ctx's end

	mu    sync.Mutex
	ended bool // renamed into place or removed
}

// createFile creates a temporary file for final, making its folder.
// When ctx ends before end is called, the temporary file is removed.
func createFile(ctx context.Context, final, name string) (*outFile, error) {
	dir, base := filepath.Split(final)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
	}
	for try := 0; ; try++ {
		tmp := filepath.Join(dir, "."+base+"."+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		o := &outFile{f: f, tmp: tmp, final: final, name: name, ctx: ctx}
		o.stop = context.AfterFunc(ctx, o.abandon)
		return o, nil
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
