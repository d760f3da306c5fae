package yamldoc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// doc is the struct most decoder tests decode into.
type doc struct {
	Name    String         `yaml:"name"`
	Count   int            `yaml:"count"`
	Big     int64          `yaml:"big"`
	Small   int32          `yaml:"small"`
	On      bool           `yaml:"on,omitempty"`
	Note    string         `yaml:"note"`
	Tags    []string       `yaml:"tags"`
	Options Map[String]    `yaml:"options"`
	Items   []item         `yaml:"items"`
	Plain   map[string]int `yaml:"plain"`
	Upper   upper          `yaml:"upper"`
	Child   *item          `yaml:"child"`
	Raw     yaml.Node      `yaml:"raw"`
	At      Pos            `yaml:"at"`
	Any     any            `yaml:"any"`
	Skipped string         `yaml:"-"`
	Pos     Pos            `yaml:"-"`
	//lint:ignore U1000 an untagged field no key may reach
	hidden string
}

type item struct {
	ID   int    `yaml:"id"`
	Text String `yaml:"text"`
	Pos  Pos    `yaml:"-"`
}

const docKeys = "name, count, big, small, on, note, tags, options, items, plain, upper, child, raw, at, any"

// upper decodes itself: a scalar upper-cased. "bad" is an *Error at the
// node, "plain" a plain error, "twice" an *Error it records itself too.
type upper struct {
	Value string
	Pos   Pos
}

func (u *upper) UnmarshalNode(d *Decoder, n *yaml.Node) error {
	s, ok := d.Scalar(n, "an upper-case word")
	if !ok {
		return nil
	}
	switch s {
	case "bad":
		return d.File.Errorf(d.File.Pos(n), "upper: %q is bad", s)
	case "plain":
		return errors.New("upper: a plain error")
	case "twice":
		return d.Errorf(n, "upper: recorded and returned")
	}
	u.Value, u.Pos = strings.ToUpper(s), d.File.Pos(n)
	return nil
}

// decodeDoc decodes src into a doc, expanding ${VAR} from env when it is not nil.
func decodeDoc(t *testing.T, src string, env map[string]string) (doc, error) {
	t.Helper()
	f := parse(t, src)
	d := &Decoder{File: f, Env: MapEnv(env), Expand: env != nil}
	var out doc
	err := d.Decode(f.Root, &out)
	if (err == nil) != (d.Err() == nil) {
		t.Errorf("Decode returned %v, Err returns %v", err, d.Err())
	}
	return out, err
}

func p(line, col int) Pos { return Pos{File: "t.yaml", Line: line, Col: col} }

