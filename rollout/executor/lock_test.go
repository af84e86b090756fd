package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockShRunner runs commands with the real /bin/sh, as a node's SSH session
// would. Every node shares the local file system; cwd is dir.
type lockShRunner struct {
	dir   string
	calls atomic.Int64
	fail  map[string]error // node → transport error
}

func (r *lockShRunner) RunCommand(ctx context.Context, node, cmd string) (string, int, error) {
	r.calls.Add(1)
	if err := r.fail[node]; err != nil {
		return "", 0, err
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Dir = r.dir
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String() + errb.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return "", 0, err
	}
	return out.String(), 0, nil
}

func lockTestSh(t *testing.T, dir, cmd string) (string, int) {
	t.Helper()
	r := &lockShRunner{dir: dir}
	out, code, err := r.RunCommand(context.Background(), "n", cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}

func lockTestHolder(user, run string) LockHolder {
	return LockHolder{User: user, Host: "ops-1", PID: 4242, RunID: run, Cluster: "prod",
		StartedAt: time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)}
}

func TestLockHolderString(t *testing.T) {
	if got, want := lockTestHolder("alice", "7f3a").String(), "alice@ops-1 (pid 4242, run 7f3a, started 2026-11-23T10:15:00Z)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	h := NewLockHolder("prod", "abcd1234")
	if h.PID != os.Getpid() || h.RunID != "abcd1234" || h.Cluster != "prod" || h.User == "" || h.Host == "" || time.Since(h.StartedAt) > time.Minute {
		t.Errorf("NewLockHolder = %+v", h)
	}
	if got := LockPathForDataRoot("/var/lib/neuwerk"); got != "/var/lib/neuwerk-rollout/lock.json" {
		t.Errorf("LockPathForDataRoot = %s", got)
	}
	if got := LockPathForDataRoot("/tmp/sim/nodes/fw-a/var/lib/neuwerk/"); got != "/tmp/sim/nodes/fw-a/var/lib/neuwerk-rollout/lock.json" {
		t.Errorf("LockPathForDataRoot (sim) = %s", got)
	}
}

