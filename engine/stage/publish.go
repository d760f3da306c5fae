package stage

import (
	"context"
	"fmt"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// publishStage sends the rows of a file onto a topic, in file order.
type publishStage struct {
	name  string
	file  spec.Ref
	topic spec.Ref
	tspec port.TopicSpec
}

func (s *publishStage) Name() string { return s.name }
func (s *publishStage) Kind() string { return "publish" }

func (b *builder) publishStage(st *spec.Stage) Runner {
	s := &publishStage{name: st.Name.Value}
	var ok1, ok2 bool
	s.file, ok1 = b.fileRef(st.From, "from")
	s.topic, s.tspec, ok2 = b.topicRef(st.To, "to")
	if !ok1 || !ok2 {
		return nil
	}
	return s
}

func (s *publishStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	files, err := rt.Resources.Files(ctx, s.file)
	if err != nil {
		return st, err
	}
	topic, err := rt.Resources.Topic(ctx, s.topic, s.tspec)
	if err != nil {
		return st, err
	}
	r, err := files.Open(ctx, s.file.Name, s.tspec.Schema)
	if err != nil {
		return st, fmt.Errorf("publish %s: %w", s.file, err)
	}
	defer r.Close()
	err = drain(ctx, rt, &st, s.name, r, func(batch []schema.Row) error {
		if err := topic.Publish(ctx, batch); err != nil {
			return fmt.Errorf("publish to %s: %w", s.topic, err)
		}
		st.Out += int64(len(batch))
		return nil
	})
	st.Elapsed = time.Since(start)
	return st, err
}
