package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the pipeline as separate processes, as users scale it
// out: one broker, several validators, and a validator killed mid-run.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the pipeline command and the dataset generator once.
func binaries(t *testing.T) (pipelineBin, gendataBin string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "pipeline-bin-")
		if buildErr != nil {
			return
		}
		for pkg, name := range map[string]string{".": "pipeline", "../../tools/gendata": "gendata"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "pipeline"), filepath.Join(binDir, "gendata")
}

// dataset generates n transactions in the legacy shape into a temp folder.
func dataset(t *testing.T, n int) string {
	t.Helper()
	_, gen := binaries(t)
	dir := t.TempDir()
	if out, err := exec.Command(gen, "-out", dir, "-transactions", fmt.Sprint(n), "-seed", "7").CombinedOutput(); err != nil {
		t.Fatalf("gendata: %v\n%s", err, out)
	}
	return dir
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBroker runs `pipeline broker` for the banking spec's topics and
// returns its address once it listens.
func startBroker(t *testing.T) string {
	t.Helper()
	addr := freePort(t)
	brokerAt(t, addr, t.TempDir())
	return addr
}

// brokerAt runs `pipeline broker` for the banking spec's topics on addr
// with its data in dir, and returns once it listens. It is stopped with
// SIGTERM when the test ends, unless it has ended before.
func brokerAt(t *testing.T, addr, dir string) *exec.Cmd {
	t.Helper()
	bin, _ := binaries(t)
	cmd := exec.Command(bin, "broker", "--addr", addr, "--data-dir", dir, "../../configs/banking.yaml")
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not start within 30 s")
	}
	return cmd
}

// newDatabase creates a uniquely named database, dropped after the test,
// and returns its DSN and a handle.
func newDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	if os.Getenv("PIPELINE_SKIP_MYSQL") == "1" {
		t.Skip("PIPELINE_SKIP_MYSQL=1")
	}
	name := "pipeline_test_" + randomHex(6)
	root, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/")
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Ping(); err != nil {
		t.Fatalf("MariaDB at 127.0.0.1:3306 is needed (start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd): %v", err)
	}
	t.Cleanup(func() {
		root.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		root.Close()
	})
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return "root@tcp(127.0.0.1:3306)/" + name, db
}

