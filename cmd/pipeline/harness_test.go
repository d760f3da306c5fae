package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The setup the process tests share, so that a scenario states only what
// it does: generated data and a broker (world), fresh databases with the
// environment of the processes that use them (testDB), and the checks a
// settled database must pass (ledger, compareSettled).

// world is one test's generated data and `pipeline broker`, and the
// environment every pipeline process of the test starts from.
type world struct {
	n      int      // transactions generated
	data   string   // folder of the generated CSV files
	broker string   // address of the broker
	base   []string // KAFKA_BROKERS, DATASET and RESULTS
	spec   string   // the spec the processes run (bankingSpec unless set)
}

// newWorld generates n transactions (dataset) and starts a broker with the
// banking spec's topics, empty.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	return worldOn(t, n, dataset(t, n), startBroker(t))
}

// worldOn is the world of n transactions generated in data, with the
// broker at address broker.
func worldOn(t *testing.T, n int, data, broker string) *world {
	return &world{n: n, data: data, broker: broker, spec: bankingSpec,
		base: []string{"KAFKA_BROKERS=" + broker, "DATASET=" + data, "RESULTS=" + t.TempDir()}}
}

// testDB is a fresh database on the shared server, dropped after the test,
// and the environment of the pipeline processes that use it.
type testDB struct {
	*sql.DB
	name string
	dsn  string
	env  []string
	spec string // the spec its processes run
}

// database returns a fresh database; the pipeline creates it on first use
// (create makes it at once).
func (w *world) database(t *testing.T) *testDB {
	t.Helper()
	dsn, db := newDatabase(t)
	return &testDB{DB: db, name: dbName(dsn), dsn: dsn, env: append(w.base[:len(w.base):len(w.base)], "MYSQL_DSN="+dsn), spec: w.spec}
}

// databaseAt returns the database of dsn, which the caller made (on a
// server of its own), with the environment of the processes that use it.
func (w *world) databaseAt(t *testing.T, dsn string) *testDB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &testDB{DB: db, name: dbName(dsn), dsn: dsn, env: append(w.base[:len(w.base):len(w.base)], "MYSQL_DSN="+dsn), spec: w.spec}
}

// validator starts the validate stage against d in consumer group group,
// with more arguments (--follow).
func (d *testDB) validator(t *testing.T, group string, more ...string) *proc {
	t.Helper()
	return d.start(t, nil, append([]string{"--stage", "validate", "--group", group}, more...)...)
}

