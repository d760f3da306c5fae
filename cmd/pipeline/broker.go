package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"pipeline/connectors/kafka"
	"pipeline/engine/metrics"
	"pipeline/engine/port"
	"pipeline/engine/schema"
)

func brokerCommand() *cli.Command {
	return command("broker", "[SPEC...]", "run the embedded Kafka broker alone, for several pipeline processes to share",
		`Runs a Kafka-compatible broker (franz-go's kfake: the real Kafka protocol) in
this process until interrupted. It keeps topics, records and committed offsets
in --data-dir, so a restarted broker finds them again. The topics of each SPEC
(and each --topic) are created at start: old clients such as kafka-python ask
for metadata in a way that does not create topics.

--http ADDR serves /metrics (the process's), /healthz and /readyz (200 once
the broker listens), with /ping and /ready as aliases.

Example:
   pipeline broker --addr 127.0.0.1:9092 configs/NAME.yaml
   KAFKA_BROKERS=127.0.0.1:9092 pipeline run configs/NAME.yaml --stage validate`, cli.Command{
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "addr", Value: kafka.DefaultBrokerAddr, Usage: "listen on `HOST:PORT`"},
				&cli.StringFlag{Name: "data-dir", Value: kafka.DefaultDataDir, Usage: "keep the broker's data in `DIR`"},
				&cli.IntFlag{Name: "partitions", Value: kafka.DefaultPartitions, Usage: "give topics created without a count `N` partitions"},
				&cli.StringSliceFlag{Name: "topic", Usage: "also create topic `NAME` at start (repeatable)"},
				httpFlag(),
				logFlags()[0],
				logFlags()[1],
			},
			Action: func(c *cli.Context) error {
				topics, err := brokerTopics(c)
				if err != nil {
					return err
				}
				log, err := newLogger(c)
				if err != nil {
					return err
				}
				// Ready once the broker listens and answers a connection.
				var listening atomic.Pointer[string]
				ready := func(ctx context.Context) []string {
					addr := listening.Load()
					if addr == nil {
						return []string{"the broker is not listening yet"}
					}
					conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", *addr)
					if err != nil {
						return []string{fmt.Sprintf("the broker does not answer on %s: %v", *addr, err)}
					}
					conn.Close()
					return nil
				}
				stop, err := serveHTTP(c, log, metrics.New(), ready)
				if err != nil {
					return err
				}
				defer stop()
				return kafka.RunBroker(c.Context, kafka.BrokerOptions{Addr: c.String("addr"), DataDir: c.String("data-dir"),
					Topics: topics, Partitions: c.Int("partitions"), Log: log, Listening: func(addr string) { listening.Store(&addr) }})
			},
		})
}

// brokerTopics collects the topics of the specs given as arguments and of --topic.
func brokerTopics(c *cli.Context) ([]port.TopicSpec, error) {
	var topics []port.TopicSpec
	for _, path := range c.Args().Slice() {
		plan, err := loadPlanAt(c, path)
		if err != nil {
			return nil, err
		}
		for _, t := range plan.Topics {
			topics = append(topics, t)
		}
	}
	any := schema.MustNew("record", []schema.Column{{Name: "value", Type: schema.StringType}}, "")
	for _, name := range c.StringSlice("topic") {
		if name == "" {
			return nil, fmt.Errorf("--topic needs a name")
		}
		topics = append(topics, port.TopicSpec{Name: name, Schema: any})
	}
	return topics, nil
}
