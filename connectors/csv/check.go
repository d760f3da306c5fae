package csv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

var _ port.FileChecker = (*Connector)(nil)

// CheckFile reports why Open(ctx, path, s) would fail: the file is missing
// or unreadable, is a folder, or its header does not map to the columns of
// s. It reads the header only. A file that is not a regular file (a named
// pipe, a device) is only checked to exist: opening a pipe waits for its
// writer, and what is read from it cannot be read again. It implements
// port.FileChecker.
func (c *Connector) CheckFile(ctx context.Context, path string, s *schema.Schema) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	full := c.Path(path)
	fi, err := os.Stat(full)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Op = "open" // what Open would say
	}
	switch {
	case err != nil:
		return fmt.Errorf("open csv file: %w", err)
	case fi.IsDir():
		return fmt.Errorf("open csv file: %s is a folder, not a file", full)
	case !fi.Mode().IsRegular():
		return nil
	}
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("open csv file: %w", err)
	}
	defer f.Close()
	// A plain reader: NewReader would start parsing a big file's rows in
	// parallel when handed the *os.File.
	r, err := NewReader(struct{ io.Reader }{f}, path, s)
	if err != nil {
		return err
	}
	return r.Close()
}
