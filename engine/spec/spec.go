package spec

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"pipeline/engine/yamldoc"
)

// Spec is a pipeline as a spec file declares it.
type Spec struct {
	Name        yamldoc.String         `yaml:"name"`
	Description string                 `yaml:"description"`
	Connectors  yamldoc.Map[Connector] `yaml:"connectors"`
	Tables      yamldoc.Map[Table]     `yaml:"tables"`
	Topics      yamldoc.Map[Topic]     `yaml:"topics"`
	DeadLetters []yamldoc.String       `yaml:"dead_letters"`
	Stages      []Stage                `yaml:"stages"`
	Pos         yamldoc.Pos            `yaml:"-"`
	File        *yamldoc.File          `yaml:"-"`
}

// Connector is a named connector: its kind and kind-specific options.
type Connector struct {
	Kind    yamldoc.String
	Options yamldoc.Map[yamldoc.String]
	Pos     yamldoc.Pos
}

// UnmarshalNode takes "kind" and keeps every other key as an option.
func (c *Connector) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	c.Pos = d.File.Pos(n)
	var all yamldoc.Map[yamldoc.String]
	before := errCount(d)
	if _ = d.Decode(n, &all); errCount(d) > before { // d.Decode returns earlier errors too
		return nil // recorded in d
	}
	for _, e := range all {
		if e.Key == "kind" {
			c.Kind = e.Value
		} else {
			c.Options = append(c.Options, e)
		}
	}
	if !c.Kind.Set() {
		return d.File.Errorf(c.Pos, "connector has no \"kind\"")
	}
	return nil
}

// errCount returns the number of errors d has recorded.
func errCount(d *yamldoc.Decoder) int {
	es, _ := d.Err().(yamldoc.Errors)
	return len(es)
}

// Table is the schema of a keyed table.
type Table struct {
	Key     yamldoc.String              `yaml:"key"`
	Columns yamldoc.Map[yamldoc.String] `yaml:"columns"`
	Pos     yamldoc.Pos                 `yaml:"-"`
}

// Topic is a topic whose records have the columns of a table schema.
type Topic struct {
	Schema     yamldoc.String `yaml:"schema"`
	Key        yamldoc.String `yaml:"key"`
	Partitions int            `yaml:"partitions"`
	Pos        yamldoc.Pos    `yaml:"-"`
}

// Stage is one step of the pipeline. Which fields apply depends on Kind.
type Stage struct {
	Name yamldoc.String `yaml:"name"`
	Kind yamldoc.String `yaml:"kind"`
	Pos  yamldoc.Pos    `yaml:"-"`

	// load and export: files to copy.
	Copy []Copy `yaml:"copy"`

	// publish, stream and rekey: source and destination. A stream stage's
	// to may also be a list of sinks (Sinks): To is then the first one's.
	From yamldoc.String `yaml:"from"`
	To   yamldoc.String `yaml:"to"`
	// Sinks are a stream stage's outputs when its to is a list: the first
	// is the table every decision goes to, the others take the records
	// their where holds for, each as its own emit (or the stage's) makes them.
	Sinks []Sink `yaml:"-"`

	// rekey: the expression whose value keys each record on To.
	Key yamldoc.String `yaml:"key"`

	// stream (and rekey: as, group, lookup, batch_size)
	As        yamldoc.String              `yaml:"as"`
	Group     yamldoc.String              `yaml:"group"`
	Lookup    yamldoc.Map[Lookup]         `yaml:"lookup"`
	Rules     yamldoc.String              `yaml:"rules"`
	Save      []yamldoc.String            `yaml:"save"`
	Emit      yamldoc.Map[yamldoc.String] `yaml:"emit"`
	BatchSize int                         `yaml:"batch_size"`
	Windows   yamldoc.Map[Window]         `yaml:"windows"`
	// Lists are tables whose keys rules test membership in
	// (x in lists.name), each read whole into a set (see List).
	Lists yamldoc.Map[List] `yaml:"lists"`
	// Measure is an amount statistics and diff sum per rule and outcome
	// (tx.amount), read from the record and its lookups before the rules.
	Measure yamldoc.String `yaml:"measure"`

	// stream: a shadow ruleset (champion/challenger), decided beside the
	// live one on every record without changing state or outputs, and the
	// table its decisions go to (optional: without it they are only counted).
	Shadow   yamldoc.String `yaml:"shadow"`
	ShadowTo yamldoc.String `yaml:"shadow_to"`

	// reset: what a run that starts from a clean state empties.
	Tables []yamldoc.String `yaml:"tables"`
	Topics []yamldoc.String `yaml:"topics"`

	// batch
	Steps  []Step `yaml:"steps"`
	OnlyIf *Guard `yaml:"only_if"`
}

