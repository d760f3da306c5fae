package main

import (
	"os"
	"runtime/debug"
)

// runGCPercent is the garbage collector's target for `pipeline run`, unless
// GOGC says otherwise. A run keeps a few hundred MB live (the embedded
// broker's log, the stream's caches and batches, the pages an export
// holds) while allocating several GB of short-lived rows and statement
// arguments, so at 100% the collector marks the same live heap over and
// over: on 1M records it took about 2 of the pipeline's 12 s of CPU, and
// user+sys fell from 11.9 to 9.8 s at 400 (runs back to back).
const runGCPercent = 400

// runGC sets the collector for a run: runGCPercent, and the soft memory
// limit of a dry-run (see dryRunMemoryShare) so that the heap cannot
// outgrow the machine, unless GOGC or GOMEMLIMIT are set.
func runGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if data, err := os.ReadFile("/proc/meminfo"); err == nil {
			if total := memTotal(string(data)); total > 0 {
				debug.SetMemoryLimit(int64(float64(total) * dryRunMemoryShare))
			}
		}
	}
}