func TestDecode(t *testing.T) {
	src := `# a document with every kind of field
name: orders
count: -3
big: 9223372036854775807
small: 2147483647
on: true
note: "quoted"
tags: [a, "b", 'c']
options:
  zeta: last?
  alpha: "1"
  mid: ""
items:
  - id: 1
    text: one
  - {id: 2}
plain: {x: 1, y: 2}
upper: word
child:
  id: 9
raw: [1, 2]
at: here
`
	got, err := decodeDoc(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := doc{
		Name:  String{Value: "orders", Pos: p(2, 7)},
		Count: -3, Big: 9223372036854775807, Small: 2147483647, On: true, Note: "quoted",
		Tags: []string{"a", "b", "c"},
		Options: Map[String]{
			{Key: "zeta", Pos: p(10, 3), Value: String{Value: "last?", Pos: p(10, 9)}},
			{Key: "alpha", Pos: p(11, 3), Value: String{Value: "1", Pos: p(11, 10)}},
			{Key: "mid", Pos: p(12, 3), Value: String{Value: "", Pos: p(12, 8)}},
		},
		Items: []item{
			{ID: 1, Text: String{Value: "one", Pos: p(15, 11)}, Pos: p(14, 5)},
			{ID: 2, Pos: p(16, 5)},
		},
		Plain: map[string]int{"x": 1, "y": 2},
		Upper: upper{Value: "WORD", Pos: p(18, 8)},
		Child: &item{ID: 9, Pos: p(20, 3)},
		At:    p(22, 5),
		Pos:   p(2, 1),
	}
	opts := cmp.Options{cmp.AllowUnexported(doc{}), cmp.Comparer(func(a, b yaml.Node) bool { return true })}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	if got.Raw.Kind != yaml.SequenceNode || len(got.Raw.Content) != 2 || got.Raw.Line != 21 {
		t.Errorf("Raw = %+v, want the node of [1, 2]", got.Raw)
	}
	if v, ok := got.Options.Get("alpha"); !ok || v.Value != "1" {
		t.Errorf(`Options.Get("alpha") = %v, %t`, v, ok)
	}
	if v, ok := got.Options.Get("nope"); ok || v != (String{}) {
		t.Errorf(`Options.Get("nope") = %v, %t`, v, ok)
	}
	if !got.Name.Set() || !got.Options[2].Value.Set() || got.Items[1].Text.Set() {
		t.Errorf("Set() = %t, %t, %t; want true (given), true (given empty), false (absent)",
			got.Name.Set(), got.Options[2].Value.Set(), got.Items[1].Text.Set())
	}
}

func TestDecodeEmpty(t *testing.T) {
	// Null values leave lists and ordered maps nil; absent keys leave fields zero.
	got, err := decodeDoc(t, "tags:\noptions: ~\nitems: null\nname:\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags != nil || got.Options != nil || got.Items != nil || got.Count != 0 || got.Child != nil {
		t.Errorf("Decode = %+v", got)
	}
	if got.Name != (String{Value: "", Pos: p(4, 6)}) || !got.Name.Set() {
		t.Errorf("an empty name = %+v, want set and empty", got.Name)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		err  string
	}{
		{
			name: "unknown key",
			src:  "name: x\n  # comment\nnmae: y\n",
			err:  `t.yaml:3:1: unknown key "nmae" (known keys: ` + docKeys + `)`,
		},
		{
			name: "unknown key in a list item",
			src:  "items:\n  - id: 1\n    txt: x\n",
			err:  `t.yaml:3:5: unknown key "txt" (known keys: id, text)`,
		},
		{
			name: "a key for a field without a tag",
			src:  "\"\": x\nhidden: y\nPos: z\nSkipped: w\n\"-\": v\n",
			err: `t.yaml:1:1: unknown key "" (known keys: ` + docKeys + `)` + "\n" +
				`t.yaml:2:1: unknown key "hidden" (known keys: ` + docKeys + `)` + "\n" +
				`t.yaml:3:1: unknown key "Pos" (known keys: ` + docKeys + `)` + "\n" +
				`t.yaml:4:1: unknown key "Skipped" (known keys: ` + docKeys + `)` + "\n" +
				`t.yaml:5:1: unknown key "-" (known keys: ` + docKeys + `)`,
		},
		{
			name: "key twice",
			src:  "name: x\ncount: 1\nname: y\n",
			err:  `t.yaml:3:1: key "name" given twice`,
		},
		{
			name: "ordered map key twice",
			src:  "options:\n  a: 1\n  b: 2\n  a: 3\n",
			err:  `t.yaml:4:3: key "a" given twice`,
		},
		{
			name: "list wanted",
			src:  "tags: [a]\nitems: {id: 1}\n",
			err:  "t.yaml:2:8: want a list, found a mapping",
		},
		{
			name: "a single value is a list of one, of the wrong kind",
			src:  "items: x\n",
			err:  "t.yaml:1:8: want a mapping with keys id, text, found \"x\"",
		},
		{
			name: "mapping wanted",
			src:  "options: [a]\nplain: x\noptions2: 1\n",
			err: "t.yaml:1:10: want a mapping, found a list\nt.yaml:2:8: want a mapping, found \"x\"\n" +
				`t.yaml:3:1: unknown key "options2" (known keys: ` + docKeys + `)`,
		},
		{
			name: "struct wanted",
			src:  "items: [1, [2]]\nchild: x\n",
			err: "t.yaml:1:9: want a mapping with keys id, text, found \"1\"\n" +
				"t.yaml:1:12: want a mapping with keys id, text, found a list\n" +
				"t.yaml:2:8: want a mapping with keys id, text, found \"x\"",
		},
		{
			name: "document not a mapping",
			src:  "[a, b]\n",
			err:  "t.yaml:1:1: want a mapping with keys " + docKeys + ", found a list",
		},
		{
			name: "string wanted",
			src:  "name: {a: 1}\nnote: [x]\ntags: [a, {b: c}]\noptions: {a: [1]}\n",
			err: "t.yaml:1:7: want a string, found a mapping\nt.yaml:2:7: want a string, found a list\n" +
				"t.yaml:3:11: want a string, found a mapping\nt.yaml:4:14: want a string, found a list",
		},
		{
			name: "ints",
			src:  "count: 1.5\nbig: 0x10\nsmall: 2147483648\nitems: [{id: []}]\ncount: 2\n",
			err: "t.yaml:1:8: \"1.5\" is not a whole number\nt.yaml:2:6: \"0x10\" is not a whole number\n" +
				"t.yaml:3:8: \"2147483648\" is out of range for int32\nt.yaml:4:14: want a whole number, found a list\n" +
				`t.yaml:5:1: key "count" given twice`,
		},
		{
			name: "int out of range",
			src:  "big: 9223372036854775808\n",
			err:  `t.yaml:1:6: "9223372036854775808" is out of range for int64`,
		},
		{
			name: "bools",
			src:  "on: yes\n",
			err:  `t.yaml:1:5: "yes" is not true or false`,
		},
		{
			name: "bool wanted",
			src:  "on: {}\n",
			err:  "t.yaml:1:5: want true or false, found a mapping",
		},
		{
			name: "field of no decodable type",
			src:  "any: 1\n",
			err:  "t.yaml:1:6: cannot decode into interface {}",
		},
		{
			name: "unmarshaler errors",
			src:  "upper: bad\n",
			err:  `t.yaml:1:8: upper: "bad" is bad`,
		},
		{
			name: "unmarshaler plain error",
			src:  "upper: plain\n",
			err:  `t.yaml:1:8: upper: a plain error`,
		},
		{
			name: "unmarshaler error recorded once",
			src:  "upper: twice\n",
			err:  `t.yaml:1:8: upper: recorded and returned`,
		},
		{
			name: "unmarshaler scalar wanted",
			src:  "upper: [x]\n",
			err:  `t.yaml:1:8: want an upper-case word, found a list`,
		},
		{
			name: "alias to the wrong kind", // at the anchored value
			src:  "child: &c {id: 1}\nitems: &l [*l]\n",
			err:  "t.yaml:2:8: want a mapping with keys id, text, found a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeDoc(t, tt.src, nil)
			if got := errText(err); got != tt.err {
				t.Errorf("error:\n got %s\nwant %s", got, tt.err)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T, want Errors", err)
			}
			if len(es) != strings.Count(tt.err, "\n")+1 {
				t.Errorf("%d errors, want one per line", len(es))
			}
		})
	}
}

