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
		// A connector that holds several kinds of things (memory) gets a topic.
		switch p.conns[ref.Connector].(type) {
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

// deadLetterTables opens the dead-letter tables that live in connectors
// committing stream batches (port.Committer), so that stream stages can
// write each batch's dead letters in the batch's own commit.
func (p *Pipeline) deadLetterTables(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, target := range p.plan.Spec.DeadLetters {
		ref, err := spec.ParseRef(target)
		if err != nil {
			return nil, err
		}
		if _, ok := p.conns[ref.Connector].(port.Committer); !ok {
			continue
		}
		if _, err := p.Table(ctx, ref, schema.MustNew(ref.Name, port.DeadLetterColumns, "id")); err != nil {
			return nil, fmt.Errorf("dead letters to %s: %w", ref, err)
		}
		out[ref.Connector] = ref.Name
	}
	return out, nil
}
