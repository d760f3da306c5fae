package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
)

// Defaults of BrokerOptions and of the kind's options.
const (
	// DefaultBrokerAddr is the address RunBroker listens on when BrokerOptions.Addr is "".
	DefaultBrokerAddr = "127.0.0.1:9092"
	// DefaultDataDir is where a broker keeps its topics and committed offsets
	// when no folder is given.
	DefaultDataDir = ".pipeline/kafka"
	// DefaultPartitions is the partition count of topics created without one.
	DefaultPartitions = 6
)

// BrokerOptions configure RunBroker.
type BrokerOptions struct {
	// Addr is the host:port to listen on; "" means DefaultBrokerAddr
	// (127.0.0.1:9092), and port 0 an ephemeral port. Clients are told to
	// connect to the address actually listened on, so the host must be one
	// they can reach (not 0.0.0.0).
	Addr string
	// DataDir is the folder the broker keeps its topics, records and
	// committed offsets in, created if missing; "" means DefaultDataDir
	// (.pipeline/kafka). A later broker on the same folder finds them again.
	// One broker at a time may use a folder.
	DataDir string
	// Topics are created at start when missing. Old clients (kafka-python
	// 2.0.2) ask for metadata with request versions for which the broker does
	// not create topics, so topics they use must exist beforehand.
	Topics []port.TopicSpec
	// Partitions is the partition count of topics created without one
	// (TopicSpec.Partitions 0); 0 means DefaultPartitions (6).
	Partitions int
	// Listening, when set, is called with the address the broker listens
	// on once it does (readiness).
	Listening func(addr string)
	// MaxRecordBytes is the largest record, key and value, that the
	// topics of Topics take (see Options.MaxRecordBytes): their
	// max.message.bytes is set to take a record of that size alone in a
	// batch. 0 means DefaultMaxRecordBytes (1 MiB).
	MaxRecordBytes int
	// Log receives "broker listening on ADDR" and the broker's warnings and
	// errors; nil means slog.Default().
	Log *slog.Logger
}

// RunBroker runs a Kafka-compatible broker (kfake, in process) listening on
// opts.Addr and keeping its data in opts.DataDir. It creates opts.Topics,
// logs "broker listening on ADDR", serves until ctx is done, and then shuts
// down, saving its state to the data folder. It returns an error when the
// broker cannot start; a clean shutdown returns nil.
func RunBroker(ctx context.Context, opts BrokerOptions) error {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	b, err := startBroker(ctx, opts, log)
	if err != nil {
		return err
	}
	log.Info("broker listening on "+b.addr, "addr", b.addr, "data_dir", b.dataDir)
	if opts.Listening != nil {
		opts.Listening(b.addr)
	}
	<-ctx.Done()
	b.close()
	log.Info("broker stopped", "addr", b.addr)
	return nil
}

// broker is a running in-process broker.
type broker struct {
	cluster *kfake.Cluster
	addr    string // host:port it listens on
	dataDir string
	unlock  func() // releases the data folder
}

// startBroker starts a broker as opts describe and creates opts.Topics.
func startBroker(ctx context.Context, opts BrokerOptions, log *slog.Logger) (*broker, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultBrokerAddr
	}
	dir := opts.DataDir
	if dir == "" {
		dir = DefaultDataDir
	}
	parts := opts.Partitions
	if parts <= 0 {
		parts = DefaultPartitions
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafka broker: data folder: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kafka broker: data folder %s: %w", dir, err)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.DefaultNumPartitions(parts),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.WithLogger(slogLogger{log}),
	)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("kafka broker on %s with data folder %s: %w", addr, dir, err)
	}
	b := &broker{cluster: cluster, addr: cluster.ListenAddrs()[0], dataDir: dir, unlock: unlock}
	maxRecord := opts.MaxRecordBytes
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordBytes
	}
	if err := b.createTopics(ctx, opts.Topics, parts, maxRecord); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// createTopics creates the topics that are missing, with spec.Partitions
// partitions or parts when that is 0, for records of up to maxRecord bytes.
func (b *broker) createTopics(ctx context.Context, topics []port.TopicSpec, parts, maxRecord int) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return fmt.Errorf("kafka broker on %s: %w", b.addr, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, spec := range topics {
		n := spec.Partitions
		if n <= 0 {
			n = parts
		}
		if err := createTopic(ctx, adm, spec.Name, n, maxRecord); err != nil {
			return fmt.Errorf("kafka broker on %s: %w", b.addr, err)
		}
	}
	return nil
}

// createTopic creates topic with parts partitions and replication factor 1,
// for records of up to maxRecord bytes (key and value; its
// max.message.bytes takes such a record alone in a batch), unless it
// exists. An existing topic keeps its settings.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, parts, maxRecord int) error {
	if topic == "" {
		return errors.New("create topic: no name")
	}
	if parts > 1<<20 {
		return fmt.Errorf("create topic %s: %d partitions is too many", topic, parts)
	}
	configs := map[string]*string{"max.message.bytes": kadm.StringPtr(strconv.Itoa(maxRecord + recordOverhead))}
	_, err := adm.CreateTopic(ctx, int32(parts), 1, configs, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s with %d partitions: %w", topic, parts, err)
	}
	return nil
}

// close stops the broker, saving its state, and releases the data folder.
func (b *broker) close() {
	b.cluster.Close()
	b.unlock()
}

// slogLogger passes the broker's log lines to a slog.Logger: errors and
// warnings as such, the rest at debug level.
type slogLogger struct{ log *slog.Logger }

// Logf logs one line when the logger is enabled for its level.
func (l slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelNone:
		return
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	default:
		sl = slog.LevelDebug
	}
	ctx := context.Background()
	if !l.log.Enabled(ctx, sl) {
		return
	}
	l.log.Log(ctx, sl, "kafka broker: "+fmt.Sprintf(format, args...))
}
