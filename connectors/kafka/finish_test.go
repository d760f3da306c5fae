package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/port"
)

// testSession is the consumer group session timeout of the tests below: the
// broker is told to accept it, so that a member that dies is dropped sooner
// than after the 6 s brokers require by default.
const testSession = 2 * time.Second

// newShortSessionConnector returns a connector with an embedded broker whose
// groups accept testSession, with members using it, logging to log; it is
// closed when the test ends.
func newShortSessionConnector(t *testing.T, log *slog.Logger) *Connector {
	t.Helper()
	c, err := New(context.Background(), Options{DataDir: t.TempDir(), SessionTimeout: testSession, Log: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	min := kadm.StringPtr(fmt.Sprint(testSession.Milliseconds() / 2))
	resp, err := c.admin.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "group.min.session.timeout.ms", Value: min}})
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("lowering the broker's group.min.session.timeout.ms: %v", err)
	}
	return c
}

// member is a raw group member on tp, static (with an instance ID) so that
// closing its client does not leave the group: closed, it is a process
// killed with SIGKILL, whose partitions stay assigned to it until its
// session times out.
type member struct {
	t    *testing.T
	tp   *Topic
	cl   *kgo.Client
	id   string
	once sync.Once
}

// joinMember joins tp's group as the static member id. With st, it starts
// each partition at the offset st holds, as ConsumeOptions.Positions does.
func joinMember(t *testing.T, tp *Topic, group, id string, st *offsetStore) *member {
	t.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(tp.conn.brokers...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(tp.name),
		kgo.InstanceID(id),
		kgo.SessionTimeout(testSession),
		kgo.HeartbeatInterval(testSession / 6),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if st != nil {
		opts = append(opts, kgo.AdjustFetchOffsetsFn(func(ctx context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			var ps []int32
			for p := range offs[tp.name] {
				ps = append(ps, p)
			}
			pos, _ := st.positions(ctx, ps)
			for _, p := range ps {
				if o, ok := pos[p]; ok {
					offs[tp.name][p] = kgo.NewOffset().At(o)
				} else {
					offs[tp.name][p] = kgo.NewOffset().AtStart()
				}
			}
			return offs, nil
		}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, tp: tp, cl: cl, id: id}
	t.Cleanup(m.kill)
	return m
}

// decide polls once and decides up to n of the records it gets: into st, or
// else into col, committing their offsets to the group.
func (m *member) decide(n int, st *offsetStore, col *collector) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) == 0 {
		f := m.cl.PollRecords(ctx, n)
		if err := f.Err0(); err != nil {
			m.t.Fatalf("member %s: poll: %v", m.id, err)
		}
		recs = f.Records()
	}
	msgs := make([]port.Message, len(recs))
	for i, r := range recs {
		row, err := m.tp.codec.decode(r.Value)
		msgs[i] = port.Message{Source: port.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, Row: row, Payload: r.Value, Err: err}
	}
	if st != nil {
		if err := st.apply(msgs); err != nil {
			m.t.Fatalf("member %s: %v", m.id, err)
		}
		return
	}
	if err := col.handle(m.t)(ctx, msgs); err != nil {
		m.t.Fatal(err)
	}
	if err := m.cl.CommitRecords(ctx, recs...); err != nil {
		m.t.Fatalf("member %s: commit: %v", m.id, err)
	}
}

// kill closes the member's client without leaving the group.
func (m *member) kill() { m.once.Do(m.cl.Close) }

// assignment describes tp's group once it is stable: the partitions each
// member holds, by instance ID, or member ID for members without one.
func assignment(ctx context.Context, tp *Topic, group string) (map[string][]int32, bool) {
	groups, err := tp.conn.admin.DescribeGroups(ctx, group)
	if err != nil {
		return nil, false
	}
	g := groups[group]
	if g.Err != nil || g.State != "Stable" {
		return nil, false
	}
	out := map[string][]int32{}
	for _, m := range g.Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out[id] = nil
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == tp.name {
					out[id] = append(out[id], t.Partitions...)
				}
			}
		}
	}
	return out, true
}

