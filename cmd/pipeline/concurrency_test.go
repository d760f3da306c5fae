package main

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Concurrency tests: stages that users run beside each other, as processes
// (issue 8): a validator following the topic all day while settlement runs
// on a schedule, settles started together, and two validators in a group
// of which one dies. Whatever runs beside what, a settled database must
// hold every transaction decided once and every approved amount posted
// once (ledger), and where the outcome does not depend on the timing,
// equal a run of the same stages one after another. Each test logs a
// "figures:" line for docs/RELIABILITY.md; FAULT_SEED=N replays its random
// points.

// TestConcurrencyFollowWithSettles: a validator runs with --follow while
// 40,000 transactions are published in 16 parts, one process after
// another, and 3 settles run at random points meanwhile. The validator is
// then stopped and a last settle run. Every transaction is decided once and
// settled; each card's balance is its initial balance plus its approved
// amounts and its pending balance equals its balance; no write ever raised
// a credit limit (a trigger records any); and each settle posted, scored
// and limited exactly as a replay of the same settles, one after another
// with nothing beside them, over the transactions it approved.
func TestConcurrencyFollowWithSettles(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const (
		n     = 40_000
		parts = 16
		group = "follow"
	)
	began := time.Now()
	rng := faultSeed(t)
	w := newWorld(t, n)
	dirs := w.parts(t, parts)
	d := w.database(t)
	d.stages(t, "load")
	d.keepInitial(t)
	watchLimits(t, d)

	// Settle while records stream in: once a random number of them, in
	// each of three ranges, are committed.
	var targets []int64
	for _, r := range [][2]float64{{0.1, 0.3}, {0.35, 0.55}, {0.6, 0.8}} {
		targets = append(targets, int64((r[0]+(r[1]-r[0])*rng.Float64())*n))
	}
	v := d.start(t, nil, "--stage", "validate", "--group", group, "--follow")
	var (
		pub, settle *proc
		next        int        // parts whose publish started
		approved    [][]int64  // ids approved by each settle, in order
		scores      []snapshot // customers after each settle
		seen        = map[int64]bool{}
		figs        []string
		startedAt   int64 // committed when the running settle started
		deadline    = time.Now().Add(3 * time.Minute)
	)
	// settled records what the settle that just ended approved.
	settled := func(p *proc, label string) stageStats {
		st := p.finish(t, time.Minute, "settle")
		var ids []int64
		for id := range d.approvedIDs(t) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		approved = append(approved, ids)
		scores = append(scores, takeSnapshot(t, d.DB, scoresQuery))
		if len(ids) > 0 && st.out == 0 {
			t.Errorf("%s: %d transactions approved, but the settle's summary says out 0: %s", label, len(ids), st)
		}
		return st
	}
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not done within 3 minutes: %d parts published, %d settles, %d committed", next, len(approved), committed(d.DB, group))
		}
		if v.exited() {
			t.Fatalf("the validator ended (%v) with --follow:\n%s", v.err, tail(v.out.String()))
		}
		settles := len(approved) // started so far
		if settle != nil {
			settles++
		}
		// Publishing runs one part ahead of the next settle, no more: each
		// settle starts while records are streaming in, with more to come.
		due := settles < len(targets) && targets[settles] < int64((next-1)*n/parts)
		if next < len(dirs) && !due && (pub == nil || pub.exited()) {
			if pub != nil {
				pub.finish(t, time.Minute, "publish")
			}
			pub = d.start(t, []string{"DATASET=" + dirs[next]}, "--stage", "publish")
			next++
		}
		c := committed(d.DB, group)
		if settle != nil && settle.exited() {
			k := len(approved) + 1
			st := settled(settle, fmt.Sprintf("settle %d", k))
			during := committed(d.DB, group) - startedAt
			t.Logf("settle %d: started at %d committed (target %d), approved %d, took %v; the validator committed %d records meanwhile; %s",
				k, startedAt, targets[k-1], len(approved[k-1]), settle.ended.Sub(settle.started).Round(time.Millisecond), during, st)
			figs = append(figs, fmt.Sprintf("settle %d at %d committed approved %d (%d committed meanwhile)", k, startedAt, len(approved[k-1]), during))
			settle = nil
		}
		if settle == nil && len(approved) < len(targets) && c >= targets[len(approved)] {
			if c >= n {
				t.Fatalf("every record was committed before settle %d started: it would not run while records stream in", len(approved)+1)
			}
			startedAt = c
			settle = d.start(t, nil, "--stage", "settle")
		}
		if next == len(dirs) && pub.exited() && settle == nil && len(approved) == len(targets) && c >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub.finish(t, time.Minute, "publish")
	took, err := v.interrupt(t)
	vst, _ := v.stats("validate")
	if err != nil {
		t.Errorf("the validator stopped by SIGINT: %s, want exit status 0", exitText(err))
	}
	t.Logf("validator stopped by SIGINT after %v: %s", took.Round(time.Millisecond), vst)
	st := settled(d.start(t, nil, "--stage", "settle"), "the last settle")
	t.Logf("the last settle, the validator stopped: approved %d; %s", len(approved[len(approved)-1]), st)
	figs = append(figs, fmt.Sprintf("last settle approved %d", len(approved[len(approved)-1])))

	at, decided := committedAndDecided(t, d.DB, group)
	if at != n || decided != n {
		t.Errorf("%d records committed and %d decided, want %d", at, decided, n)
	}
	l := d.ledger(t)
	t.Logf("ledger: %s", l)
	if !l.ok() {
		t.Errorf("the settled database breaks the ledger: %s", l)
	}
	rises := limitRises(t, d)
	r, replayed := w.replaySettles(t, d, approved)
	rescored := 0 // settles whose scores differ from their replay's
	for k := range scores {
		if lost, extra, changed, ex := diff(replayed[k], scores[k]); lost+extra+changed > 0 {
			rescored++
			t.Errorf("settle %d: %d customers' scores differ from the same settle replayed alone (changed twice, or from other balances or limits); first: %s",
				k+1, changed, strings.Join(ex, "; "))
		}
	}
	vs := compareSettled(t, r, d, false)
	t.Logf("compared with the settles replayed one after another: %s", vs)
	if !vs.zero() {
		t.Errorf("the settles did not post, score and limit as the same settles one after another: %s", vs)
	}
	t.Logf("figures: records %d in %d parts; %s; validator (--follow, SIGINT) %s; decided %d, %s; credit limits raised by %d writes; settles whose scores differ from their replay's %d of %d; against the replayed settles: %s; test %v",
		n, parts, strings.Join(figs, ", "), vst, decided, l, rises, rescored, len(scores), vs, time.Since(began).Round(time.Millisecond))
}