// Lookup is one entry of a stage's lookup mapping: a keyed read of a table
// row for each record, written db:accounts[order.account_id], or as a
// mapping {from: db:accounts[order.account_id], optional: true}. An
// optional lookup that finds no row gives a null record instead of sending
// the record to the dead letters (docs/ARCHITECTURE.md, "Optional lookups
// and lists").
type Lookup struct {
	From     yamldoc.String `yaml:"from"`
	Optional bool           `yaml:"optional"`
	Pos      yamldoc.Pos    `yaml:"-"`
}

type plainLookup Lookup

// UnmarshalNode takes a lookup as written (a scalar) or a mapping with from
// and optional.
func (l *Lookup) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	defer func() { l.Pos = d.File.Pos(n) }()
	return shortOrLong(d, n, &l.From, (*plainLookup)(l), "lookup has no \"from\" (e.g. from: db:accounts[order.account_id])")
}

// shortOrLong decodes a thing written short, as its from reference alone
// (a scalar), or long, as a mapping into long whose from must be given
// (missing says what to write then).
func shortOrLong(d *yamldoc.Decoder, n *yaml.Node, from *yamldoc.String, long any, missing string) error {
	if n.Kind != yaml.MappingNode {
		_ = d.Decode(n, from)
		return nil
	}
	_ = d.Decode(n, long)
	if !from.Set() {
		return d.File.Errorf(d.File.Pos(n), "%s", missing)
	}
	return nil
}

// List is a table a stream stage reads whole, as the set of its key
// column's values, for rules to test membership in: written db:blocked, or
// {from: db:blocked, refresh: 30s}. Under --follow the set is read again
// every Refresh (a Go duration; DefaultRefresh when unset).
type List struct {
	From    yamldoc.String `yaml:"from"`
	Refresh yamldoc.String `yaml:"refresh"`
	Pos     yamldoc.Pos    `yaml:"-"`
}

type plainList List

// UnmarshalNode takes a table reference (a scalar) or a mapping with from
// and refresh.
func (l *List) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	defer func() { l.Pos = d.File.Pos(n) }()
	return shortOrLong(d, n, &l.From, (*plainList)(l), "list has no \"from\" (e.g. from: db:blocked_merchants)")
}

// Window is a keyed time window of a stream stage: for each key, the
// records decided before, within a span of event time, folded into values
// that rules read like a record (velocity rules).
type Window struct {
	Key    yamldoc.String              `yaml:"key"`    // an expression over the record: its topic key
	Time   yamldoc.String              `yaml:"time"`   // the record's event time: a date or datetime expression
	Span   yamldoc.String              `yaml:"span"`   // how far back: a Go duration, or days (7d)
	Where  yamldoc.String              `yaml:"where"`  // which records enter, after their decision
	Values yamldoc.Map[yamldoc.String] `yaml:"values"` // name: count(), sum(x), min(x), max(x), count_distinct(x)
	Pos    yamldoc.Pos                 `yaml:"-"`
}

// Guard makes a batch stage run only when some row of a table matches a
// condition, so that running it again with nothing new to do changes nothing.
type Guard struct {
	From  yamldoc.String `yaml:"from"`
	As    yamldoc.String `yaml:"as"`
	Where yamldoc.String `yaml:"where"`
	Pos   yamldoc.Pos    `yaml:"-"`
}

// The stage kinds, declared here once: the spec's keys per kind below, the
// stage package's builders (engine/stage/build.go, which a test holds to
// this list) and every check of a stage's kind use these names.
const (
	KindReset   = "reset"
	KindLoad    = "load"
	KindPublish = "publish"
	KindRekey   = "rekey"
	KindStream  = "stream"
	KindBatch   = "batch"
	KindExport  = "export"
)

// Stage kinds and the keys each accepts.
var stageKeys = map[string][]string{
	KindLoad:    {"name", "kind", "copy"},
	KindExport:  {"name", "kind", "copy"},
	KindPublish: {"name", "kind", "from", "to"},
	KindStream:  {"name", "kind", "from", "as", "group", "lookup", "lists", "windows", "rules", "shadow", "shadow_to", "save", "to", "emit", "batch_size", "measure"},
	KindRekey:   {"name", "kind", "from", "as", "group", "lookup", "key", "to", "batch_size"},
	KindBatch:   {"name", "kind", "steps", "only_if"},
	KindReset:   {"name", "kind", "tables", "topics"},
}

