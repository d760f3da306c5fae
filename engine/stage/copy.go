package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// writeBatch is how many rows loads and updates write per call.
const writeBatch = 5000

// copyJob is one file loaded into a table, or one table exported to a file.
type copyJob struct {
	file   spec.Ref
	table  spec.Ref
	schema *schema.Schema // the table's schema
	out    *schema.Schema // export: the columns written
	cols   []int          // export: table column of each written column
	where  *bound         // export: the rows written (nil: all), over the row alone
}

// filter returns a test of the rows an export writes, nil when it writes
// them all. Each call has an evaluator of its own.
func (j copyJob) filter() func(schema.Row) (bool, error) {
	if j.where == nil {
		return nil
	}
	ev := j.where.evaluator()
	vars := make([]any, 1)
	return func(r schema.Row) (bool, error) {
		vars[0] = r
		ok, err := ev.matches(vars)
		if err != nil {
			return false, fmt.Errorf("where, on the row with key %s: %w", keyText(j.schema.KeyOf(r)), err)
		}
		return ok, nil
	}
}

// open returns the job's file connector and table.
func (j copyJob) open(ctx context.Context, rt *Runtime) (port.Files, port.Table, error) {
	files, err := rt.Resources.Files(ctx, j.file)
	if err != nil {
		return nil, nil, err
	}
	table, err := rt.Resources.Table(ctx, j.table, j.schema)
	return files, table, err
}

// copyStage loads files into tables (load) or writes tables to files (export).
type copyStage struct {
	name string
	load bool
	jobs []copyJob
	plan *Plan // the plan the stage is part of: a load checks its stream stages (see guardStreamState)
}

func (s *copyStage) Name() string { return s.name }

// Writes returns the files an export stage writes (none for a load).
func (s *copyStage) Writes() []spec.Ref {
	if s.load {
		return nil
	}
	out := make([]spec.Ref, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.file
	}
	return out
}

func (s *copyStage) Kind() string {
	if s.load {
		return spec.KindLoad
	}
	return spec.KindExport
}

func (b *builder) copyStage(st *spec.Stage, load bool) Runner {
	s := &copyStage{name: st.Name.Value, load: load, plan: b.plan}
	if len(st.Copy) == 0 {
		b.errorf(st.Pos, "%s stage %s has nothing to copy: list {from, to} under copy", s.Kind(), s.name)
	}
	for _, c := range st.Copy {
		fileSide, tableSide := c.From, c.To
		if !load {
			fileSide, tableSide = c.To, c.From
		}
		fref, ok1 := b.fileRef(fileSide, "file")
		tref, ts, ok2 := b.tableRef(tableSide, "table")
		if !ok1 || !ok2 {
			continue
		}
		job := copyJob{file: fref, table: tref, schema: ts, out: ts}
		if c.Where.Set() || c.As.Set() {
			if load {
				b.errorf(c.Pos, "where and as apply to export; a load copies every row of the file")
				continue
			}
			as := c.As.Value
			if !c.As.Set() {
				as = ts.Name
			}
			if !namePattern.MatchString(as) || as == decisionVar {
				b.errorf(c.As.Pos, "as: %q cannot name the row: a name like %s", as, "tx")
				continue
			}
			if !c.Where.Set() {
				b.errorf(c.As.Pos, "as names the row for a where, and this copy has none (where: %s.column == value)", as)
				continue
			}
			sc := &scope{}
			sc.addRecord(as, ts)
			if job.where = b.filter(sc, c.Where, "export "+tref.String()); job.where == nil {
				continue
			}
		}
		if len(c.Columns) > 0 {
			if load {
				b.errorf(c.Columns[0].Pos, "columns applies to export; a load maps the file's header to the table's columns")
				continue
			}
			var cols []schema.Column
			for _, name := range c.Columns {
				i := ts.Index(name.Value)
				if i < 0 {
					b.errorf(name.Pos, "table %s has no column %q (columns: %s)", ts.Name, name.Value, joinNames(ts.Names()))
					continue
				}
				job.cols = append(job.cols, i)
				cols = append(cols, ts.Columns[i])
			}
			job.out = schema.MustNew(ts.Name, cols, "")
		}
		s.jobs = append(s.jobs, job)
	}
	return s
}

