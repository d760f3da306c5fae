package stage

import (
	"pipeline/engine/rules"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// State a stream stage keeps from record to record (a saved lookup, a
// window) must be keyed by its topic's key: the records of one key share a
// partition, which one consumer decides in order, so the state of a key
// has one writer and follows the records' order. State keyed by anything
// else (an owner's running count on a topic keyed by account) gathers
// records from several partitions, decided by different consumers in no
// set order, and silently gives other answers from run to run. Lint
// refuses it and names the fix: re-key the topic by that column with a
// rekey stage, and keep the state on the re-keyed topic.

// checkSaves reports every saved lookup of s that is not keyed by the
// key of s's topic (see stateKeyed).
func (b *builder) checkSaves(s *streamStage, st *spec.Stage) {
	for _, sv := range st.Save {
		for _, l := range s.lookups {
			if l.name == sv.Value && l.save {
				b.stateKeyed(s, sv.Pos, "save "+l.name, l.from, l.field)
			}
		}
	}
}

// stateKeyed reports whether state that s keeps per value of field field
// of the record in scope variable record (s's record, or a lookup) is
// keyed by the key of s's topic; when it is not, it reports an error at
// pos, naming the state (what, e.g. "save owner" or "window
// owner_24h") and the fix. A field is the topic's key when it is the
// key column of s's record, or the key column of the row of a lookup whose
// own key is the topic's key (account.id, for account looked up by
// order.account_id).
func (b *builder) stateKeyed(s *streamStage, pos yamldoc.Pos, what string, record, field int) bool {
	if s.topicKeyed(record, field, 0) {
		return true
	}
	sc := s.sc
	by := sc.names[record] + "." + sc.schemas[record].Columns[field].Name
	col := sc.schemas[record].Columns[field].Name
	if l := s.lookupOf(record); l != nil && field == l.schema.Key {
		// Keyed by a lookup's key: the column it was looked up by.
		by = sc.names[l.from] + "." + sc.schemas[l.from].Columns[l.field].Name
		col = sc.schemas[l.from].Columns[l.field].Name
	}
	if s.tspec.Key == "" {
		b.errorf(pos, "%s: this state is kept per %s, but topic %s has no key column, so the records of one %s may sit on any partition "+
			"and be decided by different consumers in no set order. Key the topic by it (topics: %s: {key: %s}) when its producers do, "+
			"or re-key the topic with a rekey stage (kind: rekey, from: %s, key: %s, to: a topic keyed by %s) and stream from that",
			what, by, s.tspec.Name, col, s.tspec.Name, col, s.topic, by, col)
		return false
	}
	b.errorf(pos, "%s: this state is kept per %s, but topic %s is keyed by %s: the records of one %s sit on several partitions, "+
		"decided by different consumers in no set order, so the state would follow partition order, not record order. "+
		"Re-key the topic by %s with a rekey stage (kind: rekey, from: %s, key: %s, to: a topic keyed by %s), stream from that topic, "+
		"and keep the state by its records' %s",
		what, by, s.tspec.Name, s.tspec.Key, col, col, s.topic, by, col, col)
	return false
}

// stateKeyedExpr is stateKeyed for state kept per the value of an
// expression (a window's key: order.account_id): it must be a field of a record
// of s's scope, and that field keyed by the topic's key.
func (b *builder) stateKeyedExpr(s *streamStage, pos yamldoc.Pos, what, expr string) bool {
	if record, field, ok := s.fieldRef(expr); ok {
		return b.stateKeyed(s, pos, what, record, field)
	}
	b.errorf(pos, "%s: state must be kept per a field of a record (e.g. %s.%s, the key of topic %s), not per %q",
		what, s.sc.names[0], s.tspec.Key, s.tspec.Name, expr)
	return false
}

// topicKeyed reports whether field field of scope variable record always
// holds the key of s's topic (see stateKeyed). depth bounds the chain of
// lookups followed.
func (s *streamStage) topicKeyed(record, field, depth int) bool {
	key := s.tspec.Schema.Index(s.tspec.Key)
	if key < 0 || depth > len(s.lookups) {
		return false
	}
	if record == 0 {
		return field == key
	}
	l := s.lookupOf(record)
	return l != nil && field == l.schema.Key && s.topicKeyed(l.from, l.field, depth+1)
}

// lookupOf returns the lookup whose row is scope variable v, or nil.
func (s *streamStage) lookupOf(v int) *lookup {
	for i := range s.lookups {
		if s.lookups[i].v == v {
			return &s.lookups[i]
		}
	}
	return nil
}

// fieldRef returns the scope variable and column that expr, a field of a
// record of s's scope (rec.field), reads.
func (s *streamStage) fieldRef(expr string) (record, field int, ok bool) {
	f, ok := rules.PlainField(expr)
	if !ok {
		return 0, 0, false
	}
	record = s.sc.index(f.Record)
	if record < 0 || s.sc.schemas[record] == nil {
		return 0, 0, false
	}
	if field = s.sc.schemas[record].Index(f.Field); field < 0 {
		return 0, 0, false
	}
	return record, field, true
}
