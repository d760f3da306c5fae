package yamldoc

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// String is a scalar string with its position in the file.
type String struct {
	Value string
	Pos   Pos
}

// Set reports whether the key was present in the file.
func (s String) Set() bool { return s.Pos.Line != 0 }

// Entry is one key of an ordered mapping.
type Entry[T any] struct {
	Key   string
	Pos   Pos // position of the key
	Value T
}

// Map is a YAML mapping decoded in file order.
type Map[T any] []Entry[T]

// Get returns the value of key and whether it is present.
func (m Map[T]) Get(key string) (T, bool) {
	for _, e := range m {
		if e.Key == key {
			return e.Value, true
		}
	}
	var zero T
	return zero, false
}

// Unmarshaler is implemented by types that decode themselves from a node.
type Unmarshaler interface {
	UnmarshalNode(d *Decoder, n *yaml.Node) error
}

// Decoder decodes nodes of one file into Go values. Struct fields are
// matched by their yaml tag; a key no field takes is an error. A field named
// Pos of type Pos receives the position of the mapping itself.
type Decoder struct {
	File *File
	// Env expands ${VAR} in every string scalar when Expand is true.
	Env    Env
	Expand bool
	errs   Errors

	aliases []*yaml.Node // anchors whose values are being decoded through aliases
	aliased int          // values decoded through aliases
}

// Errorf records a positioned error at node n and returns it.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) *Error {
	e := d.File.Errorf(d.File.Pos(n), format, args...)
	d.errs = append(d.errs, e)
	return e
}

// Add records an error found while decoding.
func (d *Decoder) Add(e *Error) { d.errs = append(d.errs, e) }

// Err returns every error recorded so far, or nil.
func (d *Decoder) Err() error { return d.errs.Err() }

// Decode decodes n into out, a pointer, recording errors and going on so that
// one run reports every problem it can. It returns Err().
func (d *Decoder) Decode(n *yaml.Node, out any) error {
	d.decode(n, reflect.ValueOf(out).Elem())
	return d.Err()
}

var (
	unmarshalerType = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
	posType         = reflect.TypeOf(Pos{})
	nodeType        = reflect.TypeOf(yaml.Node{})
)

func (d *Decoder) decode(n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		if slices.Contains(d.aliases, n.Alias) {
			d.Errorf(n, "alias *%s is inside the value of its own anchor", n.Value)
			return
		}
		d.aliases = append(d.aliases, n.Alias)
		defer func() { d.aliases = d.aliases[:len(d.aliases)-1] }()
		n = n.Alias
	}
	if len(d.aliases) > 0 {
		if d.aliased++; d.aliased > maxAliased {
			if d.aliased == maxAliased+1 {
				d.Errorf(n, "aliases expand to more than %d values", maxAliased)
			}
			return
		}
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalNode(d, n); err != nil {
			if e, ok := err.(*Error); ok {
				if !d.has(e) {
					d.Add(e)
				}
			} else {
				d.Errorf(n, "%v", err)
			}
		}
		return
	}
	switch v.Type() {
	case posType:
		v.Set(reflect.ValueOf(d.File.Pos(n)))
		return
	case nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, v)
	case reflect.Slice:
		d.decodeSlice(n, v)
	case reflect.Map:
		d.decodeMap(n, v)
	case reflect.String:
		if s, ok := d.scalar(n, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if s, ok := d.scalar(n, "a whole number"); ok {
			i, err := strconv.ParseInt(s, 10, v.Type().Bits())
			if errors.Is(err, strconv.ErrRange) {
				d.Errorf(n, "%q is out of range for %s", s, v.Type())
				return
			}
			if err != nil {
				d.Errorf(n, "%q is not a whole number", s)
				return
			}
			v.SetInt(i)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, "true or false"); ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				d.Errorf(n, "%q is not true or false", s)
				return
			}
			v.SetBool(b)
		}
	default:
		d.Errorf(n, "cannot decode into %s", v.Type())
	}
}

// maxAliased bounds the values decoded through aliases, which yaml.v3 does
// not bound when it parses into nodes ("billion laughs").
const maxAliased = 1 << 20

func (d *Decoder) has(e *Error) bool {
	for _, x := range d.errs {
		if x == e {
			return true
		}
	}
	return false
}

// Scalar returns the (expanded) text of a scalar node, recording an error
// that says what was wanted when n is not a scalar.
func (d *Decoder) Scalar(n *yaml.Node, want string) (string, bool) { return d.scalar(n, want) }

func (d *Decoder) scalar(n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, "want %s, found %s", want, kindName(n))
		return "", false
	}
	if !d.Expand || n.Tag == "!!binary" {
		return n.Value, true
	}
	s, off, err := d.Env.Expand(n.Value)
	if err != nil {
		pos := d.File.Pos(n)
		if before := n.Value[:off]; n.Style == 0 && strings.Contains(d.File.Line(n.Line), before) {
			pos = pos.Shift(utf8.RuneCountInString(before)) // columns count characters
		}
		d.Add(d.File.Errorf(pos, "%v", err))
		return "", false
	}
	return s, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func (d *Decoder) decodeStruct(n *yaml.Node, v reflect.Value) {
	t := v.Type()
	if t == reflect.TypeOf(String{}) {
		if s, ok := d.scalar(n, "a string"); ok {
			v.Set(reflect.ValueOf(String{Value: s, Pos: d.File.Pos(n)}))
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "want a mapping with keys %s, found %s", strings.Join(fieldKeys(t), ", "), kindName(n))
		return
	}
	if f, ok := t.FieldByName("Pos"); ok && f.Type == posType {
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(d.File.Pos(n)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fieldIndex(t, k.Value)
		if !ok {
			d.Errorf(k, "unknown key %q (known keys: %s)", k.Value, strings.Join(fieldKeys(t), ", "))
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.Field(idx))
	}
}

func fieldIndex(t reflect.Type, key string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key && name != "" && name != "-" {
			return i, true
		}
	}
	return 0, false
}

func fieldKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

func (d *Decoder) decodeSlice(n *yaml.Node, v reflect.Value) {
	if et := v.Type().Elem(); strings.HasPrefix(et.Name(), "Entry[") {
		d.decodeOrdered(n, v)
		return
	}
	if n.Kind != yaml.SequenceNode {
		switch {
		case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		case n.Kind == yaml.ScalarNode:
			// A single value where a list is wanted is a list of one.
			one := reflect.MakeSlice(v.Type(), 1, 1)
			d.decode(n, one.Index(0))
			v.Set(one)
		default:
			d.Errorf(n, "want a list, found %s", kindName(n))
		}
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) decodeOrdered(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		d.Errorf(n, "want a mapping, found %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.Errorf(k, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		e := reflect.New(v.Type().Elem()).Elem()
		e.Field(0).SetString(k.Value)
		e.Field(1).Set(reflect.ValueOf(d.File.Pos(k)))
		d.decode(val, e.Field(2))
		s = reflect.Append(s, e)
	}
	v.Set(s)
}

func (d *Decoder) decodeMap(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "want a mapping, found %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	}
}

// Keys returns the keys of a mapping node, sorted (for messages).
func Keys(n *yaml.Node) []string {
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	sort.Strings(keys)
	return keys
}