func (s *copyStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	if s.load {
		return s.runLoad(ctx, rt)
	}
	start := time.Now()
	var st Stats
	for _, j := range s.jobs {
		if err := s.exportOne(ctx, rt, j, &st); err != nil {
			st.Elapsed = time.Since(start)
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// drain reads every row of r in batches of writeBatch, handing each batch
// to flush and sending rows that do not parse to the dead-letter sink.
func drain(ctx context.Context, rt *Runtime, st *Stats, stage string, r port.RowReader, flush func([]schema.Row) error) error {
	return drainFrom(ctx, rt, st, stage, r, false, func(rows []schema.Row, _ []port.Source) error { return flush(rows) })
}

// drainFrom is drain handing flush, with each batch, where each of its
// rows came from when withSources (else nil). flush owns the rows; the
// sources only during the call.
func drainFrom(ctx context.Context, rt *Runtime, st *Stats, stage string, r port.RowReader, withSources bool,
	flush func([]schema.Row, []port.Source) error) error {
	batch := make([]schema.Row, 0, writeBatch)
	var srcs []port.Source
	if withSources {
		srcs = make([]port.Source, 0, writeBatch)
	}
	for {
		row, src, err := r.Read()
		if errors.Is(err, io.EOF) {
			if len(batch) == 0 {
				return nil
			}
			return flush(batch, srcs)
		}
		if err != nil {
			var re *port.RowError // only here: taking its address makes it escape
			if !errors.As(err, &re) {
				return fmt.Errorf("%s: %w", src, err)
			}
			st.In++
			deadLetter(rt, st, stage, re.Source, re.Payload, re.Err.Error())
			continue
		}
		st.In++
		rt.Progress.Add(1)
		batch = append(batch, row)
		if withSources {
			srcs = append(srcs, src)
		}
		if len(batch) == writeBatch {
			if err := flush(batch, srcs); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			batch = make([]schema.Row, 0, writeBatch)
			srcs = srcs[:0]
		}
	}
}

func (s *copyStage) exportOne(ctx context.Context, rt *Runtime, j copyJob, st *Stats) error {
	files, table, err := j.open(ctx, rt)
	if err != nil {
		return err
	}
	return s.exportFrom(ctx, rt, j, st, files, table)
}

// rowSource is what an export reads: a table, or a snapshot of one.
type rowSource interface {
	Scan(ctx context.Context, fn func(schema.Row) error) error
}

// Start implements Background for exports: when every table the stage
// exports can be snapshotted (port.Snapshotter), it takes the snapshots
// now and returns finish, which writes the files from them and may run
// while later stages change the tables. ok is false, and nothing done,
// when some table cannot: the stage is then to be run with Run. Loads do
// not run in the background.
func (s *copyStage) Start(ctx context.Context, rt *Runtime) (finish func() (Stats, error), ok bool, err error) {
	if s.load {
		return nil, false, nil
	}
	start := time.Now()
	files := make([]port.Files, len(s.jobs))
	tables := make([]port.Snapshotter, len(s.jobs))
	for i, j := range s.jobs {
		f, table, err := j.open(ctx, rt)
		if err != nil {
			return nil, false, err
		}
		sn, ok := table.(port.Snapshotter)
		if !ok {
			return nil, false, nil
		}
		files[i], tables[i] = f, sn
	}
	snaps := make([]port.Snapshot, len(s.jobs))
	for i, j := range s.jobs {
		if snaps[i], err = tables[i].Snapshot(ctx); err != nil {
			return nil, false, fmt.Errorf("export %s: %w", j.table, err)
		}
	}
	return func() (Stats, error) {
		var st Stats
		for i, j := range s.jobs {
			if err := s.exportFrom(ctx, rt, j, &st, files[i], snaps[i]); err != nil {
				st.Elapsed = time.Since(start)
				return st, err
			}
		}
		st.Elapsed = time.Since(start)
		return st, nil
	}, true, nil
}

// Overlaps reports whether next may run while the export finishes: a
// stage that touches tables only, since the export reads its snapshots, or
// another export that writes none of this one's files (compared by base
// name too, which is what dry-run --out keeps of a path).
func (s *copyStage) Overlaps(next Runner) bool {
	if s.load {
		return false
	}
	if t, ok := next.(TablesOnly); ok && t.TablesOnly() {
		return true
	}
	x, ok := next.(*copyStage)
	if !ok || x.load {
		return false
	}
	for _, a := range s.jobs {
		for _, b := range x.jobs {
			if a.file.Name == b.file.Name || filepath.Base(a.file.Name) == filepath.Base(b.file.Name) {
				return false
			}
		}
	}
	return true
}

// exportFrom writes the rows of src, the job's table or a snapshot of it, to the job's file.
func (s *copyStage) exportFrom(ctx context.Context, rt *Runtime, j copyJob, st *Stats, files port.Files, src rowSource) error {
	path := j.file.Name
	if rt.ExportDir != "" {
		path = filepath.Join(rt.ExportDir, filepath.Base(path))
	}
	w, err := files.Create(ctx, path, j.out)
	if err != nil {
		return fmt.Errorf("export %s: %w", j.file, err)
	}
	bs, ok1 := src.(port.BatchScanner)
	rw, ok2 := w.(port.RowsWriter)
	if ok1 && ok2 {
		err = exportBatches(ctx, rt, j, st, bs, rw)
	} else {
		err = exportRows(ctx, rt, j, st, src, w)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export %s to %s: %w", j.table, j.file, err)
	}
	return nil
}

// exportBatch is how many rows an export hands a port.RowsWriter at once.
const exportBatch = 4096

// exportBatches writes the table's rows a batch at a time, for writers that
// are faster that way.
func exportBatches(ctx context.Context, rt *Runtime, j copyJob, st *Stats, table port.BatchScanner, w port.RowsWriter) error {
	var block []any       // the projected rows' values
	var proj []schema.Row // the projected rows
	keep := j.filter()
	var kept []schema.Row
	return table.ScanBatches(ctx, exportBatch, func(rows []schema.Row) error {
		st.In += int64(len(rows))
		rt.Progress.Add(int64(len(rows)))
		if keep != nil {
			kept = kept[:0]
			for _, r := range rows {
				ok, err := keep(r)
				if err != nil {
					return err
				}
				if ok {
					kept = append(kept, r)
				}
			}
			rows = kept
		}
		out := rows
		if j.cols != nil {
			n := len(j.cols)
			if len(block) < len(rows)*n {
				block = make([]any, len(rows)*n)
				proj = make([]schema.Row, len(rows))
			}
			for i, r := range rows {
				p := schema.Row(block[i*n : (i+1)*n : (i+1)*n])
				for k, c := range j.cols {
					p[k] = r[c]
				}
				proj[i] = p
			}
			out = proj[:len(rows)]
		}
		if err := w.WriteRows(out); err != nil {
			return err
		}
		st.Out += int64(len(rows))
		return nil
	})
}

// exportRows writes the table's rows one by one.
func exportRows(ctx context.Context, rt *Runtime, j copyJob, st *Stats, table rowSource, w port.RowWriter) error {
	proj := make(schema.Row, len(j.cols))
	keep := j.filter()
	return table.Scan(ctx, func(r schema.Row) error {
		st.In++
		rt.Progress.Add(1)
		if keep != nil {
			ok, err := keep(r)
			if err != nil || !ok {
				return err
			}
		}
		out := r
		if j.cols != nil {
			for i, c := range j.cols {
				proj[i] = r[c]
			}
			out = proj
		}
		if err := w.Write(out); err != nil {
			return err
		}
		st.Out++
		return nil
	})
}
