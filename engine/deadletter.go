package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// DeadLetterSchema is the shape of a dead-letter file, table or topic.
var DeadLetterSchema = schema.MustNew("dead_letters", port.DeadLetterColumns, "id")

// writeDeadLetters writes the run's dead letters to each target the spec's
// dead_letters names: a table (rows upserted by id), a file (replaced) or a
// topic (appended, keyed by id).
func (p *Pipeline) writeDeadLetters(ctx context.Context, dead []port.DeadLetter) error {
	for _, target := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(target)
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
		// A connector that holds several kinds of things (memory) gets a topic.
		switch conn.(type) {
		case port.Files:
			err = p.deadLettersToFile(ctx, ref, dead)
		case port.Topics:
			err = p.deadLettersToTopic(ctx, ref, dead)
		case port.Tables:
			err = p.deadLettersToTable(ctx, ref, dead)
		default:
			err = fmt.Errorf("connector %s holds no tables, files or topics", ref.Connector)
		}
		if err != nil {
			return fmt.Errorf("dead letters to %s: %w", ref, err)
		}
	}
	return nil
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

func (p *Pipeline) deadLettersToFile(ctx context.Context, ref spec.Ref, dead []port.DeadLetter) error {
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
	for _, d := range dead {
		if err := w.Write(d.Row(0)); err != nil {
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
