package csv

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Kind returns the csv connector kind, to register in a port.Registry.
// Its one option, dir, is the folder relative file paths are resolved
// against; a relative dir is itself resolved against the spec's folder.
func Kind() port.Kind {
	return port.Kind{
		Name: "csv",
		Doc:  "Row files as comma-separated text: a header row of column names, then one row per record.",
		Options: []port.Option{{
			Name:    "dir",
			Doc:     "folder that relative file paths are resolved against",
			Default: "the spec's folder (the working directory when the spec has none)",
		}, lineEnding},
		New: func(_ context.Context, cfg port.Config) (port.Connector, error) {
			c := New(configDir(cfg))
			le, _, err := cfg.Value([]port.Option{lineEnding}, "line_ending")
			if err != nil {
				return nil, err
			}
			if le == "lf" {
				c.wopts = append(c.wopts, LF())
			}
			return c, nil
		},
	}
}

// lineEnding is the csv kind's option for the line ending of written files.
var lineEnding = port.Option{Name: "line_ending", Type: port.Enum, Values: []string{"crlf", "lf"},
	Doc: "line ending of written files", Default: "crlf"}

// configDir returns the folder cfg asks relative paths to be resolved against.
func configDir(cfg port.Config) string {
	dir := cfg.Get("dir", "")
	switch {
	case dir == "":
		return cfg.Dir
	case filepath.IsAbs(dir) || cfg.Dir == "":
		return dir
	}
	return filepath.Join(cfg.Dir, dir)
}

// Connector reads and writes csv row files. It implements port.Files.
type Connector struct {
	dir   string
	wopts []WriterOption
}

var _ port.Files = (*Connector)(nil)

// New returns a connector that resolves relative paths against dir;
// an empty dir means the working directory.
func New(dir string) *Connector { return &Connector{dir: dir} }

// Dir returns the folder relative paths are resolved against ("" for the working directory).
func (c *Connector) Dir() string { return c.dir }

// Path returns the file path that path names: path itself when it is
// absolute, else path inside the connector's folder.
func (c *Connector) Path(path string) string {
	if filepath.IsAbs(path) || c.dir == "" {
		return path
	}
	return filepath.Join(c.dir, path)
}

// Open opens the csv file at path for reading rows of s. It reads the header
// row and maps its columns to s by name (see NewReader). Sources and errors
// name the file by path as given.
//
// A file that is not a regular file, such as a named pipe, may keep Open
// and Read waiting for its writer: they return ctx's error once ctx ends.
func (c *Connector) Open(ctx context.Context, path string, s *schema.Schema) (port.RowReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f, err := openInput(ctx, c.Path(path))
	if err != nil {
		return nil, fmt.Errorf("open csv file: %w", err)
	}
	var in interface {
		io.Reader
		io.Closer
	} = f
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		in = watchInput(ctx, f)
	}
	r, err := NewReader(in, path, s)
	if err != nil {
		_ = in.Close()
		return nil, err
	}
	r.closer = in
	return r, nil
}

// Create creates or replaces the csv file at path for writing rows of s,
// making missing parent folders. Rows go to a temporary file in the same
// folder, which Close renames into place. The file is not replaced, and the
// temporary file is removed, when a Write or Close fails or when ctx ends
// before Close; Close then returns the error.
func (c *Connector) Create(ctx context.Context, path string, s *schema.Schema) (port.RowWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := checkSchema(s, path); err != nil {
		return nil, err
	}
	out, err := createFile(ctx, c.Path(path), path)
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(out.f, path, s, c.wopts...)
	if err != nil {
		_ = out.end(err)
		return nil, err
	}
	w.end = out.end
	return w, nil
}

// Close does nothing: every reader and writer closes its own file.
func (c *Connector) Close() error { return nil }

// checkSchema reports a schema that rows cannot be read or written with.
func checkSchema(s *schema.Schema, name string) error {
	switch {
	case s == nil:
		return fmt.Errorf("%s: no schema", name)
	case len(s.Columns) == 0:
		return fmt.Errorf("%s: schema %s has no columns", name, s.Name)
	}
	return nil
}
