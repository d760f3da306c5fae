package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
)

// KindName is the name the kafka kind is registered under.
const KindName = "kafka"

// Embedded is the brokers value that starts an in-process broker, as "" does.
const Embedded = "embedded"

// clientID is the client id the connector's clients send to brokers.
const clientID = "pipeline"

// reachTimeout bounds how long New waits for the brokers to answer.
const reachTimeout = 10 * time.Second

// Kind returns the kafka connector kind, to register in a port.Registry. Its
// options are brokers, data_dir, partitions, session_timeout, rejoin and
// max_record_bytes (see Options); a relative data_dir is resolved against
// the spec's folder.
func Kind() port.Kind {
	return port.Kind{
		Name: KindName,
		Doc: "Topics on Kafka brokers, or on an embedded in-process broker that keeps its data in a folder; " +
			"records are JSON objects of column name to value.",
		Options: options,
		Service: true,
		New: func(ctx context.Context, cfg port.Config) (port.Connector, error) {
			o, err := configOptions(cfg)
			if err != nil {
				return nil, err
			}
			return New(ctx, o)
		},
	}
}

// options are the kafka kind's options (see Kind).
var options = []port.Option{
	{Name: "brokers", Doc: "comma-separated host:port list of Kafka brokers; empty or \"embedded\" starts an in-process broker", Default: "embedded"},
	{Name: "data_dir", Doc: "folder the embedded broker keeps its topics and committed offsets in, created if missing", Default: DefaultDataDir},
	{Name: "partitions", Type: port.Int, Min: 1, Doc: "partition count of topics created when the topic spec gives none", Default: strconv.Itoa(DefaultPartitions)},
	{Name: "session_timeout", Type: port.Duration, Min: int64(time.Second),
		Doc: "how long a consumer group member may go silent before the broker drops it and hands its partitions to the others, " +
			"e.g. after the process was killed (at least the broker's group.min.session.timeout.ms, 6s by default); members heartbeat every sixth of it",
		Default: DefaultSessionTimeout.String()},
	{Name: "rejoin", Type: port.Duration,
		Doc: "how long a stream stage that is not following (no --follow) keeps trying to rejoin its consumer group " +
			"after losing the broker (a restart, a network cut) before it fails; with --follow it tries until stopped",
		Default: DefaultRejoin.String()},
	{Name: "max_record_bytes", Type: port.Int, Min: minRecordBytes, Max: maxRecordBytes,
		Doc: "largest record (key and value, in bytes) that publishing sends and consuming decodes; a row whose record is larger goes to the dead letters. " +
			"Topics the connector creates take records of this size (their max.message.bytes is set to); an existing topic whose max.message.bytes allows less gets less",
		Default: strconv.Itoa(DefaultMaxRecordBytes)},
}

// configOptions reads Options from a spec's connector config.
func configOptions(cfg port.Config) (Options, error) {
	var o Options
	if b := strings.TrimSpace(cfg.Get("brokers", "")); b != "" && b != Embedded {
		for _, a := range strings.Split(b, ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.Brokers = append(o.Brokers, a)
			}
		}
	}
	o.DataDir = cfg.Get("data_dir", DefaultDataDir)
	if o.DataDir != "" && !filepath.IsAbs(o.DataDir) && cfg.Dir != "" {
		o.DataDir = filepath.Join(cfg.Dir, o.DataDir)
	}
	v, set, err := cfg.Value(options, "partitions")
	if set {
		if err != nil {
			return o, err
		}
		o.Partitions = v.(int)
	}
	if v, set, err = cfg.Value(options, "session_timeout"); set {
		if err != nil {
			return o, err
		}
		o.SessionTimeout = v.(time.Duration)
	}
	if v, set, err = cfg.Value(options, "rejoin"); set {
		if err != nil {
			return o, err
		}
		o.Rejoin = v.(time.Duration)
	}
	if v, set, err = cfg.Value(options, "max_record_bytes"); set {
		if err != nil {
			return o, err
		}
		o.MaxRecordBytes = v.(int)
	}
	return o, nil
}

