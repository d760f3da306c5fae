// Package spec loads pipeline specs: the connectors, the schemas of tables
// and topics, and the stages in order, decoded strictly from YAML with
// positions and ${VAR} expansion. It checks shape, not meaning: the engine
// checks references between the parts.
package spec
