// Package stage compiles the stages of a spec into runners and runs them
// against the tables, topics and files that port connectors provide: load,
// publish, stream, batch and export. The same runners serve run and dry-run;
// only the connectors behind them differ.
package stage
