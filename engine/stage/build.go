package stage

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// Plan is a checked spec: its schemas, topics and compiled stages, ready to run.
type Plan struct {
	Spec     *spec.Spec
	Tables   map[string]*schema.Schema
	Topics   map[string]port.TopicSpec
	Stages   []Runner
	Rulesets []*rules.Ruleset // every rule file the stages use, in first-use order
	// TopicConnectors are the connectors some stage uses for topics: a
	// connector that holds tables and topics alike (memory) takes dead
	// letters as a topic when it is one of them, as a table otherwise.
	TopicConnectors map[string]bool
}

// Stage returns the named stage, or nil.
func (p *Plan) Stage(name string) Runner {
	for _, s := range p.Stages {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// builder compiles a spec into a plan, collecting every error it finds.
type builder struct {
	spec     *spec.Spec
	f        *yamldoc.File
	plan     *Plan
	rulesets map[string]*rules.Ruleset
	errs     yamldoc.Errors
	load     func(path string) (*rules.Ruleset, error)
	absent   map[*rules.Ruleset]bool // rulesets load reported as AbsentRules
}

// BuildOption changes how Build compiles a spec.
type BuildOption func(*builder)

// LoadRules makes Build read the rule files a spec names through load
// instead of rules.Load: path is the file's path as the spec resolves it
// (relative to the spec's folder). `pipeline diff` loads another version
// of the rules so; it returns an *AbsentRules for a rule file that version
// does not have.
func LoadRules(load func(path string) (*rules.Ruleset, error)) BuildOption {
	return func(b *builder) { b.load = load }
}

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Build checks a spec and compiles its stages and rules. Every problem is
// reported as a positioned error; lint is Build with nothing run after it.
func Build(s *spec.Spec, opts ...BuildOption) (*Plan, error) {
	b := &builder{spec: s, f: s.File, rulesets: map[string]*rules.Ruleset{}, load: rules.Load, absent: map[*rules.Ruleset]bool{},
		plan: &Plan{Spec: s, Tables: map[string]*schema.Schema{}, Topics: map[string]port.TopicSpec{}, TopicConnectors: map[string]bool{}}}
	for _, o := range opts {
		o(b)
	}
	b.tables()
	b.topics()
	seen := map[string]bool{}
	for i := range s.Stages {
		st := &s.Stages[i]
		if seen[st.Name.Value] {
			b.errorf(st.Name.Pos, "stage name %q is used twice", st.Name.Value)
		}
		seen[st.Name.Value] = true
		if r := b.stage(st); r != nil {
			b.plan.Stages = append(b.plan.Stages, r)
		}
	}
	b.checkRekeyReaders()
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return b.plan, nil
}

func (b *builder) errorf(pos yamldoc.Pos, format string, args ...any) {
	b.errs = append(b.errs, b.f.Errorf(pos, format, args...))
}

// addErr records err, keeping positioned errors as they are.
func (b *builder) addErr(pos yamldoc.Pos, err error) {
	switch e := err.(type) {
	case yamldoc.Errors:
		b.errs = append(b.errs, e...)
	case *yamldoc.Error:
		b.errs = append(b.errs, e)
	default:
		b.errorf(pos, "%v", err)
	}
}

func (b *builder) tables() {
	for _, t := range b.spec.Tables {
		if !namePattern.MatchString(t.Key) {
			b.errorf(t.Pos, "table name %q must match [A-Za-z_][A-Za-z0-9_]*", t.Key)
			continue
		}
		var cols []schema.Column
		for _, c := range t.Value.Columns {
			if !namePattern.MatchString(c.Key) {
				b.errorf(c.Pos, "column name %q must match [A-Za-z_][A-Za-z0-9_]*", c.Key)
				continue
			}
			typ, err := schema.ParseType(c.Value.Value)
			if err != nil {
				b.errorf(c.Value.Pos, "column %s: %v", c.Key, err)
				continue
			}
			cols = append(cols, schema.Column{Name: c.Key, Type: typ})
		}
		if len(cols) == 0 {
			b.errorf(t.Pos, "table %s has no columns", t.Key)
			continue
		}
		s, err := schema.New(t.Key, cols, t.Value.Key.Value)
		if err != nil {
			b.errorf(t.Value.Key.Pos, "%v", err)
			continue
		}
		b.plan.Tables[t.Key] = s
	}
}

func (b *builder) topics() {
	for _, t := range b.spec.Topics {
		s, ok := b.plan.Tables[t.Value.Schema.Value]
		if !ok {
			b.errorf(t.Value.Schema.Pos, "topic %s: schema %q is not a table declared under tables", t.Key, t.Value.Schema.Value)
			continue
		}
		if k := t.Value.Key.Value; k != "" && s.Index(k) < 0 {
			b.errorf(t.Value.Key.Pos, "topic %s: key %q is not a column of %s (%s)", t.Key, k, s.Name, joinNames(s.Names()))
			continue
		}
		parts := t.Value.Partitions
		if parts <= 0 {
			parts = 1
		}
		b.plan.Topics[t.Key] = port.TopicSpec{Name: t.Key, Schema: s, Key: t.Value.Key.Value, Partitions: parts}
	}
}

// connector checks that a reference names a declared connector.
func (b *builder) connector(r spec.Ref) bool {
	if _, ok := b.spec.Connectors.Get(r.Connector); !ok {
		names := make([]string, len(b.spec.Connectors))
		for i, c := range b.spec.Connectors {
			names[i] = c.Key
		}
		b.errorf(r.Pos, "no connector named %q (connectors: %s)", r.Connector, joinNames(names))
		return false
	}
	return true
}

// tableRef resolves "conn:table" to a declared table.
func (b *builder) tableRef(s yamldoc.String, what string) (spec.Ref, *schema.Schema, bool) {
	if !s.Set() {
		return spec.Ref{}, nil, false
	}
	r, err := spec.ParseRef(s)
	if err != nil {
		b.errorf(s.Pos, "%s: %v", what, err)
		return r, nil, false
	}
	if !b.connector(r) {
		return r, nil, false
	}
	t, ok := b.plan.Tables[r.Name]
	if !ok {
		b.errorf(s.Pos, "%s: no table named %q under tables", what, r.Name)
		return r, nil, false
	}
	return r, t, true
}

// topicRef resolves "conn:topic" to a declared topic.
func (b *builder) topicRef(s yamldoc.String, what string) (spec.Ref, port.TopicSpec, bool) {
	r, err := spec.ParseRef(s)
	if err != nil {
		b.errorf(s.Pos, "%s: %v", what, err)
		return r, port.TopicSpec{}, false
	}
	if !b.connector(r) {
		return r, port.TopicSpec{}, false
	}
	b.plan.TopicConnectors[r.Connector] = true
	t, ok := b.plan.Topics[r.Name]
	if !ok {
		b.errorf(s.Pos, "%s: no topic named %q under topics", what, r.Name)
		return r, t, false
	}
	return r, t, true
}

// fileRef resolves "conn:path" to a file of a connector.
func (b *builder) fileRef(s yamldoc.String, what string) (spec.Ref, bool) {
	r, err := spec.ParseRef(s)
	if err != nil {
		b.errorf(s.Pos, "%s: %v", what, err)
		return r, false
	}
	return r, b.connector(r)
}

// ruleset loads and compiles a rule file once per path. A relative path
// is resolved against the spec's folder.
func (b *builder) ruleset(s yamldoc.String) *rules.Ruleset {
	path := filepath.Clean(s.Value)
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(b.f.Path), path)
	}
	if rs, ok := b.rulesets[path]; ok {
		return rs
	}
	rs, err := b.load(path)
	if absent := (*AbsentRules)(nil); errors.As(err, &absent) && absent.Like != nil {
		b.absent[absent.Like] = true
		b.rulesets[path] = absent.Like
		return absent.Like
	}
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			err = fmt.Errorf("rules %s: %w", path, err)
		}
		b.addErr(s.Pos, err)
		b.rulesets[path] = nil
		return nil
	}
	if !rs.HasDefault() {
		b.errorf(s.Pos, "rules %s: ruleset %s has no default: every record needs an outcome", path, rs.Name)
	}
	b.rulesets[path] = rs
	b.plan.Rulesets = append(b.plan.Rulesets, rs)
	return rs
}

// builders builds each stage kind (spec.StageKinds; TestEveryKindBuilds).
var builders = map[string]func(*builder, *spec.Stage) Runner{
	spec.KindLoad:    func(b *builder, st *spec.Stage) Runner { return b.copyStage(st, true) },
	spec.KindExport:  func(b *builder, st *spec.Stage) Runner { return b.copyStage(st, false) },
	spec.KindPublish: (*builder).publishStage,
	spec.KindStream:  (*builder).streamStage,
	spec.KindRekey:   (*builder).rekeyStage,
	spec.KindBatch:   (*builder).batchStage,
	spec.KindReset:   (*builder).resetStage,
}

func (b *builder) stage(st *spec.Stage) Runner {
	if build, ok := builders[st.Kind.Value]; ok {
		return build(b, st)
	}
	b.errorf(st.Kind.Pos, "unknown stage kind %q (one of %s)", st.Kind.Value, joinNames(spec.StageKinds()))
	return nil
}