// run starts the pipeline with env added to the test's environment.
func run(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, _ := binaries(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func runWait(t *testing.T, env []string, args ...string) {
	t.Helper()
	if err := run(t, env, args...).Wait(); err != nil {
		t.Fatalf("pipeline %s: %v", strings.Join(args, " "), err)
	}
}

// state returns a digest of the tables the validate stage writes, and the
// number of decided transactions.
func state(t *testing.T, db *sql.DB) (string, int) {
	t.Helper()
	s := takeSnapshot(t, db, validateQueries...)
	return s.digest, s.counts["transactions"]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// spec is the spec the process tests run.
const spec = "../../configs/banking.yaml"

// againstReference publishes n generated transactions on a fresh broker and
// validates them, uninterrupted, into a fresh database: the reference. It
// returns that database, and the environment and handle of a second fresh
// database, loaded, whose validators read the same topic.
func againstReference(t *testing.T, n int) (ref *sql.DB, env []string, db *sql.DB) {
	t.Helper()
	data := dataset(t, n)
	broker := startBroker(t)
	dsnRef, ref := newDatabase(t)
	dsn, db := newDatabase(t)
	base := []string{"KAFKA_BROKERS=" + broker, "DATASET=" + data, "RESULTS=" + t.TempDir()}
	one := append(base[:len(base):len(base)], "MYSQL_DSN="+dsnRef)
	env = append(base[:len(base):len(base)], "MYSQL_DSN="+dsn)
	runWait(t, one, "run", spec, "--stage", "reset", "--stage", "load", "--stage", "publish")
	runWait(t, one, "run", spec, "--stage", "validate", "--group", "reference")
	runWait(t, env, "run", spec, "--stage", "load")
	return ref, env, db
}

// TestScaleOut: 100,000 transactions on 6 partitions, validated by two
// processes in one consumer group, give exactly the MySQL state of one.
func TestScaleOut(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	dbOne, two, dbTwo := againstReference(t, 100_000)
	a := run(t, two, "run", spec, "--stage", "validate", "--group", "two")
	b := run(t, two, "run", spec, "--stage", "validate", "--group", "two")
	for _, c := range []*exec.Cmd{a, b} {
		if err := c.Wait(); err != nil {
			t.Fatalf("validator: %v", err)
		}
	}
	want, n := state(t, dbOne)
	got, m := state(t, dbTwo)
	if n != 100_000 || m != 100_000 {
		t.Fatalf("decided %d (one process) and %d (two), want 100000 each", n, m)
	}
	if got != want {
		t.Errorf("two validators left a different MySQL state than one")
	}
}

// TestKilledValidatorResumes: the validate stage killed with SIGKILL part
// way and started again ends with the state of an uninterrupted run.
func TestKilledValidatorResumes(t *testing.T) {
	long(t)
	if testing.Short() {
		t.Skip("-short")
	}
	dbOne, kill, dbKill := againstReference(t, 100_000)
	c := run(t, kill, "run", spec, "--stage", "validate", "--group", "killed")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		var done sql.NullInt64
		dbKill.QueryRowContext(ctx, "SELECT SUM(next_offset) FROM _pipeline_offsets WHERE group_name = 'killed'").Scan(&done)
		if done.Int64 >= 30_000 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the validator committed nothing within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Process.Kill()
	c.Wait()
	_, partial := state(t, dbKill)
	if partial == 0 || partial >= 100_000 {
		t.Logf("killed after %d transactions", partial)
	}
	runWait(t, kill, "run", spec, "--stage", "validate", "--group", "killed")
	want, n := state(t, dbOne)
	got, m := state(t, dbKill)
	if n != 100_000 || m != 100_000 {
		t.Fatalf("decided %d (uninterrupted) and %d (killed and restarted), want 100000", n, m)
	}
	if got != want {
		t.Errorf("killed and restarted validator left a different MySQL state (killed at %d of 100000)", partial)
	}
	t.Logf("killed after %d of 100000 transactions were committed; restart completed the rest", partial)
}

// TestResentRecordsDecidedOnce: every transaction published twice (the
// topic holds two copies, one after the other) is decided once on MySQL:
// the second copy counts as a duplicate, and MySQL ends as with one copy.
// A second group reading the same topic into the same database finds every
// record decided already, even once the cards are gone.
func TestResentRecordsDecidedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 20_000
	dbOne, env, db := againstReference(t, n)
	runWait(t, env, "run", spec, "--stage", "publish")
	st := start(t, env, "run", spec, "--stage", "validate", "--group", "resent").finish(t, 2*time.Minute, "validate")
	if st.in != 2*n || st.out != n || st.dup != n || st.dead != 0 {
		t.Errorf("validate of two copies: %s; want in %d, out %d, dup %d", st, 2*n, n, n)
	}
	want, _ := state(t, dbOne)
	if got, m := state(t, db); got != want || m != n {
		t.Errorf("two copies decided into %d transactions and a different MySQL state than one copy", m)
	}
	st = start(t, env, "run", spec, "--stage", "validate", "--group", "again").finish(t, 2*time.Minute, "validate")
	if st.in != 2*n || st.out != 0 || st.dup != 2*n {
		t.Errorf("validate of records all decided before: %s; want in %d, out 0, dup %d", st, 2*n, 2*n)
	}
	if got, m := state(t, db); got != want || m != n {
		t.Errorf("a second group changed the MySQL state (%d transactions)", m)
	}
	// Without their cards, records decided before are still duplicates,
	// not dead letters: none of them reaches the lookup.
	if _, err := db.Exec("DELETE FROM cards"); err != nil {
		t.Fatal(err)
	}
	st = start(t, env, "run", spec, "--stage", "validate", "--group", "nocards").finish(t, 2*time.Minute, "validate")
	if st.in != 2*n || st.out != 0 || st.dup != 2*n || st.dead != 0 {
		t.Errorf("validate of records decided before, their cards gone: %s; want in %d, dup %d", st, 2*n, 2*n)
	}
}

// TestMain removes the binaries the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
