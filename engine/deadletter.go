package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// DeadLetterSchema is the shape of a dead-letter file, table or topic.
var DeadLetterSchema = schema.MustNew("dead_letters", port.DeadLetterColumns, "id")

// writeDeadLetters writes the run's dead letters to each target the spec's
// dead_letters names: a table (rows upserted by id), a topic (appended,
// keyed by id) or a file. The file is the current state's letters: with a
// table among the targets it is written again from all of the table's rows
// (the letters of every run since the last reset, see docs/RELIABILITY.md),
// so a run of one stage does not blank the letters an earlier one found;
// without one, it holds this run's letters.
func (p *Pipeline) writeDeadLetters(ctx context.Context, dead []port.DeadLetter) error {
	type target struct {
		ref  spec.Ref
		conn port.Connector
	}
	var tables, files, topics []target
	for _, name := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(name)
		if err != nil {
			return err
		}
		conn := p.opened(ref.Connector)
		if conn == nil {
			if len(dead) == 0 && p.isService(ref.Connector) {
				// Nothing to write, and a table or topic takes nothing
				// then: no need to connect (or start a broker).
				continue
			}
			if conn, err = p.conn(ctx, ref.Connector); err != nil {
				return fmt.Errorf("dead letters to %s: %w", ref, err)
			}
		}
		switch p.deadLetterKind(ref.Connector, conn) {
		case "file":
			files = append(files, target{ref, conn})
		case "topic":
			topics = append(topics, target{ref, conn})
		case "table":
			tables = append(tables, target{ref, conn})
		default:
			return fmt.Errorf("dead letters to %s: connector %s holds no tables, files or topics", ref, ref.Connector)
		}
	}
	for _, t := range tables {
		if err := p.deadLettersToTable(ctx, t.ref, dead); err != nil {
			return fmt.Errorf("dead letters to %s: %w", t.ref, err)
		}
	}
	for _, t := range topics {
		if err := p.deadLettersToTopic(ctx, t.ref, dead); err != nil {
			return fmt.Errorf("dead letters to %s: %w", t.ref, err)
		}
	}
	if len(files) == 0 {
		return nil
	}
	rows := make([]schema.Row, len(dead))
	for i, d := range dead {
		rows[i] = d.Row(0)
	}
	if len(tables) > 0 {
		var err error
		if rows, err = p.stateDeadLetters(ctx, tables[0].ref, rows); err != nil {
			return fmt.Errorf("dead letters from %s: %w", tables[0].ref, err)
		}
	} else if p.declaresTableTarget() {
		// The state's table was not opened (a run that touched no table
		// and found no letter): the state is unchanged, and so is the file.
		return nil
	}
	for _, t := range files {
		if err := p.deadLettersToFile(ctx, t.ref, rows); err != nil {
			return fmt.Errorf("dead letters to %s: %w", t.ref, err)
		}
		p.mu.Lock()
		p.deadFiles = append(p.deadFiles, t.ref)
		p.mu.Unlock()
	}
	return nil
}

// deadLetterKind says what the connector conn, called name, takes dead
// letters as: "file", "topic", "table", or "" when it takes none. A
// connector that holds both tables and topics (memory, in place of a
// database or a broker in a dry-run) takes a topic when the spec's stages
// use it for topics, else a table.
func (p *Pipeline) deadLetterKind(name string, conn port.Connector) string {
	_, files := conn.(port.Files)
	_, topics := conn.(port.Topics)
	_, tables := conn.(port.Tables)
	switch {
	case files:
		return "file"
	case topics && (!tables || p.plan.TopicConnectors[name]):
		return "topic"
	case tables:
		return "table"
	}
	return ""
}

// declaresTableTarget reports whether one of the spec's dead-letter targets
// is on a service connector that holds tables or whose kind is not known
// before it is opened; such a target keeps the state's letters.
func (p *Pipeline) declaresTableTarget() bool {
	for _, name := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(name)
		if err != nil {
			continue
		}
		if p.isService(ref.Connector) && !p.plan.TopicConnectors[ref.Connector] {
			return true
		}
	}
	return false
}

