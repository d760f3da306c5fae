package csv

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// openInput opens the file at path for reading. A named pipe (FIFO) opens
// only once a writer opens it too, which may be never: openInput then waits
// only until ctx ends, and then fails with an error that wraps ctx's. Other
// files open at once.
func openInput(ctx context.Context, path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		return os.Open(path)
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err
	case <-ctx.Done():
	}
	// The goroutine may be blocked in open(2): open the pipe for writing
	// ourselves, which lets it return, then close what it opened. Until it
	// has entered open(2) there is no reader and releasing fails: try again
	// for a while, then leave the goroutine to close the file if it ever
	// opens (the pipe may have been removed, or cannot be released here).
	stopped := &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("no writer opened the named pipe: %w", ctx.Err())}
	closeOpened := func(o opened) {
		if o.f != nil {
			_ = o.f.Close()
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for try := 0; try < 100 && releasePipe(path); try++ {
		select {
		case o := <-done:
			closeOpened(o)
			return nil, stopped
		case <-tick.C:
		}
	}
	go func() { closeOpened(<-done) }()
	return nil, stopped
}

// inputFile is a file that is not a regular file (a pipe, a device) being
// read under a context: when ctx ends, a Read blocked waiting for data
// returns ctx's error (on systems where such files can have deadlines, as
// pipes on Linux and the BSDs do).
type inputFile struct {
	f    *os.File
	ctx  context.Context
	stop func() bool // cancels the deadline set when ctx ends
}

// watchInput returns f read under ctx (see inputFile).
func watchInput(ctx context.Context, f *os.File) *inputFile {
	in := &inputFile{f: f, ctx: ctx}
	in.stop = context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	return in
}

// Read reads from the file; once ctx has ended it fails with ctx's error.
func (in *inputFile) Read(p []byte) (int, error) {
	if err := in.ctx.Err(); err != nil {
		return 0, fmt.Errorf("reading stopped: %w", err)
	}
	n, err := in.f.Read(p)
	if err != nil && err != io.EOF && in.ctx.Err() != nil {
		return n, fmt.Errorf("reading stopped: %w", in.ctx.Err())
	}
	return n, err
}

// Close stops watching ctx and closes the file.
func (in *inputFile) Close() error {
	in.stop()
	return in.f.Close()
}
