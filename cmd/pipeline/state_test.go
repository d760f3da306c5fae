package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pipeline/connectors/kafka"
	"pipeline/engine"
	"pipeline/engine/yamldoc"
)

// These tests run stages of configs/banking.yaml in process, side by side,
// against MariaDB and a kfake broker: a validator following the topic while
// settlement runs beside it, and several settlements at once. What each
// stage owns and how a conflict is detected: docs/ARCHITECTURE.md.

// stateEnv is what the banking spec reads from the environment in these tests.
type stateEnv map[string]string

// with returns a copy of e with more variables.
func (e stateEnv) with(kv ...string) stateEnv {
	out := stateEnv{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// runStages runs the named stages of the banking spec in process, as
// `pipeline run --stage ...` would, logging to log when it is set.
func runStages(ctx context.Context, env stateEnv, follow bool, log *slog.Logger, stages ...string) (engine.Summary, error) {
	plan, err := engine.Load(bankingSpec, yamldoc.MapEnv(env), registry())
	if err != nil {
		return engine.Summary{}, errors.New(yamldoc.Details(err))
	}
	p, err := engine.Open(ctx, plan, engine.Options{Registry: registry(), Follow: follow, Log: log})
	if err != nil {
		return engine.Summary{}, err
	}
	defer p.Close()
	return p.Run(ctx, stages)
}

func mustStages(t *testing.T, env stateEnv, stages ...string) engine.Summary {
	t.Helper()
	sum, err := runStages(context.Background(), env, false, nil, stages...)
	if err != nil {
		t.Fatalf("stages %s: %v", strings.Join(stages, ", "), err)
	}
	return sum
}

// inProcessBroker runs an embedded broker for the test on a free port.
func inProcessBroker(t *testing.T) string {
	t.Helper()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kafka.RunBroker(ctx, kafka.BrokerOptions{Addr: addr, DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	return addr
}

// splitDataset copies dataset_16 into parts folders whose transactions.csv
// hold consecutive slices of its transactions (the reference files in each).
func splitDataset(t *testing.T, parts int) []string {
	t.Helper()
	src := "../../dataset_16"
	data, err := os.ReadFile(filepath.Join(src, "transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(data), "\r\n")+"\r\n", "\r\n")
	lines = lines[:len(lines)-1] // after the last CRLF
	header, rows := lines[0], lines[1:]
	var dirs []string
	for i := range parts {
		dir := t.TempDir()
		for _, f := range []string{"customers.csv", "cards.csv", "credit_card_types.csv"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, f), string(b))
		}
		lo, hi := i*len(rows)/parts, (i+1)*len(rows)/parts
		writeFile(t, filepath.Join(dir, "transactions.csv"), header+strings.Join(rows[lo:hi], ""))
		dirs = append(dirs, dir)
	}
	return dirs
}

// waitDecided waits until the transactions table holds n rows.
func waitDecided(t *testing.T, db *sql.DB, n int, follower <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var got int
		if err := db.QueryRow("SELECT COUNT(*) FROM transactions").Scan(&got); err != nil && !strings.Contains(err.Error(), "doesn't exist") {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		select {
		case err := <-follower:
			t.Fatalf("the validator ended (%v) with %d of %d transactions decided", err, got, n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions decided after a minute", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// balancesPosted checks that every card's balance is its balance in
// cards.csv plus its approved amounts, and that nothing is left pending.
func balancesPosted(t *testing.T, db *sql.DB) {
	t.Helper()
	var pending int
	if err := db.QueryRow("SELECT COUNT(*) FROM transactions WHERE status = 'pending'").Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d transactions still pending after the last settle", pending)
	}
	initial := map[string]string{}
	for _, r := range readCSV(t, "../../dataset_16/cards.csv")[1:] {
		initial[r[0]] = r[6]
	}
	rows, err := db.Query(`SELECT c.card_id, c.current_balance, COALESCE(SUM(t.amount), 0), c.pending_balance
		FROM cards c LEFT JOIN transactions t ON t.card_id = c.card_id AND t.status = 'approved'
		GROUP BY c.card_id, c.current_balance, c.pending_balance ORDER BY c.card_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	bad := 0
	for rows.Next() {
		var id, balance, approved string
		var pendingBalance sql.NullString
		if err := rows.Scan(&id, &balance, &approved, &pendingBalance); err != nil {
			t.Fatal(err)
		}
		var want string
		if err := db.QueryRow("SELECT CAST(? + ? AS DECIMAL(20,2))", initial[id], approved).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if balance != want || (pendingBalance.Valid && pendingBalance.String != balance) {
			if bad++; bad <= 5 {
				t.Errorf("card %s: balance %s, pending balance %v; want %s (initial %s + approved %s) for both", id, balance, pendingBalance, want, initial[id], approved)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if bad > 5 {
		t.Errorf("... %d cards in all", bad)
	}
}

// TestValidatorFollowsAcrossSettles: validate follows the topic in one
// process while settle runs twice beside it, with records published before,
// between and after. The follower cached the cards before the first settle:
// its next commits must find that the cards changed and decide again on the
// settled balances and limits, never write back what it cached. MySQL must
// end as when the validator is stopped before each settle.
func TestValidatorFollowsAcrossSettles(t *testing.T) {
	long(t)
	parts := splitDataset(t, 2)
	broker := inProcessBroker(t)
	base := stateEnv{"KAFKA_BROKERS": broker, "RESULTS": t.TempDir()}
	n := make([]int, len(parts))
	for i, dir := range parts {
		n[i] = len(readCSV(t, filepath.Join(dir, "transactions.csv"))) - 1
	}

	// The reference: the validator runs to the end of the topic, then stops, before each settle.
	refDSN, refDB := newDatabase(t)
	ref := base.with("MYSQL_DSN", refDSN)
	mustStages(t, ref.with("DATASET", parts[0]), "reset", "load", "publish", "validate", "settle")
	mustStages(t, ref.with("DATASET", parts[1]), "publish", "validate", "settle")
	want := takeSnapshot(t, refDB, settleQueries...)
	balancesPosted(t, refDB)

	dsn, db := newDatabase(t)
	env := base.with("MYSQL_DSN", dsn)
	mustStages(t, env.with("DATASET", parts[0]), "reset", "load", "publish")
	var log lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	follower := make(chan error, 1)
	go func() {
		_, err := runStages(ctx, env, true, slog.New(slog.NewTextHandler(&log, nil)), "validate")
		follower <- err
	}()
	waitDecided(t, db, n[0], follower)
	mustStages(t, env, "settle")
	mustStages(t, env.with("DATASET", parts[1]), "publish")
	waitDecided(t, db, n[0]+n[1], follower)
	stop()
	if err := <-follower; err != nil {
		t.Fatalf("the validator: %v", err)
	}
	mustStages(t, env, "settle")

	got := takeSnapshot(t, db, settleQueries...)
	if lost, extra, changed, examples := diff(want, got); lost+extra+changed > 0 {
		t.Errorf("MySQL differs from the reference: %d rows lost, %d extra, %d changed; e.g.\n%s", lost, extra, changed, strings.Join(examples, "\n"))
	}
	balancesPosted(t, db)
	if !strings.Contains(log.String(), "deciding the records again") {
		t.Errorf("the validator never found the cards changed by the settle (the conflict path was not taken); its log:\n%s", log.String())
	}
}

// TestSecondSettleWaits: a settle that starts while another holds the
// stage's lock waits for it, then runs; one that finds nothing pending does
// nothing. Several settles at once leave MySQL as one settle does.
func TestSecondSettleWaits(t *testing.T) {
	long(t)
	broker := inProcessBroker(t)
	base := stateEnv{"KAFKA_BROKERS": broker, "RESULTS": t.TempDir()}

	refDSN, refDB := newDatabase(t)
	mustStages(t, base.with("MYSQL_DSN", refDSN), "reset", "load", "publish", "validate", "settle")
	want := takeSnapshot(t, refDB, settleQueries...)

	dsn, db := newDatabase(t)
	env := base.with("MYSQL_DSN", dsn)
	mustStages(t, env, "reset", "load", "publish", "validate")

	// Hold the settle stage's lock as another process would.
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lock := "pipeline:" + dbName(dsn) + ":stage settle"
	var got int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", lock).Scan(&got); err != nil || got != 1 {
		t.Fatalf("GET_LOCK: %v, %d", err, got)
	}
	var log lockedBuffer
	const settles = 3
	errs := make(chan error, settles)
	for range settles {
		go func() {
			_, err := runStages(ctx, env, false, slog.New(slog.NewTextHandler(&log, nil)), "settle")
			errs <- err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(log.String(), "another run of this stage is running") < settles {
		if time.Now().After(deadline) {
			t.Fatalf("the settles did not all wait for the lock; log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var approved int
	if err := db.QueryRow("SELECT COUNT(*) FROM transactions WHERE status = 'approved'").Scan(&approved); err != nil || approved != 0 {
		t.Fatalf("%d approved while the lock is held (%v), want 0", approved, err)
	}
	if _, err := conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", lock); err != nil {
		t.Fatal(err)
	}
	for range settles {
		if err := <-errs; err != nil {
			t.Errorf("settle: %v", err)
		}
	}
	if n := strings.Count(log.String(), "nothing to do: no row meets only_if"); n != settles-1 {
		t.Errorf("%d settles found nothing to do, want %d; log:\n%s", n, settles-1, log.String())
	}
	after := takeSnapshot(t, db, settleQueries...)
	if lost, extra, changed, examples := diff(want, after); lost+extra+changed > 0 {
		t.Errorf("MySQL after %d settles differs from one settle: %d rows lost, %d extra, %d changed; e.g.\n%s",
			settles, lost, extra, changed, strings.Join(examples, "\n"))
	}
	balancesPosted(t, db)
	if t.Failed() {
		fmt.Println(log.String())
	}
}