func TestDecodeListOfOne(t *testing.T) {
	// A single value where a list is wanted is a list of that one value.
	got, err := decodeDoc(t, "tags: a\n", nil)
	if err != nil || !cmp.Equal(got.Tags, []string{"a"}) {
		t.Errorf("Tags = %q, %v; want [a]", got.Tags, err)
	}
	got, err = decodeDoc(t, "tags: ${T}\n", map[string]string{"T": "x"})
	if err != nil || !cmp.Equal(got.Tags, []string{"x"}) {
		t.Errorf("Tags = %q, %v; want [x]", got.Tags, err)
	}
}

func TestDecodeGoesOn(t *testing.T) {
	// Good fields are decoded around bad ones.
	got, err := decodeDoc(t, "count: x\nname: ok\nitems: [{id: y}, {id: 2}]\n", nil)
	if err == nil {
		t.Fatal("no error")
	}
	if got.Name.Value != "ok" || len(got.Items) != 2 || got.Items[1].ID != 2 {
		t.Errorf("Decode = %+v", got)
	}
}

func TestDecodeAliases(t *testing.T) {
	src := "child: &c {id: 7, text: seven}\nitems: [*c, *c]\noptions: &o {a: x}\nraw: *o\n"
	got, err := decodeDoc(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Child.ID != 7 || len(got.Items) != 2 || got.Items[0].ID != 7 || got.Items[1].Text.Value != "seven" {
		t.Errorf("Decode = %+v", got)
	}
	// Values reached through an alias have the anchored value's position.
	if got.Items[1].Pos != p(1, 8) {
		t.Errorf("aliased item at %v, want 1:8", got.Items[1].Pos)
	}
}

// node is a recursive type, which an alias may make infinite.
type node struct {
	Name string `yaml:"name"`
	Kids []node `yaml:"kids"`
}

func TestDecodeAliasCycle(t *testing.T) {
	f := parse(t, "&top\nname: a\nkids:\n  - name: b\n    kids: [*top]\n")
	var out node
	err := (&Decoder{File: f}).Decode(f.Root, &out)
	want := "t.yaml:5:12: alias *top is inside the value of its own anchor"
	if got := errText(err); got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeAliasBomb(t *testing.T) {
	// Eleven levels of ten aliases each would be 10^11 strings.
	var b strings.Builder
	b.WriteString("defs:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [*a%d", i, i, i-1)
		for range 9 {
			fmt.Fprintf(&b, ", *a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("top: *a10\n")
	f := parse(t, b.String())
	var out struct {
		Defs yaml.Node                    `yaml:"defs"`
		Top  [][][][][][][][][][][]string `yaml:"top"`
	}
	err := (&Decoder{File: f}).Decode(f.Root, &out)
	want := fmt.Sprintf("t.yaml:2:15: aliases expand to more than %d values", maxAliased)
	if got := errText(err); got != want {
		t.Errorf("error:\n got %.300s\nwant %s", got, want)
	}
}

func TestKeys(t *testing.T) {
	f := parse(t, "b: 1\na: 2\nc: 3\n")
	if got, want := Keys(f.Root), []string{"a", "b", "c"}; !cmp.Equal(got, want) {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	if got := Keys(f.Root.Content[1]); got != nil {
		t.Errorf("Keys of a scalar = %q, want none", got)
	}
}

func TestDecodeExpand(t *testing.T) {
	env := map[string]string{"NAME": "orders", "EMPTY": "", "N": "12"}
	src := `name: ${NAME}
note: "${MISSING:-fallback}-$$-${EMPTY:-e}"
count: ${N}
tags: [$NAME, "${NAME}s"]
options:
  bin: !!binary ${NOT_EXPANDED}
`
	got, err := decodeDoc(t, src, env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != (String{Value: "orders", Pos: p(1, 7)}) || got.Note != "fallback-$-e" || got.Count != 12 {
		t.Errorf("Decode = %+v", got)
	}
	if !cmp.Equal(got.Tags, []string{"$NAME", "orderss"}) {
		t.Errorf("Tags = %q", got.Tags)
	}
	if v, _ := got.Options.Get("bin"); v.Value != "${NOT_EXPANDED}" {
		t.Errorf("!!binary value = %q, want it as written", v.Value)
	}
	// Without Expand nothing is expanded.
	got, err = decodeDoc(t, src, nil)
	if errText(err) != `t.yaml:3:8: "${N}" is not a whole number` || got.Name.Value != "${NAME}" || got.Note != "${MISSING:-fallback}-$$-${EMPTY:-e}" {
		t.Errorf("Decode without Expand = %+v, %v", got, err)
	}
}

func TestDecodeExpandErrors(t *testing.T) {
	const unset = "variable %s is not set and has no default (set it, put it in .env, or write ${%[1]s:-default})"
	tests := []struct {
		name string
		src  string
		err  string
	}{
		{
			name: "plain scalar",
			src:  "name: db-${HOST}\n",
			err:  "t.yaml:1:10: " + fmt.Sprintf(unset, "HOST"),
		},
		{
			name: "plain scalar, second reference",
			src:  "note: ${A:-a}/${B}\n",
			err:  "t.yaml:1:15: " + fmt.Sprintf(unset, "B"),
		},
		{
			name: "inside a default",
			src:  "note: x${A:-${B}}\n",
			err:  "t.yaml:1:13: " + fmt.Sprintf(unset, "B"),
		},
		{
			name: "after other characters",
			src:  "note: café ${X}\n",
			err:  "t.yaml:1:12: " + fmt.Sprintf(unset, "X"),
		},
		{
			name: "list item",
			src:  "tags:\n  - ok\n  - ${T}\n",
			err:  "t.yaml:3:5: " + fmt.Sprintf(unset, "T"),
		},
		{
			name: "double-quoted scalar", // at the quote
			src:  "name: \"x ${HOST}\"\n",
			err:  "t.yaml:1:7: " + fmt.Sprintf(unset, "HOST"),
		},
		{
			name: "single-quoted scalar",
			src:  "name: 'x ${HOST}'\n",
			err:  "t.yaml:1:7: " + fmt.Sprintf(unset, "HOST"),
		},
		{
			name: "plain scalar on two lines", // at the scalar
			src:  "note: first\n  then ${X}\n",
			err:  "t.yaml:1:7: " + fmt.Sprintf(unset, "X"),
		},
		{
			name: "block scalar",
			src:  "note: |\n  ${X}\n",
			err:  "t.yaml:1:7: " + fmt.Sprintf(unset, "X"),
		},
		{
			name: "bad name",
			src:  "note: a${1X}\n",
			err:  `t.yaml:1:8: bad variable name "1X" in ${1X}`,
		},
		{
			name: "unclosed",
			src:  "note: a${X\n",
			err:  `t.yaml:1:8: unclosed ${ in "a${X"`,
		},
		{
			name: "ordered map value",
			src:  "options:\n  k: ${K}\n",
			err:  "t.yaml:2:6: " + fmt.Sprintf(unset, "K"),
		},
		{
			name: "all of them",
			src:  "name: ${A}\nnote: ${B}\n",
			err:  "t.yaml:1:7: " + fmt.Sprintf(unset, "A") + "\nt.yaml:2:7: " + fmt.Sprintf(unset, "B"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeDoc(t, tt.src, map[string]string{})
			if got := errText(err); got != tt.err {
				t.Errorf("error:\n got %s\nwant %s", got, tt.err)
			}
		})
	}
}
