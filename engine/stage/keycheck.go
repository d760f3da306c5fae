package stage

import (
	"bytes"
	"fmt"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// recordKeys checks that each record of a keyed topic carries the key
// Publish gives it: the text of its key column (schema.Type.Append), or no
// key when the column is null. A record without that key may sit on another
// partition than the other records of its key (a producer that sent it
// unkeyed, or keyed by something else), so a stream stage would decide it
// out of order with them: it goes to the dead letters instead, with a
// reason that says how to produce it.
type recordKeys struct {
	topic string
	col   int // the key column in the records, -1 when the topic has no key
	name  string
	typ   schema.Type
	want  []byte // the text the checked record's key should be, reused
}

// newRecordKeys returns the check of the records of ts.
func newRecordKeys(ts port.TopicSpec) *recordKeys {
	k := &recordKeys{topic: ts.Name, col: -1}
	if ts.Key != "" && ts.Schema != nil {
		if k.col = ts.Schema.Index(ts.Key); k.col >= 0 {
			k.name, k.typ = ts.Key, ts.Schema.Columns[k.col].Type
		}
	}
	return k
}

// check returns why m, a decoded record, does not carry its key, or "" when
// it does (or the topic has no key). It allocates nothing for a record that
// carries its key.
func (k *recordKeys) check(m port.Message) string {
	if k.col < 0 {
		return ""
	}
	v := m.Row[k.col]
	if v == nil {
		if len(m.Key) == 0 {
			return ""
		}
		return fmt.Sprintf("record key %s, but its %s is null, and topic %s is keyed by %s: produce it without a key, "+
			"or write unkeyed records to a topic that a rekey stage re-keys",
			keyQuote(m.Key), k.name, k.topic, k.name)
	}
	k.want = k.typ.Append(k.want[:0], v)
	if m.Key != nil && bytes.Equal(m.Key, k.want) {
		return ""
	}
	what := "record has no key"
	if m.Key != nil {
		what = fmt.Sprintf("record key %s is not its %s", keyQuote(m.Key), k.name)
	}
	return fmt.Sprintf("%s, but topic %s is keyed by %s: produce it keyed by %s as text (%q), "+
		"or write unkeyed records to a topic that a rekey stage re-keys",
		what, k.topic, k.name, k.name, k.want)
}

// maxKeyShown is how much of a wrong key a reason quotes.
const maxKeyShown = 64

// keyQuote quotes a record key for a reason, cut to maxKeyShown bytes.
func keyQuote(key []byte) string {
	if len(key) > maxKeyShown {
		return fmt.Sprintf("%q... (%d bytes)", key[:maxKeyShown], len(key))
	}
	return fmt.Sprintf("%q", key)
}

// keyed reports whether m, decoded, carries its topic's key; when it does
// not, it sends m to the dead letters saying how to produce it.
func (r *streamRun) keyed(m port.Message) bool {
	if r.keys == nil {
		r.keys = newRecordKeys(r.s.tspec)
	}
	reason := r.keys.check(m)
	if reason == "" {
		return true
	}
	deadLetter(r.rt, r.st, r.s.name, m.Source, messagePayload(r.s.tspec.Schema, m), reason)
	return false
}
