package memory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"pipeline/engine/port"
	"pipeline/engine/schema"
)

// Table is an in-process keyed table. It implements port.Table and is safe
// for concurrent use.
//
// Rows are shared, not copied: the caller must not change a row after
// passing it to Upsert, and rows returned by Get and handed to Scan's fn are
// the stored rows, which the caller must clone (schema.Row.Clone) before
// changing.
//
// Keys are used as Go map keys exactly as given: nothing is normalised, so
// decimals 1.0 and 1.00, or equal instants in different locations, are
// different keys.
type Table struct {
	schema  *schema.Schema
	key     int          // index of the key column
	keyType reflect.Type // Go type every key must have; nil when the column kind is invalid
	intKeys bool         // the key column is an int column: every key is an int
	gate    gate         // keeps writers apart, and the table's version (tx.go)

	mu   sync.RWMutex
	rows []schema.Row // in the order their keys were first stored
	// ascending is true while every new key was greater than the one before,
	// so rows is in key order and binary search finds keys: no index is
	// needed, which keeps the common case of ascending keys cheap. Once a key
	// arrives out of order, index maps keys to positions in rows, and order
	// is a permutation of the positions 0..len(order)-1 in key order, brought
	// up to date by Scan; ascLen is how many rows were in key order then.
	ascending bool
	index     keyIndex
	ascLen    int
	order     []int
	// ordered holds the rows in key order as of the last write, shared by
	// every snapshot taken since (never changed, only replaced): exports,
	// scans and aggregates of a table nobody wrote in between cost no copy.
	// Writers clear it while they hold mu; readers set it while they hold mu
	// (shared), so it never outlives the rows it lists.
	ordered atomic.Pointer[[]schema.Row]
}

var _ port.Table = (*Table)(nil)

func newTable(s *schema.Schema) *Table {
	t := &Table{schema: s, key: s.Key, ascending: true, intKeys: s.Columns[s.Key].Type.Kind == schema.Int}
	if s.Columns[s.Key].Type.Kind != schema.Invalid {
		t.keyType = s.Columns[s.Key].Type.GoType()
	}
	return t
}

// Schema returns the table's schema.
func (t *Table) Schema() *schema.Schema { return t.schema }

// Len returns the number of rows in the table.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.rows)
}

// Get returns the stored row for each key, nil where no row has that key
// (including a nil key or a key of another Go type than the key column's).
func (t *Table) Get(ctx context.Context, keys []any) ([]schema.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory table %s: get: %w", t.schema.Name, err)
	}
	out := make([]schema.Row, len(keys))
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i, k := range keys {
		if k == nil || !t.validKey(k) {
			continue
		}
		if p, ok := t.find(k); ok {
			out[i] = t.rows[p]
		}
	}
	return out, nil
}

// find returns the position in rows of the row whose key is k, a valid key.
// The caller holds the lock.
func (t *Table) find(k any) (int, bool) {
	if !t.ascending {
		return t.index.get(k)
	}
	n := len(t.rows)
	if x, ok := k.(int); ok && t.intKeys {
		return t.findInt(x)
	}
	i := sort.Search(n, func(i int) bool { return schema.Compare(t.rows[i][t.key], k) >= 0 })
	// Keys that compare equal may still be different keys (1.0 and 1.00).
	for ; i < n && schema.Compare(t.rows[i][t.key], k) == 0; i++ {
		if t.rows[i][t.key] == k {
			return i, true
		}
	}
	return 0, false
}

// findInt is find for an int key while keys ascend: rows are then sorted
// by distinct int keys. Ids numbered from the first key without gaps are
// found at once, others by a binary search on the ints.
func (t *Table) findInt(k int) (int, bool) {
	n := len(t.rows)
	if n == 0 {
		return 0, false
	}
	if first, ok := t.rows[0][t.key].(int); ok {
		if p := uint64(k) - uint64(first); p < uint64(n) && t.rows[p][t.key] == any(k) {
			return int(p), true
		}
	}
	i := sort.Search(n, func(i int) bool { x, _ := t.rows[i][t.key].(int); return x >= k })
	if i < n && t.rows[i][t.key] == any(k) {
		return i, true
	}
	return 0, false
}

