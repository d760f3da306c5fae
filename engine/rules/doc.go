// Package rules loads rule files (rulesets of first-match rules or decision
// tables, written as expr expressions), compiles them once against typed
// inputs, evaluates them per record with reusable programs, and runs the
// tests written inside rule files.
package rules
