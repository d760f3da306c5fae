package main

import (
	"fmt"
	"io"
	"time"
)

// faultHook returns the engine's fault hook for PIPELINE_FAULT=POINT (one
// of the stage.Fault* points, e.g. outbox-before-publish): the first time
// a stage reaches that point, the process says so on w and stops there,
// waiting to be killed, which is what the fault tests do
// (cmd/pipeline/alerts_test.go; docs/RELIABILITY.md). Unset, there is no hook.
func faultHook(point string, w io.Writer) func(string) {
	if point == "" {
		return nil
	}
	return func(at string) {
		if at != point {
			return
		}
		fmt.Fprintf(w, "fault: stopped at %s (PIPELINE_FAULT), waiting to be killed\n", at)
		for {
			time.Sleep(time.Hour) // a timer, so the runtime never calls this a deadlock
		}
	}
}
