package spec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pipeline/engine/yamldoc"
)

// TestLoad loads testdata/valid.yaml and compares every decoded value and
// its position with testdata/valid.golden.
func TestLoad(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "valid.yaml"), yamldoc.MapEnv(map[string]string{"DATA": "in"}))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	if s.File == nil || s.File.Path != filepath.Join("testdata", "valid.yaml") || s.File.Root == nil {
		t.Errorf("File = %+v", s.File)
	}
	if s.Pos != (yamldoc.Pos{File: filepath.Join("testdata", "valid.yaml"), Line: 3, Col: 1}) {
		t.Errorf("Pos = %v", s.Pos)
	}
	golden(t, "valid.golden", dump(s))

	// A few values a reader of the golden file might miss.
	files, ok := s.Connectors.Get("files")
	if !ok {
		t.Fatal("no files connector")
	}
	var keys []string
	for _, o := range files.Options {
		keys = append(keys, o.Key+"="+o.Value.Value)
	}
	if want := []string{"dir=in", "zeta=last", "alpha=first"}; !slices.Equal(keys, want) {
		t.Errorf("files options = %q, want %q (the file's order, kind left out)", keys, want)
	}
	if files.Kind.Value != "csv" {
		t.Errorf("files kind = %q", files.Kind.Value)
	}
	var kinds []string
	for _, st := range s.Stages {
		kinds = append(kinds, st.Kind.Value)
	}
	if want := []string{"reset", "load", "publish", "stream", "batch", "export"}; !slices.Equal(kinds, want) {
		t.Errorf("stage kinds = %q, want %q", kinds, want)
	}
	if got := s.Stages[5].Copy[0].To.Value; got != "files:out/items.csv" {
		t.Errorf("export to %q, want the default expanded", got)
	}
	// Lookups and lists, written short or as mappings.
	check := s.Stages[3]
	if item, _ := check.Lookup.Get("item"); item.From.Value != "mem:items[o.item_id]" || item.Optional {
		t.Errorf("lookup item = %+v, want required", item)
	}
	if maker, _ := check.Lookup.Get("maker"); maker.From.Value != "mem:makers[item.maker_id]" || !maker.Optional {
		t.Errorf("lookup maker = %+v, want optional", maker)
	}
	if banned, _ := check.Lists.Get("banned"); banned.From.Value != "mem:banned" || banned.Refresh.Set() {
		t.Errorf("list banned = %+v", banned)
	}
	if watched, _ := check.Lists.Get("watched"); watched.From.Value != "mem:watched" || watched.Refresh.Value != "30s" {
		t.Errorf("list watched = %+v", watched)
	}
}

func TestStageKinds(t *testing.T) {
	got := StageKinds()
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("StageKinds() = %q, want them sorted, each once", got)
	}
	for _, k := range []string{"batch", "export", "load", "publish", "stream"} {
		if !slices.Contains(got, k) {
			t.Errorf("StageKinds() = %q, without %s", got, k)
		}
	}
}

// minimal is the smallest spec that loads.
const minimal = "name: x\nstages:\n  - {name: a, kind: load}\n"

