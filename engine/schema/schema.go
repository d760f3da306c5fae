package schema

import (
	"fmt"
	"strings"
)

// Column is one named, typed column of a schema.
type Column struct {
	Name string
	Type Type
}

// Row holds one value per column of its schema, in column order.
type Row []any

// Clone returns a copy of r that can be changed without changing r.
func (r Row) Clone() Row { return append(Row(nil), r...) }

// Schema is an ordered list of columns with an optional key column.
// The zero Schema has no columns.
type Schema struct {
	Name    string
	Columns []Column
	Key     int // index of the key column, -1 when there is none
	index   map[string]int
}

// New builds a schema named name from columns; key names the key column ("" for none).
func New(name string, columns []Column, key string) (*Schema, error) {
	s := &Schema{Name: name, Columns: columns, Key: -1, index: make(map[string]int, len(columns))}
	for i, c := range columns {
		if _, dup := s.index[c.Name]; dup {
			return nil, fmt.Errorf("schema %s: column %q declared twice", name, c.Name)
		}
		s.index[c.Name] = i
	}
	if key != "" {
		k, ok := s.index[key]
		if !ok {
			return nil, fmt.Errorf("schema %s: key column %q is not one of its columns (%s)", name, key, strings.Join(s.Names(), ", "))
		}
		if columns[k].Type.Nullable {
			return nil, fmt.Errorf("schema %s: key column %q cannot be nullable", name, key)
		}
		s.Key = k
	}
	return s, nil
}

// MustNew is New for schemas built by code and tests; it panics on error.
func MustNew(name string, columns []Column, key string) *Schema {
	s, err := New(name, columns, key)
	if err != nil {
		panic(err)
	}
	return s
}

// Index returns the position of the named column, or -1.
func (s *Schema) Index(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Column returns the named column and whether it exists.
func (s *Schema) Column(name string) (Column, bool) {
	i := s.Index(name)
	if i < 0 {
		return Column{}, false
	}
	return s.Columns[i], true
}

// Names returns the column names in order.
func (s *Schema) Names() []string {
	names := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		names[i] = c.Name
	}
	return names
}

// KeyName returns the key column's name, or "".
func (s *Schema) KeyName() string {
	if s.Key < 0 || s.Key >= len(s.Columns) { // the zero Schema has Key 0 but no columns
		return ""
	}
	return s.Columns[s.Key].Name
}

// KeyOf returns the key value of r, or nil when the schema has no key.
func (s *Schema) KeyOf(r Row) any {
	if s.Key < 0 || s.Key >= len(s.Columns) {
		return nil
	}
	return r[s.Key]
}

// NewRow returns a row of nulls, one per column.
func (s *Schema) NewRow() Row { return make(Row, len(s.Columns)) }

// Equal reports whether s and o declare the same columns, in order, and the same key.
func (s *Schema) Equal(o *Schema) bool {
	if len(s.Columns) != len(o.Columns) || s.Key != o.Key {
		return false
	}
	for i := range s.Columns {
		if s.Columns[i] != o.Columns[i] {
			return false
		}
	}
	return true
}

// String lists the columns as "(name type, ...)", for messages.
func (s *Schema) String() string {
	b := []byte{'('}
	for i, c := range s.Columns {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, c.Name...)
		b = append(b, ' ')
		b = append(b, c.Type.String()...)
	}
	return string(append(b, ')'))
}
