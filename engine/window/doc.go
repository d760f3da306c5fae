// Package window holds keyed event-time windows, the state behind velocity
// rules ("3 records of this key in the last 10 minutes"): for each key of a
// window, the records that entered it with their times and the arguments of
// the window's values, and the aggregates over those whose time lies within
// a span before a moment.
//
// The package knows nothing of topics or tables. A stream stage keeps one
// State per window and key, asks a Spec for the values a record sees
// (Aggregate) before deciding it, enters the record (Add) after, and stores
// the states it changed, as text (Encode, Decode), in the same commit as its
// decisions. See docs/ARCHITECTURE.md, "State and concurrency".
package window