// Options configure New.
type Options struct {
	// Brokers are the host:port addresses to connect to; none starts an
	// embedded in-process broker on an ephemeral port of 127.0.0.1.
	Brokers []string
	// DataDir is the embedded broker's data folder, created if missing;
	// "" means DefaultDataDir (.pipeline/kafka). Unused with Brokers.
	DataDir string
	// Partitions is the partition count of topics Topic creates when the
	// spec gives none; 0 means DefaultPartitions (6).
	Partitions int
	// SessionTimeout is how long a member of a consumer group may go
	// without heartbeats before the broker removes it from the group and
	// gives its partitions to the other members, or to a member that joins,
	// as when a killed process is started again; 0 means
	// DefaultSessionTimeout (6 s). Members heartbeat every sixth of it. The
	// broker rejects values below its group.min.session.timeout.ms (6 s by
	// default, also on the embedded broker).
	SessionTimeout time.Duration
	// Rejoin is how long Consume without Follow keeps trying to get its
	// consumer group session back after losing it (the broker restarted or
	// cannot be reached) before it fails; 0 means DefaultRejoin (30 s).
	// With Follow it tries until its context ends.
	Rejoin time.Duration
	// MaxRecordBytes is the largest record, key and value, that Publish
	// sends (a larger row is rejected, see port.RejectedRows) and the
	// largest value Consume decodes (a larger one is a message with an
	// error); 0 means DefaultMaxRecordBytes (1 MiB). Topic creates missing
	// topics with a max.message.bytes that takes such a record; an
	// existing topic whose max.message.bytes allows less gets less.
	MaxRecordBytes int
	// Log receives the embedded broker's warnings and errors, and the notes
	// of a Consume that waits for other members of its group to finish the
	// topic (see Topic.Consume); nil means slog.Default().
	Log *slog.Logger
}

// DefaultMaxRecordBytes is Options.MaxRecordBytes when it is 0: 1 MiB,
// about what Kafka brokers accept by default (max.message.bytes 1048588).
const DefaultMaxRecordBytes = MaxPayload

// Bounds of Options.MaxRecordBytes: the client cannot make batches of less
// than 512 bytes, nor read responses of more than 100 MiB.
const (
	minRecordBytes = 1 << 10
	maxRecordBytes = 64 << 20
)

// DefaultSessionTimeout is the consumer group session timeout when
// Options.SessionTimeout is 0: the least brokers accept by default, so that
// a member killed without leaving the group (SIGKILL, a crash, a lost host)
// holds its partitions for seconds rather than the 45 s of Kafka clients' default.
const DefaultSessionTimeout = 6 * time.Second

// DefaultRejoin is Options.Rejoin when it is 0: long enough to ride out a
// broker restart, short enough that a run does not hang on a broker that is gone.
const DefaultRejoin = 30 * time.Second

// Connector serves topics on Kafka brokers, or on an embedded broker. It
// implements port.Topics and is safe for concurrent use.
type Connector struct {
	brokers    []string
	partitions int
	session    time.Duration // consumer group session timeout
	rejoin     time.Duration // how long Consume without Follow tries to rejoin its group
	maxRecord  int           // Options.MaxRecordBytes
	batchMax   sync.Map      // topic name: int32, the producer's batch limit (see Topic)
	embedded   *broker       // nil when connected to outside brokers
	client     *kgo.Client   // produces, and serves admin requests
	admin      *kadm.Client
	log        *slog.Logger // Options.Log, or slog.Default()
	// noteEvery is how long a Consume without Follow waits for other
	// members before it logs which partitions it waits for, and how
	// often it logs that again (waitNote; tests shorten it).
	noteEvery time.Duration

	// done is cancelled by Close, ending running Consume calls.
	done     context.Context
	stopDone context.CancelFunc

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // running Publish and Consume calls
}

var _ port.Topics = (*Connector)(nil)