// Upsert stores rows, replacing any row with the same key; the last of
// several rows with one key wins. Each row must have one value per column
// and a non-nil key of the key column's Go type. Upsert checks every row
// before storing any, so a failed call changes nothing. The rows are stored
// as given and must not be changed afterwards.
func (t *Table) Upsert(ctx context.Context, rows []schema.Row) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory table %s: upsert: %w", t.schema.Name, err)
	}
	ascending := true // whether the keys of rows ascend
	for i, r := range rows {
		if err := t.checkRow(r); err != nil {
			return fmt.Errorf("memory table %s: upsert row %d: %w", t.schema.Name, i, err)
		}
		if ascending && i > 0 && schema.Compare(r[t.key], rows[i-1][t.key]) <= 0 {
			ascending = false
		}
	}
	if len(rows) == 0 {
		return nil
	}
	defer t.writing(ctx)()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ordered.Store(nil)
	if t.ascending && ascending {
		if n := len(t.rows); n == 0 || schema.Compare(rows[0][t.key], t.rows[n-1][t.key]) > 0 {
			// The common case: every key is new and greater than those stored.
			t.rows = append(grow(t.rows, len(rows)), rows...)
			return nil
		}
	}
	t.rows = grow(t.rows, len(rows))
	for i, r := range rows {
		k := r[t.key]
		if t.ascending {
			if n := len(t.rows); n == 0 || schema.Compare(k, t.rows[n-1][t.key]) > 0 {
				t.rows = append(t.rows, r)
				continue
			}
		}
		if p, ok := t.find(k); ok {
			t.rows[p] = r
			continue
		}
		if t.ascending {
			t.unsort(len(rows) - i)
		}
		t.put(k, len(t.rows))
		t.rows = append(t.rows, r)
	}
	return nil
}

// grow returns s with room for n more elements, at least doubling its
// capacity when it has to grow: append alone grows large slices by a quarter,
// copying them over and over while a big table or topic fills up batch by batch.
func grow[E any](s []E, n int) []E {
	if cap(s)-len(s) >= n {
		return s
	}
	return slices.Grow(s, max(n, len(s)))
}

// unsort records that keys no longer arrive in order: it indexes the rows
// stored so far, with room for more new keys. The caller holds the write lock.
func (t *Table) unsort(more int) {
	t.ascending, t.ascLen = false, len(t.rows)
	if t.schema.Columns[t.key].Type.Kind == schema.Int && len(t.rows) > 0 {
		// Rows stored while keys ascended span their first to their last key.
		lo, _ := t.rows[0][t.key].(int)
		hi, _ := t.rows[len(t.rows)-1][t.key].(int)
		if d := newDenseIndex(lo, hi, len(t.rows)+more); d != nil {
			t.index = d
			for p, r := range t.rows {
				t.put(r[t.key], p)
			}
			return
		}
	}
	t.index = newKeyIndex(t.schema.Columns[t.key].Type.Kind, len(t.rows)+more)
	for p, r := range t.rows {
		t.index.put(r[t.key], p)
	}
}

// put indexes position p under key k. When a dense index would grow too
// sparse to hold k, it is replaced by a map first. The caller holds the write lock.
func (t *Table) put(k any, p int) {
	if d, ok := t.index.(*denseIndex); ok && (len(t.rows) >= math.MaxInt32-1 || !d.fits(k, len(t.rows)+1)) {
		m := make(mapIndex[int], len(t.rows)+1)
		d.each(func(k, p int) { m[k] = p })
		t.index = m
	}
	t.index.put(k, p)
}

// checkRow reports why r cannot be stored, or nil.
func (t *Table) checkRow(r schema.Row) error {
	if len(r) != len(t.schema.Columns) {
		return fmt.Errorf("has %d values, want %d (%s)", len(r), len(t.schema.Columns), t.schema.String())
	}
	k := r[t.key]
	if k == nil {
		return fmt.Errorf("key column %s is null", t.schema.KeyName())
	}
	if !t.validKey(k) {
		return fmt.Errorf("key column %s holds a %T, want a %s", t.schema.KeyName(), k, t.schema.Columns[t.key].Type)
	}
	return nil
}

// validKey reports whether k, a non-nil value, has the key column's Go type
// and can be used as a map key without a panic.
func (t *Table) validKey(k any) bool {
	if t.keyType != nil {
		return reflect.TypeOf(k) == t.keyType
	}
	return reflect.ValueOf(k).Comparable()
}

// Scan calls fn for every row in ascending key order (schema.Compare) and
// stops at the first error fn returns, which it returns wrapped. It sees the
// rows as they were when it started, and holds no lock while fn runs, so fn
// may call any method of the table.
func (t *Table) Scan(ctx context.Context, fn func(schema.Row) error) error {
	return t.frozen().Scan(ctx, fn)
}

