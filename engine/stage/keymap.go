package stage

// keyMap maps key values (as rows hold them) to V. Int keys, the common
// case, live in a map keyed by int, which hashes and compares them without
// going through their interface; other keys in a map keyed by any. Both
// compare keys as Go's == does, so it behaves as one map[any]V.
type keyMap[V any] struct {
	ints  map[int]V
	other map[any]V
}

func newKeyMap[V any]() *keyMap[V] {
	return &keyMap[V]{ints: map[int]V{}, other: map[any]V{}}
}

// get returns the value of k and whether k is in the map.
func (m *keyMap[V]) get(k any) (V, bool) {
	if x, ok := k.(int); ok {
		v, ok := m.ints[x]
		return v, ok
	}
	v, ok := m.other[k]
	return v, ok
}

// has reports whether k is in the map; a nil map has no key.
func (m *keyMap[V]) has(k any) bool {
	if m == nil {
		return false
	}
	_, ok := m.get(k)
	return ok
}

// put sets the value of k, which must be comparable.
func (m *keyMap[V]) put(k any, v V) {
	if x, ok := k.(int); ok {
		m.ints[x] = v
		return
	}
	m.other[k] = v
}

// clear removes every key.
func (m *keyMap[V]) clear() {
	clear(m.ints)
	clear(m.other)
}