func TestLockAcquireConflictReleaseBreak(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "var", "lib", "neuwerk-rollout", "lock.json")
	alice, bob := lockTestHolder("alice", "7f3a"), lockTestHolder("bob", "9c2e")

	out, code := lockTestSh(t, dir, LockAcquireCommand(p, alice))
	if code != 0 || !strings.Contains(out, "acquired") {
		t.Fatalf("acquire: exit %d: %s", code, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ParseLockHolder(b); err != nil || h != alice {
		t.Errorf("lock file holds %+v (%v), want %+v", h, err, alice)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(p)); fi.Mode().Perm() != 0o700 {
		t.Errorf("lock dir mode %v", fi.Mode().Perm())
	}

	// Bob is refused and told who holds it.
	out, code = lockTestSh(t, dir, LockAcquireCommand(p, bob))
	if code != LockHeldExitCode {
		t.Fatalf("second acquire: exit %d, want %d: %s", code, LockHeldExitCode, out)
	}
	if h, err := ParseLockHolder([]byte(out)); err != nil || h != alice {
		t.Errorf("conflict names %+v (%v), want alice", h, err)
	}
	if b2, _ := os.ReadFile(p); !bytes.Equal(b, b2) {
		t.Error("a refused acquire changed the lock file")
	}
	lockTestNoTemps(t, filepath.Dir(p))

	// Bob cannot release alice's lock.
	out, code = lockTestSh(t, dir, LockReleaseCommand(p, bob.RunID))
	if code != LockHeldExitCode {
		t.Errorf("release by another run: exit %d: %s", code, out)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal("another run's release removed the lock")
	}
	// A break that expects a holder who is not there leaves the lock.
	out, code = lockTestSh(t, dir, LockBreakCommand(p, "someone-else"))
	if code != LockHeldExitCode {
		t.Errorf("conditional break of the wrong holder: exit %d: %s", code, out)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal("conditional break removed a lock it did not expect")
	}

	// Alice resuming the same run takes her own lock over (new pid).
	alice2 := alice
	alice2.PID = 5151
	if out, code = lockTestSh(t, dir, LockAcquireCommand(p, alice2)); code != 0 || !strings.Contains(out, "re-acquired") {
		t.Errorf("re-acquire by the same run: exit %d: %s", code, out)
	}
	b, _ = os.ReadFile(p)
	if h, _ := ParseLockHolder(b); h.PID != 5151 {
		t.Errorf("re-acquire left pid %d", h.PID)
	}

	// Alice releases; releasing again is fine.
	if out, code = lockTestSh(t, dir, LockReleaseCommand(p, alice.RunID)); code != 0 || !strings.Contains(out, "released") {
		t.Errorf("release: exit %d: %s", code, out)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("release left the lock")
	}
	if out, code = lockTestSh(t, dir, LockReleaseCommand(p, alice.RunID)); code != 0 || !strings.Contains(out, "absent") {
		t.Errorf("release of no lock: exit %d: %s", code, out)
	}

	// Break removes any holder and reports it.
	lockTestSh(t, dir, LockAcquireCommand(p, bob))
	out, code = lockTestSh(t, dir, LockBreakCommand(p, ""))
	if code != 0 {
		t.Fatalf("break: exit %d: %s", code, out)
	}
	if h, err := ParseLockHolder([]byte(out)); err != nil || h != bob {
		t.Errorf("break reported %+v (%v)", h, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("break left the lock")
	}
	if out, code = lockTestSh(t, dir, LockReadCommand(p)); code != 0 || out != "" {
		t.Errorf("read of no lock: exit %d: %q", code, out)
	}
	lockTestNoTemps(t, filepath.Dir(p))
}

func lockTestNoTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != LockFileName {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Paths and holder fields with spaces, quotes and $(...) are taken
// literally: no substitution runs.
func TestLockHostilePaths(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	nasty := []string{
		"with space",
		`it's "quoted"`,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"semi; touch " + marker,
		"$HOME and ${PATH}",
		"back\\slash",
		"-leading-dash",
		"new\nline",
	}
	for i, n := range nasty {
		p := filepath.Join(dir, n, "neuwerk-rollout", "lock.json")
		h := lockTestHolder("eve'$(touch "+marker+")", "run'"+n)
		h.Host = "`touch " + marker + "`"
		out, code := lockTestSh(t, dir, LockAcquireCommand(p, h))
		if code != 0 {
			t.Errorf("%d %q: acquire exit %d: %s", i, n, code, out)
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%d %q: lock not at the literal path: %v", i, n, err)
			continue
		}
		if got, err := ParseLockHolder(b); err != nil || got != h {
			t.Errorf("%d %q: holder %+v (%v)", i, n, got, err)
		}
		out, code = lockTestSh(t, dir, LockAcquireCommand(p, lockTestHolder("x", "other")))
		if code != LockHeldExitCode {
			t.Errorf("%d %q: conflict exit %d: %s", i, n, code, out)
		}
		if out, code = lockTestSh(t, dir, LockReleaseCommand(p, h.RunID)); code != 0 {
			t.Errorf("%d %q: release exit %d: %s", i, n, code, out)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%d %q: release left the lock", i, n)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command substitution ran")
	}
}

// lockQuote round-trips arbitrary strings through a real sh.
func TestLockQuote(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("a '\"\\$`(){};|&<>*?!#~\n\t=%é€")
	var in []string
	var cmd strings.Builder
	cmd.WriteString("printf '%s\\0'")
	for i := 0; i < 300; i++ {
		n := rng.IntN(12)
		var s []rune
		for j := 0; j < n; j++ {
			s = append(s, alphabet[rng.IntN(len(alphabet))])
		}
		in = append(in, string(s))
		cmd.WriteString(" " + lockQuote(string(s)))
	}
	out, code := lockTestSh(t, t.TempDir(), cmd.String())
	if code != 0 {
		t.Fatalf("sh exit %d: %s", code, out)
	}
	got := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	if len(got) != len(in) {
		t.Fatalf("%d strings back, %d sent", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Errorf("lockQuote(%q) came back as %q", in[i], got[i])
		}
	}
}

// Many acquirers at once: exactly one wins, and every loser is told the
// winner.
func TestLockConcurrentAcquirers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "neuwerk-rollout", "lock.json")
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	outs := make([]string, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := &lockShRunner{dir: dir}
			outs[i], codes[i], _ = r.RunCommand(context.Background(), "n", LockAcquireCommand(p, lockTestHolder("op", fmt.Sprintf("run%02d", i))))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch c {
		case 0:
			if winner >= 0 {
				t.Errorf("runs %d and %d both acquired", winner, i)
			}
			winner = i
		case LockHeldExitCode:
		default:
			t.Errorf("run %d: exit %d: %s", i, c, outs[i])
		}
	}
	if winner < 0 {
		t.Fatal("nobody acquired the lock")
	}
	want := fmt.Sprintf("run%02d", winner)
	for i, c := range codes {
		if c == LockHeldExitCode {
			if h, err := ParseLockHolder([]byte(outs[i])); err != nil || h.RunID != want {
				t.Errorf("loser %d was told %+v (%v), winner is %s", i, h, err, want)
			}
		}
	}
	lockTestNoTemps(t, filepath.Dir(p))
}

func lockTestTargets(dir string, nodes ...string) []LockTarget {
	var ts []LockTarget
	for _, n := range nodes {
		ts = append(ts, LockTarget{Node: n, Path: filepath.Join(dir, "nodes", n, "var", "lib", "neuwerk-rollout", "lock.json")})
	}
	return ts
}

func TestLockAcquireLocks(t *testing.T) {
	dir := t.TempDir()
	r := &lockShRunner{dir: dir}
	ctx := context.Background()
	ts := lockTestTargets(dir, "fw-c", "fw-a", "fw-b")
	alice, bob := lockTestHolder("alice", "7f3a"), lockTestHolder("bob", "9c2e")

	// Bob holds fw-b only. Alice takes fw-a first (name order), hits fw-b,
	// and must give fw-a back.
	if _, err := AcquireLocks(ctx, r, ts[2:3], bob, false); err != nil {
		t.Fatal(err)
	}
	_, err := AcquireLocks(ctx, r, ts, alice, false)
	var held *LockHeldError
	if !errors.As(err, &held) {
		t.Fatalf("want *LockHeldError, got %v", err)
	}
	if held.Node != "fw-b" || held.Holder != bob {
		t.Errorf("held error %+v", held)
	}
	for _, w := range []string{"node fw-b", "bob@ops-1 (pid 4242, run 9c2e, started 2026-11-23T10:15:00Z)", "--break-lock", "explicitly"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
	for _, tg := range []LockTarget{ts[0], ts[1]} {
		if _, err := os.Stat(tg.Path); !os.IsNotExist(err) {
			t.Errorf("lock on %s left behind after the conflict", tg.Node)
		}
	}
	locks, err := ReadLocks(ctx, r, ts)
	if err != nil || len(locks) != 1 || locks["fw-b"] != bob {
		t.Errorf("ReadLocks = %v, %v", locks, err)
	}

	// --break-lock takes bob's lock over and says whose it was.
	broken, err := AcquireLocks(ctx, r, ts, alice, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(broken) != 1 || broken["fw-b"] != bob {
		t.Errorf("broken = %v", broken)
	}
	locks, _ = ReadLocks(ctx, r, ts)
	for _, tg := range ts {
		if locks[tg.Node] != alice {
			t.Errorf("%s held by %+v after acquire", tg.Node, locks[tg.Node])
		}
	}
	// Bob's release touches none of alice's locks.
	if err := ReleaseLocks(ctx, r, ts, bob.RunID); err == nil || !errors.As(err, &held) {
		t.Errorf("bob's release: %v", err)
	}
	if err := ReleaseLocks(ctx, r, ts, alice.RunID); err != nil {
		t.Fatal(err)
	}
	if locks, _ = ReadLocks(ctx, r, ts); len(locks) != 0 {
		t.Errorf("locks after release: %v", locks)
	}

	// An unreadable lock file is named as such and can be broken.
	os.MkdirAll(filepath.Dir(ts[0].Path), 0o700)
	os.WriteFile(ts[0].Path, []byte("garbage\n"), 0o600)
	_, err = AcquireLocks(ctx, r, ts, alice, false)
	if !errors.As(err, &held) || held.Raw == "" || !strings.Contains(err.Error(), "unreadable lock file") {
		t.Errorf("garbage lock: %v", err)
	}
	if _, err := AcquireLocks(ctx, r, ts, alice, true); err != nil {
		t.Errorf("break of a garbage lock: %v", err)
	}
	ReleaseLocks(ctx, r, ts, alice.RunID)

	// A transport failure part way releases what was taken.
	r.fail = map[string]error{"fw-c": errors.New("ssh: connection reset")}
	if _, err := AcquireLocks(ctx, r, ts, alice, false); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("transport failure: %v", err)
	}
	r.fail = nil
	if locks, _ = ReadLocks(ctx, r, ts); len(locks) != 0 {
		t.Errorf("locks left after a transport failure: %v", locks)
	}
	if _, err := AcquireLocks(ctx, r, []LockTarget{{Node: "x", Path: "relative/lock.json"}}, alice, false); err == nil {
		t.Error("accepted a relative lock path")
	}
}

// Two runs started at once over the same nodes: exactly one gets every
// lock, the other gets none.
func TestLockConcurrentRuns(t *testing.T) {
	dir := t.TempDir()
	ts := lockTestTargets(dir, "fw-a", "fw-b", "fw-c")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each run lists the nodes in its own order.
			mine := append([]LockTarget(nil), ts...)
			rand.Shuffle(len(mine), func(a, b int) { mine[a], mine[b] = mine[b], mine[a] })
			_, errs[i] = AcquireLocks(context.Background(), &lockShRunner{dir: dir}, mine, lockTestHolder("op", fmt.Sprintf("run%d", i)), false)
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	winner := ""
	for i, err := range errs {
		if err == nil {
			winners++
			winner = fmt.Sprintf("run%d", i)
			continue
		}
		var held *LockHeldError
		if !errors.As(err, &held) {
			t.Errorf("run %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d runs got the locks: %v", winners, errs)
	}
	locks, err := ReadLocks(context.Background(), &lockShRunner{dir: dir}, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if locks[tg.Node].RunID != winner {
			t.Errorf("%s held by %q, winner is %s", tg.Node, locks[tg.Node].RunID, winner)
		}
	}
}

func TestLockParseHolder(t *testing.T) {
	h := lockTestHolder("alice", "7f3a")
	withNoise := "Welcome to Ubuntu\n" + LockJSON(h) + "\n"
	if got, err := ParseLockHolder([]byte(withNoise)); err != nil || got != h {
		t.Errorf("with noise: %+v %v", got, err)
	}
	for _, bad := range []string{"", "garbage", "{not json", "{}", `{"pid":1}`} {
		if _, err := ParseLockHolder([]byte(bad)); err == nil {
			t.Errorf("ParseLockHolder(%q) accepted", bad)
		}
	}
}
