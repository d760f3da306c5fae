package spec

import (
	"fmt"
	"regexp"

	"pipeline/engine/yamldoc"
)

// Ref names something a connector holds: "files:data/x.csv", "db:orders".
type Ref struct {
	Connector string
	Name      string // a table or topic name, or a file path
	Pos       yamldoc.Pos
}

// String formats the reference as written.
func (r Ref) String() string { return r.Connector + ":" + r.Name }

// LookupRef is a keyed lookup: "db:accounts[order.account_id]".
type LookupRef struct {
	Ref
	KeyRecord string // the record whose field gives the key ("tx")
	KeyField  string // the field ("card_id")
}

var (
	refPattern    = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*):(.+)$`)
	lookupPattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*):([A-Za-z_][A-Za-z0-9_]*)\[\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\]$`)
)

// ParseRef parses "connector:name".
func ParseRef(s yamldoc.String) (Ref, error) {
	m := refPattern.FindStringSubmatch(s.Value)
	if m == nil {
		return Ref{}, fmt.Errorf("%q is not a reference: write connector:name, e.g. db:orders or files:data/orders.csv", s.Value)
	}
	return Ref{Connector: m[1], Name: m[2], Pos: s.Pos}, nil
}

// ParseLookup parses "connector:table[record.field]".
func ParseLookup(s yamldoc.String) (LookupRef, error) {
	m := lookupPattern.FindStringSubmatch(s.Value)
	if m == nil {
		return LookupRef{}, fmt.Errorf("%q is not a lookup: write connector:table[record.field], e.g. db:accounts[order.account_id]", s.Value)
	}
	return LookupRef{Ref: Ref{Connector: m[1], Name: m[2], Pos: s.Pos}, KeyRecord: m[3], KeyField: m[4]}, nil
}
