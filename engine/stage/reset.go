package stage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// resetStage empties tables and topics so that a run starts from a clean
// state: running the same spec twice gives the same results. The stores of
// the tables it empties also forget the consumers' offsets of its topics
// (port.Committer), which would otherwise point past a recreated topic,
// and their dead-letter tables (Runtime.DeadLetterTables) are emptied: the
// letters kept are those of the runs since the last reset. Its out count is
// the number of tables and topics emptied; its note names them.
type resetStage struct {
	name   string
	tables []spec.Ref
	tschem []*schema.Schema
	topics []spec.Ref
	tspecs []port.TopicSpec
}

func (s *resetStage) Name() string { return s.name }

// Topics returns the topics the stage empties.
func (s *resetStage) Topics() []spec.Ref { return s.topics }
func (s *resetStage) Kind() string       { return spec.KindReset }

func (b *builder) resetStage(st *spec.Stage) Runner {
	s := &resetStage{name: st.Name.Value}
	for _, t := range st.Tables {
		ref, ts, ok := b.tableRef(t, "tables")
		if !ok {
			return nil
		}
		s.tables, s.tschem = append(s.tables, ref), append(s.tschem, ts)
	}
	for _, t := range st.Topics {
		ref, ts, ok := b.topicRef(t, "topics")
		if !ok {
			return nil
		}
		s.topics, s.tspecs = append(s.topics, ref), append(s.tspecs, ts)
	}
	if len(s.tables)+len(s.topics) == 0 {
		b.errorf(st.Pos, "reset stage %s names no tables or topics", s.name)
		return nil
	}
	return s
}

func (s *resetStage) Run(ctx context.Context, rt *Runtime) (Stats, error) {
	start := time.Now()
	var st Stats
	for i, ref := range s.tables {
		t, err := rt.Resources.Table(ctx, ref, s.tschem[i])
		if err := truncate(ctx, t, err, "table", ref, &st); err != nil {
			return st, err
		}
	}
	if err := s.emptyDeadLetters(ctx, rt); err != nil {
		return st, err
	}
	stores := map[string]port.Committer{}
	for _, ref := range s.tables {
		if c, ok := rt.Resources.Connector(ref).(port.Committer); ok {
			stores[ref.Connector] = c
		}
	}
	for i, ref := range s.topics {
		for name, c := range stores {
			if err := c.ResetOffsets(ctx, s.tspecs[i].Name); err != nil {
				return st, fmt.Errorf("forgetting the offsets of %s in %s: %w", ref, name, err)
			}
		}
		t, err := rt.Resources.Topic(ctx, ref, s.tspecs[i])
		if err := truncate(ctx, t, err, "topic", ref, &st); err != nil {
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	st.Note = "emptied " + refList(s.tables, "table") + " and " + refList(s.topics, "topic")
	if len(s.topics) == 0 {
		st.Note = "emptied " + refList(s.tables, "table")
	} else if len(s.tables) == 0 {
		st.Note = "emptied " + refList(s.topics, "topic")
	}
	return st, nil
}

// truncater is what a reset stage empties: a port.Table or a port.Topic.
type truncater interface {
	Truncate(ctx context.Context) error
}

// truncate empties t, the table or topic (what) ref names, and counts it in
// st, unless opening it failed with err.
func truncate(ctx context.Context, t truncater, err error, what string, ref spec.Ref, st *Stats) error {
	if err != nil {
		return err
	}
	if err := t.Truncate(ctx); err != nil {
		return fmt.Errorf("emptying %s %s: %w", what, ref, err)
	}
	st.Out++
	return nil
}

// emptyDeadLetters empties the dead-letter table of each connector whose
// tables the stage empties.
func (s *resetStage) emptyDeadLetters(ctx context.Context, rt *Runtime) error {
	done := map[string]bool{}
	for _, ref := range s.tables {
		name := rt.DeadLetterTables[ref.Connector]
		if name == "" || done[ref.Connector] {
			continue
		}
		done[ref.Connector] = true
		dl := spec.Ref{Connector: ref.Connector, Name: name}
		t, err := rt.Resources.Table(ctx, dl, schema.MustNew(name, port.DeadLetterColumns, "id"))
		if err != nil {
			return err
		}
		if err := t.Truncate(ctx); err != nil {
			return fmt.Errorf("emptying the dead letters %s: %w", dl, err)
		}
	}
	return nil
}

// refList writes refs for a person: "2 topics (bus:orders, bus:intake)".
func refList(refs []spec.Ref, thing string) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	if len(refs) != 1 {
		thing += "s"
	}
	return fmt.Sprintf("%d %s (%s)", len(refs), thing, strings.Join(names, ", "))
}
