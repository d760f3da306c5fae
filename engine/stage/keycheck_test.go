package stage

import (
	"strings"
	"testing"

	"github.com/govalues/decimal"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// TestRecordKeys: a record of a keyed topic carries its key when its
// record key is its key column's text as Publish writes it (none for a
// null); anything else is refused with a reason that says how to produce it.
func TestRecordKeys(t *testing.T) {
	s := schema.MustNew("tx", []schema.Column{
		{Name: "id", Type: schema.IntType},
		{Name: "card", Type: schema.Type{Kind: schema.String, Nullable: true}},
		{Name: "amount", Type: schema.MoneyType},
	}, "id")
	const rekey = ", or write unkeyed records to a topic that a rekey stage re-keys"
	tests := []struct {
		key  string // the topic's key column
		row  schema.Row
		msg  []byte // the record key
		want string // "" when it carries its key, else the reason
	}{
		{"id", schema.Row{17, "a", decimal.MustNew(1, 0)}, []byte("17"), ""},
		{"id", schema.Row{-5, "a", decimal.MustNew(1, 0)}, []byte("-5"), ""},
		{"id", schema.Row{17, "a", decimal.MustNew(1, 0)}, nil,
			`record has no key, but topic tx is keyed by id: produce it keyed by id as text ("17")` + rekey},
		{"id", schema.Row{17, "a", decimal.MustNew(1, 0)}, []byte("017"),
			`record key "017" is not its id, but topic tx is keyed by id: produce it keyed by id as text ("17")` + rekey},
		{"id", schema.Row{17, "a", decimal.MustNew(1, 0)}, []byte{},
			`record key "" is not its id, but topic tx is keyed by id: produce it keyed by id as text ("17")` + rekey},
		{"card", schema.Row{1, "", decimal.MustNew(1, 0)}, []byte{}, ""},
		{"card", schema.Row{1, "", decimal.MustNew(1, 0)}, nil,
			`record has no key, but topic tx is keyed by card: produce it keyed by card as text ("")` + rekey},
		{"card", schema.Row{1, nil, decimal.MustNew(1, 0)}, nil, ""},
		{"card", schema.Row{1, nil, decimal.MustNew(1, 0)}, []byte("x"),
			`record key "x", but its card is null, and topic tx is keyed by card: produce it without a key` + rekey},
		{"card", schema.Row{1, "b", decimal.MustNew(1, 0)}, []byte(strings.Repeat("k", 70)),
			`record key "` + strings.Repeat("k", 64) + `"... (70 bytes) is not its card, but topic tx is keyed by card: produce it keyed by card as text ("b")` + rekey},
		{"amount", schema.Row{1, "b", decimal.MustNew(125, 1)}, []byte("12.50"), ""},
		{"amount", schema.Row{1, "b", decimal.MustNew(125, 1)}, []byte("12.5"),
			`record key "12.5" is not its amount, but topic tx is keyed by amount: produce it keyed by amount as text ("12.50")` + rekey},
		{"", schema.Row{1, "b", decimal.MustNew(1, 0)}, []byte("anything"), ""},
	}
	for _, tt := range tests {
		k := newRecordKeys(port.TopicSpec{Name: "tx", Schema: s, Key: tt.key})
		if got := k.check(port.Message{Row: tt.row, Key: tt.msg}); got != tt.want {
			t.Errorf("key %s, row %v, record key %q:\n got %q\nwant %q", tt.key, tt.row, tt.msg, got, tt.want)
		}
	}
}

// BenchmarkRecordKeys measures the check of a record keyed by an int
// column, the common case: it must allocate nothing.
func BenchmarkRecordKeys(b *testing.B) {
	s := schema.MustNew("tx", []schema.Column{{Name: "id", Type: schema.IntType}, {Name: "card_id", Type: schema.IntType}}, "id")
	k := newRecordKeys(port.TopicSpec{Name: "tx", Schema: s, Key: "card_id"})
	msgs := make([]port.Message, 1024)
	for i := range msgs {
		msgs[i] = port.Message{Row: schema.Row{i, i % 2000}, Key: []byte(schema.IntType.Format(i % 2000))}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if k.check(msgs[i%len(msgs)]) != "" {
			b.Fatal("refused a record keyed by its card_id")
		}
		i++
	}
}
