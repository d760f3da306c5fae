// Package report writes reports people look at: one self-contained HTML
// file of bar charts and tables (statistics of a dry-run, the changes a
// diff found), with its style, charts and script inlined, so that it opens
// anywhere with no network. Every value from the data is escaped: a report
// of hostile data shows it as text.
//
// The package knows pages, charts and tables, not pipelines: the engine's
// statistics and diff turn themselves into a Page.
package report
