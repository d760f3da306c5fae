// Package engine runs pipeline specs: it loads and checks a spec (lint),
// opens the connectors it names through a registry, and runs its stages in
// order, collecting dead letters and per-stage statistics. Dry-run is the
// same run with every service connector replaced by the memory kind.
package engine