// watchLimits installs on d's cards a trigger that records, in table
// test_limit_rises, every write that raises a credit limit: a limit may
// only be cut.
func watchLimits(t *testing.T, d *testDB) {
	t.Helper()
	for _, q := range []string{
		"CREATE TABLE test_limit_rises (card_id BIGINT, old_limit DECIMAL(30,6), new_limit DECIMAL(30,6))",
		`CREATE TRIGGER test_limit_never_rises BEFORE UPDATE ON cards FOR EACH ROW
			IF NEW.credit_limit > OLD.credit_limit THEN
				INSERT INTO test_limit_rises VALUES (OLD.card_id, OLD.credit_limit, NEW.credit_limit);
			END IF`,
	} {
		if _, err := d.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// limitRises returns how many writes raised a credit limit, failing the
// test unless none did.
func limitRises(t *testing.T, d *testDB) int64 {
	t.Helper()
	n := d.count(t, "SELECT COUNT(*) FROM test_limit_rises")
	if n > 0 {
		cards := d.count(t, "SELECT COUNT(DISTINCT card_id) FROM test_limit_rises")
		var ex string
		d.QueryRow("SELECT CONCAT('card ', card_id, ': ', old_limit, ' -> ', new_limit) FROM test_limit_rises LIMIT 1").Scan(&ex)
		t.Errorf("%d writes raised the credit limit of %d cards (e.g. %s): a limit may only be cut", n, cards, ex)
	}
	return n
}

// TestConcurrencySettlesTogether: 50,000 transactions validated, then
// settled by 2 or 3 settle processes started together: at the same moment,
// and staggered by 0 to 0.6 s, in 5 rounds, each from the same validated
// state. Every process exits 0, exactly one of them settles (the others
// wait, then find nothing pending), and the database equals one settle of
// the same data.
func TestConcurrencySettlesTogether(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 50_000
	began := time.Now()
	rng := faultSeed(t)
	w := newWorld(t, n)
	pre := w.database(t)
	pre.stages(t, "reset", "load", "publish")
	pre.keepInitial(t)
	pre.stages(t, "validate")
	pending := pre.count(t, "SELECT COUNT(*) FROM transactions WHERE status = 'pending'")

	ref := w.clone(t, pre)
	once := ref.start(t, nil, "--stage", "settle")
	refStats := once.finish(t, time.Minute, "settle")
	want := takeSnapshot(t, ref.DB, settleQueries...)
	if l := ref.ledger(t); !l.ok() {
		t.Fatalf("one settle alone breaks the ledger: %s", l)
	}
	t.Logf("one settle of %d pending: %s, %v", pending, refStats, once.ended.Sub(once.started).Round(time.Millisecond))

	rounds := []struct {
		settles int
		stagger bool
	}{{2, false}, {3, false}, {2, true}, {3, true}, {3, true}}
	d := w.database(t)
	var figs []string
	bad := 0
	for i, round := range rounds {
		d.restore(t, pre)
		delays := make([]time.Duration, round.settles)
		if round.stagger {
			for j := 1; j < len(delays); j++ {
				delays[j] = time.Duration(rng.Float64() * float64(600*time.Millisecond))
			}
			slices.Sort(delays)
		}
		first := time.Now()
		procs := make([]*proc, len(delays))
		for j, delay := range delays {
			time.Sleep(time.Until(first.Add(delay)))
			procs[j] = d.start(t, nil, "--stage", "settle")
		}
		var (
			did      int // processes that settled something
			outcomes []string
			failed   []string
		)
		for j, p := range procs {
			err := p.wait(t, 2*time.Minute)
			st, ok := p.stats("settle")
			switch {
			case err != nil:
				failed = append(failed, fmt.Sprintf("settle %d: %s: %s", j+1, exitText(err), lastLine(p.out.String())))
				outcomes = append(outcomes, exitText(err))
			case !ok: // exited 0 saying nothing was due: did nothing
				outcomes = append(outcomes, fmt.Sprintf("exit 0 without a summary in %.1f s", p.ended.Sub(p.started).Seconds()))
			default:
				outcomes = append(outcomes, fmt.Sprintf("out %d in %.1f s", st.out, p.ended.Sub(p.started).Seconds()))
				if st.out > 0 {
					did++
				}
			}
		}
		got := takeSnapshot(t, d.DB, settleQueries...)
		l := d.ledger(t)
		vs := compareSettled(t, ref, d, true)
		label := fmt.Sprintf("round %d: %d settles started at %v (overlapping: %v)", i+1, round.settles, roundAll(delays), overlapping(procs))
		t.Logf("%s: %s; against one settle: %s; ledger: %s", label, strings.Join(outcomes, ", "), vs, l)
		if len(failed) > 0 {
			t.Errorf("%s: a settle failed: %s", label, strings.Join(failed, "; "))
		}
		if did != 1 {
			t.Errorf("%s: %d processes settled something, want exactly one (the others wait, then find nothing pending)", label, did)
		}
		if got.digest != want.digest || !vs.zero() || !l.ok() {
			bad++
			t.Errorf("%s: the database differs from one settle of the same data: %s; %s", label, vs, l)
		}
		figs = append(figs, fmt.Sprintf("round %d, %d settles at %v: %s", i+1, round.settles, roundAll(delays), strings.Join(outcomes, ", ")))
	}
	t.Logf("figures: transactions %d, pending %d; one settle %s; %s; rounds equal to one settle %d of %d; test %v",
		n, pending, refStats, strings.Join(figs, "; "), len(rounds)-bad, len(rounds), time.Since(began).Round(time.Millisecond))
}

// overlapping reports whether the lives of some two processes overlapped.
func overlapping(ps []*proc) bool {
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if a.started.Before(b.ended) && b.started.Before(a.ended) {
				return true
			}
		}
	}
	return false
}