// inGroup reports whether the member with instance ID id is in tp's group.
func inGroup(t *testing.T, tp *Topic, group, id string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	groups, err := tp.conn.admin.DescribeGroups(ctx, group)
	if err == nil {
		err = groups[group].Err
	}
	if err != nil {
		t.Fatalf("describing group %s: %v", group, err)
	}
	for _, m := range groups[group].Members {
		if m.InstanceID != nil && *m.InstanceID == id {
			return true
		}
	}
	return false
}

// others counts the members of a other than id, and those holding partitions.
func others(a map[string][]int32, id string) (members, holding int) {
	for m, ps := range a {
		if m != id {
			members++
			if len(ps) > 0 {
				holding++
			}
		}
	}
	return members, holding
}

// waitFor polls cond every 20 ms until it holds, failing the test after a
// minute, or when Consume, which reports on done, returns first.
func waitFor(t *testing.T, what string, done <-chan error, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for !cond(ctx) {
		select {
		case err := <-done:
			t.Fatalf("Consume returned (%v) before %s", err, what)
		case <-ctx.Done():
			t.Fatalf("waited a minute for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestSurvivorDecidesDeadMembersPartitions: two members of one group share
// a topic, one decides some records and dies without leaving the group (a
// SIGKILL), keeping its partitions until its session times out. The other,
// not following, finishes its own partitions (or has none, with one
// partition) and must not return until it has been handed the dead
// member's partitions and decided them: in the end every record is decided
// exactly once. The committed offsets come from a store (Positions and
// Committed) or from the group in Kafka.
func TestSurvivorDecidesDeadMembersPartitions(t *testing.T) {
	long(t)
	for _, tc := range []struct {
		name  string
		parts int
		store bool
	}{
		{"store/6 partitions", 6, true},
		{"store/1 partition, the survivor starts with none", 1, true},
		{"kafka offsets/6 partitions", 6, false},
		{"kafka offsets/1 partition, the survivor starts with none", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged syncBuffer
			c := newShortSessionConnector(t, slog.New(slog.NewTextHandler(&logged, nil)))
			c.noteEvery = 300 * time.Millisecond
			tp := openTopic(t, c, "takeover", tc.parts)
			const n, keys, group = 3000, 30, "g"
			publish(t, tp, eventRows(n, keys))
			var (
				st       *offsetStore
				dead, us collector
			)
			opts := port.ConsumeOptions{Group: group, BatchSize: 100}
			if tc.store {
				st = &offsetStore{next: map[int32]int64{}}
				opts.Positions, opts.Committed = st.positions, st.positions
			}
			m := joinMember(t, tp, group, "dead", st)
			m.decide(200, st, &dead)

			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				handle := us.handle(t)
				done <- tp.Consume(ctx, opts, func(ctx context.Context, msgs []port.Message) error {
					if st != nil {
						return st.apply(msgs)
					}
					return handle(ctx, msgs)
				})
			}()
			// Kill the member once the group is stable with both in it,
			// each holding partitions (the survivor none with one partition).
			waitFor(t, "both members were in a stable group", done, func(ctx context.Context) bool {
				a, ok := assignment(ctx, tp, group)
				members, holding := others(a, "dead")
				return ok && members == 1 && len(a["dead"]) > 0 && (tc.parts == 1 || holding == 1)
			})
			m.kill()
			killed := time.Now()
			if !inGroup(t, tp, group, "dead") {
				t.Fatal("the killed member left the group at once: the test does not reproduce a SIGKILL")
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Consume: %v", err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("Consume did not return")
			}
			took := time.Since(killed)
			var all []port.Message
			if st != nil {
				all = st.handled
			} else {
				all = append(dead.all(), us.all()...)
			}
			checkEvents(t, sortBySource(all), "takeover", n, keys)
			if took < testSession/2 {
				t.Errorf("Consume returned %v after the kill, before the dead member's session (%v) could time out", took, testSession)
			}
			if log := logged.String(); !strings.Contains(log, "records behind, owned by member dead-") {
				t.Errorf("while waiting Consume logged no note naming the dead member; the log:\n%s", log)
			} else {
				t.Logf("returned %v after the kill; a note: %s", took.Round(time.Millisecond), firstLine(log, "records behind"))
			}
		})
	}
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestIdleMemberWaitsForTheOthers: a member given no partition (more
// members than partitions) returns only once the member that owns the
// topic's partition has decided all of it.
func TestIdleMemberWaitsForTheOthers(t *testing.T) {
	for _, store := range []bool{true, false} {
		t.Run(fmt.Sprintf("store=%v", store), func(t *testing.T) {
			c := newShortSessionConnector(t, slog.New(slog.DiscardHandler))
			tp := openTopic(t, c, "idle", 1)
			const n, keys, group = 2000, 10, "g"
			publish(t, tp, eventRows(n, keys))
			var (
				st  *offsetStore
				col collector
			)
			opts := port.ConsumeOptions{Group: group}
			if store {
				st = &offsetStore{next: map[int32]int64{}}
				opts.Positions, opts.Committed = st.positions, st.positions
			}
			decided := func() int {
				if st != nil {
					st.mu.Lock()
					defer st.mu.Unlock()
					return len(st.handled)
				}
				return len(col.all())
			}
			owner := joinMember(t, tp, group, "owner", st)
			owner.decide(200, st, &col)
			done := make(chan error, 1)
			var idleAt int // records decided when the idle member returned
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				err := tp.Consume(ctx, opts, func(context.Context, []port.Message) error {
					return errors.New("the idle member was handed records")
				})
				idleAt = decided()
				done <- err
			}()
			waitFor(t, "the idle member was in a stable group", done, func(ctx context.Context) bool {
				a, ok := assignment(ctx, tp, group)
				members, holding := others(a, "owner")
				return ok && len(a["owner"]) == 1 && members == 1 && holding == 0
			})
			// An idle member that does not wait for the owner returns now.
			select {
			case err := <-done:
				t.Fatalf("the idle member returned (%v) with %d of %d records decided", err, decided(), n)
			case <-time.After(time.Second):
			}
			for decided() < n {
				owner.decide(300, st, &col)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Consume: %v", err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("the idle member did not return once the owner had decided everything")
			}
			if idleAt != n {
				t.Errorf("the idle member returned when %d of %d records were decided", idleAt, n)
			}
			all := col.all()
			if st != nil {
				all = st.handled
			}
			checkEvents(t, sortBySource(all), "idle", n, keys)
		})
	}
}

// TestWaitingMemberStopsOnCancel: a member waiting for a dead member's
// partitions stops as soon as its context ends.
func TestWaitingMemberStopsOnCancel(t *testing.T) {
	c := newShortSessionConnector(t, slog.New(slog.DiscardHandler))
	tp := openTopic(t, c, "cancelwait", 1)
	publish(t, tp, eventRows(100, 10))
	m := joinMember(t, tp, "g", "alive", nil) // holds the partition and never decides
	m.decide(1, nil, &collector{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tp.Consume(ctx, port.ConsumeOptions{Group: "g"}, func(context.Context, []port.Message) error {
			return errors.New("handed records")
		})
	}()
	waitFor(t, "two members were in a stable group", done, func(ctx context.Context) bool {
		a, ok := assignment(ctx, tp, "g")
		members, _ := others(a, "alive")
		return ok && len(a["alive"]) == 1 && members == 1
	})
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume returned %v, want a wrapped context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Consume did not return after cancel")
	}
	t.Logf("returned %v after cancel", time.Since(stopped).Round(time.Millisecond))
}

// TestCommittedError: an error of ConsumeOptions.Committed ends Consume,
// naming the partitions it was asked about.
func TestCommittedError(t *testing.T) {
	c := newShortSessionConnector(t, slog.New(slog.DiscardHandler))
	tp := openTopic(t, c, "commerr", 1)
	publish(t, tp, eventRows(100, 10))
	st := &offsetStore{next: map[int32]int64{}}
	m := joinMember(t, tp, "g", "alive", st)
	m.decide(1, st, nil)
	down := errors.New("store is down")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := tp.Consume(ctx, port.ConsumeOptions{
		Group:     "g",
		Positions: st.positions,
		Committed: func(context.Context, []int32) (map[int32]int64, error) { return nil, down },
	}, func(context.Context, []port.Message) error { return errors.New("handed records") })
	want := "kafka topic commerr: consume: reading the committed offsets of partitions 0, owned by other members of group g: store is down"
	if !errors.Is(err, down) || err.Error() != want {
		t.Fatalf("Consume returned %v, want %q", err, want)
	}
}
