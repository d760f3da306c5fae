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
func (s *publishStage) Kind() string { return spec.KindPublish }

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
	fileProgress(rt.Progress, r)
	return topic, r, nil
}

// publish sends the rows of r to topic, and closes r. A row the topic
// rejects (port.RejectedRows: a record too big for the broker) goes to the
// dead letters with its source, and the others go on.
func (s *publishStage) publish(ctx context.Context, rt *Runtime, start time.Time, topic port.Topic, r port.RowReader) (Stats, error) {
	defer r.Close()
	var st Stats
	src := &sourced{RowReader: r}
	err := drain(ctx, rt, &st, s.name, src, func(batch []schema.Row) error {
		srcs := src.take(len(batch))
		err := topic.Publish(ctx, batch)
		rejected := port.Rejected(err)
		if err != nil && rejected == nil {
			return fmt.Errorf("publish to %s: %w", s.topic, err)
		}
		for _, rej := range rejected {
			deadLetter(rt, &st, s.name, srcs[rej.Index], payloadOf(s.tspec.Schema, batch[rej.Index]), rej.Err.Error())
		}
		st.Out += int64(len(batch) - len(rejected))
		return nil
	})
	st.Elapsed = time.Since(start)
	return st, err
}

// sourced is a reader that keeps the sources of the rows it has read, for
// the dead letters of rows a topic rejects. drain hands its flush the rows
// read since the last flush, in order: take returns their sources.
type sourced struct {
	port.RowReader
	srcs []port.Source
}

// Read reads a row and keeps its source.
func (r *sourced) Read() (schema.Row, port.Source, error) {
	row, src, err := r.RowReader.Read()
	if err == nil {
		r.srcs = append(r.srcs, src)
	}
	return row, src, err
}

// take returns the sources of the last n rows read and forgets them; the
// slice is good until the next Read.
func (r *sourced) take(n int) []port.Source {
	if n > len(r.srcs) { // not read through this reader: unknown
		r.srcs = append(r.srcs, make([]port.Source, n-len(r.srcs))...)
	}
	srcs := r.srcs[len(r.srcs)-n:]
	r.srcs = r.srcs[:0]
	return srcs
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