// TestConcurrencyScaleOutKilled: 150,000 transactions validated by two
// processes in one consumer group (no --follow), started together; once
// the group has given each a share of the partitions, one of them is
// SIGKILLed at a random point: at random among those whose partitions
// still hold records to decide (the broker names each member by the
// address it connects from, which /proc maps to a process). The survivor must take over the
// dead one's partitions (after its session times out) and exit 0 only once
// every partition is decided; a settle then gives exactly the database of
// an uninterrupted validate and settle. (150,000 because a validator
// decides 50,000 records in about a second, and a group that did not give
// both a share at once needs about as long to rebalance: heartbeats come
// every second.)
func TestConcurrencyScaleOutKilled(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const (
		n     = 150_000
		group = "scale"
	)
	began := time.Now()
	rng := faultSeed(t)
	w := newWorld(t, n)
	ref := w.database(t)
	ref.stages(t, "reset", "load", "publish")
	ref.stages(t, "validate")
	wantValidated := validated(t, ref.DB)
	ref.stages(t, "settle")
	wantSettled := takeSnapshot(t, ref.DB, settleQueries...)

	d := w.database(t)
	d.stages(t, "load")
	d.keepInitial(t)
	// Two validators, started together; once the group has given each a
	// share of the partitions, one of them, at random, is killed at a
	// random point of what is left.
	adm := w.groupAdmin(t)
	ends := endOffsets(t, adm, "transactions")
	both := []*proc{
		d.start(t, nil, "--stage", "validate", "--group", group),
		d.start(t, nil, "--stage", "validate", "--group", group),
	}
	// ended fails the test when a validator has ended before the kill.
	ended := func(when string) {
		for i, p := range both {
			if !p.exited() {
				continue
			}
			if c := committed(d.DB, group); c < n {
				t.Fatalf("validator %d ended (%s) %s, with %d of %d records committed while the other was still at work: "+
					"a finite validator must wait until every partition is decided", i+1, exitText(p.err), when, c, n)
			}
			t.Fatalf("validator %d ended (%s) %s, with every record committed: nothing left to kill one in", i+1, exitText(p.err), when)
		}
	}
	var (
		held     []int // partitions per member
		sharedAt int64 // committed when the group was seen shared
	)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if m := work(adm, d.DB, group, "transactions", ends); len(m) == 2 && len(m[0].parts) > 0 && len(m[1].parts) > 0 {
			held, sharedAt = []int{len(m[0].parts), len(m[1].parts)}, committed(d.DB, group)
			break
		}
		ended("before the group gave both a share")
		if time.Now().After(deadline) {
			t.Fatalf("the group did not give both validators a share within a minute")
		}
	}
	shared := time.Since(both[0].started)
	// The victim, at random, is one whose partitions still hold records
	// to decide (a member may have finished its share while the other
	// has not), once a random number of what is left are committed:
	// early, so that both are likely at work.
	target := sharedAt + int64((0.02+0.28*rng.Float64())*float64(n-sharedAt))
	var (
		k       int
		holds   memberWork // the victim's partitions and what was left of them
		members []memberWork
	)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ended("before the kill")
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d records committed within a minute, or no validator left with work (%v)", target, members)
		}
		if committed(d.DB, group) < target {
			continue
		}
		if members = work(adm, d.DB, group, "transactions", ends); members == nil {
			continue
		}
		var (
			busy  []int        // validators with work
			their []memberWork // and what they hold
		)
		for i, p := range both {
			ports := localPorts(p.cmd.Process.Pid)
			for _, m := range members {
				if ports[m.port] && m.undecided >= 1000 {
					busy = append(busy, i)
					their = append(their, m)
				}
			}
		}
		if len(busy) > 0 {
			j := rng.IntN(len(busy))
			k, holds = busy[j], their[j]
			break
		}
	}
	victim, survivor := both[k], both[1-k]
	victim.kill()
	killedAt, _ := committedAndDecided(t, d.DB, group)
	if !signaled(victim.err) {
		t.Fatalf("validator %d was not killed by the signal: %v", k+1, victim.err)
	}
	if killedAt >= n {
		t.Fatalf("every record was committed before the kill")
	}
	t.Logf("the group gave the validators %v partitions %v after their start, at %d committed; validator %d SIGKILLed at %d committed (target %d), holding partitions %v with %d records undecided",
		held, shared.Round(time.Millisecond), sharedAt, k+1, killedAt, target, holds.parts, holds.undecided)
	err := survivor.wait(t, 2*time.Minute)
	sst, _ := survivor.stats("validate")
	if err != nil {
		t.Errorf("the surviving validator: %s: %s", exitText(err), lastLine(survivor.out.String()))
	}
	waited := survivor.ended.Sub(victim.ended)
	t.Logf("the survivor ended %v after the kill (%s): %s", waited.Round(time.Millisecond), exitText(err), sst)
	at, decided := committedAndDecided(t, d.DB, group)
	if at != n || decided != n {
		t.Errorf("when the survivor ended: %d records committed and %d decided, want %d: %d left undecided", at, decided, n, n-decided)
	}
	got := validated(t, d.DB)
	lost, extra, changed, ex := diff(wantValidated, got)
	if got.digest != wantValidated.digest {
		t.Errorf("validated state differs from an uninterrupted validate: lost %d, extra %d, differing %d; first: %s", lost, extra, changed, strings.Join(ex, "; "))
	}
	d.stages(t, "settle")
	settledState := takeSnapshot(t, d.DB, settleQueries...)
	l := d.ledger(t)
	slost, sextra, schanged, sex := diff(wantSettled, settledState)
	t.Logf("after the settle: against an uninterrupted validate and settle: lost %d, extra %d, differing %d; ledger: %s", slost, sextra, schanged, l)
	if settledState.digest != wantSettled.digest || !l.ok() {
		t.Errorf("settled after the survivor: the database differs from an uninterrupted run: lost %d, extra %d, differing %d; first: %s",
			slost, sextra, schanged, strings.Join(sex, "; "))
	}
	t.Logf("figures: records %d on 6 partitions, two validators in group %s sharing them %v at %d committed; one SIGKILLed at %d committed, holding %d partitions with %d records undecided; survivor ended %v after the kill (%s), %s; "+
		"decided %d, lost %d, differing %d; settled: differing %d from the uninterrupted run; test %v",
		n, group, held, sharedAt, killedAt, len(holds.parts), holds.undecided, waited.Round(time.Millisecond), exitText(err), sst, decided, lost, changed, schanged, time.Since(began).Round(time.Millisecond))
}

// signaled reports whether err is the end of a process killed by a signal.
func signaled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
