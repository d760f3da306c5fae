package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// DeadLetterSchema is the shape of a dead-letter file or table. The id
// (stage, source and a hash of the reason) makes writing the same letter
// twice harmless.
var DeadLetterSchema = schema.MustNew("dead_letters", []schema.Column{
	{Name: "id", Type: schema.StringType},
	{Name: "stage", Type: schema.StringType},
	{Name: "source", Type: schema.StringType},
	{Name: "reason", Type: schema.StringType},
	{Name: "payload", Type: schema.StringType},
	{Name: "time", Type: schema.DateTimeType},
}, "id")

// maxTablePayload bounds the payload kept in a dead-letter table row; files
// keep it whole.
const maxTablePayload = 2000

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

func deadLetterRow(d port.DeadLetter, maxPayload int) schema.Row {
	payload := d.Payload
	if maxPayload > 0 && len(payload) > maxPayload {
		payload = fmt.Sprintf("%s... (%d bytes in all)", payload[:maxPayload], len(d.Payload))
	}
	src := d.Source.String()
	h := fnv.New32a()
	h.Write([]byte(d.Reason))
	id := fmt.Sprintf("%s %s %08x", d.Stage, src, h.Sum32())
	return schema.Row{id, d.Stage, src, d.Reason, payload, d.Time.Truncate(time.Second)}
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
		rows[i] = deadLetterRow(d, maxTablePayload)
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
		if err := w.Write(deadLetterRow(d, 0)); err != nil {
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
		rows[i] = deadLetterRow(d, 0)
	}
	return t.Publish(ctx, rows)
}
