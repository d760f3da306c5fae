package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pipeline/connectors/kafka"
	"pipeline/engine"
	"pipeline/engine/port"
	"pipeline/engine/schema"
	"pipeline/engine/spec"
	"pipeline/engine/yamldoc"
)

// TestOversizedRowGoesToDeadLetters: on a Kafka topic, a valid row whose
// record is over the broker's size limit (a 5 MB field) goes to the dead
// letters with its file:line and a reason that gives its size, the limit
// and the option that raises it; the other rows are published and decided,
// and the run succeeds. When the dead letters go to a topic too, the
// letter, too big for it as well, goes there with its payload cut.
func TestOversizedRowGoesToDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		letters string // the spec's dead_letters
	}{
		{"to a table", `[db:dead_letters, "files:${OUT}/dead_letters.csv"]`},
		{"to a topic", `[bus:dead_letters, "files:${OUT}/dead_letters.csv"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oversizedRow(t, tc.letters)
		})
	}
}

// oversizedRow is TestOversizedRowGoesToDeadLetters with dead letters
// going where letters says.
func oversizedRow(t *testing.T, letters string) {
	in, out := t.TempDir(), t.TempDir()
	accounts, err := os.ReadFile("testdata/shop/in/accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(in, "accounts.csv"), string(accounts))
	big := strings.Repeat("x", 5<<20) // the issue had 50 MB: any size over the limit does
	writeTestFile(t, filepath.Join(in, "orders.csv"), "order_id,account_id,amount,at,status\n"+
		"1,2,4.86,2025-01-01 00:00:01,\n"+
		"2,1,2.03,2025-01-01 00:00:02,\n"+
		"3,1,0.38,2025-01-01 00:00:03,"+big+"\n"+
		"4,1,1.88,2025-01-01 00:00:04,\n"+
		"5,2,4.66,2025-01-01 00:00:05,\n")
	src, err := os.ReadFile("testdata/shop/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "bus: {kind: memory}", `bus: {kind: kafka, data_dir: "${KAFKA_DIR}"}`, 1)
	text = strings.Replace(text, `dead_letters: [db:dead_letters, "files:${OUT}/dead_letters.csv"]`, "dead_letters: "+letters, 1)
	text = strings.ReplaceAll(text, "rules.yaml", filepath.Join(mustAbs(t, "testdata/shop"), "rules.yaml"))
	path := filepath.Join(t.TempDir(), "spec.yaml")
	writeTestFile(t, path, text)
	reg := registry()
	reg.Register(kafka.Kind())
	plan, err := engine.Load(path, yamldoc.MapEnv(map[string]string{"IN": in, "OUT": out, "KAFKA_DIR": t.TempDir()}), reg)
	if err != nil {
		t.Fatal(yamldoc.Details(err))
	}
	ctx := context.Background()
	p, err := engine.Open(ctx, plan, engine.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, err := p.Run(ctx, nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	stats := map[string]string{}
	for _, s := range sum.Stages {
		stats[s.Name] = fmt.Sprintf("%d in, %d out, %d dead", s.Stats.In, s.Stats.Out, s.Stats.Dead)
	}
	if stats["publish"] != "5 in, 4 out, 1 dead" || stats["decide"] != "4 in, 4 out, 0 dead" {
		t.Errorf("publish %s, decide %s; want 5 in, 4 out, 1 dead and 4 in, 4 out, 0 dead", stats["publish"], stats["decide"])
	}
	if len(sum.DeadLetters) != 1 {
		t.Fatalf("dead letters %v, want 1", sum.DeadLetters)
	}
	d := sum.DeadLetters[0]
	wantSrc := filepath.Join(in, "orders.csv") + ":4"
	if d.Stage != "publish" || d.Source.String() != wantSrc {
		t.Errorf("dead letter of %s at %s, want publish at %s", d.Stage, d.Source, wantSrc)
	}
	for _, want := range []string{"record of 52429", " bytes (key and value) is over the limit of 1048576 bytes", "topic orders", "max_record_bytes"} {
		if !strings.Contains(d.Reason, want) {
			t.Errorf("reason %q does not say %q", d.Reason, want)
		}
	}
	if !strings.Contains(d.Payload, big) {
		t.Errorf("the dead letter's payload (%d bytes) does not hold the row", len(d.Payload))
	}
	t.Logf("%s [%s]: %s", d.Source, d.Stage, d.Reason)
	// The orders decided are the four others, exported.
	b, err := os.ReadFile(filepath.Join(out, "orders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		id, _, _ := strings.Cut(line, ",")
		ids = append(ids, id)
	}
	if got := strings.Join(ids, " "); got != "1 2 4 5" {
		t.Errorf("orders decided: %s, want 1 2 4 5", got)
	}
	if !strings.HasPrefix(letters, "[bus:") {
		return
	}
	topic, err := p.Topic(ctx, spec.Ref{Connector: "bus", Name: "dead_letters"},
		port.TopicSpec{Name: "dead_letters", Schema: schema.MustNew("dead_letters", engine.DeadLetterSchema.Columns, "id"), Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	var got []port.Message
	err = topic.Consume(ctx, port.ConsumeOptions{}, func(_ context.Context, ms []port.Message) error {
		got = append(got, ms...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Row == nil || got[0].Row[3] != d.Reason ||
		!strings.HasSuffix(got[0].Row[4].(string), fmt.Sprintf("... (%d bytes in all)", len(d.Payload))) {
		t.Errorf("the dead-letter topic holds %d letters (%.200v), want this one with its payload cut", len(got), got)
	}
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
