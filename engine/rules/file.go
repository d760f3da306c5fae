package rules

import (
	"gopkg.in/yaml.v3"

	"pipeline/engine/yamldoc"
)

// fileSpec is a rule file as written.
type fileSpec struct {
	Ruleset     yamldoc.String              `yaml:"ruleset"`
	Version     int                         `yaml:"version"`
	Description string                      `yaml:"description"`
	Inputs      yamldoc.Map[inputSpec]      `yaml:"inputs"`
	Lists       yamldoc.Map[yamldoc.String] `yaml:"lists"` // name: the type of its elements
	Outputs     yamldoc.Map[yamldoc.String] `yaml:"outputs"`
	Let         yamldoc.Map[yamldoc.String] `yaml:"let"`
	Rules       []ruleSpec                  `yaml:"rules"`
	Default     *ruleSpec                   `yaml:"default"`
	Table       *tableSpec                  `yaml:"table"`
	Then        yamldoc.Map[yamldoc.String] `yaml:"then"`
	Tests       []testSpec                  `yaml:"tests"`
	Pos         yamldoc.Pos                 `yaml:"-"`

	declared []Input // inputs given by code (Define) instead of the file
}

// scalarOrFields is a YAML value that is either a scalar or a mapping of
// field names to scalars.
type scalarOrFields struct {
	Scalar yamldoc.String
	Fields yamldoc.Map[yamldoc.String]
	Pos    yamldoc.Pos
}

// inputSpec is either a record (a mapping of field: type) or a scalar type.
type inputSpec = scalarOrFields

// ruleSpec is one rule, or the default when When is empty.
type ruleSpec struct {
	ID      yamldoc.String              `yaml:"id"`
	When    yamldoc.String              `yaml:"when"`
	Outcome yamldoc.String              `yaml:"outcome"`
	Reason  yamldoc.String              `yaml:"reason"`
	Set     yamldoc.Map[yamldoc.String] `yaml:"set"`
	Pos     yamldoc.Pos                 `yaml:"-"`
}

// tableSpec is a decision table: the first row whose when holds gives the output its value.
type tableSpec struct {
	Output  yamldoc.String `yaml:"output"`
	Rows    []rowSpec      `yaml:"rows"`
	Default yamldoc.String `yaml:"default"`
	Pos     yamldoc.Pos    `yaml:"-"`
}

type rowSpec struct {
	ID    yamldoc.String `yaml:"id"`
	When  yamldoc.String `yaml:"when"`
	Value yamldoc.String `yaml:"value"`
	Pos   yamldoc.Pos    `yaml:"-"`
}

// testSpec is a test written in a rule file.
type testSpec struct {
	Name   yamldoc.String         `yaml:"name"`
	Given  yamldoc.Map[givenSpec] `yaml:"given"`
	Expect expectSpec             `yaml:"expect"`
	Pos    yamldoc.Pos            `yaml:"-"`
}

// givenSpec is a test's value of an input: a scalar, a record's fields,
// or null (~).
type givenSpec struct {
	Scalar yamldoc.String
	Fields yamldoc.Map[givenValue]
	Null   bool // given as null (~): an optional record that has no row
	Pos    yamldoc.Pos
}

// givenValue is the value of a given field: a scalar, or a sequence (the
// elements of a list, given as lists: {name: [a, b]}).
type givenValue struct {
	yamldoc.String
	List   []yamldoc.String
	IsList bool
}

// UnmarshalNode decodes a scalar or a sequence of scalars.
func (g *givenValue) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		g.IsList = true
		g.Pos = d.File.Pos(n)
		return decodeInto(d, n, &g.List)
	}
	return decodeInto(d, n, &g.String)
}

type expectSpec struct {
	Outcome yamldoc.String              `yaml:"outcome"`
	Rule    yamldoc.String              `yaml:"rule"`
	Reason  yamldoc.String              `yaml:"reason"`
	Set     yamldoc.Map[yamldoc.String] `yaml:"set"`
	Error   yamldoc.String              `yaml:"error"`
	Pos     yamldoc.Pos                 `yaml:"-"`
}

// UnmarshalNode decodes a scalar or a mapping of fields.
func (v *scalarOrFields) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	v.Pos = d.File.Pos(n)
	if n.Kind == yaml.MappingNode {
		return decodeInto(d, n, &v.Fields)
	}
	return decodeInto(d, n, &v.Scalar)
}

// UnmarshalNode decodes a scalar value or a mapping of field values.
func (g *givenSpec) UnmarshalNode(d *yamldoc.Decoder, n *yaml.Node) error {
	g.Pos = d.File.Pos(n)
	if n.Kind == yaml.MappingNode {
		return decodeInto(d, n, &g.Fields)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		g.Null = true
	}
	return decodeInto(d, n, &g.Scalar)
}

// decodeInto decodes n into out; errors are recorded in d, so only a nil
// return is needed here.
func decodeInto(d *yamldoc.Decoder, n *yaml.Node, out any) error {
	_ = d.Decode(n, out)
	return nil
}
