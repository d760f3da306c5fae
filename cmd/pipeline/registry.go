package main

import (
	"pipeline/connectors/csv"
	"pipeline/connectors/memory"
	"pipeline/engine/port"
)

// registry returns every connector kind this build knows. A new connector
// is a new package and one line here.
func registry() *port.Registry {
	var r port.Registry
	r.Register(csv.Kind())
	r.Register(memory.Kind())
	return &r
}
