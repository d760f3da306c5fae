// Package kafka is the kafka connector kind: topics on a Kafka broker, or on an
// embedded in-process broker that keeps its data in a folder, as JSON records.
package kafka
