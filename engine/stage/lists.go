package stage

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"pipeline/engine/port"
	"pipeline/engine/rules"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
)

// Lists (docs/ARCHITECTURE.md, "Optional lookups and lists"). A stream
// stage's list is a table read whole, as the set of its key column's
// values, which rules test membership in (x in lists.name): one Scan when
// the stage starts, none per record. Under --follow each list is read again
// every refresh interval in the background, and the new set replaces the
// old one atomically: a chunk of records is decided with the sets as they
// were when it was prepared.

// DefaultRefresh is how often a list is read again under --follow when its
// spec sets no refresh.
const DefaultRefresh = time.Minute

// MinRefresh is the shortest refresh a spec may set.
const MinRefresh = 100 * time.Millisecond

// streamList is one list of a stream stage.
type streamList struct {
	name    string
	ref     spec.Ref
	schema  *schema.Schema
	elem    schema.Type // the type of the table's key column
	v       int         // the scope variable holding the set
	refresh time.Duration
}

// lists compiles the stage's lists and adds their variables to its scope.
func (b *builder) lists(s *streamStage, st *spec.Stage) bool {
	ok := true
	for _, e := range st.Lists {
		if !namePattern.MatchString(e.Key) {
			b.errorf(e.Pos, "list name %q must be a name (letters, digits, _)", e.Key)
			ok = false
			continue
		}
		ref, ts, found := b.tableRef(e.Value.From, "lists "+e.Key)
		if !found {
			ok = false
			continue
		}
		if ts.Key < 0 {
			b.errorf(e.Value.From.Pos, "lists %s: table %s has no key: a list holds the values of its key column", e.Key, ts.Name)
			ok = false
			continue
		}
		elem := ts.Columns[ts.Key].Type
		if _, err := rules.NewList(elem, nil); err != nil {
			b.errorf(e.Value.From.Pos, "lists %s: the key %s.%s is %s, and a list holds int or string values", e.Key, ts.Name, ts.KeyName(), elem)
			ok = false
			continue
		}
		refresh := DefaultRefresh
		if r := e.Value.Refresh; r.Set() {
			d, err := time.ParseDuration(r.Value)
			if err != nil || d < MinRefresh {
				b.errorf(r.Pos, "lists %s: refresh %q is not a duration of at least %s (e.g. 30s, 5m)", e.Key, r.Value, MinRefresh)
				ok = false
				continue
			}
			refresh = d
		}
		elem.Nullable = false
		s.lists = append(s.lists, streamList{name: e.Key, ref: ref, schema: ts, elem: elem,
			v: s.sc.addList(e.Key, elem), refresh: refresh})
	}
	return ok
}

// listSets holds the current set of each list of a stream stage, read by
// the records being prepared and replaced whole by refreshes.
type listSets struct {
	s    *streamStage
	sets []atomic.Pointer[any] // per list: its set, boxed once
	wg   sync.WaitGroup
}

// loadLists reads every list of s once. Under rt.Follow it then reads each
// again every refresh interval until ctx ends (wait for that with stop).
func (s *streamStage) loadLists(ctx context.Context, rt *Runtime) (*listSets, error) {
	ls := &listSets{s: s, sets: make([]atomic.Pointer[any], len(s.lists))}
	tables := make([]port.Table, len(s.lists))
	for i, l := range s.lists {
		t, err := rt.Resources.Table(ctx, l.ref, l.schema)
		if err != nil {
			return nil, err
		}
		tables[i] = t
		set, err := l.read(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", s.name, err)
		}
		ls.sets[i].Store(&set)
	}
	if !rt.Follow {
		return ls, nil
	}
	for i, l := range s.lists {
		ls.wg.Add(1)
		go func() {
			defer ls.wg.Done()
			ls.follow(ctx, rt, i, l, tables[i])
		}()
	}
	return ls, nil
}

// follow reads list l again every refresh interval until ctx ends. A read
// that fails keeps the set from before and is tried again at the next
// interval; the log says when reads start failing and when they work again.
func (ls *listSets) follow(ctx context.Context, rt *Runtime, i int, l streamList, t port.Table) {
	tick := time.NewTicker(l.refresh)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		set, err := l.read(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing && rt.Log != nil {
				rt.Log.Warn("reading a list failed: deciding with the set read before, trying again at each refresh",
					"stage", ls.s.name, "list", l.name, "every", l.refresh, "cause", err)
			}
			failing = true
			continue
		}
		if failing && rt.Log != nil {
			rt.Log.Info("reading a list works again", "stage", ls.s.name, "list", l.name)
		}
		failing = false
		if old := *ls.sets[i].Load(); !sameSet(old, set) {
			ls.sets[i].Store(&set)
			if rt.Log != nil {
				rt.Log.Info("list changed: records decided from now on test the new one",
					"stage", ls.s.name, "list", l.name, "entries", setLen(set), "before", setLen(old))
			}
		}
	}
}

// read reads the whole table of l, in one Scan, as the set of its keys.
func (l streamList) read(ctx context.Context, t port.Table) (any, error) {
	var keys []any
	err := t.Scan(ctx, func(row schema.Row) error {
		keys = append(keys, row[l.schema.Key])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading list %s from %s: %w", l.name, l.ref, err)
	}
	set, err := rules.NewList(l.elem, keys)
	if err != nil {
		return nil, fmt.Errorf("reading list %s from %s: %w", l.name, l.ref, err)
	}
	return set, nil
}

// bind gives the records of vars (per message: its scope values) the
// current set of each list.
func (ls *listSets) bind(vars [][]any) {
	if ls == nil {
		return
	}
	for i, l := range ls.s.lists {
		set := *ls.sets[i].Load()
		for _, v := range vars {
			v[l.v] = set
		}
	}
}

// stop waits for the refreshes to end; ctx must have ended first.
func (ls *listSets) stop() {
	if ls != nil {
		ls.wg.Wait()
	}
}

// sameSet reports whether two sets of a list hold the same values.
func sameSet(a, b any) bool {
	switch x := a.(type) {
	case map[string]struct{}:
		y, ok := b.(map[string]struct{})
		return ok && maps.Equal(x, y)
	case map[int]struct{}:
		y, ok := b.(map[int]struct{})
		return ok && maps.Equal(x, y)
	}
	return false
}

// setLen returns the number of values in a set of a list.
func setLen(a any) int {
	switch x := a.(type) {
	case map[string]struct{}:
		return len(x)
	case map[int]struct{}:
		return len(x)
	}
	return 0
}