// rootDB opens the shared server without a database, closed after the test.
func rootDB(t *testing.T) *sql.DB {
	t.Helper()
	root, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// clone returns a fresh database holding a copy of every table of d.
func (w *world) clone(t *testing.T, d *testDB) *testDB {
	t.Helper()
	c := w.database(t)
	c.restore(t, d)
	return c
}

// restore replaces every table of d with a copy of from's.
func (d *testDB) restore(t *testing.T, from *testDB) {
	t.Helper()
	root := rootDB(t)
	if _, err := root.Exec("CREATE DATABASE IF NOT EXISTS `" + d.name + "`"); err != nil {
		t.Fatal(err)
	}
	copyDatabase(t, root, from.name, d.name)
}

// stages runs the named stages in one process, which must succeed.
func (d *testDB) stages(t *testing.T, stages ...string) {
	t.Helper()
	args := []string{"run", d.specPath()}
	for _, s := range stages {
		args = append(args, "--stage", s)
	}
	runWait(t, d.env, args...)
}

// start starts `pipeline run SPEC args...` against d, with extra added to
// its environment (a later value of a variable wins).
func (d *testDB) start(t *testing.T, extra []string, args ...string) *proc {
	t.Helper()
	env := append(d.env[:len(d.env):len(d.env)], extra...)
	return start(t, env, append([]string{"run", d.specPath()}, args...)...)
}

// specPath is the spec d's processes run: bankingSpec unless set.
func (d *testDB) specPath() string {
	if d.spec == "" {
		return bankingSpec
	}
	return d.spec
}

// count runs a query that returns one number.
func (d *testDB) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

// keepInitial copies each card's balance and limit, as loaded, into table
// test_initial_cards, which ledger checks the settled balances against.
// Call it after load and before anything posts.
func (d *testDB) keepInitial(t *testing.T) {
	t.Helper()
	for _, q := range []string{
		"DROP TABLE IF EXISTS test_initial_cards",
		"CREATE TABLE test_initial_cards (PRIMARY KEY (card_id)) AS SELECT card_id, credit_limit, current_balance FROM cards",
	} {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// ledger is what every settled database must show, whatever ran beside
// what: each card's balance is its initial balance plus the sum of its
// approved amounts, nothing is left pending, a card's pending balance
// (when set) is its balance, and no credit limit is above its initial one.
type ledger struct {
	cards, wrong      int64  // cards, and those whose balance is not initial + approved
	approved, missing string // the approved amounts, and (initial + approved - balance) summed over the cards
	decided, pending  int64  // transactions decided, and still pending
	pendingOff        int64  // cards whose pending_balance is set and differs from current_balance
	limitsUp          int64  // cards whose credit limit is above the initial one
}

// ledger reads d's ledger (keepInitial must have run on d or on the
// database d was copied from).
func (d *testDB) ledger(t *testing.T) ledger {
	t.Helper()
	var l ledger
	err := d.QueryRow(`SELECT COUNT(*), COALESCE(SUM(c.current_balance <> i.current_balance + COALESCE(a.approved, 0)), 0),
		COALESCE(SUM(a.approved), 0), COALESCE(SUM(i.current_balance + COALESCE(a.approved, 0) - c.current_balance), 0),
		COALESCE(SUM(c.pending_balance IS NOT NULL AND c.pending_balance <> c.current_balance), 0),
		COALESCE(SUM(c.credit_limit > i.credit_limit), 0)
		FROM cards c JOIN test_initial_cards i ON i.card_id = c.card_id
		LEFT JOIN (SELECT card_id, SUM(amount) AS approved FROM transactions WHERE status = 'approved' GROUP BY card_id) a ON a.card_id = c.card_id`).
		Scan(&l.cards, &l.wrong, &l.approved, &l.missing, &l.pendingOff, &l.limitsUp)
	if err != nil {
		t.Fatalf("ledger of %s: %v", d.name, err)
	}
	l.decided = d.count(t, "SELECT COUNT(*) FROM transactions")
	l.pending = d.count(t, "SELECT COUNT(*) FROM transactions WHERE status = 'pending'")
	if all := d.count(t, "SELECT COUNT(*) FROM cards"); all != l.cards {
		t.Fatalf("ledger of %s: %d cards, %d of them in test_initial_cards", d.name, all, l.cards)
	}
	return l
}

// ok reports whether every invariant of the ledger holds.
func (l ledger) ok() bool {
	return l.wrong == 0 && l.pending == 0 && l.pendingOff == 0 && l.limitsUp == 0
}

func (l ledger) String() string {
	return fmt.Sprintf("balance = initial + approved on %d of %d cards (%s of %s approved missing from balances); %d of %d transactions pending; "+
		"pending_balance set and not the balance on %d cards; limit above the initial one on %d cards",
		l.cards-l.wrong, l.cards, l.missing, l.approved, l.pending, l.decided, l.pendingOff, l.limitsUp)
}

// settledDiff counts what differs between two settled databases, column
// by column: what a lost posting or a double adjustment changes.
type settledDiff struct {
	balances, limits, pendings int64 // cards
	scores, changes            int64 // customers: credit_score, score_change
	statuses, missing          int64 // transactions with another status, or absent from got
	withPending                bool  // whether pending balances were compared
}

// compareSettled compares the settled columns of got with want's, and the
// cards' pending balances too when pending is true (not against a replay
// of settles, which has no stream's running balances).
func compareSettled(t *testing.T, want, got *testDB, pending bool) settledDiff {
	t.Helper()
	s := settledDiff{withPending: pending}
	w, g := "`"+want.name+"`", "`"+got.name+"`"
	err := got.QueryRow(`SELECT COALESCE(SUM(NOT (a.current_balance <=> b.current_balance)), 0), COALESCE(SUM(NOT (a.credit_limit <=> b.credit_limit)), 0),
		COALESCE(SUM(NOT (a.pending_balance <=> b.pending_balance)), 0)
		FROM `+w+`.cards a LEFT JOIN `+g+`.cards b ON b.card_id = a.card_id`).Scan(&s.balances, &s.limits, &s.pendings)
	if err != nil {
		t.Fatal(err)
	}
	err = got.QueryRow(`SELECT COALESCE(SUM(NOT (a.credit_score <=> b.credit_score)), 0), COALESCE(SUM(NOT (a.score_change <=> b.score_change)), 0)
		FROM `+w+`.customers a LEFT JOIN `+g+`.customers b ON b.customer_id = a.customer_id`).Scan(&s.scores, &s.changes)
	if err != nil {
		t.Fatal(err)
	}
	err = got.QueryRow(`SELECT COALESCE(SUM(b.transaction_id IS NOT NULL AND NOT (a.status <=> b.status)), 0), COALESCE(SUM(b.transaction_id IS NULL), 0)
		FROM `+w+`.transactions a LEFT JOIN `+g+`.transactions b ON b.transaction_id = a.transaction_id`).Scan(&s.statuses, &s.missing)
	if err != nil {
		t.Fatal(err)
	}
	if !pending {
		s.pendings = 0
	}
	return s
}

// zero reports whether nothing compared differs.
func (s settledDiff) zero() bool {
	return s.balances == 0 && s.limits == 0 && s.pendings == 0 && s.scores == 0 && s.changes == 0 && s.statuses == 0 && s.missing == 0
}

func (s settledDiff) String() string {
	pending := ""
	if s.withPending {
		pending = fmt.Sprintf(", pending balance %d", s.pendings)
	}
	return fmt.Sprintf("cards with another balance %d, limit %d%s; customers with another score %d, score change %d; transactions with another status %d, missing %d",
		s.balances, s.limits, pending, s.scores, s.changes, s.statuses, s.missing)
}

// parts splits the world's transactions.csv, in file order, into k
// folders of about equal parts, each a transactions.csv with the header:
// publish stages over them (DATASET=folder) put the topic's records on it
// in k steps.
func (w *world) parts(t *testing.T, k int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.data, "transactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	header, rows := lines[0], lines[1:]
	if len(rows) != w.n {
		t.Fatalf("transactions.csv has %d lines after its header, want %d (a field with a line break?)", len(rows), w.n)
	}
	dirs := make([]string, k)
	for i := range dirs {
		dirs[i] = t.TempDir()
		part := rows[i*len(rows)/k : (i+1)*len(rows)/k]
		if err := os.WriteFile(filepath.Join(dirs[i], "transactions.csv"), []byte(header+strings.Join(part, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// approvedIDs returns the ids of the transactions approved in d.
func (d *testDB) approvedIDs(t *testing.T) map[int64]bool {
	t.Helper()
	rows, err := d.Query("SELECT transaction_id FROM transactions WHERE status = 'approved'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// scoresQuery reads what a settle writes to customers, which only
// settles write.
const scoresQuery = "SELECT customer_id, credit_score, score_change FROM customers ORDER BY customer_id"

// replaySettles replays the settles of a run one after another, with
// nothing beside them: in a fresh database loaded with the world's data
// and holding run's decisions, it makes pending exactly the transactions
// each settle of the run approved (approved[i], in order) and settles
// them. Each settle of the run should have posted, scored and limited as
// its replay does. It returns the database and the customers' scores
// after each settle (scoresQuery).
func (w *world) replaySettles(t *testing.T, run *testDB, approved [][]int64) (*testDB, []snapshot) {
	t.Helper()
	r := w.database(t)
	r.stages(t, "load")
	for _, q := range []string{
		"DROP TABLE IF EXISTS transactions",
		"CREATE TABLE transactions LIKE `" + run.name + "`.transactions",
		"INSERT INTO transactions SELECT * FROM `" + run.name + "`.transactions",
		"UPDATE transactions SET status = 'replay' WHERE status = 'approved'",
	} {
		if _, err := r.Exec(q); err != nil {
			t.Fatalf("replay: %s: %v", q, err)
		}
	}
	var scores []snapshot
	for i, ids := range approved {
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 5000)]
			ids = ids[len(chunk):]
			q := "UPDATE transactions SET status = 'pending' WHERE status = 'replay' AND transaction_id IN (" +
				strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + ")"
			args := make([]any, len(chunk))
			for j, id := range chunk {
				args[j] = id
			}
			res, err := r.Exec(q, args...)
			if err != nil {
				t.Fatalf("replay of settle %d: %v", i+1, err)
			}
			if n, _ := res.RowsAffected(); n != int64(len(chunk)) {
				t.Fatalf("replay of settle %d: %d of %d transactions it approved were approved by another settle too", i+1, len(chunk)-int(n), len(chunk))
			}
		}
		r.start(t, nil, "--stage", "settle").finish(t, time.Minute, "settle")
		scores = append(scores, takeSnapshot(t, r.DB, scoresQuery))
	}
	return r, scores
}

// groupAdmin returns an admin client of the world's broker, closed after
// the test, to see which members of a consumer group hold which partitions.
func (w *world) groupAdmin(t *testing.T) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.broker))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// endOffsets returns the end offset of each partition of topic.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	listed, err := adm.ListEndOffsets(context.Background(), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends
}

// memberWork is what one member of a consumer group holds: its
// partitions, and the records of them not yet committed.
type memberWork struct {
	port      int // the local port of its connection to the broker
	parts     []int32
	undecided int64
}

// work returns, once group is stable, each member's partitions of topic
// and how many of their records (below ends) group has not committed in
// db; nil while the group is rebalancing or cannot be described.
func work(adm *kadm.Client, db *sql.DB, group, topic string, ends map[int32]int64) []memberWork {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	groups, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	g, ok := groups[group]
	if !ok || g.Err != nil || g.State != "Stable" {
		return nil
	}
	next := map[int32]int64{}
	rows, err := db.QueryContext(ctx, "SELECT part, next_offset FROM _pipeline_offsets WHERE group_name = ? AND topic = ?", group, topic)
	if err == nil {
		for rows.Next() {
			var p int32
			var o int64
			if rows.Scan(&p, &o) == nil {
				next[p] = o
			}
		}
		rows.Close()
	}
	var out []memberWork
	for _, m := range g.Members {
		w := memberWork{}
		if _, port, err := net.SplitHostPort(strings.TrimPrefix(m.ClientHost, "/")); err == nil {
			w.port, _ = strconv.Atoi(port)
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				if tp.Topic != topic {
					continue
				}
				for _, p := range tp.Partitions {
					w.parts = append(w.parts, p)
					w.undecided += max(0, ends[p]-next[p])
				}
			}
		}
		slices.Sort(w.parts)
		out = append(out, w)
	}
	return out
}

// localPorts returns the local TCP ports of the sockets process pid has
// open, read from /proc (Linux): which group member a process is, as the
// broker sees the address a member connects from.
func localPorts(pid int) map[int]bool {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text()) // sl local_address rem_address st ... uid timeout inode
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			if i := strings.LastIndexByte(fields[1], ':'); i >= 0 {
				if port, err := strconv.ParseInt(fields[1][i+1:], 16, 32); err == nil {
					ports[int(port)] = true
				}
			}
		}
		f.Close()
	}
	return ports
}

// long marks a fault or concurrency test that takes tens of seconds:
// `go test -short ./...` leaves it out, so the quick suite stays under two
// minutes; CI (.ci/run) and the README's test command run it.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a long fault or concurrency test: run without -short")
	}
}