var _ port.BatchScanner = (*Table)(nil)

// ScanBatches is Scan a batch of at most size rows at a time (1024 when
// size is not positive): fn gets consecutive runs of the rows in key order.
func (t *Table) ScanBatches(ctx context.Context, size int, fn func([]schema.Row) error) error {
	return t.frozen().ScanBatches(ctx, size, fn)
}

var _ port.Snapshotter = (*Table)(nil)

// Snapshot returns the rows as they are now, in key order. It copies the
// list of rows, not the rows: stored rows never change (writes replace
// them), so later writes leave the snapshot as it is.
func (t *Table) Snapshot(ctx context.Context) (port.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory table %s: snapshot: %w", t.schema.Name, err)
	}
	return t.frozen(), nil
}

// frozen returns the table's rows as they are now, in key order.
func (t *Table) frozen() *snapshot {
	return &snapshot{name: t.schema.Name, rows: t.snapshot()}
}

// snapshot is a table's rows at one moment, in key order. It implements port.Snapshot.
type snapshot struct {
	name string
	rows []schema.Row
}

// Scan calls fn for every row of the snapshot in key order, and stops at
// the first error fn returns, which it returns wrapped.
func (s *snapshot) Scan(ctx context.Context, fn func(schema.Row) error) error {
	for i, r := range s.rows {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("memory table %s: scan: %w", s.name, err)
			}
		}
		if err := fn(r); err != nil {
			return fmt.Errorf("memory table %s: scan: %w", s.name, err)
		}
	}
	return nil
}

// ScanBatches is Scan a batch of at most size rows at a time (1024 when
// size is not positive).
func (s *snapshot) ScanBatches(ctx context.Context, size int, fn func([]schema.Row) error) error {
	if size <= 0 {
		size = 1024
	}
	snap := s.rows
	for lo := 0; lo < len(snap); lo += size {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memory table %s: scan: %w", s.name, err)
		}
		if err := fn(snap[lo:min(lo+size, len(snap)):min(lo+size, len(snap))]); err != nil {
			return fmt.Errorf("memory table %s: scan: %w", s.name, err)
		}
	}
	return nil
}

// snapshot returns the rows in key order, sorting the order first when keys
// arrived out of order since the last sort. The slice is shared (see
// Table.ordered): callers must not change it.
func (t *Table) snapshot() []schema.Row {
	if p := t.ordered.Load(); p != nil {
		return *p
	}
	t.mu.RLock()
	if t.ascending || len(t.order) == len(t.rows) || t.dense() {
		defer t.mu.RUnlock()
		return t.keepOrdered()
	}
	t.mu.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sortOrder()
	return t.keepOrdered()
}

// dense reports whether the table is indexed by a dense index; the caller holds the lock.
func (t *Table) dense() bool {
	_, ok := t.index.(*denseIndex)
	return ok
}

// keepOrdered returns the rows in key order, from t.ordered or copied and
// kept there. The caller holds the lock (shared or not), and the order is
// up to date unless a dense index lists the keys.
func (t *Table) keepOrdered() []schema.Row {
	if p := t.ordered.Load(); p != nil {
		return *p
	}
	snap := t.copyOrdered()
	t.ordered.Store(&snap)
	return snap
}

// copyOrdered copies the rows in key order; the caller holds the lock and
// the order is up to date unless a dense index lists the keys.
func (t *Table) copyOrdered() []schema.Row {
	if d, ok := t.index.(*denseIndex); ok {
		// A dense index lists the keys in order: no sorting needed.
		snap := make([]schema.Row, 0, len(t.rows))
		d.each(func(_, p int) { snap = append(snap, t.rows[p]) })
		return snap
	}
	if t.ascending {
		return slices.Clone(t.rows)
	}
	snap := make([]schema.Row, len(t.order))
	for i, p := range t.order {
		snap[i] = t.rows[p]
	}
	return snap
}