func TestLoadErrors(t *testing.T) {
	kinds := "one of " + strings.Join(StageKinds(), ", ") // batch, export, load, publish, stream and maybe more
	const streamKeys = "keys: name, kind, from, as, group, lookup, lists, windows, rules, shadow, shadow_to, save, to, emit, batch_size, measure"
	tests := []struct {
		name string
		src  string
		env  map[string]string
		err  string
	}{
		{
			name: "unknown stage kind",
			src:  "name: x\nstages:\n  - name: a\n    kind: strem\n    from: bus:t\n",
			err:  `s.yaml:4:11: unknown stage kind "strem" (` + kinds + `)`,
		},
		{
			name: "key a stage kind does not take",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    from: bus:t\n    steps:\n      - {name: s, update: db:t}\n",
			err:  `s.yaml:6:5: a stream stage has no key "steps" (` + streamKeys + `)`,
		},
		{
			name: "key no stage takes", // reported once
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    form: bus:t\n",
			err:  `s.yaml:5:5: a stream stage has no key "form" (` + streamKeys + `)`,
		},
		{
			name: "copy on a publish stage",
			src:  "name: x\nstages:\n  - name: a\n    kind: publish\n    copy: [{from: a:b, to: c:d}]\n    to: bus:t\n",
			err:  `s.yaml:5:5: a publish stage has no key "copy" (keys: name, kind, from, to)`,
		},
		{
			name: "stage without a name",
			src:  "name: x\nstages:\n  - kind: load\n    copy: []\n",
			err:  `s.yaml:3:5: stage has no "name"`,
		},
		{
			name: "stage without a kind",
			src:  "name: x\nstages:\n  - name: a\n    copy: []\n",
			err:  `s.yaml:3:5: stage has no "kind" (` + kinds + `)`,
		},
		{
			name: "stage not a mapping",
			src:  "name: x\nstages:\n  - load\n",
			err:  `s.yaml:3:5: a stage is a mapping with name and kind`,
		},
		{
			name: "stages not a list",
			src:  "name: x\nstages: {name: a, kind: load}\n",
			err:  `s.yaml:2:9: want a list, found a mapping`,
		},
		{
			name: "no stages",
			src:  "name: x\nconnectors: {files: {kind: csv}}\n",
			err:  `s.yaml:1:1: spec has no stages`,
		},
		{
			name: "empty stages",
			src:  "# comment\nname: x\nstages: []\n",
			err:  `s.yaml:2:1: spec has no stages`,
		},
		{
			name: "no name",
			src:  "stages:\n  - {name: a, kind: load}\n",
			err:  `s.yaml:1:1: spec has no "name"`,
		},
		{
			name: "unknown top-level key",
			src:  minimal + "stage: []\n",
			err:  `s.yaml:4:1: unknown key "stage" (known keys: name, description, connectors, tables, topics, dead_letters, stages)`,
		},
		{
			name: "connector without a kind",
			src:  minimal + "connectors:\n  files:\n    dir: data\n",
			err:  `s.yaml:6:5: connector has no "kind"`,
		},
		{
			name: "connector with an empty value",
			src:  minimal + "connectors:\n  files:\n",
			err:  `s.yaml:5:9: connector has no "kind"`,
		},
		{
			name: "connector not a mapping",
			src:  minimal + "connectors:\n  files: csv\n",
			err:  `s.yaml:5:10: want a mapping, found "csv"`,
		},
		{
			name: "connector option not a string",
			src:  minimal + "connectors:\n  files: {kind: csv, dirs: [a, b]}\n",
			err:  `s.yaml:5:28: want a string, found a list`,
		},
		{
			name: "every connector error after an earlier error",
			src:  "name: [x]\nstages:\n  - {name: a, kind: load}\nconnectors:\n  a: {dir: x}\n  b: {kind: [csv]}\n  c: {kind: csv}\n  d: {}\n",
			err: "s.yaml:1:7: want a string, found a list\n" +
				`s.yaml:5:6: connector has no "kind"` + "\n" +
				"s.yaml:6:13: want a string, found a list\n" +
				`s.yaml:8:6: connector has no "kind"`,
		},
		{
			name: "connector kind twice",
			src:  minimal + "connectors:\n  files: {kind: csv, kind: memory}\n",
			err:  `s.yaml:5:22: key "kind" given twice`,
		},
		{
			name: "table key twice",
			src:  minimal + "tables:\n  t:\n    key: id\n    columns: {id: int}\n    key: id\n",
			err:  `s.yaml:8:5: key "key" given twice`,
		},
		{
			name: "topic partitions not a number",
			src:  minimal + "topics:\n  t: {schema: t, partitions: many}\n",
			err:  `s.yaml:5:30: "many" is not a whole number`,
		},
		{
			name: "lookup mapping without from",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    lookup:\n      acct: {optional: true}\n",
			err:  `s.yaml:6:13: lookup has no "from" (e.g. from: db:accounts[order.account_id])`,
		},
		{
			name: "lookup optional not a bool",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    lookup:\n      acct: {from: \"db:a[o.id]\", optional: maybe}\n",
			err:  `s.yaml:6:44: "maybe" is not true or false`,
		},
		{
			name: "list with an unknown key",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    lists:\n      l: {from: db:l, every: 5s}\n",
			err:  `s.yaml:6:23: unknown key "every" (known keys: from, refresh)`,
		},
		{
			name: "unknown step key",
			src:  "name: x\nstages:\n  - name: b\n    kind: batch\n    steps:\n      - name: s\n        updates: db:t\n",
			err:  `s.yaml:7:9: unknown key "updates" (known keys: name, update, as, where, aggregate, lookup, rules, set, measure)`,
		},
		{
			name: "unknown aggregate key",
			src:  "name: x\nstages:\n  - name: b\n    kind: batch\n    steps:\n      - name: s\n        aggregate: {from: db:t, group: x}\n",
			err:  `s.yaml:7:33: unknown key "group" (known keys: from, as, where, by, values)`,
		},
		{
			name: "many problems at once",
			src:  "name: x\nstages:\n  - name: a\n    kind: load\n    to: x\n  - name: b\n    kind: nope\n  - kind: export\n",
			err: `s.yaml:5:5: a load stage has no key "to" (keys: name, kind, copy)` + "\n" +
				`s.yaml:7:11: unknown stage kind "nope" (` + kinds + `)` + "\n" +
				`s.yaml:8:5: stage has no "name"`,
		},
		{
			name: "unset variable",
			src:  "name: x\nstages:\n  - name: a\n    kind: publish\n    from: files:${DATA}/t.csv\n    to: bus:t\n",
			err:  "s.yaml:5:17: variable DATA is not set and has no default (set it, put it in .env, or write ${DATA:-default})",
		},
		{
			name: "unset variable in a default",
			src:  "name: x\ndead_letters: files:${OUT:-${ROOT}/out}\n" + "stages:\n  - {name: a, kind: load}\n",
			err:  "s.yaml:2:28: variable ROOT is not set and has no default (set it, put it in .env, or write ${ROOT:-default})",
		},
		{
			name: "unset variable in a quoted option",
			src:  minimal + "connectors:\n  db: {kind: mysql, dsn: \"${DSN}\"}\n",
			err:  "s.yaml:5:26: variable DSN is not set and has no default (set it, put it in .env, or write ${DSN:-default})",
		},
		{
			name: "empty variable",
			src:  "name: ${NAME}\nstages:\n  - {name: a, kind: load}\n",
			env:  map[string]string{"NAME": ""},
			err:  "s.yaml:1:7: variable NAME is not set and has no default (set it, put it in .env, or write ${NAME:-default})",
		},
		{
			name: "bad variable name",
			src:  "name: x-${my var}\nstages:\n  - {name: a, kind: load}\n",
			err:  `s.yaml:1:9: bad variable name "my var" in ${my var}`,
		},
		{
			name: "not YAML",
			src:  "name: x\ntables:\n  t:\n    columns: {id: int?}\n",
			err:  `reading spec: s.yaml:4:1: invalid YAML: did not find expected ',' or '}' (inside {...} a trailing ? starts a YAML key: quote the value, e.g. "int?")`,
		},
		{
			name: "empty list of sinks",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    to: []\n",
			err:  `s.yaml:5:9: to: the list of sinks is empty: name the table every decision goes to first`,
		},
		{
			name: "sink without to",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    to:\n      - db:t\n      - {where: x}\n",
			err:  `s.yaml:7:9: sink has no "to" (a table, db:reviews, or a topic, bus:alerts)`,
		},
		{
			name: "sink with an unknown key",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    to:\n      - db:t\n      - {to: db:u, wher: x}\n",
			err:  `s.yaml:7:20: unknown key "wher" (known keys: to, where, emit)`,
		},
		{
			name: "sink a list",
			src:  "name: x\nstages:\n  - name: a\n    kind: stream\n    to:\n      - [db:t]\n",
			err:  `s.yaml:6:9: a sink is a reference (db:table, bus:topic) or a mapping {to, where, emit}`,
		},
		{
			name: "publish to a list",
			src:  "name: x\nstages:\n  - name: a\n    kind: publish\n    to: [bus:t]\n",
			err:  `s.yaml:5:9: want a string, found a list`,
		},
		{
			name: "export where not a string",
			src:  "name: x\nstages:\n  - name: a\n    kind: export\n    copy: [{from: db:t, to: f:x.csv, where: [a]}]\n",
			err:  `s.yaml:5:45: want a string, found a list`,
		},
		{
			name: "empty file",
			src:  "",
			err:  "reading spec: s.yaml:1:1: file is empty",
		},
		{
			name: "not a mapping",
			src:  "- name: x\n",
			err:  "s.yaml:1:1: want a mapping with keys name, description, connectors, tables, topics, dead_letters, stages, found a list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(t, tt.src, tt.env)
			if got := errText(err); got != tt.err {
				t.Errorf("error:\n got %s\nwant %s", got, tt.err)
			}
			if s != nil {
				t.Errorf("Load returned a spec with an error")
			}
		})
	}
}

func TestLoadErrorTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path, yamldoc.Env{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(errText(err), "reading spec: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
	// Decoding errors are yamldoc.Errors; the checks after decoding give one *yamldoc.Error.
	for src, want := range map[string]string{
		"name: [x]\nstages: [{name: a, kind: load}]\n": "yamldoc.Errors",
		"name: x\n": "*yamldoc.Error",
	} {
		f, err := yamldoc.Parse("s.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(f, yamldoc.Env{})
		var es yamldoc.Errors
		var e *yamldoc.Error
		switch {
		case errors.As(err, &es):
			if want != "yamldoc.Errors" {
				t.Errorf("%q: error %v is yamldoc.Errors, want %s", src, err, want)
			}
		case errors.As(err, &e):
			if want != "*yamldoc.Error" {
				t.Errorf("%q: error %v is *yamldoc.Error, want %s", src, err, want)
			}
		default:
			t.Errorf("%q: error %v (%T)", src, err, err)
		}
	}
}

func TestLoadExpand(t *testing.T) {
	src := `name: ${NAME:-fallback}
description: "$$5 for ${WHO:-everyone}"
connectors:
  files: {kind: csv, dir: "${DIR:-${HOME_DIR:-/data}}"}
dead_letters: files:${OUT}/dead.csv
stages:
  - name: publish
    kind: publish
    from: files:${DIR:-in}/t.csv
    to: bus:t
`
	tests := []struct {
		env                       map[string]string
		name, desc, dir, dead, in string
	}{
		{
			env:  map[string]string{"OUT": "o"},
			name: "fallback", desc: "$5 for everyone", dir: "/data", dead: "files:o/dead.csv", in: "files:in/t.csv",
		},
		{
			env:  map[string]string{"OUT": "o", "NAME": "n", "WHO": "me", "HOME_DIR": "/home"},
			name: "n", desc: "$5 for me", dir: "/home", dead: "files:o/dead.csv", in: "files:in/t.csv",
		},
		{
			env:  map[string]string{"OUT": "${NAME}", "DIR": "d", "HOME_DIR": "/home"},
			name: "fallback", desc: "$5 for everyone", dir: "d", dead: "files:${NAME}/dead.csv", in: "files:d/t.csv",
		},
	}
	for _, tt := range tests {
		s, err := load(t, src, tt.env)
		if err != nil {
			t.Errorf("env %v: %v", tt.env, err)
			continue
		}
		files, _ := s.Connectors.Get("files")
		dir, _ := files.Options.Get("dir")
		got := []string{s.Name.Value, s.Description, dir.Value, s.DeadLetters[0].Value, s.Stages[0].From.Value}
		if want := []string{tt.name, tt.desc, tt.dir, tt.dead, tt.in}; !slices.Equal(got, want) {
			t.Errorf("env %v:\n got %q\nwant %q", tt.env, got, want)
		}
		// Positions stay those of the values as written.
		if s.Name.Pos.Line != 1 || s.Name.Pos.Col != 7 || s.Stages[0].From.Pos.Line != 9 || s.Stages[0].From.Pos.Col != 11 {
			t.Errorf("positions %v and %v", s.Name.Pos, s.Stages[0].From.Pos)
		}
	}
}

// TestLoadSinks: a stream stage's to as a list of sinks, each a reference
// or a mapping, and export copies with where and as.
func TestLoadSinks(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "sinks.yaml"), yamldoc.MapEnv(nil))
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	golden(t, "sinks.golden", dump(s))
	st := s.Stages[0]
	if len(st.Sinks) != 3 || st.To != st.Sinks[0].To || st.To.Value != "db:decisions" {
		t.Errorf("to = %+v, sinks %+v: want the first sink's to", st.To, st.Sinks)
	}
	if s.Stages[1].To.Value != "db:decisions" || len(s.Stages[1].Sinks) != 0 {
		t.Errorf("a single to: %+v, sinks %+v", s.Stages[1].To, s.Stages[1].Sinks)
	}
}

// TestShippedSpecs loads the specs in configs, as the pipeline command would
// with nothing set: they must load.
func TestShippedSpecs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		if strings.HasPrefix(filepath.Base(path), "_") {
			continue // scratch copies
		}
		n++
		s, err := Load(path, yamldoc.MapEnv(nil))
		if err != nil {
			t.Errorf("%s:\n%s", path, yamldoc.Details(err))
			continue
		}
		if len(s.Stages) == 0 || len(s.Connectors) == 0 {
			t.Errorf("%s: %d stages, %d connectors", path, len(s.Stages), len(s.Connectors))
		}
	}
	if n == 0 {
		t.Errorf("no specs in configs")
	}
}
