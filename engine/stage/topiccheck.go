package stage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"pipeline/engine/port"
)

// checkTopic makes sure, before a stream stage consumes anything, that the
// offsets its store holds were taken on the topic at hand: a store
// (port.OffsetOrigins) records the ID of the topic beside each offset, and
// a topic (port.Describer) tells its ID and where its partitions end. It
// fails, wrapping port.ErrOtherTopic, when a stored offset was taken on a
// topic of another ID, or lies past the end of its partition (the topic
// was deleted and created again). It keeps the topic's ID for the
// offsets of the stage's commits. See docs/RELIABILITY.md.
func (r *streamRun) checkTopic(ctx context.Context, topic port.Topic) error {
	d, ok := topic.(port.Describer)
	if !ok {
		return nil
	}
	// The stored offsets first, the topic's ends after: offsets are only
	// stored once consumed, so ones of this topic are then never past the
	// ends read, even while other members commit and a publisher appends.
	var stored map[int32]port.StoredOffset
	origins, check := r.store.(port.OffsetOrigins)
	if check {
		var err error
		if stored, err = origins.StoredOffsets(ctx, r.group, r.s.tspec.Name); err != nil {
			return fmt.Errorf("reading committed offsets: %w", err)
		}
	}
	info, err := d.Describe(ctx)
	if err != nil {
		return err
	}
	r.topicID = info.ID
	if check {
		if err := otherTopic(r.s.out.Connector, r.s.topic.String(), r.group, info, stored); err != nil {
			return err
		}
	}
	r.total(info, stored)
	return nil
}

// otherTopic returns an error wrapping port.ErrOtherTopic, saying what
// happened and what to do, when the offsets stored (in the connector
// store, for group) do not belong to the topic (named ref) that info
// describes; else nil. They do not when one was taken on a topic of
// another ID, or lies past the end of its partition.
func otherTopic(store, ref, group string, info port.TopicInfo, stored map[int32]port.StoredOffset) error {
	parts := make([]int32, 0, len(stored))
	for p := range stored {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var what string
	for _, p := range parts {
		o := stored[p]
		if o.TopicID != "" && info.ID != "" && o.TopicID != info.ID {
			what = fmt.Sprintf("they were taken on a topic with ID %s, and the broker's has ID %s", o.TopicID, info.ID)
			break
		}
	}
	if what == "" {
		var past []string
		for _, p := range parts {
			end, ok := info.End[p]
			switch {
			case !ok:
				past = append(past, fmt.Sprintf("partition %d, which the topic does not have, at %d", p, stored[p].Next))
			case stored[p].Next > end:
				past = append(past, fmt.Sprintf("partition %d at %d, past its end at %d", p, stored[p].Next, end))
			}
		}
		if len(past) == 0 {
			return nil
		}
		what = "they lie beyond the topic's end (" + strings.Join(past, "; ") + ")"
	}
	return &otherTopicError{msg: fmt.Sprintf("the offsets %s holds for group %s do not belong to topic %s: %s. "+
		"The broker's data comes from another run than this database's (another broker, or another data folder of an embedded one), "+
		"or the topic was deleted and created again since. Nothing was consumed. "+
		"Point the broker and the database at data that go together, "+
		"or start over with the spec's reset stage, which empties the topic and forgets these offsets",
		store, group, ref, what)}
}

// otherTopicError is what otherTopic returns.
type otherTopicError struct{ msg string }

func (e *otherTopicError) Error() string { return e.msg }

// Unwrap returns port.ErrOtherTopic.
func (e *otherTopicError) Unwrap() error { return port.ErrOtherTopic }

// total tells the stage's progress counter how many records the topic
// holds past the stored offsets (or its first offsets), when the stage
// does not follow it: those it will consume.
func (r *streamRun) total(info port.TopicInfo, stored map[int32]port.StoredOffset) {
	if r.rt.Follow {
		return
	}
	r.rt.Progress.SetTotal(remaining(info, stored), nil)
}

// remaining returns the records of the topic info describes from the
// stored offsets on, or from each partition's start where none is stored.
func remaining(info port.TopicInfo, stored map[int32]port.StoredOffset) int64 {
	var n int64
	for p, end := range info.End {
		from := info.Start[p]
		if o, ok := stored[p]; ok {
			from = max(from, o.Next)
		}
		n += max(end-from, 0)
	}
	return n
}