// sortOrder brings order up to date: it sorts the positions added since the
// last sort and merges them into the sorted ones. The caller holds the write lock.
func (t *Table) sortOrder() {
	if t.ascending {
		return
	}
	if len(t.order) < t.ascLen {
		// Rows stored while keys still ascended are in order already.
		for p := len(t.order); p < t.ascLen; p++ {
			t.order = append(t.order, p)
		}
	}
	n := len(t.order)
	if n == len(t.rows) {
		return
	}
	tail := make([]int, 0, len(t.rows)-n)
	for p := n; p < len(t.rows); p++ {
		tail = append(tail, p)
	}
	switch t.schema.Columns[t.key].Type.Kind {
	case schema.Int:
		sortPositions(t.rows, t.key, tail, cmp.Compare[int])
	case schema.String:
		sortPositions(t.rows, t.key, tail, strings.Compare)
	default:
		sortPositions(t.rows, t.key, tail, schema.Compare)
	}
	less := func(a, b int) bool { return schema.Compare(t.rows[a][t.key], t.rows[b][t.key]) < 0 }
	if n == 0 {
		t.order = tail
		return
	}
	merged := make([]int, 0, len(t.rows))
	i, j := 0, 0
	for i < n && j < len(tail) {
		if less(tail[j], t.order[i]) {
			merged = append(merged, tail[j])
			j++
		} else {
			merged = append(merged, t.order[i])
			i++
		}
	}
	merged = append(merged, t.order[i:]...)
	t.order = append(merged, tail[j:]...)
}

// sortPositions sorts ps, positions in rows, by the rows' keys, which are
// all of Go type K. Sorting copies of the keys next to their positions saves
// following two pointers per comparison.
func sortPositions[K any](rows []schema.Row, key int, ps []int, compare func(a, b K) int) {
	type keyPos struct {
		k K
		p int
	}
	kps := make([]keyPos, len(ps))
	for i, p := range ps {
		k, _ := rows[p][key].(K)
		kps[i] = keyPos{k, p}
	}
	slices.SortFunc(kps, func(a, b keyPos) int { return compare(a.k, b.k) })
	for i := range kps {
		ps[i] = kps[i].p
	}
}

// Truncate removes every row.
func (t *Table) Truncate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory table %s: truncate: %w", t.schema.Name, err)
	}
	defer t.writing(ctx)()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ordered.Store(nil)
	t.rows, t.index, t.order = nil, nil, nil
	t.ascending, t.ascLen = true, 0
	return nil
}

// keyIndex maps keys to positions in a table's rows.
type keyIndex interface {
	get(k any) (int, bool)
	put(k any, p int)
}

// newKeyIndex returns an index for keys of kind k with room for n keys. Int
// keys get a map keyed by int, which avoids hashing and comparing boxed values.
func newKeyIndex(k schema.Kind, n int) keyIndex {
	if k == schema.Int {
		return make(mapIndex[int], n)
	}
	return make(mapIndex[any], n)
}

// mapIndex is a keyIndex over keys of Go type K.
type mapIndex[K comparable] map[K]int

func (m mapIndex[K]) get(k any) (int, bool) {
	x, ok := k.(K)
	if !ok {
		return 0, false
	}
	p, ok := m[x]
	return p, ok
}

func (m mapIndex[K]) put(k any, p int) {
	if x, ok := k.(K); ok {
		m[x] = p
	}
}

// denseIndex is a keyIndex for int keys that mostly fill a range, as
// generated ids do: a slice indexed by key - base holds each key's position
// plus one (0: no row). Lookups cost no hashing, and walking the slice
// lists the keys in order, so Scan needs no sort.
type denseIndex struct {
	base int
	pos  []int32
}

// maxDenseSpread bounds how sparse a dense index may get: it spans at most
// this many slots per row (plus denseSlack), else the table uses a map.
const (
	maxDenseSpread = 8
	denseSlack     = 1 << 16
)

// newDenseIndex returns a dense index for keys lo..hi with room for rows
// rows, or nil when that range is too sparse or too large.
func newDenseIndex(lo, hi, rows int) *denseIndex {
	span, ok := denseSpan(lo, hi, rows)
	if !ok {
		return nil
	}
	return &denseIndex{base: lo, pos: make([]int32, span)}
}

// denseSpan returns the number of slots keys lo..hi need, and whether that
// is dense enough for rows rows.
func denseSpan(lo, hi, rows int) (int, bool) {
	if hi < lo || rows >= math.MaxInt32 {
		return 0, false
	}
	span := uint64(hi) - uint64(lo) + 1 // no overflow: the difference of two ints fits a uint64
	if span == 0 || span > uint64(rows)*maxDenseSpread+denseSlack {
		return 0, false
	}
	return int(span), true
}

