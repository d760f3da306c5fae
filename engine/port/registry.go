package port

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Option declares one option a connector kind accepts in a spec: its
// name, what values it takes, its default and what it does. Lint checks a
// spec's values against it, connectors read them through Parse, and
// `pipeline connectors` prints it: one declaration for the three.
type Option struct {
	Name    string
	Doc     string
	Default string // as a person reads it (the parsed default lives in the connector)
	Type    OptionType
	// Min is the least value of an Int option, or of a Duration one (in
	// nanoseconds); Max, when not 0, the greatest.
	Min, Max int64
	// Values are the values an Enum option takes.
	Values []string
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
	// Commits marks kinds whose connectors are Committers (and
	// Transactors): a stream stage's output table must live in one, which
	// commits its decisions with their offsets (docs/ARCHITECTURE.md).
	Commits bool
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

// Check reports the first problem with cfg's kind: an unknown kind. Its
// options are checked by CheckOptions.
func (r *Registry) Check(cfg Config) error {
	if _, ok := r.Lookup(cfg.Kind); !ok {
		return fmt.Errorf("unknown connector kind %q (known: %s)", cfg.Kind, strings.Join(r.Names(), ", "))
	}
	return nil
}

// CheckOptions reports every option of cfg its kind does not have or whose
// value does not parse (see Option.Parse), one OptionError each, in name
// order. A kind it does not know has nothing to check (see Check).
func (r *Registry) CheckOptions(cfg Config) []*OptionError {
	k, ok := r.Lookup(cfg.Kind)
	if !ok {
		return nil
	}
	names := make([]string, 0, len(cfg.Options))
	for name := range cfg.Options {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*OptionError
	for _, name := range names {
		o, ok := k.Option(name)
		if !ok {
			out = append(out, &OptionError{Option: name, Err: fmt.Errorf("connector kind %s has no option %q (options: %s)", k.Name, name, k.optionNames())})
			continue
		}
		if _, err := o.Parse(cfg.Options[name]); err != nil {
			out = append(out, &OptionError{Option: name, Err: err})
		}
	}
	return out
}

// OptionError is an option of a spec that its kind does not have, or whose value it does not take.
type OptionError struct {
	Option string
	Err    error
}

// Error names the option and what is wrong.
func (e *OptionError) Error() string { return "option " + e.Option + ": " + e.Err.Error() }

// Unwrap returns what is wrong.
func (e *OptionError) Unwrap() error { return e.Err }

// Option returns the option called name.
func (k Kind) Option(name string) (Option, bool) {
	for _, o := range k.Options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
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