// New connects to o.Brokers, or starts an embedded broker when there are
// none, and checks within about 10 seconds that a broker answers.
func New(ctx context.Context, o Options) (*Connector, error) {
	c := &Connector{brokers: o.Brokers, partitions: o.Partitions, session: o.SessionTimeout, rejoin: o.Rejoin,
		maxRecord: o.MaxRecordBytes, log: o.Log, noteEvery: waitNote}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.partitions <= 0 {
		c.partitions = DefaultPartitions
	}
	if c.session <= 0 {
		c.session = DefaultSessionTimeout
	}
	if c.rejoin <= 0 {
		c.rejoin = DefaultRejoin
	}
	if c.maxRecord <= 0 {
		c.maxRecord = DefaultMaxRecordBytes
	}
	if len(c.brokers) == 0 {
		b, err := startBroker(ctx, BrokerOptions{Addr: "127.0.0.1:0", DataDir: o.DataDir, Partitions: c.partitions, MaxRecordBytes: c.maxRecord}, c.log)
		if err != nil {
			return nil, fmt.Errorf("kafka: embedded broker: %w", err)
		}
		c.embedded = b
		c.brokers = []string{b.addr}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.brokers...),
		kgo.ClientID(clientID),
		// Uncompressed batches: every client reads them, including
		// kafka-python without the snappy module.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// No lingering: Publish waits for its records, and while one
		// produce request is in flight the next batch fills anyway.
		kgo.ProducerLinger(0),
		// Batches no bigger than the topic takes (see Topic), so that a
		// batch of records that each fit is never refused as a whole.
		kgo.ProducerBatchMaxBytesFn(c.producerBatchMax),
	)
	if err != nil {
		c.stopBroker()
		return nil, fmt.Errorf("kafka: brokers %s: %w", strings.Join(c.brokers, ","), err)
	}
	c.client, c.admin = cl, kadm.NewClient(cl)
	pctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		c.stopBroker()
		if c.embedded != nil {
			return nil, fmt.Errorf("kafka: embedded broker on %s does not answer: %w", c.brokers[0], err)
		}
		return nil, fmt.Errorf("kafka: cannot reach brokers %s: %w (start one with 'pipeline broker' or unset KAFKA_BROKERS to use the embedded broker)",
			strings.Join(c.brokers, ","), err)
	}
	c.done, c.stopDone = context.WithCancel(context.Background())
	return c, nil
}

// Brokers returns the addresses the connector talks to: the embedded broker's when it runs one.
func (c *Connector) Brokers() []string { return append([]string(nil), c.brokers...) }

// Topic returns a handle on the topic spec.Name, creating the topic with
// spec.Partitions partitions (the connector's default when 0), replication
// factor 1 and a max.message.bytes that takes records of MaxRecordBytes
// when missing. An existing topic keeps its partitions and settings; it
// takes records up to what its max.message.bytes allows, when less (see
// Publish). Records are keyed by the text of spec.Key's column, or have no
// key when spec.Key is "".
func (c *Connector) Topic(ctx context.Context, spec port.TopicSpec) (port.Topic, error) {
	if spec.Name == "" {
		return nil, errors.New("kafka topic: no name")
	}
	if spec.Schema == nil {
		return nil, fmt.Errorf("kafka topic %s: no schema", spec.Name)
	}
	cd, err := newCodec(spec.Schema, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("kafka topic %s: %w", spec.Name, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("kafka topic %s: %w", spec.Name, err)
	}
	n := spec.Partitions
	if n <= 0 {
		n = c.partitions
	}
	if err := createTopic(ctx, c.admin, spec.Name, n, c.maxRecord); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	cd.maxValue = c.maxRecord
	return &Topic{conn: c, name: spec.Name, schema: spec.Schema, codec: cd, limit: c.topicLimit(ctx, spec.Name)}, nil
}

// check returns an error once the connector is closed.
func (c *Connector) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return nil
}

// begin counts a Publish or Consume call in, for Close to wait for; it
// returns an error once the connector is closed. The call ends with c.active.Done.
func (c *Connector) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	c.active.Add(1)
	return nil
}

// errClosed is returned by operations on a closed connector.
var _ port.Pinger = (*Connector)(nil)

// Ping checks that a broker answers. It implements port.Pinger.
func (c *Connector) Ping(ctx context.Context) error {
	if err := c.check(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	if err := c.client.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: brokers %s do not answer: %w", strings.Join(c.brokers, ","), err)
	}
	return nil
}

var errClosed = errors.New("connector is closed")

// closeWait bounds how long Close waits for running Publish and Consume calls.
const closeWait = 15 * time.Second

// Close ends running Consume calls, which return an error after the batch
// in hand, waits (up to 15 seconds) for them and for running Publish calls,
// then closes the connector's client and stops the embedded broker, which
// saves its state to its data folder. Close is safe to call more than once.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stopDone()
	idle := make(chan struct{})
	go func() {
		c.active.Wait()
		close(idle)
	}()
	timer := time.NewTimer(closeWait)
	select {
	case <-idle:
	case <-timer.C:
	}
	timer.Stop()
	c.client.Close()
	c.stopBroker()
	return nil
}

// stopBroker stops the embedded broker, if any.
func (c *Connector) stopBroker() {
	if c.embedded != nil {
		c.embedded.close()
	}
}

// Where names the brokers, or the embedded broker and its data folder. It
// implements port.Located.
func (c *Connector) Where() string {
	if c.embedded != nil {
		return "embedded Kafka broker, its data in " + filepath.Clean(c.embedded.dataDir)
	}
	return "Kafka brokers " + strings.Join(c.brokers, ",")
}

var _ port.Located = (*Connector)(nil)
