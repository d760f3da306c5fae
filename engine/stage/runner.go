package stage

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// Resources gives runners the tables, topics and files of the pipeline's
// connectors, opened on first use.
type Resources interface {
	Table(ctx context.Context, ref spec.Ref, s *schema.Schema) (port.Table, error)
	Topic(ctx context.Context, ref spec.Ref, t port.TopicSpec) (port.Topic, error)
	Files(ctx context.Context, ref spec.Ref) (port.Files, error)
	// Connector returns the connector a reference names, for optional
	// interfaces such as port.Committer and port.Transactor.
	Connector(ref spec.Ref) port.Connector
}

// Runtime is what a runner needs while it runs.
type Runtime struct {
	Resources Resources
	// DeadLetter receives records a stage could not process. It must be safe for concurrent use.
	DeadLetter func(port.DeadLetter)
	// RunID identifies the run; stages that write dead letters to a table
	// themselves (port.DeadLetter.Run) stamp them with it.
	RunID string
	Log   *slog.Logger
	// Follow keeps stream and rekey stages consuming until ctx ends instead of stopping when drained.
	Follow bool
	// Group overrides the consumer group of stream and rekey stages ("" keeps the spec's).
	Group string
	// ExportDir, when set, receives every exported file (by its base name)
	// instead of the path the spec gives: dry-run --out.
	ExportDir string
	// Progress, when set, counts records as the running stage handles them.
	Progress *Counter
	// DeadLetterTables names, by connector, the table of that connector
	// that takes dead letters. A stream stage committing to that connector
	// writes each batch's dead letters in the same commit, so a killed run
	// loses none.
	DeadLetterTables map[string]string
	// Trace, when set, receives an explanation of every ruleset evaluation
	// of a record whose key, as text, is TraceKey: in stream stages (the
	// key of the output row) and in batch steps with rules (the updated
	// row's key). It must be safe for concurrent use.
	Trace    func(Trace)
	TraceKey string
	// Decided, when set, receives the decision of every ruleset evaluation
	// of a record in stream stages and batch steps with rules, with the
	// record's key (`pipeline diff`). It must be safe for concurrent use.
	Decided func(Decided)
	// Observe, when set, receives every ruleset evaluation Decided does,
	// with what statistics count: the rules whose condition held and the
	// stage's measure (see Observed). It must be safe for concurrent use.
	Observe func(Observed)
	// Wrote, when set, receives every row a stream stage emits or saves
	// and every row a batch step sets, with the columns it wrote (see
	// Written; `pipeline diff`). Batch steps then run row by row, never as
	// one set-based update. It must be safe for concurrent use.
	Wrote func(Written)
	// Fault, when set, is called at named points of delicate work (the
	// Fault* constants: between a commit and the publishing of its outbox
	// records), for fault tests to stop the process there. It may block.
	Fault func(point string)
	// Monitor, when set, receives what the stages do as they do it
	// (metrics, readiness). It must be safe for concurrent use.
	Monitor Monitor
	// StatusEvery is how often a stage following its topic (Follow) logs
	// its status while it is idle or behind; DefaultStatusEvery when 0.
	StatusEvery time.Duration
}

// Decided is one record's decision, for Runtime.Decided.
type Decided struct {
	Stage string
	Step  string // the batch step, "" in a stream stage
	Key   string // the record's key as text
	rules.Decision
	Err error // the evaluation's error: the record went to the dead letters
	// Shadow is the decision of the stream stage's shadow ruleset for the
	// same record (nil without one): a failed evaluation has no rule or
	// outcome, and "error: " and the error as its reason.
	Shadow *rules.Decision
}

// Trace is one traced ruleset evaluation.
type Trace struct {
	Stage  string
	Step   string // the batch step, "" in a stream stage
	Source port.Source
	rules.Explanation
	// Windows are the stream stage's windows as the record saw them.
	Windows []WindowTrace
	// Shadow says the evaluation is the stage's shadow ruleset's, which
	// changes nothing (it follows the live one's trace).
	Shadow bool
}

// WindowTrace is what one window held for a traced record: its values and
// the records they were made of.
type WindowTrace struct {
	Name    string
	Key     string        // the record's key, as text
	Time    time.Time     // the record's time
	Span    time.Duration // how far back the window reaches
	Values  []rules.Value
	Records []WindowRecord // oldest first
}

// WindowRecord is a record a window held: its id and time.
type WindowRecord struct {
	ID   string
	Time time.Time
}

// traced reports whether records with key k are traced.
func (rt *Runtime) traced(k any) bool {
	return rt.Trace != nil && keyText(k) == rt.TraceKey
}

// Stats counts what one run of a stage did.
type Stats struct {
	In      int64 // records read
	Out     int64 // records written
	Dead    int64 // records sent to the dead-letter sink
	Dup     int64 // records skipped because they were processed before (same id)
	Elapsed time.Duration
	// Note says what the stage did when its counts do not: "emptied 1
	// table (db:orders) and 2 topics (bus:orders, bus:intake)".
	Note string
}

// Rate returns records in per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.In) / s.Elapsed.Seconds()
}

// Runner runs one stage.
type Runner interface {
	Name() string
	Kind() string
	Run(ctx context.Context, rt *Runtime) (Stats, error)
}

// Background is implemented by stages that can fix what they read at
// once and do the rest of their work while later stages run.
type Background interface {
	Runner
	// Start fixes what the stage reads as it is now and returns finish,
	// which does the rest of the stage's work and returns its Stats, as Run
	// would. Start is called instead of Run; finish may run concurrently
	// with the stages after it, must be called once, and reports neither
	// dead letters nor progress. ok is false, with nothing done, when the
	// stage cannot run this way: Run it then.
	Start(ctx context.Context, rt *Runtime) (finish func() (Stats, error), ok bool, err error)
	// Overlaps reports whether next, a stage after this one, may run while
	// this one finishes in the background and give the results it would
	// give after it. Its dead letters are then to be sent after this
	// stage's.
	Overlaps(next Runner) bool
}

// TablesOnly is implemented by stages that read and write tables only (no
// files, no topics): they may run while an export finishes in the
// background, since it reads what it fixed at its start and writes no table.
type TablesOnly interface {
	Runner
	// TablesOnly reports whether the stage touches tables only.
	TablesOnly() bool
}

// deadLetter sends one record to the runtime's sink and counts it.
func deadLetter(rt *Runtime, st *Stats, stage string, src port.Source, payload, reason string) {
	st.Dead++
	if rt.DeadLetter != nil {
		rt.DeadLetter(port.DeadLetter{Stage: stage, Source: src, Reason: reason, Payload: payload, Time: time.Now().UTC()})
	}
}

// messagePayload is the payload a dead letter keeps for a message: the
// record as it arrived when the topic keeps it, else its row as text.
func messagePayload(s *schema.Schema, m port.Message) string {
	if m.Payload != nil {
		return string(m.Payload)
	}
	return payloadOf(s, m.Row)
}

// payloadOf formats a row as comma-separated text for a dead letter.
func payloadOf(s *schema.Schema, r schema.Row) string {
	var b []byte
	for i, c := range s.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		if i < len(r) {
			b = c.Type.Append(b, r[i])
		}
	}
	return string(b)
}

// keyText formats a key for messages.
func keyText(v any) string {
	if v == nil {
		return "null"
	}
	t := schema.Type{Kind: schema.TypeOfGo(reflect.TypeOf(v)), Scale: schema.AnyScale}
	if t.Kind == schema.Invalid {
		return fmt.Sprint(v)
	}
	return t.Format(v)
}

func joinNames(names []string) string { return strings.Join(names, ", ") }
