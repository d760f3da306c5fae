package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pipeline/connectors/memory"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/yamldoc"
)

// shopSpec opens spec (a file of testdata/shop) with its memory connectors
// all served by conn (a fresh one when nil) and its output folder at out.
func shopSpec(t *testing.T, spec string, conn *memory.Connector, out string) *engine.Pipeline {
	t.Helper()
	env := yamldoc.MapEnv(map[string]string{"OUT": out, "IN": mustAbs(t, "testdata/shop/in")})
	plan, err := engine.Load(spec, env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	opts := engine.Options{Registry: registry(), DryRun: true}
	if conn != nil {
		reg := registry()
		reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
		opts = engine.Options{Registry: reg}
	}
	p, err := engine.Open(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// stats returns each stage's figures as "in/out/dead/dup".
func stats(sum engine.Summary) map[string]string {
	m := map[string]string{}
	for _, s := range sum.Stages {
		m[s.Name] = fmt.Sprintf("%d/%d/%d/%d", s.Stats.In, s.Stats.Out, s.Stats.Dead, s.Stats.Dup)
	}
	return m
}

// TestRekeyDecidesAsPublished: the shop's orders produced unkeyed to an
// intake topic, in file order, and re-keyed by account onto the orders
// topic, are decided exactly as when they are published keyed: the same
// output files, the same figures. The dry-run runs the rekey stage's code
// on memory topics.
func TestRekeyDecidesAsPublished(t *testing.T) {
	ctx := context.Background()
	outDirect, outRekeyed := t.TempDir(), t.TempDir()
	direct, err := shopSpec(t, "testdata/shop/spec.yaml", nil, outDirect).Run(ctx, []string{"reset", "load", "publish", "decide", "export"})
	if err != nil {
		t.Fatal(err)
	}
	rekeyed, err := shopSpec(t, "testdata/shop/rekey.yaml", nil, outRekeyed).Run(ctx, []string{"reset", "load", "publish", "rekey", "decide", "export"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"orders.csv", "accounts.csv"} {
		a, err1 := os.ReadFile(filepath.Join(outDirect, f))
		b, err2 := os.ReadFile(filepath.Join(outRekeyed, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s differs between the keyed publish and the re-keyed intake (%v, %v)", f, err1, err2)
		}
	}
	d, r := stats(direct), stats(rekeyed)
	if r["rekey"] != "1003/1003/0/0" || r["decide"] != d["decide"] || d["decide"] != "1003/1000/3/0" {
		t.Errorf("figures: rekey %s, decide %s re-keyed and %s published keyed; want rekey 1003/1003/0/0 and decide 1003/1000/3/0 both",
			r["rekey"], r["decide"], d["decide"])
	}
}

// TestRekeyByLookup: a rekey stage keys the records by a lookup's column
// (orders by their account's owner); each record is keyed by its owner's
// text, the records of one owner keep their order, and a record whose
// lookup finds no row goes to the dead letters saying so.
func TestRekeyByLookup(t *testing.T) {
	ctx := context.Background()
	conn := memory.New()
	sum, err := shopSpec(t, "testdata/shop/rekey.yaml", conn, t.TempDir()).Run(ctx, []string{"reset", "load", "publish", "rekey", "by-owner"})
	if err != nil {
		t.Fatal(err)
	}
	if got := stats(sum)["by-owner"]; got != "1003/1001/2/0" {
		t.Errorf("by-owner: %s, want 1003 in, 1001 out, 2 dead (accounts 98 and 99 are missing)", got)
	}
	var reasons []string
	for _, d := range sum.DeadLetters {
		if d.Stage == "by-owner" {
			reasons = append(reasons, d.Reason)
		}
	}
	want := "lookup account: no row in accounts with id = 99 (from db:accounts[order.account_id])"
	if len(reasons) != 2 || (reasons[0] != want && reasons[1] != want) {
		t.Errorf("dead letters of by-owner: %q, want two, one of them %q", reasons, want)
	}
	owned := schema.MustNew("owned_orders", []schema.Column{
		{Name: "order_id", Type: schema.IntType}, {Name: "owner", Type: schema.StringType},
		{Name: "amount", Type: schema.MoneyType}, {Name: "note", Type: schema.Type{Kind: schema.String, Nullable: true}},
	}, "order_id")
	tp, err := conn.Topic(ctx, port.TopicSpec{Name: "orders_by_owner", Schema: owned, Key: "owner", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	n := 0
	err = tp.Consume(ctx, port.ConsumeOptions{}, func(_ context.Context, msgs []port.Message) error {
		for _, m := range msgs {
			n++
			owner := m.Row[1].(string)
			if string(m.Key) != owner || m.Key == nil {
				return fmt.Errorf("%s: key %q, want its owner %q", m.Source, m.Key, owner)
			}
			if id := m.Row[0].(int); id <= last[owner] {
				return fmt.Errorf("%s: order %d of %s after order %d", m.Source, id, owner, last[owner])
			} else {
				last[owner] = id
			}
			if m.Row[3] != nil {
				return fmt.Errorf("%s: note %v, want null (the orders have none)", m.Source, m.Row[3])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1001 || len(last) != 3 {
		t.Errorf("orders_by_owner holds %d records of %d owners, want 1001 of 3", n, len(last))
	}
}

// TestRekeyFollows: with Follow a rekey stage keeps consuming, re-keys
// records as they arrive, and ends cleanly when stopped.
func TestRekeyFollows(t *testing.T) {
	conn := memory.New()
	env := yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()})
	plan, err := engine.Load("testdata/shop/rekey.yaml", env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	p, err := engine.Open(context.Background(), plan, engine.Options{Registry: reg, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum engine.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := p.Run(ctx, []string{"rekey"})
		done <- result{sum, err}
	}()
	s := plan.Tables["orders"]
	intake, err := conn.Topic(context.Background(), port.TopicSpec{Name: "intake", Schema: s, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := conn.Topic(context.Background(), port.TopicSpec{Name: "orders", Schema: s, Key: "account_id", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for wave := 1; wave <= 3; wave++ {
		rows := make([]schema.Row, 5)
		for i := range rows {
			id := wave*10 + i
			rows[i] = schema.Row{id, 1 + id%3, decimalOf(t, "1.00"), at, nil, nil, nil}
		}
		if err := intake.Publish(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for orders.(*memory.Topic).Len() < 5*wave {
			select {
			case r := <-done:
				t.Fatalf("the following rekey stage ended: %v", r.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("wave %d: %d records re-keyed within 30 s, want %d", wave, orders.(*memory.Topic).Len(), 5*wave)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("a following rekey stage stopped: %v, want no error", r.err)
		}
		if got := stats(r.sum)["rekey"]; got != "15/15/0/0" {
			t.Errorf("rekey: %s, want 15/15/0/0", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the following rekey stage did not stop within 30 s of being told")
	}
}

// TestRekeyFollowsBesideLaterStages: with Follow, a rekey stage followed by
// other stages in the run follows in the background while they run, so a
// run of rekey and decide under Follow decides records as they reach the
// intake topic, and both end cleanly when the run is stopped.
func TestRekeyFollowsBesideLaterStages(t *testing.T) {
	conn := memory.New()
	ctx := context.Background()
	if _, err := shopSpec(t, "testdata/shop/rekey.yaml", conn, t.TempDir()).Run(ctx, []string{"reset", "load"}); err != nil {
		t.Fatal(err)
	}
	env := yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()})
	plan, err := engine.Load("testdata/shop/rekey.yaml", env, registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return conn, nil }})
	p, err := engine.Open(ctx, plan, engine.Options{Registry: reg, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		sum engine.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := p.Run(runCtx, []string{"rekey", "decide"})
		done <- result{sum, err}
	}()
	s := plan.Tables["orders"]
	intake, err := conn.Topic(ctx, port.TopicSpec{Name: "intake", Schema: s, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	decided, err := conn.Table(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for wave := 1; wave <= 3; wave++ {
		rows := make([]schema.Row, 4)
		for i := range rows {
			id := wave*10 + i
			rows[i] = schema.Row{id, 1 + id%2, decimalOf(t, "1.00"), at, nil, nil, nil}
		}
		if err := intake.Publish(ctx, rows); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for decided.(*memory.Table).Len() < 4*wave {
			select {
			case r := <-done:
				t.Fatalf("the following run ended: %v", r.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("wave %d: %d records decided within 30 s, want %d", wave, decided.(*memory.Table).Len(), 4*wave)
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("the following run stopped with %v, want no error", r.err)
		}
		st := stats(r.sum)
		if st["rekey"] != "12/12/0/0" || st["decide"] != "12/12/0/0" {
			t.Errorf("figures: rekey %s, decide %s; want 12/12/0/0 both", st["rekey"], st["decide"])
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the following run did not stop within 30 s of being told")
	}
}

// publishFails is a memory connector whose orders topic refuses every
// publish, as a broker that went away.
type publishFails struct{ *memory.Connector }

func (c publishFails) Topic(ctx context.Context, spec port.TopicSpec) (port.Topic, error) {
	t, err := c.Connector.Topic(ctx, spec)
	if err != nil || spec.Name != "orders" {
		return t, err
	}
	return refusingTopic{t}, nil
}

type refusingTopic struct{ port.Topic }

func (refusingTopic) Publish(context.Context, []schema.Row) error { return errors.New("broker gone") }

// TestRekeyFailureStopsFollowingRun: a rekey stage following in the
// background that fails stops the run, the stages after it included, and
// the run reports its error.
func TestRekeyFailureStopsFollowingRun(t *testing.T) {
	conn := memory.New()
	ctx := context.Background()
	if _, err := shopSpec(t, "testdata/shop/rekey.yaml", conn, t.TempDir()).Run(ctx, []string{"reset", "load"}); err != nil {
		t.Fatal(err)
	}
	plan, err := engine.Load("testdata/shop/rekey.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	reg := registry()
	reg.Register(port.Kind{Name: "memory", New: func(context.Context, port.Config) (port.Connector, error) { return publishFails{conn}, nil }})
	p, err := engine.Open(ctx, plan, engine.Options{Registry: reg, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, []string{"rekey", "decide"})
		done <- err
	}()
	intake, err := conn.Topic(ctx, port.TopicSpec{Name: "intake", Schema: plan.Tables["orders"], Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	row := schema.Row{1, 1, decimalOf(t, "1.00"), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), nil, nil, nil}
	if err := intake.Publish(ctx, []schema.Row{row}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var se *engine.StageError
		if !errors.As(err, &se) || se.Stage != "rekey" || !strings.Contains(err.Error(), "broker gone") {
			t.Fatalf("the run ended with %v, want the rekey stage's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run went on following for 30 s after its rekey stage failed")
	}
}

// TestStreamChecksRecordKeys: a stream stage reading a keyed topic decides
// the records that carry the key their key column gives (what Publish
// gives them) and sends the others, produced unkeyed or keyed by something
// else, to the dead letters with a reason that says how to produce them.
func TestStreamChecksRecordKeys(t *testing.T) {
	const (
		unkeyed = "record has no key, but topic orders is keyed by account_id: produce it keyed by account_id as text (%q), " +
			"or write unkeyed records to a topic that a rekey stage re-keys"
		wrong = "record key %q is not its account_id, but topic orders is keyed by account_id: produce it keyed by account_id as text (%q), " +
			"or write unkeyed records to a topic that a rekey stage re-keys"
	)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []schema.Row{ // order_id, account_id, amount, at, ...
		{1, 2, decimalOf(t, "1.00"), at, nil, nil, nil},
		{2, 2, decimalOf(t, "2.00"), at, nil, nil, nil},
		{3, 1, decimalOf(t, "3.00"), at, nil, nil, nil},
	}
	tests := []struct {
		key     string // the column the producing handle keys records by
		decided int
		reasons []string // by order id
	}{
		{"account_id", 3, nil},
		{"", 0, []string{fmt.Sprintf(unkeyed, "2"), fmt.Sprintf(unkeyed, "2"), fmt.Sprintf(unkeyed, "1")}},
		{"order_id", 1, []string{fmt.Sprintf(wrong, "1", "2"), "", fmt.Sprintf(wrong, "3", "1")}},
	}
	for _, tt := range tests {
		t.Run("key="+tt.key, func(t *testing.T) {
			ctx := context.Background()
			conn := memory.New()
			p := shopSpec(t, "testdata/shop/spec.yaml", conn, t.TempDir())
			if _, err := p.Run(ctx, []string{"reset", "load"}); err != nil {
				t.Fatal(err)
			}
			s := schema.MustNew("orders", rowsSchema(t).Columns, "order_id")
			tp, err := conn.Topic(ctx, port.TopicSpec{Name: "orders", Schema: s, Key: tt.key, Partitions: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := tp.Publish(ctx, rows); err != nil {
				t.Fatal(err)
			}
			sum, err := p.Run(ctx, []string{"decide"})
			if err != nil {
				t.Fatal(err)
			}
			if got := sum.Stages[0].Stats; got.Out != int64(tt.decided) || got.Dead != int64(3-tt.decided) {
				t.Errorf("decide: %d decided, %d dead letters; want %d and %d", got.Out, got.Dead, tt.decided, 3-tt.decided)
			}
			got := map[string]string{}
			for _, d := range sum.DeadLetters {
				got[d.Payload[:strings.IndexByte(d.Payload, ',')]] = d.Reason
			}
			for i, want := range tt.reasons {
				if g := got[fmt.Sprint(i+1)]; g != want {
					t.Errorf("order %d: dead letter %q, want %q", i+1, g, want)
				}
			}
		})
	}
}

// rowsSchema is the schema of the shop's orders as the spec declares it.
func rowsSchema(t *testing.T) *schema.Schema {
	t.Helper()
	plan, err := engine.Load("testdata/shop/spec.yaml", yamldoc.MapEnv(map[string]string{"OUT": t.TempDir()}), registry())
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	return plan.Tables["orders"]
}

// decimalOf parses a decimal for a money column.
func decimalOf(t *testing.T, s string) any {
	t.Helper()
	v, err := schema.MoneyType.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRekeyLint: what lint says of a rekey stage that cannot work, and of
// state kept by another key than the topic's, each at the line and column
// of the spec it is about, with the fix.
func TestRekeyLint(t *testing.T) {
	src, err := os.ReadFile("testdata/shop/rekey.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string // the edit of rekey.yaml
		at       string // the text of the line the error is on (the edited line's when empty)
		col      int
		want     string
	}{
		{"output topic without a key", "    to: bus:orders\n    batch_size: 100", "    to: bus:intake2\n    batch_size: 100\n", "    to: bus:intake2", 9,
			"rekey stage rekey: topic intake2 has no key column for key: to set; declare one (topics: intake2: {schema: orders, key: COLUMN})"},
		{"no key", "    key: order.account_id\n    to: bus:orders\n", "    to: bus:orders\n", "  - name: rekey", 5,
			"rekey stage rekey has no key: write the expression whose value keys each record on topic orders (its column account_id), e.g. key: order.account_id"},
		{"misspelt key", "key: order.account_id\n    to: bus:orders\n", "key: order.acount_id\n    to: bus:orders\n", "    key: order.acount_id", 16,
			"order has no field acount_id"},
		{"key of another type", "key: order.account_id\n    to: bus:orders\n", "key: order.at\n    to: bus:orders\n", "    key: order.at", 10,
			"_out.account_id is int but this expression gives time.Time"},
		{"a column it cannot fill", "columns: {order_id: int, owner: string, amount: money, note: \"string?\"}",
			"columns: {order_id: int, owner: string, amount: money, note: string}", "    to: bus:orders_by_owner", 9,
			"rekey stage by-owner: column note of topic orders_by_owner is not nullable, and order (topic orders) has no column note to copy it from " +
				"(a rekey stage copies every column by name and sets only the key column, owner)"},
		{"a column of another type", "columns: {order_id: int, owner: string, amount: money, note: \"string?\"}",
			"columns: {order_id: int, owner: string, amount: date, note: \"string?\"}", "    to: bus:orders_by_owner", 9,
			"rekey stage by-owner: column amount of topic orders_by_owner is date, and order.amount (topic orders) is money, which does not fit it"},
		{"the same topic", "    to: bus:orders\n    batch_size", "    to: bus:intake\n    batch_size", "    to: bus:intake", 9,
			"rekey stage rekey reads and writes topic bus:intake: write the re-keyed records to another topic"},
		{"a reader that cannot skip copies", "    to: db:orders\n    emit:\n", "    to: db:decisions\n    emit:\n      ref: order.order_id\n",
			"bus:orders\n    as: order\n    lookup: {account: \"db:accounts[order.account_id]\"}\n    rules", 11,
			"stream stage decide reads topic orders, which rekey stage rekey writes, but its records have no column ref, the key of its table decisions: " +
				"after a crash the rekey stage produces the records since its last commit again, and decide skips those copies by that id " +
				"(give the topic's schema the column, or key the table by a column the records have)"},
		{"state keyed by another column", "    save: [account]\n    to: db:orders", "    save: [owner]\n    to: db:orders", "    save: [owner]", 12,
			"save owner: this state is kept per account.owner, but topic orders is keyed by account_id: the records of one owner sit on several partitions, " +
				"decided by different consumers in no set order, so the state would follow partition order, not record order. " +
				"Re-key the topic by owner with a rekey stage (kind: rekey, from: bus:orders, key: account.owner, to: a topic keyed by owner), " +
				"stream from that topic, and keep the state by its records' owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := string(src)
			if !strings.Contains(spec, tt.old) {
				t.Fatalf("rekey.yaml has no %q", tt.old)
			}
			spec = strings.Replace(spec, tt.old, tt.new, 1)
			if tt.name == "output topic without a key" {
				spec = strings.Replace(spec, "topics:\n", "topics:\n  intake2: {schema: orders}\n", 1)
			}
			if tt.name == "a reader that cannot skip copies" {
				spec = strings.Replace(spec, "tables:\n", "tables:\n  decisions:\n    key: ref\n    columns: {ref: int, status: \"string?\", rule: \"string?\", used: \"money?\"}\n", 1)
			}
			if tt.name == "state keyed by another column" {
				spec = strings.Replace(spec, "lookup: {account: \"db:accounts[order.account_id]\"}\n    rules", "lookup: {account: \"db:accounts[order.account_id]\", owner: \"db:owners[account.owner]\"}\n    rules", 1)
				spec = strings.Replace(spec, "tables:\n", "tables:\n  owners:\n    key: owner\n    columns: {owner: string, seen: \"int?\"}\n", 1)
			}
			dir := t.TempDir()
			spec = strings.ReplaceAll(spec, "rules.yaml", filepath.Join(mustAbs(t, "testdata/shop"), "rules.yaml"))
			path := filepath.Join(dir, "spec.yaml")
			if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"OUT": dir}), registry())
			if err == nil {
				t.Fatal("lint passed")
			}
			at := strings.Index(spec, tt.at)
			if at < 0 {
				t.Fatalf("the edited spec has no %q", tt.at)
			}
			line := strings.Count(spec[:at], "\n") + 1
			want := fmt.Sprintf("%s:%d:%d: %s", path, line, tt.col, tt.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("lint says:\n%v\nwant it to say:\n%s", err, want)
			}
		})
	}
}