// StageKinds returns the stage kinds a spec may use.
func StageKinds() []string {
	kinds := make([]string, 0, len(stageKeys))
	for k := range stageKeys {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

type plainStage Stage

// UnmarshalNode checks the keys against the stage's kind, then decodes.
func (s *Stage) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return d.File.Errorf(d.File.Pos(n), "a stage is a mapping with name and kind")
	}
	kind := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			kind = n.Content[i+1].Value
		}
	}
	keys, ok := stageKeys[kind]
	if !ok {
		if kind == "" {
			return d.File.Errorf(d.File.Pos(n), "stage has no \"kind\" (one of %s)", strings.Join(StageKinds(), ", "))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "kind" {
				return d.File.Errorf(d.File.Pos(n.Content[i+1]), "unknown stage kind %q (one of %s)", kind, strings.Join(StageKinds(), ", "))
			}
		}
	}
	taken := *n // the keys this kind takes: the others are reported once, here, and not decoded
	taken.Content = nil
	var sinks *yaml.Node // a stream stage's to, when a list
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys, k.Value) {
			d.Errorf(k, "a %s stage has no key %q (keys: %s)", kind, k.Value, strings.Join(keys, ", "))
		} else if k.Value == "to" && kind == KindStream && n.Content[i+1].Kind == yaml.SequenceNode {
			sinks = n.Content[i+1]
		} else {
			taken.Content = append(taken.Content, k, n.Content[i+1])
		}
	}
	_ = d.Decode(&taken, (*plainStage)(s))
	if sinks != nil {
		_ = d.Decode(sinks, &s.Sinks)
		if len(s.Sinks) == 0 {
			d.Errorf(sinks, "to: the list of sinks is empty: name the table every decision goes to first")
		} else {
			s.To = s.Sinks[0].To
		}
	}
	if !s.Name.Set() {
		d.Errorf(n, "stage has no \"name\"")
	}
	return nil
}

// Sink is one output of a stream stage whose to is a list: a table
// (db:reviews) or a topic (bus:alerts), written as a plain reference or as
// a mapping with an optional where (over the record, its lookups and its
// decision) and an optional emit of its own (default: the stage's).
type Sink struct {
	To    yamldoc.String              `yaml:"to"`
	Where yamldoc.String              `yaml:"where"`
	Emit  yamldoc.Map[yamldoc.String] `yaml:"emit"`
	Pos   yamldoc.Pos                 `yaml:"-"`
}

type plainSink Sink

// UnmarshalNode takes a sink as a reference (db:decisions) or as a
// mapping with to, where and emit.
func (k *Sink) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	defer func() { k.Pos = d.File.Pos(n) }()
	if n.Kind == yaml.SequenceNode {
		return d.File.Errorf(d.File.Pos(n), "a sink is a reference (db:table, bus:topic) or a mapping {to, where, emit}")
	}
	return shortOrLong(d, n, &k.To, (*plainSink)(k), "sink has no \"to\" (a table, db:reviews, or a topic, bus:alerts)")
}

// Copy is one file copied by a load or export stage. An export may keep
// only the rows where holds (over the row, named as), and only columns.
type Copy struct {
	From    yamldoc.String   `yaml:"from"`
	To      yamldoc.String   `yaml:"to"`
	Columns []yamldoc.String `yaml:"columns"`
	As      yamldoc.String   `yaml:"as"`
	Where   yamldoc.String   `yaml:"where"`
	Pos     yamldoc.Pos      `yaml:"-"`
}

// Step is one set-based step of a batch stage: for every row of the
// table it updates (optionally filtered), join aggregates and lookups,
// evaluate a ruleset and set columns.
type Step struct {
	Name      yamldoc.String              `yaml:"name"`
	Update    yamldoc.String              `yaml:"update"`
	As        yamldoc.String              `yaml:"as"`
	Where     yamldoc.String              `yaml:"where"`
	Aggregate *Aggregate                  `yaml:"aggregate"`
	Lookup    yamldoc.Map[Lookup]         `yaml:"lookup"`
	Rules     yamldoc.String              `yaml:"rules"`
	Set       yamldoc.Map[yamldoc.String] `yaml:"set"`
	// Measure: as a stream stage's, over the step's row, aggregate values
	// and lookups.
	Measure yamldoc.String `yaml:"measure"`
	Pos     yamldoc.Pos    `yaml:"-"`
}

// Aggregate groups the rows of another table by a key that matches the
// updated table's key, and computes values per group: sum(expr),
// count(), min(expr), max(expr).
type Aggregate struct {
	From   yamldoc.String              `yaml:"from"`
	As     yamldoc.String              `yaml:"as"`
	Where  yamldoc.String              `yaml:"where"`
	By     yamldoc.String              `yaml:"by"`
	Values yamldoc.Map[yamldoc.String] `yaml:"values"`
	Pos    yamldoc.Pos                 `yaml:"-"`
}

// Load reads the spec at path, expanding ${VAR} references from env.
func Load(path string, env yamldoc.Env) (*Spec, error) {
	f, err := yamldoc.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	return Decode(f, env)
}

// Decode decodes a parsed spec file.
func Decode(f *yamldoc.File, env yamldoc.Env) (*Spec, error) {
	d := &yamldoc.Decoder{File: f, Env: env, Expand: true}
	s := &Spec{File: f}
	if err := d.Decode(f.Root, s); err != nil {
		return nil, err
	}
	if !s.Name.Set() {
		return nil, f.Errorf(s.Pos, "spec has no \"name\"")
	}
	if len(s.Stages) == 0 {
		return nil, f.Errorf(s.Pos, "spec has no stages")
	}
	return s, nil
}
