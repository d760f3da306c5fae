package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"pipeline/engine/rules"
	"pipeline/engine/stage"
	"pipeline/engine/yamldoc"
)

// Hot reload of rules under Follow (Options.Reload): the rule files of the
// stages that can take new rules while they run (stage.Reloadable: stream
// stages, their live and shadow rulesets) are watched. A file that changed
// is compiled (lint), its tests run, and the spec is built again with it, so
// that every stage using it must bind it as at start; only if all of that
// passes is it handed to those stages, which swap it in between two batches
// (see engine/stage/reload.go). A refused change is logged (Warn) with why,
// and the stages go on with the rules they have. Rule files of other stages
// (batch steps) are read when those run, as always.

// reloadQuiet is how long a rule file must stay unchanged after an event
// before it is read: an editor's save, or a copy, is several events.
const reloadQuiet = 150 * time.Millisecond

// reloader watches and reloads the rule files of the stages of one run.
type reloader struct {
	p      *Pipeline
	log    *slog.Logger
	stages []stage.Reloadable
	// current holds every ruleset of the plan by its path (Ruleset.Path),
	// as the running stages decide with it.
	current map[string]*rules.Ruleset
	// watched maps the absolute path of each rule file a stage of stages
	// decides with to its Ruleset.Path.
	watched map[string]string
}

// watchRules starts watching the rule files of the stages of run that can
// take new rules while they run, and returns the function that stops it.
// A failure to watch is logged, and the run goes on without reloads.
func (p *Pipeline) watchRules(ctx context.Context, run []stage.Runner) (stop func()) {
	rl := &reloader{p: p, log: p.log, current: map[string]*rules.Ruleset{}, watched: map[string]string{}}
	for _, rs := range p.plan.Rulesets {
		rl.current[rs.Path] = rs
	}
	dirs := map[string]bool{}
	for _, r := range run {
		s, ok := r.(stage.Reloadable)
		if !ok {
			continue
		}
		rl.stages = append(rl.stages, s)
		for _, path := range s.RuleFiles() {
			abs, err := filepath.Abs(path)
			if err != nil {
				p.log.Warn("rule file not watched: a change needs a restart", "file", path, "error", err)
				continue
			}
			rl.watched[abs] = path
			dirs[filepath.Dir(abs)] = true
		}
	}
	if len(rl.watched) == 0 {
		return func() {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		p.log.Warn("rule files not watched: a change needs a restart", "error", err)
		return func() {}
	}
	// The folders, not the files: an editor that saves by writing another
	// file and renaming it over the rule file replaces the file watched.
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			p.log.Warn("rule files not watched: a change needs a restart", "folder", dir, "error", err)
			w.Close()
			return func() {}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rl.loop(ctx, w)
	}()
	files := make([]string, 0, len(rl.watched))
	for _, path := range rl.watched {
		files = append(files, path)
	}
	slices.Sort(files)
	p.log.Info("watching rule files: a change that lints and passes its tests is taken between two batches", "files", strings.Join(files, ", "))
	return func() {
		cancel()
		<-done
		w.Close()
	}
}

// loop reloads each watched file once it has been quiet for reloadQuiet
// after a change, until ctx ends.
func (rl *reloader) loop(ctx context.Context, w *fsnotify.Watcher) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			abs := filepath.Clean(ev.Name)
			if _, watched := rl.watched[abs]; !watched || !ev.Has(fsnotify.Write|fsnotify.Create) {
				continue
			}
			pending[abs] = true
			timer.Reset(reloadQuiet)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			rl.log.Warn("watching rule files", "error", err)
		case <-timer.C:
			files := make([]string, 0, len(pending))
			for abs := range pending {
				files = append(files, abs)
			}
			clear(pending)
			slices.Sort(files)
			for _, abs := range files {
				rl.reload(rl.watched[abs])
			}
		}
	}
}

// reload takes the rule file at path (a Ruleset.Path) again, if it changed,
// lints and passes its tests and binds in the spec as the stages need it.
// It logs what it did.
func (rl *reloader) reload(path string) {
	old := rl.current[path]
	if old == nil {
		return
	}
	rs, stages, err := rl.check(path, old)
	switch {
	case errors.Is(err, errUnchanged):
		return
	case err != nil:
		if rl.p.opts.Monitor != nil {
			rl.p.opts.Monitor.Reloaded(path, false)
		}
		rl.log.Warn("rule file change refused: the stages go on with the rules they have",
			"file", path, "ruleset", old.Name, "version", old.Version, "hash", old.Hash, "error", err.Error())
		return
	}
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = s.stage.Name()
		s.swap()
	}
	rl.current[path] = rs
	if rl.p.opts.Monitor != nil {
		rl.p.opts.Monitor.Reloaded(path, true)
	}
	rl.log.Info("rule file reloaded: its stages decide with it from their next batch",
		"file", path, "ruleset", rs.Name, "version", rs.Version, "hash", rs.Hash,
		"was_version", old.Version, "was_hash", old.Hash, "tests", rs.NumTests(), "stages", strings.Join(names, ", "))
	if rs.Version == old.Version {
		rl.log.Info("the reloaded rules keep the version of those before: decisions tell them apart by hash",
			"file", path, "version", rs.Version, "hash", rs.Hash, "was_hash", old.Hash)
	}
}

// maxFailures is how many failed tests a refusal shows.
const maxFailures = 3

// errUnchanged says the file holds the bytes the stages decide with.
var errUnchanged = errors.New("unchanged")

// swapper is a stage ready to take a reloaded rule file.
type swapper struct {
	stage stage.Reloadable
	swap  func()
}

// check compiles the rule file at path and runs its tests, builds the spec
// with it, and returns it with the stages that decide with it, each ready
// to swap it in. It returns errUnchanged when the file has old's hash.
func (rl *reloader) check(path string, old *rules.Ruleset) (*rules.Ruleset, []swapper, error) {
	rs, err := rules.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("it does not lint:\n%s", yamldoc.Details(err))
	}
	if rs.Hash == old.Hash {
		return nil, nil, errUnchanged
	}
	var failed []string
	for _, r := range rs.RunTests() {
		if !r.Passed() {
			failed = append(failed, fmt.Sprintf("%s: test %q fails: %s", r.Pos, r.Name, yamldoc.Details(r.Err)))
		}
	}
	if len(failed) > 0 {
		n := len(failed)
		if n > maxFailures {
			failed = append(failed[:maxFailures], fmt.Sprintf("... and %d more (pipeline test %s)", n-maxFailures, path))
		}
		return nil, nil, fmt.Errorf("%d of its %d tests fail:\n%s", n, rs.NumTests(), strings.Join(failed, "\n"))
	}
	plan, err := stage.Build(rl.p.plan.Spec, stage.LoadRules(func(p string) (*rules.Ruleset, error) {
		if p == path {
			return rs, nil
		}
		if cur, ok := rl.current[p]; ok {
			return cur, nil
		}
		return rules.Load(p)
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("the spec does not lint with it:\n%s", yamldoc.Details(err))
	}
	var stages []swapper
	for _, s := range rl.stages {
		if !slices.Contains(s.RuleFiles(), path) {
			continue
		}
		swap, err := s.Reload(plan.Stage(s.Name()))
		if err != nil {
			return nil, nil, err
		}
		stages = append(stages, swapper{stage: s, swap: swap})
	}
	return rs, stages, nil
}
