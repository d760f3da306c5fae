// Package explain shows how the rules decided one record (`pipeline
// explain`): it dry-runs a spec on memory connectors with a trace of the
// record's key, keeps every ruleset evaluation of that record, and writes
// each for people: the fields the rules read, each let, each rule's
// condition and value, the decision and what the deciding rule set, and
// what the record's windows held.
package explain
