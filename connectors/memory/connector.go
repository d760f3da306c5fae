package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// KindName is the name the memory kind is registered under.
const KindName = "memory"

// Kind returns the memory connector kind. It needs no server, so it is not a
// service; each connector it builds holds its own tables and topics.
func Kind() port.Kind {
	const ignored = "ignored; accepted so a service connector's options can be kept when dry-run swaps in memory"
	return port.Kind{
		Name:    KindName,
		Commits: true,
		Doc:     "In-process tables and topics that live as long as the run; dry-run uses them in place of databases and brokers.",
		Options: []port.Option{
			{Name: "dsn", Doc: ignored},
			{Name: "brokers", Doc: ignored},
		},
		New: func(context.Context, port.Config) (port.Connector, error) { return New(), nil },
	}
}

// Connector holds named in-process tables and topics, an outbox, and the
// offsets and state of its commits. It implements every interface the
// mysql and kafka connectors do between them (the list below) and is safe
// for concurrent use.
type Connector struct {
	mu     sync.Mutex
	tables map[string]*Table
	topics map[string]*topicLog
	box    outbox    // records bound for topics (port.Outbox)
	store  committed // offsets and state of Commit (commit.go)
	locks  locks     // named locks (port.Locker, tx.go)
}

// Compile-time checks of everything Connector implements: what the mysql
// and kafka connectors do between them, so that a dry-run runs the same
// stage code as a run (docs/ARCHITECTURE.md, "One path for dry-run and run").
var (
	_ port.Tables        = (*Connector)(nil)
	_ port.Topics        = (*Connector)(nil)
	_ port.Located       = (*Connector)(nil)
	_ port.Outbox        = (*Connector)(nil)
	_ port.Committer     = (*Connector)(nil)
	_ port.OffsetOrigins = (*Connector)(nil)
	_ port.GroupsLister  = (*Connector)(nil)
	_ port.Transactor    = (*Connector)(nil)
	_ port.Locker        = (*Connector)(nil)
)

// New returns an empty connector.
func New() *Connector {
	return &Connector{tables: map[string]*Table{}, topics: map[string]*topicLog{}}
}

// Table returns the table named s.Name, creating it when missing. Every call
// with the same name returns the same *Table (assert to *Table for Len); a call whose columns or key
// differ from the existing table's is an error. s must have a key column.
func (c *Connector) Table(ctx context.Context, s *schema.Schema) (port.Table, error) {
	return c.table(s)
}

func (c *Connector) table(s *schema.Schema) (*Table, error) {
	if s == nil {
		return nil, errors.New("memory table: no schema")
	}
	if s.Name == "" {
		return nil, errors.New("memory table: schema has no name")
	}
	if s.Key < 0 || s.Key >= len(s.Columns) {
		return nil, fmt.Errorf("memory table %s: schema has no key column", s.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tables[s.Name]; ok {
		if !t.schema.Equal(s) || t.schema.Key != s.Key {
			return nil, fmt.Errorf("memory table %s: already open with columns %s key %s, not %s key %s",
				s.Name, t.schema.String(), t.schema.KeyName(), s.String(), s.KeyName())
		}
		return t, nil
	}
	t := newTable(s)
	c.tables[s.Name] = t
	return t, nil
}

// Topic returns a handle on the topic named spec.Name, creating the topic
// with spec.Partitions partitions (1 when not positive) when missing. Handles
// on one name share the log, its partitions and its consumer groups; each
// handle partitions what it publishes by its own spec.Key. A call whose
// columns differ from the existing topic's is an error, and an existing
// topic keeps the partition count it was created with.
func (c *Connector) Topic(ctx context.Context, spec port.TopicSpec) (port.Topic, error) {
	return c.topic(spec)
}

func (c *Connector) topic(spec port.TopicSpec) (*Topic, error) {
	if spec.Name == "" {
		return nil, errors.New("memory topic: no name")
	}
	if spec.Schema == nil {
		return nil, fmt.Errorf("memory topic %s: no schema", spec.Name)
	}
	key := -1
	if spec.Key != "" {
		key = spec.Schema.Index(spec.Key)
		if key < 0 {
			return nil, fmt.Errorf("memory topic %s: key column %q is not one of its columns (%s)",
				spec.Name, spec.Key, spec.Schema.String())
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.topics[spec.Name]
	if !ok {
		l = newTopicLog(spec.Name, spec.Schema, spec.Partitions)
		c.topics[spec.Name] = l
	} else if !l.schema.Equal(spec.Schema) {
		return nil, fmt.Errorf("memory topic %s: already open with columns %s, not %s",
			spec.Name, l.schema.String(), spec.Schema.String())
	}
	return &Topic{log: l, schema: spec.Schema, key: key}, nil
}

// Close releases nothing: tables and topics stay readable after Close, so a
// dry-run can report on them. It always returns nil.
func (c *Connector) Close() error { return nil }

// Where says that the data is in memory. It implements port.Located.
func (c *Connector) Where() string { return "in memory, gone when the run ends" }
