package port

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Option documents one option a connector kind accepts in a spec.
type Option struct {
	Name    string
	Doc     string
	Default string
}

// Config is one connector as a spec declares it.
type Config struct {
	Name    string            // the name stages use to refer to it
	Kind    string            // the registered kind
	Options map[string]string // every option the spec set, after variable expansion
	Dir     string            // folder of the spec, for relative paths
}

// Get returns the named option, or def when the spec did not set it.
func (c Config) Get(name, def string) string {
	if v, ok := c.Options[name]; ok {
		return v
	}
	return def
}

// Kind is a connector kind: its name, documentation, options and constructor.
type Kind struct {
	Name    string
	Doc     string
	Options []Option
	// Service marks kinds that need a running server (a database, a broker).
	// Dry-run replaces them with the memory kind.
	Service bool
	New     func(ctx context.Context, cfg Config) (Connector, error)
}

// Registry maps kind names to kinds. Build one in main and pass it to the engine.
type Registry struct {
	kinds map[string]Kind
}

// Register adds k, replacing a kind of the same name.
func (r *Registry) Register(k Kind) {
	if r.kinds == nil {
		r.kinds = map[string]Kind{}
	}
	r.kinds[k.Name] = k
}

// Lookup returns the named kind.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names returns the registered kind names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check reports the first problem with cfg against its kind: an unknown kind or option.
func (r *Registry) Check(cfg Config) error {
	k, ok := r.Lookup(cfg.Kind)
	if !ok {
		return fmt.Errorf("unknown connector kind %q (known: %s)", cfg.Kind, strings.Join(r.Names(), ", "))
	}
	for name := range cfg.Options {
		if !k.hasOption(name) {
			return fmt.Errorf("connector kind %s has no option %q (options: %s)", k.Name, name, k.optionNames())
		}
	}
	return nil
}

func (k Kind) hasOption(name string) bool {
	for _, o := range k.Options {
		if o.Name == name {
			return true
		}
	}
	return false
}

func (k Kind) optionNames() string {
	names := make([]string, len(k.Options))
	for i, o := range k.Options {
		names[i] = o.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
