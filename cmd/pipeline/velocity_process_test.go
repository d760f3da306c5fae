package main

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Process tests of a stream stage with windows (configs/banking-velocity.yaml):
// window state is committed with the decisions and offsets, so a killed
// validator, or two sharing the partitions, end exactly where one
// uninterrupted validator does, window state included.

// velocityQueries are what the validate stage of the velocity spec
// writes: decisions, pending balances, and each window state (whatever
// group stored it).
var velocityQueries = append(validateQueries[:len(validateQueries):len(validateQueries)],
	"SELECT CONCAT(topic, '/', state_key), state FROM _pipeline_state ORDER BY topic, state_key")

// velocityWorld generates n transactions on few cards, dense enough that
// both velocity rules decline thousands of them, and starts a broker.
func velocityWorld(t *testing.T, n int) *world {
	t.Helper()
	_, gen := binaries(t)
	data := t.TempDir()
	if out, err := exec.Command(gen, "-out", data, "-transactions", strconv.Itoa(n), "-customers", "600", "-cards", "24", "-seed", "5").CombinedOutput(); err != nil {
		t.Fatalf("gendata: %v\n%s", err, out)
	}
	broker := startBroker(t)
	return &world{n: n, data: data, broker: broker, spec: velocitySpec,
		base: []string{"KAFKA_BROKERS=" + broker, "DATASET=" + data, "RESULTS=" + t.TempDir()}}
}

// TestVelocityValidatorKilledAndScaledOut: 60,000 dense transactions.
// The reference validates them with one uninterrupted process. Then, each
// in a database of its own loaded from the same files: one validator
// SIGKILLed at 3 random points and started again; and two validators in
// one group. Both must end with the reference's decisions, pending
// balances and window states: 0 lost, 0 doubled, no record counted twice
// or missed in a window.
func TestVelocityValidatorKilledAndScaledOut(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 60_000
	began := time.Now()
	rng := faultSeed(t)
	w := velocityWorld(t, n)
	ref := w.database(t)
	ref.stages(t, "reset", "load", "publish")
	st := ref.start(t, nil, "--stage", "validate", "--group", "reference").finish(t, 2*time.Minute, "validate")
	want := takeSnapshot(t, ref.DB, velocityQueries...)
	velocity := ref.count(t, "SELECT COUNT(*) FROM transactions WHERE rule LIKE 'velocity%'")
	if st.out != n || velocity < 1000 {
		t.Fatalf("reference validate: %s, %d velocity declines; want %d decided and many declines", st, velocity, n)
	}

	// One validator, killed at three points and started again.
	killed := w.database(t)
	killed.stages(t, "load")
	var points []int64
	var prev int64
	for i := range 3 {
		p := killed.start(t, nil, "--stage", "validate", "--group", "killed")
		target := prev + int64((0.1+0.2*rng.Float64())*float64(n))
		at := waitCommitted(t, killed.DB, "killed", target, p, time.Minute)
		p.kill()
		points = append(points, at)
		prev = at
		t.Logf("kill %d: SIGKILL at %d committed", i+1, at)
	}
	last := killed.start(t, nil, "--stage", "validate", "--group", "killed").finish(t, 2*time.Minute, "validate")
	same(t, want, takeSnapshot(t, killed.DB, velocityQueries...), n)

	// Two validators sharing the partitions.
	two := w.database(t)
	two.stages(t, "load")
	a := two.start(t, nil, "--stage", "validate", "--group", "two")
	b := two.start(t, nil, "--stage", "validate", "--group", "two")
	sa, sb := a.finish(t, 2*time.Minute, "validate"), b.finish(t, 2*time.Minute, "validate")
	if sa.out+sb.out != n {
		t.Errorf("the two validators decided %d and %d, want %d in all", sa.out, sb.out, n)
	}
	same(t, want, takeSnapshot(t, two.DB, velocityQueries...), n)

	t.Logf("figures: records %d, velocity declines %d, window states %d; killed at %v committed, last run %s; "+
		"two validators %s and %s; lost 0, doubled 0, window states equal; test %v",
		n, velocity, want.counts["_pipeline_state"], points, last, sa, sb, time.Since(began).Round(time.Millisecond))
}
