package schema

import (
	"slices"
	"testing"
)

var cardColumns = []Column{
	{Name: "card_id", Type: IntType},
	{Name: "balance", Type: MoneyType},
	{Name: "note", Type: Type{Kind: String, Nullable: true}},
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		columns []Column
		key     string
		wantKey int
		err     string
	}{
		{name: "keyed", columns: cardColumns, key: "card_id", wantKey: 0},
		{name: "key not first", columns: cardColumns, key: "balance", wantKey: 1},
		{name: "no key", columns: cardColumns, key: "", wantKey: -1},
		{name: "no columns", columns: nil, key: "", wantKey: -1},
		{
			name:    "duplicate",
			columns: []Column{{Name: "a", Type: IntType}, {Name: "b", Type: IntType}, {Name: "a", Type: StringType}},
			err:     `schema cards: column "a" declared twice`,
		},
		{
			name:    "missing key",
			columns: cardColumns, key: "id",
			err: `schema cards: key column "id" is not one of its columns (card_id, balance, note)`,
		},
		{
			name:    "missing key no columns",
			columns: nil, key: "id",
			err: `schema cards: key column "id" is not one of its columns ()`,
		},
		{
			name:    "nullable key",
			columns: cardColumns, key: "note",
			err: `schema cards: key column "note" cannot be nullable`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New("cards", tt.columns, tt.key)
			if errText(err) != tt.err {
				t.Fatalf("New error:\n got %v\nwant %s", err, tt.err)
			}
			if tt.err != "" {
				if s != nil {
					t.Errorf("New returned a schema with an error")
				}
				return
			}
			if s.Name != "cards" || s.Key != tt.wantKey || len(s.Columns) != len(tt.columns) {
				t.Errorf("New = %+v, want key %d", s, tt.wantKey)
			}
			if got := s.KeyName(); got != tt.key {
				t.Errorf("KeyName() = %q, want %q", got, tt.key)
			}
		})
	}
}

func TestMustNew(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || err.Error() != `schema x: column "a" declared twice` {
			t.Errorf("MustNew panicked with %v, want the New error", r)
		}
	}()
	MustNew("x", []Column{{Name: "a", Type: IntType}, {Name: "a", Type: IntType}}, "")
	t.Errorf("MustNew did not panic")
}

func TestLookups(t *testing.T) {
	s := MustNew("cards", cardColumns, "card_id")
	for i, c := range cardColumns {
		if got := s.Index(c.Name); got != i {
			t.Errorf("Index(%q) = %d, want %d", c.Name, got, i)
		}
		got, ok := s.Column(c.Name)
		if !ok || got != c {
			t.Errorf("Column(%q) = %v, %t; want %v, true", c.Name, got, ok, c)
		}
	}
	for _, name := range []string{"", "id", "Card_id", "card_id "} {
		if got := s.Index(name); got != -1 {
			t.Errorf("Index(%q) = %d, want -1", name, got)
		}
		if got, ok := s.Column(name); ok || got != (Column{}) {
			t.Errorf("Column(%q) = %v, %t; want zero, false", name, got, ok)
		}
	}
	if got, want := s.Names(), []string{"card_id", "balance", "note"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	row := Row{7, dec(t, "1.50"), nil}
	if got := s.KeyOf(row); got != 7 {
		t.Errorf("KeyOf = %v, want 7", got)
	}
	unkeyed := MustNew("log", cardColumns, "")
	if got := unkeyed.KeyOf(row); got != nil {
		t.Errorf("KeyOf without a key = %v, want nil", got)
	}
	if got := unkeyed.KeyName(); got != "" {
		t.Errorf("KeyName without a key = %q, want \"\"", got)
	}
	if got := s.NewRow(); len(got) != 3 || got[0] != nil || got[1] != nil || got[2] != nil {
		t.Errorf("NewRow() = %v, want three nulls", got)
	}
}

func TestZeroSchema(t *testing.T) {
	var s Schema
	if got := s.Index("a"); got != -1 {
		t.Errorf("Index = %d, want -1", got)
	}
	if _, ok := s.Column("a"); ok {
		t.Errorf("Column found a column in the zero schema")
	}
	if got := s.Names(); len(got) != 0 {
		t.Errorf("Names = %q, want none", got)
	}
	if got := s.KeyName(); got != "" {
		t.Errorf("KeyName = %q, want \"\"", got)
	}
	if got := s.KeyOf(Row{}); got != nil {
		t.Errorf("KeyOf = %v, want nil", got)
	}
	if got := s.NewRow(); len(got) != 0 {
		t.Errorf("NewRow = %v, want empty", got)
	}
}

func TestRowClone(t *testing.T) {
	r := Row{1, "a", nil}
	c := r.Clone()
	c[0] = 2
	if r[0] != 1 {
		t.Errorf("changing the clone changed the row: %v", r)
	}
	if got := Row(nil).Clone(); got != nil {
		t.Errorf("Row(nil).Clone() = %#v, want nil", got)
	}
}