// fits reports whether k, a valid key, can be put with rows rows in the
// table, growing the slice if need be, without getting too sparse.
func (d *denseIndex) fits(k any, rows int) bool {
	x, ok := k.(int)
	if !ok {
		return false
	}
	lo, hi := d.base, d.base+len(d.pos)-1
	if x >= lo && x <= hi {
		return true
	}
	lo, hi = min(lo, x), max(hi, x)
	span, ok := denseSpan(lo, hi, rows)
	if !ok {
		return false
	}
	// Grow by up to half again, within what stays dense, so that keys
	// arriving one by one past the end do not copy the slice every time.
	extra := min(len(d.pos)/2, max(0, rows*maxDenseSpread+denseSlack-span))
	if (x < d.base && lo < math.MinInt+extra) || (x >= d.base && hi > math.MaxInt-extra) {
		extra = 0 // keys at the ends of int's range: no room past them
	}
	grown := make([]int32, span+extra)
	if x < d.base {
		copy(grown[extra+(d.base-lo):], d.pos)
		d.base = lo - extra
	} else {
		copy(grown[d.base-lo:], d.pos)
	}
	d.pos = grown
	return true
}

func (d *denseIndex) get(k any) (int, bool) {
	x, ok := k.(int)
	if !ok {
		return 0, false
	}
	i := uint64(x) - uint64(d.base)
	if i >= uint64(len(d.pos)) || d.pos[i] == 0 {
		return 0, false
	}
	return int(d.pos[i]) - 1, true
}

// put stores p for k, which fits (see fits).
func (d *denseIndex) put(k any, p int) {
	x, ok := k.(int)
	if !ok {
		return
	}
	if i := uint64(x) - uint64(d.base); i < uint64(len(d.pos)) {
		d.pos[i] = int32(p + 1)
	}
}

// each calls fn with every key and its position, in ascending key order.
func (d *denseIndex) each(fn func(k, p int)) {
	for i, p := range d.pos {
		if p != 0 {
			fn(d.base+i, int(p)-1)
		}
	}
}

var _ port.Updater = (*Table)(nil)

// UpdateWhere sets the columns of set in every row whose column
// where.Column equals where.Value (schema.Compare; a null never matches),
// and returns how many rows matched. Matching rows are replaced by changed
// copies, so rows handed out before stay as they were. The key column cannot
// be set, and each value must be null (for a nullable column) or of its
// column's Go type.
func (t *Table) UpdateWhere(ctx context.Context, set []port.ColumnValue, where port.ColumnValue) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory table %s: update: %w", t.schema.Name, err)
	}
	wi := t.schema.Index(where.Column)
	if wi < 0 {
		return 0, fmt.Errorf("memory table %s: update: no column %q", t.schema.Name, where.Column)
	}
	cols := make([]int, len(set))
	for i, cv := range set {
		c := t.schema.Index(cv.Column)
		switch {
		case c < 0:
			return 0, fmt.Errorf("memory table %s: update: no column %q", t.schema.Name, cv.Column)
		case c == t.key:
			return 0, fmt.Errorf("memory table %s: update: cannot set the key column %s", t.schema.Name, cv.Column)
		}
		if err := t.checkValue(c, cv.Value); err != nil {
			return 0, fmt.Errorf("memory table %s: update: %w", t.schema.Name, err)
		}
		cols[i] = c
	}
	if where.Value == nil {
		return 0, nil
	}
	defer t.writing(ctx)()
	t.mu.Lock()
	defer t.mu.Unlock()
	matches := func(r schema.Row) bool { v := r[wi]; return v != nil && schema.Compare(v, where.Value) == 0 }
	// Counted first, so that the copies take one block of the right size
	// and no list of positions is grown: memory touched for the first time
	// is what an update of a million rows spends most on.
	n := 0
	for _, r := range t.rows {
		if matches(r) {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	t.ordered.Store(nil)
	w := len(t.schema.Columns)
	block := make([]any, n*w)
	for p, r := range t.rows {
		if !matches(r) {
			continue
		}
		c := schema.Row(block[:w:w])
		block = block[w:]
		copy(c, r)
		for j, col := range cols {
			c[col] = set[j].Value
		}
		t.rows[p] = c
	}
	return int64(n), nil
}

// checkValue reports why v cannot be stored in column c, or nil.
func (t *Table) checkValue(c int, v any) error {
	typ := t.schema.Columns[c].Type
	if v == nil {
		if !typ.Nullable {
			return fmt.Errorf("column %s is not nullable", t.schema.Columns[c].Name)
		}
		return nil
	}
	if gt := typ.GoType(); gt != nil && reflect.TypeOf(v) != gt {
		return fmt.Errorf("column %s holds %s, not a %T", t.schema.Columns[c].Name, typ, v)
	}
	return nil
}
