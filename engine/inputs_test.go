package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// shopWith opens testdata/shop/spec.yaml with its input folder at in and
// its memory connectors all served by conn, and runs stages.
func shopWith(t *testing.T, conn *memory.Connector, in string, stages ...string) (engine.Summary, error) {
	t.Helper()
	env := yamldoc.MapEnv(map[string]string{"OUT": t.TempDir(), "IN": in})
	plan, err := engine.Load("testdata/shop/spec.yaml", env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return p.Run(context.Background(), stages)
}

// rowsOf returns the rows of a memory table as text, in key order.
func rowsOf(t *testing.T, conn *memory.Connector, s *schema.Schema) []string {
	t.Helper()
	tb, err := conn.Table(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = tb.Scan(context.Background(), func(r schema.Row) error {
		out = append(out, fmt.Sprint(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// specLine returns the number of the first line of the shop spec holding s.
func specLine(t *testing.T, s string) int {
	t.Helper()
	data, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("the shop spec has no line with %q", s)
	return 0
}

// TestRunChecksInputsFirst: a run whose load or publish input is missing
// or unreadable runs no stage (its reset empties nothing), and says which
// file, where the spec names it, and which variable the path came from.
func TestRunChecksInputsFirst(t *testing.T) {
	good := mustAbs(t, "testdata/shop/in")
	accounts, err := os.ReadFile(filepath.Join(good, "accounts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string]string // written into the input folder; "" makes a folder
		want  []string          // in the error, in order; $IN is the input folder
	}{
		{name: "missing folder", want: []string{
			fmt.Sprintf("spec.yaml:%d:", specLine(t, "accounts.csv")),
			"stage load cannot read its input files:$IN/accounts.csv: open csv file: open ", "$IN/accounts.csv: no such file or directory",
			"(the path comes from the variable IN: check its value)\n",
			fmt.Sprintf("spec.yaml:%d:", specLine(t, "orders.csv\", to: bus")),
			"stage publish cannot read its input files:$IN/orders.csv",
			"(the path comes from the variable IN: check its value); no stage was run\n",
		}},
		{name: "one file missing", files: map[string]string{"accounts.csv": string(accounts)}, want: []string{
			"stage publish cannot read its input files:$IN/orders.csv: open csv file:", "no such file or directory",
		}},
		{name: "header lacks a column", files: map[string]string{"accounts.csv": "id,owner\n1,ann\n", "orders.csv": "order_id,account_id,amount,at\n"}, want: []string{
			"stage load cannot read its input files:$IN/accounts.csv: $IN/accounts.csv:1: header: missing columns limit",
		}},
		{name: "a folder in place of a file", files: map[string]string{"accounts.csv": string(accounts), "orders.csv": ""}, want: []string{
			"stage publish cannot read its input files:$IN/orders.csv: open csv file: ", "orders.csv is a folder, not a file",
		}},
		{name: "empty file", files: map[string]string{"accounts.csv": string(accounts), "orders.csv": "\n"}, want: []string{
			"stage publish cannot read its input files:$IN/orders.csv: file $IN/orders.csv is empty: want a header row",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := memory.New()
			if _, err := shopWith(t, conn, good); err != nil {
				t.Fatal(err)
			}
			plan, err := engine.Load("testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}), registry())
			if err != nil {
				t.Fatal(err)
			}
			before := map[string][]string{}
			for name, s := range plan.Tables {
				before[name] = rowsOf(t, conn, s)
			}
			if len(before["orders"]) != 1000 {
				t.Fatalf("the good run decided %d orders, want 1000", len(before["orders"]))
			}

			in := filepath.Join(t.TempDir(), "in")
			if tt.files != nil {
				if err := os.Mkdir(in, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, data := range tt.files {
				path := filepath.Join(in, name)
				if data == "" {
					err = os.Mkdir(path, 0o755)
				} else {
					err = os.WriteFile(path, []byte(data), 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			sum, err := shopWith(t, conn, in)
			if err == nil {
				t.Fatal("the run succeeded")
			}
			msg := yamldoc.Details(err)
			at := 0
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "$IN", in)
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("the error does not say %q (after byte %d):\n%s", w, at, msg)
				}
				at += i + len(w)
			}
			if !strings.Contains(msg, `    copy: [{from: "files:${IN:-in}/accounts.csv", to: db:accounts}]`) && strings.Contains(tt.want[0], "load") {
				t.Errorf("the error does not quote the spec's line:\n%s", msg)
			}
			if len(sum.Stages) != 0 {
				t.Errorf("%d stages ran, want none", len(sum.Stages))
			}
			for name, s := range plan.Tables {
				if after := rowsOf(t, conn, s); !slices.Equal(after, before[name]) {
					t.Errorf("table %s changed: %d rows before, %d after", name, len(before[name]), len(after))
				}
			}
		})
	}
}

// countingKind is the memory kind, counting the connectors it opens and
// closes by name.
type countingKind struct {
	mu             sync.Mutex
	opened, closed map[string]int
}

func (k *countingKind) register(r *port.Registry) {
	k.opened, k.closed = map[string]int{}, map[string]int{}
	r.Register(port.Kind{Name: "memory", New: func(_ context.Context, cfg port.Config) (port.Connector, error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.opened[cfg.Name]++
		return &countedConn{Connector: memory.New(), k: k, name: cfg.Name}, nil
	}})
}

func (k *countingKind) counts() (opened, closed []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, c := range k.opened {
		opened = append(opened, fmt.Sprintf("%s:%d", n, c))
	}
	for n, c := range k.closed {
		closed = append(closed, fmt.Sprintf("%s:%d", n, c))
	}
	slices.Sort(opened)
	slices.Sort(closed)
	return opened, closed
}

type countedConn struct {
	*memory.Connector
	k    *countingKind
	name string
}

func (c *countedConn) Close() error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.k.closed[c.name]++
	return c.Connector.Close()
}

// TestConnectorsOpenOnFirstUse: a run opens only the connectors its stages
// use (a settle opens no topic connector, so it starts no broker), each
// once, and closes those it opened.
func TestConnectorsOpenOnFirstUse(t *testing.T) {
	tests := []struct {
		stages []string
		opened []string
	}{
		{[]string{"settle"}, []string{"db:1"}},
		{[]string{"load"}, []string{"db:1"}},
		{[]string{"export"}, []string{"db:1"}},
		{[]string{"reset"}, []string{"bus:1", "db:1"}},
		{[]string{"load", "publish"}, []string{"bus:1", "db:1"}},
		{nil, []string{"bus:1", "db:1"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.stages, "+"), func(t *testing.T) {
			env := yamldoc.MapEnv(map[string]string{"OUT": t.TempDir(), "IN": mustAbs(t, "testdata/shop/in")})
			plan, err := engine.Load("testdata/shop/spec.yaml", env, registry())
			if err != nil {
				t.Fatal(yamldoc.Details(err))
			}
			reg := registry()
			var k countingKind
			k.register(reg)
			p, err := engine.Open(context.Background(), plan, engine.Options{Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			if opened, _ := k.counts(); len(opened) != 0 {
				t.Errorf("Open opened %v, want nothing yet", opened)
			}
			if _, err := p.Run(context.Background(), tt.stages); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			opened, closed := k.counts()
			if !slices.Equal(opened, tt.opened) || !slices.Equal(closed, tt.opened) {
				t.Errorf("opened %v and closed %v, want %v both", opened, closed, tt.opened)
			}
		})
	}
}
