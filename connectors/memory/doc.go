// Package memory holds in-process tables and topics: dry-run swaps them in for
// service connectors such as MySQL and Kafka, and tests use them directly.
package memory
