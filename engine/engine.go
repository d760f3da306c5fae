package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// MemoryKind is the connector kind dry-run uses in place of service kinds.
const MemoryKind = "memory"

// Load reads a spec and checks it against the registry: connector kinds
// and options, schemas, references, stages and every rule file, with every
// expression type-checked. The returned plan is ready to Open.
func Load(path string, env yamldoc.Env, reg *port.Registry, opts ...stage.BuildOption) (*stage.Plan, error) {
	s, err := spec.Load(path, env)
	if err != nil {
		return nil, err
	}
	var errs yamldoc.Errors
	for _, c := range s.Connectors {
		cfg := connectorConfig(s, c)
		if err := reg.Check(cfg); err != nil {
			errs = append(errs, s.File.Errorf(c.Value.Kind.Pos, "connector %s: %v", c.Key, err))
			continue
		}
		for _, oe := range reg.CheckOptions(cfg) {
			pos := c.Value.Kind.Pos
			for _, o := range c.Value.Options {
				if o.Key == oe.Option {
					pos = o.Pos // the key, when its value is the trouble too
					if _, known := kindOption(reg, cfg.Kind, oe.Option); known {
						pos = o.Value.Pos
					}
				}
			}
			errs = append(errs, s.File.Errorf(pos, "connector %s: %v", c.Key, oe))
		}
	}
	errs = append(errs, checkCommits(s, reg)...)
	plan, err := stage.Build(s, opts...)
	if err != nil {
		var more yamldoc.Errors
		if errors.As(err, &more) {
			errs = append(errs, more...)
		} else {
			return nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return plan, nil
}

// checkCommits refuses a stream stage whose output table lives in a
// connector whose kind cannot commit (port.Kind.Commits): the stage
// commits its decisions, the state it saves and its offsets in one commit
// (docs/ARCHITECTURE.md, "State and concurrency"), in dry-run and run alike.
func checkCommits(s *spec.Spec, reg *port.Registry) yamldoc.Errors {
	kinds := map[string]string{}
	for _, c := range s.Connectors {
		kinds[c.Key] = c.Value.Kind.Value
	}
	var errs yamldoc.Errors
	for _, st := range s.Stages {
		if st.Kind.Value != spec.KindStream || !st.To.Set() {
			continue
		}
		ref, err := spec.ParseRef(st.To)
		if err != nil {
			continue // the builder says what is wrong with it
		}
		kind, ok := reg.Lookup(kinds[ref.Connector])
		if !ok || kind.Commits {
			continue
		}
		var commits []string
		for _, name := range reg.Names() {
			if k, _ := reg.Lookup(name); k.Commits {
				commits = append(commits, name)
			}
		}
		errs = append(errs, s.File.Errorf(st.To.Pos, "stream stage %s writes to %s, a connector of kind %s, which cannot commit "+
			"decisions with their offsets: its output table must live in a connector of kind %s",
			st.Name.Value, ref, kind.Name, strings.Join(commits, " or ")))
	}
	return errs
}

// kindOption returns the option called name of the kind called kind.
func kindOption(reg *port.Registry, kind, name string) (port.Option, bool) {
	k, ok := reg.Lookup(kind)
	if !ok {
		return port.Option{}, false
	}
	return k.Option(name)
}

func connectorConfig(s *spec.Spec, c yamldoc.Entry[spec.Connector]) port.Config {
	opts := map[string]string{}
	for _, o := range c.Value.Options {
		opts[o.Key] = o.Value.Value
	}
	return port.Config{Name: c.Key, Kind: c.Value.Kind.Value, Options: opts, Dir: filepath.Dir(s.File.Path)}
}

// Options configure Open.
type Options struct {
	// Registry maps connector kinds to constructors. Required.
	Registry *port.Registry
	// DryRun replaces every service connector (MySQL, Kafka...) with the memory kind.
	DryRun bool
	// ExportDir, when set, receives every exported file instead of the spec's paths.
	ExportDir string
	// Log receives progress and summaries; nil discards them.
	Log *slog.Logger
	// Follow keeps stream and rekey stages consuming until the context ends.
	Follow bool
	// Reload, with Follow, watches the rule files of the stream stages
	// that run and swaps a changed one in between two batches once it
	// lints and passes its tests (reload.go).
	Reload bool
	// Group overrides the consumer group of stream and rekey stages ("" keeps the spec's).
	Group string
	// Progress receives a live count of each running stage: redrawn in
	// place when it is a terminal, else logged every 10 s. nil shows none.
	Progress io.Writer
	// Trace and TraceKey: see stage.Runtime (pipeline explain).
	Trace    func(stage.Trace)
	TraceKey string
	// Decided: see stage.Runtime (pipeline diff).
	Decided func(stage.Decided)
	// Observe and Wrote: see stage.Runtime (statistics, pipeline diff).
	Observe func(stage.Observed)
	Wrote   func(stage.Written)
	// Fault: see stage.Runtime (fault tests).
	Fault func(point string)
	// Monitor, when set, receives what the stages do as they do it, and
	// each stage's start and end (engine/metrics; see stage.Monitor).
	Monitor stage.Monitor
	// StatusEvery: how often a following stage logs its status while idle
	// or behind (stage.Runtime.StatusEvery); stage.DefaultStatusEvery when 0.
	StatusEvery time.Duration
}

// Pipeline is an opened plan: its connectors, tables and topics.
type Pipeline struct {
	plan *stage.Plan
	opts Options
	log  *slog.Logger
	ctx  context.Context // Open's, for connectors opened by Connector
	// conns holds every connector of the spec, by name, opened on first use.
	conns map[string]*lazyConn

	mu     sync.Mutex
	tables map[string]port.Table
	topics map[string]port.Topic
	dead   []port.DeadLetter
	// deadFiles are the dead-letter files written.
	deadFiles []spec.Ref
	// running names the stages Run runs, in order.
	running []string
}

// lazyConn is a connector of the spec, opened on first use.
type lazyConn struct {
	kind port.Kind
	cfg  port.Config

	mu   sync.Mutex
	conn port.Connector // nil until opened
	err  error          // why opening failed; it is not tried again
}

// Open prepares the plan's connectors, each to be opened (connected,
// started) on first use by a stage, so a run opens only the connectors of
// the stages it runs: a stage that uses no topic does not start an
// embedded broker. It fails when a connector's kind is not registered.
// Close releases those opened.
func Open(ctx context.Context, plan *stage.Plan, opts Options) (*Pipeline, error) {
	p := &Pipeline{plan: plan, opts: opts, log: opts.Log, ctx: ctx, conns: map[string]*lazyConn{},
		tables: map[string]port.Table{}, topics: map[string]port.Topic{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range plan.Spec.Connectors {
		cfg := connectorConfig(plan.Spec, c)
		kind, ok := opts.Registry.Lookup(cfg.Kind)
		if !ok {
			return nil, fmt.Errorf("connector %s: unknown kind %q", c.Key, cfg.Kind)
		}
		if opts.DryRun && kind.Service {
			if kind, ok = opts.Registry.Lookup(MemoryKind); !ok {
				return nil, fmt.Errorf("dry-run needs the %s connector kind registered", MemoryKind)
			}
		}
		p.conns[c.Key] = &lazyConn{kind: kind, cfg: cfg}
	}
	return p, nil
}

// conn returns the named connector, opening it on first use. A table
// connector that commits stream batches (port.Committer) opens its
// dead-letter table too (see deadLetterTables).
func (p *Pipeline) conn(ctx context.Context, name string) (port.Connector, error) {
	lc, ok := p.conns[name]
	if !ok {
		return nil, fmt.Errorf("no connector named %s", name)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.conn != nil || lc.err != nil {
		return lc.conn, lc.err
	}
	p.log.Info("opening connector", "connector", name, "kind", lc.kind.Name)
	conn, err := lc.kind.New(ctx, lc.cfg)
	if err != nil {
		lc.err = fmt.Errorf("connector %s (%s): %w", name, lc.kind.Name, err)
		return nil, lc.err
	}
	if err := p.openDeadLetterTable(ctx, name, conn); err != nil {
		conn.Close()
		lc.err = err
		return nil, err
	}
	lc.conn = conn
	return conn, nil
}

// opened returns the named connector when it has been opened, else nil.
func (p *Pipeline) opened(name string) port.Connector {
	lc, ok := p.conns[name]
	if !ok {
		return nil
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.conn
}

// Close closes every connector that was opened.
func (p *Pipeline) Close() error {
	var errs []error
	for name, lc := range p.conns {
		lc.mu.Lock()
		c := lc.conn
		lc.conn, lc.err = nil, errors.New("closed")
		lc.mu.Unlock()
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing connector %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Table implements stage.Resources.
func (p *Pipeline) Table(ctx context.Context, ref spec.Ref, s *schema.Schema) (port.Table, error) {
	return openOnce(ctx, p, ref, p.tables, "table", func(c port.Tables) (port.Table, error) { return c.Table(ctx, s) })
}

// Topic implements stage.Resources.
func (p *Pipeline) Topic(ctx context.Context, ref spec.Ref, ts port.TopicSpec) (port.Topic, error) {
	return openOnce(ctx, p, ref, p.topics, "topic", func(c port.Topics) (port.Topic, error) { return c.Topic(ctx, ts) })
}

// openOnce returns the table or topic (what) ref names: the one in cache,
// or opened on its connector, which must hold them (a C), and kept there.
func openOnce[C, R any](ctx context.Context, p *Pipeline, ref spec.Ref, cache map[string]R, what string, open func(C) (R, error)) (R, error) {
	var none R
	conn, err := p.conn(ctx, ref.Connector)
	if err != nil {
		return none, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := cache[ref.String()]; ok {
		return r, nil
	}
	c, ok := conn.(C)
	if !ok {
		return none, fmt.Errorf("connector %s does not hold %ss (wanted for %s)", ref.Connector, what, ref)
	}
	r, err := open(c)
	if err != nil {
		return none, fmt.Errorf("opening %s %s: %w", what, ref, err)
	}
	cache[ref.String()] = r
	return r, nil
}

// Connector implements stage.Resources. It opens the connector on first
// use, with Open's context; when that fails it returns nil, and the
// stage's first Table, Topic or Files call on it returns the error.
func (p *Pipeline) Connector(ref spec.Ref) port.Connector {
	c, err := p.conn(p.ctx, ref.Connector)
	if err != nil {
		return nil
	}
	return c
}

// Files implements stage.Resources.
func (p *Pipeline) Files(ctx context.Context, ref spec.Ref) (port.Files, error) {
	conn, err := p.conn(ctx, ref.Connector)
	if err != nil {
		return nil, err
	}
	c, ok := conn.(port.Files)
	if !ok {
		return nil, fmt.Errorf("connector %s does not hold files (wanted for %s)", ref.Connector, ref)
	}
	return c, nil
}

// StageResult is what one stage did.
type StageResult struct {
	Name  string
	Kind  string
	Stats stage.Stats
}

// Summary is what a run did, stage by stage.
type Summary struct {
	// RunID identifies the run: its dead letters carry it (port.DeadLetter.Run).
	RunID       string
	Stages      []StageResult
	DeadLetters []port.DeadLetter
	Elapsed     time.Duration
	// Places says where the data of the connectors the run opened lives
	// (those that can tell, port.Located), in the spec's order.
	Places []Place
	// Folders are the folders the run's export stages and dead-letter
	// files wrote to.
	Folders []string
}

// Place is where one connector's data lives.
type Place struct {
	Connector string
	Where     string
}

// Dead returns the number of dead letters.
func (s Summary) Dead() int { return len(s.DeadLetters) }

// Run runs the named stages in spec order (every stage when names is
// empty), then writes the dead letters where the spec says. Before it runs
// any stage it checks the input files of those it will run
// (stage.InputChecker), and when one cannot be read it runs none and
// returns positioned errors naming each such file.
func (p *Pipeline) Run(ctx context.Context, names []string) (Summary, error) {
	start := time.Now()
	runID := newRunID(start)
	sum := Summary{RunID: runID}
	run, err := p.selectStages(names)
	if err != nil {
		return sum, err
	}
	p.running = p.running[:0]
	for _, r := range run {
		p.running = append(p.running, r.Name())
	}
	rt := p.runtime(runID)
	if rt.DeadLetterTables, err = p.deadLetterTables(); err != nil {
		return sum, err
	}
	if err := p.checkInputs(ctx, rt, run); err != nil {
		return sum, err
	}
	if p.opts.Follow && p.opts.Reload {
		stopWatch := p.watchRules(ctx, run)
		defer stopWatch()
	}
	// A stage following in the background (stage.BackgroundFollower) that
	// fails stops the run, so that the stages after it do not follow on
	// without it.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	rs := &runState{p: p, rt: rt, sum: &sum, prog: newProgress(p.opts.Progress), sink: rt.DeadLetter, stopRun: stopRun}
	for i, r := range run {
		if rs.bg != nil && !rs.bg.stage.Overlaps(r) {
			if err := rs.join(); err != nil {
				return p.finish(ctx, &sum, start, err)
			}
		}
		p.log.Info("stage starting", "stage", r.Name(), "kind", r.Kind())
		if p.opts.Monitor != nil {
			p.opts.Monitor.StageStarted(r.Name(), r.Kind())
		}
		if i+1 < len(run) {
			started, err := rs.startBackground(ctx, r, run[i+1])
			if err != nil {
				return p.finish(ctx, &sum, start, err)
			}
			if started {
				continue
			}
		}
		stop, err := rs.runStage(ctx, r)
		if err != nil {
			return p.finish(ctx, &sum, start, err)
		}
		if stop {
			break
		}
	}
	if err := rs.join(); err != nil {
		return p.finish(ctx, &sum, start, err)
	}
	return p.finish(ctx, &sum, start, nil)
}

// runtime returns what the stages of run runID share: the pipeline's
// resources and options, and a dead-letter sink that keeps the letters
// with the run's identity.
func (p *Pipeline) runtime(runID string) *stage.Runtime {
	return &stage.Runtime{Resources: p, Log: p.log, Follow: p.opts.Follow, Group: p.opts.Group, ExportDir: p.opts.ExportDir,
		Trace: p.opts.Trace, TraceKey: p.opts.TraceKey, Decided: p.opts.Decided,
		Observe: p.opts.Observe, Wrote: p.opts.Wrote, Fault: p.opts.Fault, Monitor: p.opts.Monitor, StatusEvery: p.opts.StatusEvery,
		RunID: runID,
		DeadLetter: func(d port.DeadLetter) {
			if d.Run == "" {
				d.Run = runID
			}
			p.mu.Lock()
			p.dead = append(p.dead, d)
			p.mu.Unlock()
		}}
}

// runState is one Run in progress: the stages' runtime, the summary so
// far, and the stage finishing in the background, if any.
type runState struct {
	p    *Pipeline
	rt   *stage.Runtime
	sum  *Summary
	prog *progress
	// bg is a stage finishing in the background (stage.Background) while
	// the stages after it that it lets overlap (Overlaps) run.
	bg *background
	// held keeps the dead letters of stages that run while bg finishes:
	// they go after bg's, as when the stages run one after the other.
	heldMu  sync.Mutex
	held    []port.DeadLetter
	sink    func(port.DeadLetter) // the run's dead-letter sink
	stopRun context.CancelCauseFunc
}

// join waits for the stage finishing in the background, if any, records
// its figures, and passes on the dead letters held meanwhile.
func (rs *runState) join() error {
	if rs.bg == nil {
		return nil
	}
	b := rs.bg
	rs.bg = nil
	<-b.done
	st, err := b.st, b.err
	rs.rt.DeadLetter = rs.sink
	rs.heldMu.Lock()
	for _, d := range rs.held {
		rs.sink(d)
	}
	rs.held = nil
	rs.heldMu.Unlock()
	rs.sum.Stages[b.at].Stats = st
	rs.p.logDone(b.name, b.stage.Kind(), st, err)
	if err != nil {
		// Run in order, the stages after it would not have run.
		rs.sum.Stages = rs.sum.Stages[:b.at+1]
		return &StageError{Stage: b.name, Err: err}
	}
	return nil
}

// startBackground starts r to finish in the background when it can
// (stage.Background, nothing else in the background, next overlapping
// it; under --follow only a stage.BackgroundFollower) and reports whether
// it did.
func (rs *runState) startBackground(ctx context.Context, r, next stage.Runner) (bool, error) {
	p := rs.p
	_, follower := r.(stage.BackgroundFollower)
	b, ok := r.(stage.Background)
	if !ok || rs.bg != nil || (p.opts.Follow && !follower) || !b.Overlaps(next) {
		return false, nil
	}
	local := *rs.rt // its own progress counter, which nobody watches
	local.Progress = &stage.Counter{}
	finish, ok, err := b.Start(ctx, &local)
	if err != nil {
		rs.sum.Stages = append(rs.sum.Stages, StageResult{Name: r.Name(), Kind: r.Kind()})
		p.logDone(r.Name(), r.Kind(), stage.Stats{}, err)
		return false, &StageError{Stage: r.Name(), Err: err}
	}
	if !ok {
		return false, nil
	}
	rs.bg = &background{stage: b, name: r.Name(), at: len(rs.sum.Stages), done: make(chan struct{})}
	go rs.bg.run(finish)
	if p.opts.Follow {
		go func(b *background) {
			if <-b.done; b.err != nil {
				rs.stopRun(fmt.Errorf("stage %s, following in the background, failed", b.name))
			}
		}(rs.bg)
	}
	rs.rt.DeadLetter = func(d port.DeadLetter) {
		rs.heldMu.Lock()
		rs.held = append(rs.held, d)
		rs.heldMu.Unlock()
	}
	rs.sum.Stages = append(rs.sum.Stages, StageResult{Name: r.Name(), Kind: r.Kind()})
	return true, nil
}

// runStage runs r to its end. It reports stop when the run ends here
// without an error: interrupted while following.
func (rs *runState) runStage(ctx context.Context, r stage.Runner) (stop bool, err error) {
	p := rs.p
	rs.rt.Progress = &stage.Counter{}
	stopWatch := rs.prog.watch(r.Name(), rs.rt.Progress)
	st, err := r.Run(ctx, rs.rt)
	stopWatch()
	rs.sum.Stages = append(rs.sum.Stages, StageResult{Name: r.Name(), Kind: r.Kind(), Stats: st})
	if err == nil && ctx.Err() != nil && p.opts.Follow {
		// Interrupted while following: the stage stopped cleanly with
		// its batch committed; that is how a following run ends.
		p.logDone(r.Name(), r.Kind(), st, nil)
		return true, nil
	}
	if err == nil {
		err = ctx.Err()
	}
	p.logDone(r.Name(), r.Kind(), st, err)
	if err != nil {
		err = &StageError{Stage: r.Name(), Err: p.resetHint(err)}
		if jerr := rs.join(); jerr != nil {
			err = jerr // the earlier stage's error
		}
		return false, err
	}
	return false, nil
}

// newRunID returns an identity for a run started at start: its time in
// UTC and 4 random hex digits, "20261202T131718Z-3f9a", which sorts as
// the runs started.
func newRunID(start time.Time) string {
	return fmt.Sprintf("%s-%04x", start.UTC().Format("20060102T150405Z"), rand.Uint32()&0xffff)
}

// resetHint adds to err, when it says that stored offsets belong to
// another topic (port.ErrOtherTopic), the options that run the spec's
// reset stages: what starts over.
func (p *Pipeline) resetHint(err error) error {
	if !errors.Is(err, port.ErrOtherTopic) {
		return err
	}
	var names []string
	for _, s := range p.plan.Stages {
		if r, ok := s.(interface{ Topics() []spec.Ref }); ok && s.Kind() == spec.KindReset && len(r.Topics()) > 0 {
			names = append(names, "--stage "+s.Name())
		}
	}
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(names, " "))
}

// background is a stage finishing in the background, at index at of the summary's stages.
type background struct {
	stage stage.Background
	name  string
	at    int
	done  chan struct{} // closed when st and err are set
	st    stage.Stats
	err   error
}

// run calls finish, the rest of the stage's work, and keeps its outcome.
func (b *background) run(finish func() (stage.Stats, error)) {
	defer close(b.done)
	b.st, b.err = finish()
}

// logDone logs what a stage did: "stage done", or "stage failed" with the
// error that ended it (at the same level, so that -v shows both; the
// command reports the error itself), and tells the Monitor.
func (p *Pipeline) logDone(name, kind string, st stage.Stats, err error) {
	if p.opts.Monitor != nil {
		p.opts.Monitor.StageEnded(name, st, err)
	}
	args := []any{"stage", name, "kind", kind, "in", st.In, "out", st.Out, "dead", st.Dead, "duplicates", st.Dup,
		"seconds", fmt.Sprintf("%.3f", st.Elapsed.Seconds()), "records_per_s", int64(st.Rate())}
	if err != nil {
		p.log.Info("stage failed", append(args, "error", err.Error())...)
		return
	}
	p.log.Info("stage done", args...)
}

// finish records the run's dead letters in the summary and writes them
// where the spec says, even when the run was interrupted (ctx done).
func (p *Pipeline) finish(ctx context.Context, sum *Summary, start time.Time, runErr error) (Summary, error) {
	sum.DeadLetters = p.deadLetters()
	sum.Elapsed = time.Since(start)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := p.writeDeadLetters(ctx, sum.DeadLetters); err != nil && runErr == nil {
		runErr = err
	}
	p.places(sum)
	var se *StageError
	if errors.As(runErr, &se) {
		if i := slices.Index(p.running, se.Stage); i >= 0 {
			se.Rest = slices.Clone(p.running[i:])
		}
	}
	return *sum, runErr
}

// places fills in where the run's data went: the opened connectors that
// can tell (port.Located), and the folders of the files the export stages
// that ran and the dead-letter files wrote.
func (p *Pipeline) places(sum *Summary) {
	for _, c := range p.plan.Spec.Connectors {
		if l, ok := p.opened(c.Key).(port.Located); ok {
			sum.Places = append(sum.Places, Place{Connector: c.Key, Where: l.Where()})
		}
	}
	var refs []spec.Ref
	for _, st := range sum.Stages {
		if w, ok := p.plan.Stage(st.Name).(interface{ Writes() []spec.Ref }); ok {
			refs = append(refs, w.Writes()...)
		}
	}
	p.mu.Lock()
	refs = append(refs, p.deadFiles...)
	p.mu.Unlock()
	for _, ref := range refs {
		dir := p.opts.ExportDir
		if dir == "" {
			path := ref.Name
			if f, ok := p.opened(ref.Connector).(interface{ Path(string) string }); ok {
				path = f.Path(path)
			}
			dir = filepath.Dir(filepath.Clean(path))
		}
		if !slices.Contains(sum.Folders, dir) {
			sum.Folders = append(sum.Folders, dir)
		}
	}
}

// CheckStages returns an error naming the first of names that is not a
// stage of plan, and the stages plan has, or nil.
func CheckStages(plan *stage.Plan, names []string) error {
	for _, n := range names {
		if plan.Stage(n) == nil {
			var all []string
			for _, s := range plan.Stages {
				all = append(all, s.Name())
			}
			return fmt.Errorf("no stage named %q (stages: %s)", n, strings.Join(all, ", "))
		}
	}
	return nil
}

func (p *Pipeline) selectStages(names []string) ([]stage.Runner, error) {
	if len(names) == 0 {
		return p.plan.Stages, nil
	}
	if err := CheckStages(p.plan, names); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var run []stage.Runner
	for _, s := range p.plan.Stages {
		if want[s.Name()] {
			run = append(run, s)
		}
	}
	return run, nil
}

func (p *Pipeline) deadLetters() []port.DeadLetter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]port.DeadLetter(nil), p.dead...)
}

// StageError is the error of a run that a stage ended: the stage's name and
// what stopped it (ctx's error when the run was interrupted).
type StageError struct {
	Stage string
	Err   error
	// Rest names the stages of the run from this one on, in order: those
	// left to run to go on.
	Rest []string
}

func (e *StageError) Error() string { return "stage " + e.Stage + ": " + e.Err.Error() }

// Unwrap returns what stopped the stage.
func (e *StageError) Unwrap() error { return e.Err }

// Ping checks the services behind the connectors opened so far (those
// that implement port.Pinger: a database, a broker) and returns what does
// not answer, one problem per connector, for readiness; none when all
// answer. Connectors no stage has opened yet are not asked.
func (p *Pipeline) Ping(ctx context.Context) []string {
	var problems []string
	for _, c := range p.plan.Spec.Connectors {
		conn := p.opened(c.Key)
		pg, ok := conn.(port.Pinger)
		if !ok {
			continue
		}
		if err := pg.Ping(ctx); err != nil {
			problems = append(problems, fmt.Sprintf("connector %s: %v", c.Key, err))
		}
	}
	return problems
}