// stateDeadLetters returns the rows of the dead-letter table ref, which
// holds the letters of every run since the last reset: the earlier runs'
// letters first, by time, then this run's (rows, whole: the table keeps
// payloads cut) in the order they were found.
func (p *Pipeline) stateDeadLetters(ctx context.Context, ref spec.Ref, rows []schema.Row) ([]schema.Row, error) {
	t, err := p.Table(ctx, ref, schema.MustNew(ref.Name, DeadLetterSchema.Columns, "id"))
	if err != nil {
		return nil, err
	}
	mine := make(map[any]bool, len(rows))
	for _, r := range rows {
		mine[r[0]] = true
	}
	var earlier []schema.Row
	err = t.Scan(ctx, func(r schema.Row) error {
		if !mine[r[0]] {
			earlier = append(earlier, r.Clone())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	at := DeadLetterSchema.Index("time")
	slices.SortStableFunc(earlier, func(a, b schema.Row) int { return schema.Compare(a[at], b[at]) })
	return append(earlier, rows...), nil
}

func (p *Pipeline) deadLettersToTable(ctx context.Context, ref spec.Ref, dead []port.DeadLetter) error {
	if len(dead) == 0 {
		return nil
	}
	s := schema.MustNew(ref.Name, DeadLetterSchema.Columns, "id")
	t, err := p.Table(ctx, ref, s)
	if err != nil {
		return err
	}
	rows := make([]schema.Row, len(dead))
	for i, d := range dead {
		rows[i] = d.Row(port.MaxTablePayload)
	}
	return t.Upsert(ctx, rows)
}

func (p *Pipeline) deadLettersToFile(ctx context.Context, ref spec.Ref, rows []schema.Row) error {
	files, err := p.Files(ctx, ref)
	if err != nil {
		return err
	}
	path := ref.Name
	if p.opts.ExportDir != "" {
		path = filepath.Join(p.opts.ExportDir, filepath.Base(path))
	}
	w, err := files.Create(ctx, path, DeadLetterSchema)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

func (p *Pipeline) deadLettersToTopic(ctx context.Context, ref spec.Ref, dead []port.DeadLetter) error {
	if len(dead) == 0 {
		return nil
	}
	s := schema.MustNew(ref.Name, DeadLetterSchema.Columns, "id")
	t, err := p.Topic(ctx, ref, port.TopicSpec{Name: ref.Name, Schema: s, Key: "id", Partitions: 1})
	if err != nil {
		return err
	}
	rows := make([]schema.Row, len(dead))
	for i, d := range dead {
		rows[i] = d.Row(0)
	}
	err = t.Publish(ctx, rows)
	rejected := port.Rejected(err)
	if rejected == nil {
		return err
	}
	// Letters too big for the topic (the payload of a row that was itself
	// too big): sent again with the payload cut, as tables keep it.
	rows = rows[:0]
	for _, r := range rejected {
		rows = append(rows, dead[r.Index].Row(port.MaxTablePayload))
	}
	return t.Publish(ctx, rows)
}

// deadLetterTables names, by connector, the dead-letter table the spec
// puts in it, for stream stages that commit to that connector
// (stage.Runtime.DeadLetterTables); they look up only the connector they
// commit to, a port.Committer. The tables are opened with their connector
// (see openDeadLetterTable).
func (p *Pipeline) deadLetterTables() (map[string]string, error) {
	out := map[string]string{}
	for _, target := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(target)
		if err != nil {
			return nil, err
		}
		out[ref.Connector] = ref.Name
	}
	return out, nil
}

// openDeadLetterTable opens, when conn (the connector name, just opened)
// commits stream batches (port.Committer) and the spec puts dead letters
// in it, their table: a stream stage's commits write each batch's dead
// letters in it, so it must exist before the first commit.
func (p *Pipeline) openDeadLetterTable(ctx context.Context, name string, conn port.Connector) error {
	c, ok := conn.(port.Committer)
	if !ok {
		return nil
	}
	for _, target := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(target)
		if err != nil {
			return err
		}
		if ref.Connector != name {
			continue
		}
		if _, err := c.Table(ctx, schema.MustNew(ref.Name, port.DeadLetterColumns, "id")); err != nil {
			return fmt.Errorf("dead letters to %s: %w", ref, err)
		}
	}
	return nil
}

// isService reports whether the named connector is of a service kind (a
// database, a broker), costly or impossible to open for nothing.
func (p *Pipeline) isService(name string) bool {
	lc, ok := p.conns[name]
	return ok && lc.kind.Service
}
