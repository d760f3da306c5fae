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
	topic, r, err := s.open(ctx, rt)
	if err != nil {
		return Stats{}, err
	}
	return s.publish(ctx, rt, start, topic, r)
}

// open returns the stage's topic and a reader of its file.
func (s *publishStage) open(ctx context.Context, rt *Runtime) (port.Topic, port.RowReader, error) {
	files, err := rt.Resources.Files(ctx, s.file)
	if err != nil {
		return nil, nil, err
	}
	topic, err := rt.Resources.Topic(ctx, s.topic, s.tspec)
	if err != nil {
		return nil, nil, err
	}
	r, err := files.Open(ctx, s.file.Name, s.tspec.Schema)
	if err != nil {
		return nil, nil, fmt.Errorf("publish %s: %w", s.file, err)
	}
	return topic, r, nil
}

// publish sends the rows of r to topic, and closes r.
func (s *publishStage) publish(ctx context.Context, rt *Runtime, start time.Time, topic port.Topic, r port.RowReader) (Stats, error) {
	defer r.Close()
	var st Stats
	err := drain(ctx, rt, &st, s.name, r, func(batch []schema.Row) error {
		if err := topic.Publish(ctx, batch); err != nil {
			return fmt.Errorf("publish to %s: %w", s.topic, err)
		}
		st.Out += int64(len(batch))
		return nil
	})
	st.Elapsed = time.Since(start)
	return st, err
}

// Start implements Background when the topic has publish sessions
// (port.PublishSessions): it opens the file and a session, and finish
// publishes the rows and ends the session, while the stream stage that
// consumes the topic runs (see Overlaps) and gets the batches it would get
// afterwards. ok is false, with nothing done, when the topic cannot.
func (s *publishStage) Start(ctx context.Context, rt *Runtime) (finish func() (Stats, error), ok bool, err error) {
	start := time.Now()
	topic, err := rt.Resources.Topic(ctx, s.topic, s.tspec)
	if err != nil {
		return nil, false, err
	}
	ps, ok := topic.(port.PublishSessions)
	if !ok {
		return nil, false, nil
	}
	topic, r, err := s.open(ctx, rt)
	if err != nil {
		return nil, false, err
	}
	end := ps.BeginPublish()
	return func() (Stats, error) {
		defer end()
		return s.publish(ctx, rt, start, topic, r)
	}, true, nil
}

// Overlaps reports whether next may run while the stage publishes: a
// stream stage that consumes the stage's topic and no other.
func (s *publishStage) Overlaps(next Runner) bool {
	ss, ok := next.(*streamStage)
	return ok && ss.topic.Connector == s.topic.Connector && ss.topic.Name == s.topic.Name
}
