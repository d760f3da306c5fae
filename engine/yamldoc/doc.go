// Package yamldoc decodes YAML documents into Go structs strictly (unknown
// keys are errors) while keeping every value's file:line:col, expands
// ${VAR} and ${VAR:-default} references, and formats positioned errors with
// the offending line and a caret, like a compiler.
package yamldoc
