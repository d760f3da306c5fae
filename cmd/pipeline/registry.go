package main

import (
	"pipeline/connectors/csv"
	"pipeline/connectors/kafka"
	"pipeline/connectors/memory"
	"pipeline/connectors/mysql"
	"pipeline/engine/port"
)

// registry returns every connector kind this build knows. A new connector
// is a new package and one line here.
func registry() *port.Registry {
	var r port.Registry
	r.Register(csv.Kind())
	r.Register(memory.Kind())
	r.Register(mysql.Kind())
	r.Register(kafka.Kind())
	return &r
}
