// Package metrics is what an operator sees of a running pipeline: the
// Prometheus metrics of its stages (records in, out, dead and duplicate,
// decisions by ruleset, rule and outcome, decision and commit latency,
// batches committed and retried, consumer lag, partitions, rule reloads)
// and the HTTP endpoints that serve them with the process's health and
// readiness: /metrics, /healthz and /readyz, with /ping and /ready as
// aliases (the names Benthos uses).
//
// Metrics implements stage.Monitor: the engine and its stages report to
// it through that interface and import nothing of Prometheus, which this
// package alone does. See docs/ARCHITECTURE.md (Observability) and the
// README's "Running it as a service".
package metrics
