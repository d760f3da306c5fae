package stage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"pipeline/engine/port"
)

// guardStreamState refuses to load a table that a stream stage of the plan
// saves its state in (a lookup under save:) while a consumer group of that
// stage has committed offsets of its topic: the load would replace the
// state (say, running totals) the decided records built, and the stage
// would go on from its offsets as if they were still there. Once a reset
// stage has forgotten the topic's offsets (port.Committer.ResetOffsets),
// the load runs. Stages whose store is not a port.Committer keep no
// offsets to check.
func (s *copyStage) guardStreamState(ctx context.Context, rt *Runtime) error {
	if s.plan == nil {
		return nil
	}
	for _, r := range s.plan.Stages {
		ss, ok := r.(*streamStage)
		if !ok {
			continue
		}
		for _, l := range ss.lookups {
			if !l.save || !s.loads(l.ref.Connector, l.ref.Name) {
				continue
			}
			groups, err := committedGroups(ctx, rt, ss)
			if err != nil {
				return fmt.Errorf("load %s: checking the offsets of stream stage %s: %w", l.ref, ss.name, err)
			}
			if len(groups) == 0 {
				continue
			}
			who := "consumer group " + describeGroups(groups) + " has"
			if len(groups) > 1 {
				who = "consumer groups " + describeGroups(groups) + " have"
			}
			return fmt.Errorf("refusing to load %s: stream stage %s saves its state there (save: %s), and %s "+
				"committed offsets of topic %s; loading would replace that state while the decisions and offsets stay. %s",
				l.ref, ss.name, l.name, who, ss.tspec.Name, s.resetAdvice(ss))
		}
	}
	return nil
}

// loads reports whether the stage loads the table name of connector conn.
func (s *copyStage) loads(conn, name string) bool {
	for _, j := range s.jobs {
		if j.table.Connector == conn && j.table.Name == name {
			return true
		}
	}
	return false
}

// committedGroups returns the consumer groups that have committed offsets
// of the stream stage's topic in its store, with the records each
// committed; none when the store is not a port.Committer. A store that
// lists groups (port.GroupsLister) is asked for all of them; another for
// the stage's group and the run's (--group).
func committedGroups(ctx context.Context, rt *Runtime, ss *streamStage) (map[string]int64, error) {
	store, ok := rt.Resources.Connector(ss.out).(port.Committer)
	if !ok {
		return nil, nil
	}
	out := map[string]int64{}
	if gl, ok := store.(port.GroupsLister); ok {
		all, err := gl.CommittedGroups(ctx, ss.tspec.Name)
		if err != nil {
			return nil, err
		}
		for g, n := range all {
			if n > 0 {
				out[g] = n
			}
		}
		return out, nil
	}
	for _, g := range []string{ss.group, rt.Group} {
		if g == "" {
			continue
		}
		offs, err := store.Offsets(ctx, g, ss.tspec.Name)
		if err != nil {
			return nil, err
		}
		var n int64
		for _, o := range offs {
			n += o
		}
		if n > 0 {
			out[g] = n
		}
	}
	return out, nil
}

// describeGroups lists groups and what they committed: "validator (402 records)".
func describeGroups(groups map[string]int64) string {
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for i, g := range names {
		names[i] = fmt.Sprintf("%s (%d records)", g, groups[g])
	}
	return strings.Join(names, ", ")
}

// resetAdvice says what to run before loading again: the reset stages of
// the plan that forget the stream stage's topic, or the whole spec.
func (s *copyStage) resetAdvice(ss *streamStage) string {
	var resets []string
	for _, r := range s.plan.Stages {
		rs, ok := r.(*resetStage)
		if !ok {
			continue
		}
		for _, t := range rs.topics {
			if t.Connector == ss.topic.Connector && t.Name == ss.topic.Name {
				resets = append(resets, "--stage "+rs.name)
				break
			}
		}
	}
	if len(resets) == 0 {
		return fmt.Sprintf("Forget the offsets of topic %s first (no reset stage of the spec does), then load.", ss.tspec.Name)
	}
	return fmt.Sprintf("Run %s first (it empties its tables and topics and forgets the topic's offsets), "+
		"then load and publish again; or run the whole spec.", strings.Join(resets, " "))
}
