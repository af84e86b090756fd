package rollout

// End-to-end tests of the engine (issue §4): the headless runner drives the
// machine through the executor against a simulated cluster reached over
// real OpenSSH, with real Raft, HTTPS and a systemd-like service manager.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/internal/schemacheck"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// e2e is one simulated cluster with an Env to drive it.
type e2e struct {
	t   *testing.T
	c   *sim.Cluster
	env Env
	log *syncBuffer
	// cliEnv is added to the environment of the nwroll binary cliRun runs.
	cliEnv []string
	// lastOut is the stdout of the latest cliRun.
	lastOut []byte
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Log(strings.TrimRight(string(p), "\n"))
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	if _, err := os.Stat(sim.SSHD); err != nil {
		if os.Getenv("NWROLL_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s is missing and NWROLL_REQUIRE_SSHD=1: apt-get install openssh-server", sim.SSHD)
		}
		t.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
}

var gatesRE = regexp.MustCompile(`(?m)^gates:\n  timeout: .*\n  stabilisation: .*\n`)

// startE2E brings up a cluster over OpenSSH with short gate timings
// (stabilisation window, gate timeout) written into its inventory.
func startE2E(t *testing.T, nodes int, window, timeout time.Duration) *e2e {
	t.Helper()
	requireE2E(t)
	c := simtest.Start(t, sim.Options{SSH: sim.SSHOpenSSH, Nodes: nodes})
	invPath := c.Info().Inventory
	b, err := os.ReadFile(invPath)
	if err != nil {
		t.Fatal(err)
	}
	if !gatesRE.Match(b) {
		t.Fatalf("inventory %s has no gates section to tune:\n%s", invPath, b)
	}
	b = gatesRE.ReplaceAll(b, []byte(fmt.Sprintf("gates:\n  timeout: %s\n  stabilisation: %s\n", timeout, window)))
	if err := os.WriteFile(invPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, c: c, log: &syncBuffer{t: t}}
	e.env = e.newEnv(t.TempDir())
	return e
}

// newEnv loads the inventory afresh with a new dialer and the given state dir.
func (e *e2e) newEnv(stateDir string) Env {
	env := envFor(e.t, e.c, stateDir)
	env.Out = e.log
	return env
}

// envFor builds an Env on cluster c: its inventory (no ssh_config), a
// fresh SSH dialer (no agent), its releases as the catalog.
func envFor(tb testing.TB, c *sim.Cluster, stateDir string) Env {
	tb.Helper()
	inv, err := inventory.LoadWith(c.Info().Inventory, inventory.Options{SSHConfig: "none"})
	if err != nil {
		tb.Fatal(err)
	}
	d := remote.NewSSHDialer(remote.SSHOptions{AgentSocket: "none"})
	tb.Cleanup(func() { d.Close() })
	cat, _, err := release.LoadCatalog(filepath.Join(c.Dir(), "releases"))
	if err != nil {
		tb.Fatal(err)
	}
	return Env{Inventory: inv, Dialer: d, StateDir: stateDir, Catalog: cat}
}

func (e *e2e) release(v string) *release.Release {
	e.t.Helper()
	r, err := release.Load(filepath.Join(e.c.Dir(), "releases", v))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *e2e) releaseSHA(v string) string {
	return e.c.Info().Releases[v].SHA256
}

// binaries is every node's binary sha256, read locally (the sim's nodes
// are directories on this machine).
func (e *e2e) binaries() map[string]string {
	out := map[string]string{}
	for _, n := range e.c.Info().Nodes {
		out[n.Name] = fileSHA(e.t, n.Binary)
	}
	return out
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return ""
		}
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// journal returns the entries of the latest run.
func (e *e2e) journal() []journal.Entry {
	e.t.Helper()
	run, err := journal.LatestRun(e.env.StateDir, e.env.Inventory.Cluster)
	if err != nil {
		e.t.Fatal(err)
	}
	return run.Entries
}

// swapOrder is the nodes whose swap succeeded, in journal order.
func swapOrder(entries []journal.Entry, op string) []string {
	var out []string
	for _, en := range entries {
		if en.Kind == journal.Outcome && en.Op == op && en.OK && en.Node != "" {
			out = append(out, en.Node)
		}
	}
	return out
}

// leaderName asks the cluster who leads now.
func (e *e2e) leaderName(ctx context.Context) string {
	e.t.Helper()
	name, _ := e.leaderAndTerm(ctx)
	return name
}

// leaderAndTerm is the leader's name and the Raft term, from a poll.
func (e *e2e) leaderAndTerm(ctx context.Context) (string, uint64) {
	e.t.Helper()
	x, err := e.env.executor(nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		e.t.Fatal(err)
	}
	for range 50 {
		snap := x.Poll(ctx)
		if l, ok := snap.Leader(); ok && snap.Stats != nil {
			return snap.NameOf(l.NodeID), snap.Stats.Cluster.CurrentTerm
		}
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatal("no leader")
	return "", 0
}

// waitHealthy waits until every node is ready and caught up, and returns
// the snapshot.
func (e *e2e) waitHealthy(ctx context.Context, within time.Duration) health.ClusterSnapshot {
	e.t.Helper()
	x, err := e.env.executor(nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		e.t.Fatal(err)
	}
	var refs []health.NodeRef
	for _, n := range e.c.Info().Nodes {
		refs = append(refs, health.NodeRef{Name: n.Name, ID: n.NodeID})
	}
	deadline := time.Now().Add(within)
	var reasons []string
	for time.Now().Before(deadline) {
		snap := x.Poll(ctx)
		g := health.Gate{Name: "pre-check", Checks: health.PreCheck(refs)}.Open(snap.TakenAt, time.Time{}).Observe(health.Sample{Snap: snap})
		if g.Outcome() == health.Passed {
			return snap
		}
		reasons = g.Reasons()
		time.Sleep(300 * time.Millisecond)
	}
	e.t.Fatalf("cluster not healthy within %s: %s", within, strings.Join(reasons, "; "))
	return health.ClusterSnapshot{}
}

func TestE2EHappyPath3(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 30*time.Second)
	ctx := context.Background()
	leader := e.leaderName(ctx)
	rel := e.release("1.1.0")

	start := time.Now()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: rel, Backup: runbook.BackupQuiesced}})
	t.Logf("upgrade took %s", time.Since(start).Round(time.Millisecond))
	if code != runbook.ExitOK || err != nil {
		t.Fatalf("upgrade: exit %d, %v", code, err)
	}

	// Every node ends on 1.1.0 and ready.
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
	e.waitHealthy(ctx, 20*time.Second)

	entries := e.journal()
	// The leader is upgraded last, as the journal shows: the node swapped
	// last led when its upgrade began, and none of the others did.
	order := swapOrder(entries, runbook.RecordOpSwap)
	led := leaderAtUpgrade(entries, leader)
	if len(order) != 3 {
		t.Fatalf("swap order %v: want 3 swaps", order)
	}
	for i, n := range order {
		if want := i == len(order)-1; led[n] != want {
			t.Errorf("swap order %v: %s led when its upgrade began: %v (leaders seen: %v)", order, n, led[n], led)
		}
	}
	// One node stopped at a time: every stop is followed by its node's start
	// before the next stop.
	down := ""
	for _, en := range entries {
		if en.Kind != journal.Intent && en.Kind != journal.Outcome {
			continue
		}
		switch {
		case en.Op == "stop" && en.Kind == journal.Intent:
			if down != "" {
				t.Errorf("stop %s while %s is down", en.Node, down)
			}
			down = en.Node
		case en.Op == "start" && en.Kind == journal.Outcome && en.OK:
			down = ""
		}
	}

	// Backups exist with verified checksums, locally recorded and on the node.
	sets, _, err := journal.LoadBackupSets(e.env.StateDir, e.env.Inventory.Cluster)
	if err != nil || len(sets) != 1 {
		t.Fatalf("backup sets: %v, %v", sets, err)
	}
	set := sets[0]
	if len(set.Nodes) != 3 {
		t.Fatalf("backup set %s holds %d nodes, want 3", set.ID, len(set.Nodes))
	}
	for _, a := range set.Nodes {
		if got := fileSHA(t, a.Archive); got != a.SHA256 {
			t.Errorf("%s: archive %s sha256 %s, recorded %s", a.Node, a.Archive, got, a.SHA256)
		}
		st, err := os.Stat(a.Archive)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: archive mode: %v %v", a.Node, st, err)
		}
		if a.Release != "1.0.0" || a.NodeID == "" || a.Mode != "quiesced" {
			t.Errorf("%s: backup record %+v", a.Node, a)
		}
		n, _ := e.c.Node(a.Node)
		onNode, err := os.ReadFile(executor.BackupManifestPath(n.BackupDir, set.ID))
		if err != nil {
			t.Errorf("%s: set manifest on the node: %v", a.Node, err)
		} else if s, err := journal.ParseBackupSet(onNode); err != nil || len(s.Nodes) == 0 {
			t.Errorf("%s: set manifest on the node: %v", a.Node, err)
		}
	}

	// Baseline and final sysdumps are saved (0600, readable archives).
	dumps, _ := filepath.Glob(filepath.Join(e.env.StateDir, e.env.Inventory.Cluster, "sysdumps", "*"))
	var haveBaseline, haveFinal bool
	for _, d := range dumps {
		st, _ := os.Stat(d)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("sysdump %s has mode %v", d, st.Mode().Perm())
		}
		a, err := sysdump.OpenArchive(d)
		if err != nil {
			t.Errorf("sysdump %s: %v", d, err)
			continue
		}
		if _, err := a.Overview(); err != nil {
			t.Errorf("sysdump %s has no overview: %v", d, err)
		}
		haveBaseline = haveBaseline || strings.HasSuffix(d, "-baseline.tar.gz")
		haveFinal = haveFinal || strings.HasSuffix(d, "-final.tar.gz")
	}
	if !haveBaseline || !haveFinal {
		t.Errorf("sysdumps %v: want a baseline and a final one", dumps)
	}
	if b, _ := filepath.Glob(filepath.Join(e.env.StateDir, e.env.Inventory.Cluster, "baselines", "*", "*.prom")); len(b) != 3 {
		t.Errorf("baseline metrics: %v", b)
	}

	// The lock is released, and the log never shows a token.
	for _, n := range e.c.Info().Nodes {
		if _, err := os.Stat(executor.LockPathForDataRoot(n.DataRoot)); !os.IsNotExist(err) {
			t.Errorf("%s: lock still there: %v", n.Name, err)
		}
	}
	assertNoToken(t, e.log.String())
	j, _ := os.ReadFile(filepath.Join(e.env.StateDir, e.env.Inventory.Cluster, "current"))
	jb, _ := os.ReadFile(filepath.Join(e.env.StateDir, e.env.Inventory.Cluster, strings.TrimSpace(string(j))))
	assertNoToken(t, string(jb))
}

// leaderAtUpgrade says, per node, whether it led when its upgrade step
// started, following the journal's leader-changed events from initial.
func leaderAtUpgrade(entries []journal.Entry, initial string) map[string]bool {
	leader := initial
	out := map[string]bool{}
	for _, en := range entries {
		switch {
		case en.Kind == journal.Event && en.Op == "leader-changed":
			leader = en.Node
		case en.Kind == journal.Event && en.Op == "step-started" && strings.HasPrefix(en.StepID, "upgrade/"):
			out[en.Node] = en.Node == leader
		}
	}
	return out
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.`)

func assertNoToken(t *testing.T, s string) {
	t.Helper()
	if jwtRE.MatchString(s) {
		t.Errorf("a token leaked: %s", jwtRE.FindString(s))
	}
}

var _ = io.Discard

func TestE2EDegradedBaselineRefused(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 15*time.Second)
	ctx := context.Background()
	leader := e.leaderName(ctx)
	victim := ""
	for _, n := range e.c.Info().Nodes {
		if n.Name != leader {
			victim = n.Name
			break
		}
	}
	if err := e.c.Stop(victim); err != nil {
		t.Fatal(err)
	}
	before := e.binaries()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupQuiesced}})
	if code != runbook.ExitRefused {
		t.Fatalf("upgrade with %s stopped: exit %d (%v), want %d", victim, code, err, runbook.ExitRefused)
	}
	if err == nil || !strings.Contains(err.Error(), victim) {
		t.Errorf("the refusal %q does not name %s", err, victim)
	}
	if got := e.binaries(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("binaries changed: %v → %v", before, got)
	}
	for _, n := range e.c.Info().Nodes {
		for _, p := range []string{n.Binary + ".new", n.Binary + ".prev", executor.LockPathForDataRoot(n.DataRoot)} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s exists after a refused run", p)
			}
		}
	}
	// The journal records the refusal, and no node-changing effect ran.
	for _, en := range e.journal() {
		if en.Kind == journal.Intent && en.Op != runbook.RecordOpRun {
			t.Errorf("a refused run journaled intent %s on %s", en.Op, en.Node)
		}
	}
}

// upgradeFails runs an upgrade to a faulty release and checks what
// scenario 3 asks: a sysdump first, the node rolled back, exit 4, the
// cluster healthy on 1.0.0. It returns the failure event.
func upgradeFails(t *testing.T, e *e2e, release string) journal.Entry {
	ctx := context.Background()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release(release), Backup: runbook.BackupLive}})
	if code != runbook.ExitRolledBack {
		t.Fatalf("upgrade to %s: exit %d (%v), want %d", release, code, err, runbook.ExitRolledBack)
	}
	entries := e.journal()
	var failure journal.Entry
	var failAt, rollbackAt time.Time
	for _, en := range entries {
		switch {
		case en.Kind == journal.Event && en.Op == "failure" && failure.Op == "":
			failure, failAt = en, en.TS
		case en.Kind == journal.Event && en.Op == "step-started" && strings.HasPrefix(en.StepID, "rollback/") && rollbackAt.IsZero():
			rollbackAt = en.TS
		}
	}
	if failure.Op == "" || failure.Node == "" {
		t.Fatalf("no failure in the journal")
	}
	if got := swapOrder(entries, runbook.RecordOpSwap); len(got) != 1 || got[0] != failure.Node {
		t.Errorf("swaps %v: want only the failing node %s", got, failure.Node)
	}
	if got := swapOrder(entries, runbook.RecordOpRollback); len(got) != 1 || got[0] != failure.Node {
		t.Errorf("rollbacks %v: want the failing node %s", got, failure.Node)
	}
	// The failure sysdump was saved before the rollback began.
	dumps, _ := filepath.Glob(filepath.Join(e.env.StateDir, e.env.Inventory.Cluster, "sysdumps", "*-failure*"))
	if len(dumps) == 0 {
		t.Fatalf("no failure sysdump")
	}
	st, _ := os.Stat(dumps[0])
	if st.ModTime().Before(failAt.Add(-time.Second)) || st.ModTime().After(rollbackAt) {
		t.Errorf("failure sysdump written %s; failure at %s, rollback began %s", st.ModTime(), failAt, rollbackAt)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.0.0") {
			t.Errorf("%s runs sha256 %s after the rollback, want 1.0.0's", name, runbook.ShortSHA(sha))
		}
	}
	// The end removed the staged release from the nodes that never got it,
	// and says so: in the journal, and in the run's last lines.
	unstaged := map[string]bool{}
	for _, en := range entries {
		if en.Kind == journal.Outcome && en.Op == runbook.OpUnstage.String() && en.OK {
			unstaged[en.Node] = true
		}
	}
	for _, n := range e.c.Info().Nodes {
		if _, err := os.Stat(n.Binary + ".new"); !os.IsNotExist(err) {
			t.Errorf("%s: %s.new is still there after the rollback (%v)", n.Name, n.Binary, err)
		}
		if unstaged[n.Name] == (n.Name == failure.Node) {
			t.Errorf("%s: the journal's removals of .new are %v; want every node but the failing %s", n.Name, unstaged, failure.Node)
		}
		if want := "summary: " + n.Name + ": runs 1.0.0; nothing left staged; backup "; !strings.Contains(e.log.String(), want) {
			t.Errorf("the run's last lines do not say %q", want)
		}
	}
	e.waitHealthy(ctx, 30*time.Second)
	return failure
}

func TestE2ENeverReadyRolledBack(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 12*time.Second)
	f := upgradeFails(t, e, "1.1.1-never-ready")
	if !strings.Contains(f.Detail, "policy_replication") {
		t.Errorf("failure %q does not name the failing check policy_replication", f.Detail)
	}
	if f.GateValues["node healthy.ok"] != "false" {
		t.Errorf("the node-healthy gate did not fail: %v", f.GateValues)
	}
}

func TestE2EStallRolledBack(t *testing.T) {
	t.Parallel()
	// The stall release turns ready, then stops applying 4 s later: a
	// window longer than that must see its raft_last_applied fall behind.
	e := startE2E(t, 3, 10*time.Second, 25*time.Second)
	f := upgradeFails(t, e, "1.1.1-stall")
	if f.GateValues["applied.ok"] != "false" || !strings.Contains(f.Detail, "raft_last_applied") {
		t.Errorf("stall not caught by the applied check (raft_last_applied): %s %v", f.Detail, f.GateValues)
	}
	if f.GateValues["node healthy.ok"] != "true" {
		t.Errorf("stall: the node should look healthy, only behind: %v", f.GateValues)
	}
}

// The failclosed release turns ready and keeps up, but its TLS intercept
// fails closed: only the abort-signals check sees it, and as an abort
// condition it ends the gate at once, not at its (long) timeout.
func TestE2EFailClosedCaughtByAbortSignals(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 8*time.Second, 5*time.Minute)
	f := upgradeFails(t, e, "1.1.1-failclosed")
	if f.GateValues["no abort signals.ok"] != "false" || !strings.Contains(f.Detail, "svc_fail_closed_total grew") {
		t.Errorf("failclosed not caught by the abort-signals check: %s %v", f.Detail, f.GateValues)
	}
	if !strings.HasPrefix(f.Detail, "stabilise gate: abort condition: ") {
		t.Errorf("the gate waited instead of failing on the abort condition: %s", f.Detail)
	}
	if f.GateValues["node healthy.ok"] != "true" || f.GateValues["applied.ok"] != "true" {
		t.Errorf("failclosed: the node should look ready and caught up: %v", f.GateValues)
	}
}

// setSim sets a field of every node's sim-node.json (read when a node
// starts), e.g. how late a fault starts.
func (e *e2e) setSim(key string, value any) {
	e.t.Helper()
	for _, n := range e.c.Info().Nodes {
		p := filepath.Join(n.NodeDir, "etc", "neuwerk", "sim-node.json")
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatal(err)
		}
		m[key] = value
		if b, err = json.Marshal(m); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// stepSpan is how long the journal shows a step ran: from its
// step-started to its step-done.
func stepSpan(entries []journal.Entry, id string) (time.Duration, bool) {
	var start time.Time
	for _, en := range entries {
		if en.Kind != journal.Event || en.StepID != id {
			continue
		}
		switch en.Op {
		case "step-started":
			start = en.TS
		case "step-done":
			return en.TS.Sub(start), !start.IsZero()
		}
	}
	return 0, false
}

// --bake 20s: after the first follower's upgrade the canary keeps every
// gate for 20 s, then the rollout completes.
func TestE2EBakeHoldsThenCompletes(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 60*time.Second)
	code, err := Upgrade(context.Background(), e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{
		Release: e.release("1.1.0"), Backup: runbook.BackupLive, Bake: 20 * time.Second}})
	if code != runbook.ExitOK {
		t.Fatalf("upgrade with --bake 20s: exit %d: %v", code, err)
	}
	entries := e.journal()
	took, ok := stepSpan(entries, "bake")
	if !ok || took < 20*time.Second {
		t.Fatalf("the bake step ran %s (done %v), want at least 20s", took, ok)
	}
	var first string
	for _, en := range entries {
		if en.Kind == journal.Outcome && en.Op == runbook.RecordOpSwap && first == "" {
			first = en.Node
		}
		if en.Kind == journal.Event && en.Op == "step-started" && en.StepID == "bake" && !strings.Contains(en.Detail, "Bake "+first+" ") {
			t.Errorf("the bake is %q, want the first upgraded node %s", en.Detail, first)
		}
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
}

// The failclosed release starts failing closed a few seconds after it
// turned ready: later than the 2 s stabilisation window, within the bake.
// The bake catches it and the canary is rolled back (exit 4).
func TestE2EBakeCatchesFailClosed(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 60*time.Second)
	e.setSim("fail_closed_after_millis", 8000)
	code, err := Upgrade(context.Background(), e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{
		Release: e.release("1.1.1-failclosed"), Backup: runbook.BackupLive, Bake: 20 * time.Second}})
	if code != runbook.ExitRolledBack {
		t.Fatalf("upgrade to 1.1.1-failclosed with --bake 20s: exit %d (%v), want %d", code, err, runbook.ExitRolledBack)
	}
	var failure journal.Entry
	for _, en := range e.journal() {
		if en.Kind == journal.Event && en.Op == "failure" && failure.Op == "" {
			failure = en
		}
	}
	if failure.StepID != "bake" || failure.GateValues["no abort signals.ok"] != "false" || !strings.Contains(failure.Detail, "svc_fail_closed_total grew") {
		t.Fatalf("want the bake to catch the fail-closed canary: step %q: %s %v", failure.StepID, failure.Detail, failure.GateValues)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.0.0") {
			t.Errorf("%s runs sha256 %s after the rollback, want 1.0.0's", name, runbook.ShortSHA(sha))
		}
	}
}

func TestE2ERollbackAfterSuccess(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 30*time.Second)
	ctx := context.Background()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive}})
	if code != runbook.ExitOK {
		t.Fatalf("upgrade: exit %d, %v", code, err)
	}
	upgraded := swapOrder(e.journal(), runbook.RecordOpSwap)
	code, err = Rollback(ctx, e.env, RollbackOptions{})
	if code != runbook.ExitOK {
		t.Fatalf("rollback: exit %d, %v", code, err)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.0.0") {
			t.Errorf("%s runs sha256 %s after the rollback, want 1.0.0's", name, runbook.ShortSHA(sha))
		}
	}
	rolled := swapOrder(e.journal(), runbook.RecordOpRollback)
	if len(rolled) != 3 || len(upgraded) != 3 {
		t.Fatalf("upgraded %v, rolled back %v", upgraded, rolled)
	}
	for i := range rolled {
		if rolled[i] != upgraded[len(upgraded)-1-i] {
			t.Fatalf("rolled back in order %v; upgraded in %v: want the reverse", rolled, upgraded)
		}
	}
	e.waitHealthy(ctx, 30*time.Second)
	// A second rollback finds nothing left to undo.
	if code, err := Rollback(ctx, e.env, RollbackOptions{}); code != runbook.ExitRefused || err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Errorf("second rollback: exit %d, %v", code, err)
	}
}

// nodeState is what a read-only command must not change on a node: the
// sha256 and mtime of every file under the binary's directory and the
// backup dir, the lock, and the service's pid and state.
func (e *e2e) nodeState(ctx context.Context) string {
	e.t.Helper()
	var b strings.Builder
	for _, n := range e.c.Info().Nodes {
		for _, dir := range []string{filepath.Dir(n.Binary), n.BackupDir, filepath.Dir(executor.LockPathForDataRoot(n.DataRoot))} {
			_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() {
					return nil
				}
				fmt.Fprintf(&b, "%s %s %s %v\n", n.Name, p, fileSHA(e.t, p), fi.ModTime().UnixNano())
				return nil
			})
		}
	}
	svcs, err := e.c.Services(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range svcs {
		fmt.Fprintf(&b, "%s %s %s pid %d restarts %d\n", s.Node, s.ActiveState, s.SubState, s.MainPID, s.NRestarts)
	}
	return b.String()
}

func TestE2EReadOnlyCommandsAndRefusals(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 15*time.Second)
	ctx := context.Background()
	before := e.nodeState(ctx)

	t.Run("plan changes nothing", func(t *testing.T) {
		var out bytes.Buffer
		env := e.env
		env.Out = &out
		if err := PrintPlan(ctx, env, PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupQuiesced}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Plan for cluster", "leader last", "quorum 2", "Upgrade the leader", "1.0.0 → 1.1.0"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("plan output lacks %q:\n%s", want, out.String())
			}
		}
		if got := e.nodeState(ctx); got != before {
			t.Errorf("plan changed the nodes:\nbefore:\n%s\nafter:\n%s", before, got)
		}
		if runs, _ := journal.ListRuns(env.StateDir, env.Inventory.Cluster); len(runs) != 0 {
			t.Errorf("plan wrote a journal: %v", runs)
		}
	})

	t.Run("status", func(t *testing.T) {
		rep, err := Status(ctx, e.env)
		if err != nil {
			t.Fatal(err)
		}
		leaders := 0
		for _, n := range rep.Nodes {
			if n.Release != "1.0.0" || !n.Ready || n.Lag == nil || n.Lock != "" {
				t.Errorf("status row %+v", n)
			}
			if n.Role == "leader" {
				leaders++
			}
		}
		if leaders != 1 || rep.Leader == "" {
			t.Errorf("status: %d leaders, leader %q", leaders, rep.Leader)
		}
		if !rep.Healthy || len(rep.Problems) != 0 {
			t.Errorf("status of a healthy cluster: healthy %v, problems %q", rep.Healthy, rep.Problems)
		}
		var out bytes.Buffer
		RenderStatus(&out, rep)
		if !strings.Contains(out.String(), "NODE") || !strings.Contains(out.String(), rep.Leader) || !strings.HasSuffix(out.String(), "\nhealthy\n") {
			t.Errorf("status table:\n%s", out.String())
		}
		if got := e.nodeState(ctx); got != before {
			t.Errorf("status changed the nodes")
		}
	})

	// variant loads the inventory with its api.ca_file line replaced.
	variant := func(t *testing.T, caLine string) Env {
		b, err := os.ReadFile(e.c.Info().Inventory)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^  ca_file: .*\n`)
		p := filepath.Join(t.TempDir(), "inventory.yaml")
		if err := os.WriteFile(p, re.ReplaceAll(b, []byte(caLine)), 0o644); err != nil {
			t.Fatal(err)
		}
		env := e.newEnv(t.TempDir())
		if env.Inventory, err = inventory.LoadWith(p, inventory.Options{SSHConfig: "none"}); err != nil {
			t.Fatal(err)
		}
		return env
	}

	t.Run("CA fetched over SSH and pinned", func(t *testing.T) {
		env := variant(t, "")
		if env.Inventory.API.CAFile != "" {
			t.Fatalf("variant still names a CA file")
		}
		rep, err := Status(ctx, env)
		if err != nil {
			t.Fatalf("status with the CA fetched over SSH: %v", err)
		}
		for _, n := range rep.Nodes {
			if !n.Ready {
				t.Errorf("%s not ready: %v", n.Name, n.Failing)
			}
		}
	})

	t.Run("wrong CA file", func(t *testing.T) {
		wrong := filepath.Join(e.c.Dir(), "ca", "cluster-ca.crt") // the Raft CA, not the API's
		env := variant(t, fmt.Sprintf("  ca_file: %q\n", wrong))
		_, err := Status(ctx, env)
		if ExitCodeOf(err) != runbook.ExitUsage || err == nil || !strings.Contains(err.Error(), "api.ca_file") {
			t.Errorf("status with the wrong CA: exit %d, %v", ExitCodeOf(err), err)
		}
	})

	t.Run("bad token", func(t *testing.T) {
		env := e.newEnv(t.TempDir())
		env.Token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
		env.Inventory.API.TokenEnv = "NEUWERK_TOKEN"
		_, err := Status(ctx, env)
		if ExitCodeOf(err) != runbook.ExitUsage || err == nil || !strings.Contains(err.Error(), "$NEUWERK_TOKEN") {
			t.Fatalf("status with a bad token: exit %d, %v", ExitCodeOf(err), err)
		}
		assertNoToken(t, err.Error())
		if got := e.nodeState(ctx); got != before {
			t.Errorf("status with a bad token changed the nodes")
		}
	})

	t.Run("held lock names its holder", func(t *testing.T) {
		victim := e.c.Info().Nodes[1]
		other := executor.LockHolder{User: "alice", Host: "ops-9", PID: 4242, RunID: "deadbeef", Cluster: e.env.Inventory.Cluster,
			StartedAt: time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)}
		defer writeLock(t, victim.DataRoot, other)()
		held := e.nodeState(ctx)
		env := e.env
		env.StateDir = t.TempDir()
		code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupQuiesced}})
		if code != runbook.ExitRefused || err == nil {
			t.Fatalf("upgrade with a held lock: exit %d, %v", code, err)
		}
		for _, want := range []string{"alice@ops-9", "pid 4242", victim.Name, "--break-lock"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q lacks %q", err, want)
			}
		}
		if got := e.nodeState(ctx); got != held {
			t.Errorf("a refused run changed the nodes:\nbefore:\n%s\nafter:\n%s", held, got)
		}
	})

	t.Run("a lock left by a dead run on this host says so", func(t *testing.T) {
		victim := e.c.Info().Nodes[2]
		gone := exec.Command("true")
		if err := gone.Run(); err != nil {
			t.Fatal(err)
		}
		dead := executor.NewLockHolder(e.env.Inventory.Cluster, "0dead0ed")
		dead.PID = gone.Process.Pid // exited and reaped: no longer running
		defer writeLock(t, victim.DataRoot, dead)()
		held := e.nodeState(ctx)
		env := e.env
		env.StateDir = t.TempDir()
		code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupQuiesced}})
		var locked *LockedError
		if code != runbook.ExitRefused || !errors.As(err, &locked) || !locked.Gone {
			t.Fatalf("upgrade over a dead run's lock: exit %d, %v", code, err)
		}
		want := fmt.Sprintf("node %s is locked by run 0dead0ed of %s, pid %d on this host, no longer running: take the lock over with --break-lock", victim.Name, journal.CurrentOperator(), dead.PID)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
		if got := e.nodeState(ctx); got != held {
			t.Errorf("a refused run changed the nodes")
		}
		if runs, _ := journal.History(env.StateDir, env.Inventory.Cluster); len(runs) != 0 {
			t.Errorf("a run refused for a lock left %d run(s) in the journal", len(runs))
		}
	})

	t.Run("host key mismatch shows the fingerprint", func(t *testing.T) {
		kh := e.c.Info().KnownHosts
		orig, err := os.ReadFile(kh)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(kh, orig, 0o644)
		victim := e.c.Info().Nodes[2]
		lines := strings.Split(strings.TrimSpace(string(orig)), "\n")
		want := ""
		for i, l := range lines {
			if !strings.HasPrefix(l, "["+victim.IP+"]") {
				continue
			}
			_, _, pub, _, _, err := ssh.ParseKnownHosts([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			want = ssh.FingerprintSHA256(pub)
			other, _, _ := ed25519.GenerateKey(nil)
			op, _ := ssh.NewPublicKey(other)
			lines[i] = "[" + victim.IP + "]:2222 " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(op)))
		}
		if err := os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := e.newEnv(t.TempDir()) // a fresh dialer: no pooled connection
		code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupQuiesced}})
		if code != runbook.ExitRefused || err == nil {
			t.Fatalf("upgrade with a wrong host key: exit %d, %v", code, err)
		}
		if !strings.Contains(err.Error(), "HOST KEY MISMATCH") || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), victim.Name) {
			t.Errorf("refusal does not show the mismatch, %s and its fingerprint %s:\n%v", victim.Name, want, err)
		}
		if runs, _ := journal.ListRuns(env.StateDir, env.Inventory.Cluster); len(runs) != 0 {
			t.Errorf("a run refused at connect wrote a journal: %v", runs)
		}
		if got := e.nodeState(ctx); got != before {
			t.Errorf("a refused run changed the nodes")
		}
	})
}

// assertOneDown checks, from the journal, that no stop was started while
// another node this run stopped was still down.
func assertOneDown(t *testing.T, entries []journal.Entry) {
	t.Helper()
	down := ""
	for _, en := range entries {
		switch {
		case en.Op == "stop" && en.Kind == journal.Intent:
			if down != "" && down != en.Node {
				t.Errorf("stop %s while %s is down", en.Node, down)
			}
			down = en.Node
		case en.Op == "start" && en.Kind == journal.Outcome && en.OK:
			down = ""
		}
	}
}

func TestE2ELeadershipMoves(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 3*time.Second, 40*time.Second)
	ctx := context.Background()
	initial, startTerm := e.leaderAndTerm(ctx)
	var once sync.Once
	killed := make(chan string, 1)
	env := e.env
	env.OnMachine = func(m runbook.Machine) {
		// During the first follower's gate wait, crash the leader.
		s, ok := m.Current()
		if !ok || s.Kind != runbook.StepUpgrade || !m.Gate.Open || m.Gate.Name != "stabilise" || m.Leader == "" || m.Leader == s.Node {
			return
		}
		once.Do(func() {
			leader := m.Leader
			go func() {
				if _, err := e.c.Kill(leader); err != nil {
					t.Errorf("kill %s: %v", leader, err)
				}
				killed <- leader
			}()
		})
	}
	code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive}})
	if code != runbook.ExitOK {
		t.Fatalf("upgrade: exit %d, %v", code, err)
	}
	var victim string
	select {
	case victim = <-killed:
	default:
		t.Fatal("the leader was never killed")
	}
	// The kill forces an election. A restarted leader may win it again (its
	// log is as long as anyone's), so the term, not the name, proves it;
	// a leader that did move must be in the journal.
	final, endTerm := e.leaderAndTerm(ctx)
	if endTerm <= startTerm {
		t.Errorf("killed leader %s, but the term is still %d: no election", victim, startTerm)
	}
	entries := e.journal()
	moved := false
	for _, en := range entries {
		if en.Kind == journal.Event && en.Op == "leader-changed" {
			moved = true
		}
	}
	if final != initial && !moved {
		t.Errorf("leadership moved %s → %s, but the journal shows no leader change", initial, final)
	}
	order := swapOrder(entries, runbook.RecordOpSwap)
	led := leaderAtUpgrade(entries, initial)
	if len(order) != 3 {
		t.Fatalf("swaps %v", order)
	}
	// Leader last: no node led when its upgrade began but the last one.
	// The last need not lead: the election after the kill may have given
	// the leadership to a node already upgraded.
	for i, n := range order[:len(order)-1] {
		if led[n] {
			t.Errorf("swap order %v: %s (upgrade %d of %d) led when its upgrade began", order, n, i+1, len(order))
		}
	}
	assertOneDown(t, entries)
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
	e.waitHealthy(ctx, 30*time.Second)
}

// startCLIE2E is startE2E for a test of the nwroll binary: the binary, a
// state directory, the inventory and release 1.1.0's directory.
func startCLIE2E(t *testing.T) (e *e2e, bin, state, inv, rel string) {
	t.Helper()
	e = startE2E(t, 3, 2*time.Second, 30*time.Second)
	return e, buildNwroll(t, t.TempDir()), t.TempDir(), e.c.Info().Inventory, filepath.Join(e.c.Dir(), "releases", "1.1.0")
}

// buildNwroll builds the nwroll command into dir.
func buildNwroll(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "nwroll")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nwroll/nwroll/cmd/nwroll")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cliRun runs the nwroll binary with args and a clean environment (state
// in stateDir, no agent, no ssh_config, no token). With kill set, the
// process is SIGKILLed as soon as kill accepts a line of its --json log.
func (e *e2e) cliRun(bin, stateDir string, kill func(LogEntry) bool, args ...string) (killed bool, code int, stderr string) {
	t := e.t
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_STATE_HOME=" + stateDir,
		"NWROLL_SSH_CONFIG=none", "SSH_AUTH_SOCK=", "USER=" + os.Getenv("USER")}
	cmd.Env = append(cmd.Env, e.cliEnv...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	e.lastOut = nil
	for sc.Scan() {
		line := sc.Text()
		e.log.Write([]byte(line + "\n"))
		e.lastOut = append(e.lastOut, line+"\n"...)
		var l LogEntry
		if kill != nil && !killed && json.Unmarshal([]byte(line), &l) == nil && kill(l) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	code = cmd.ProcessState.ExitCode()
	if killed {
		code = -1
	} else if err != nil && code < 0 {
		t.Fatalf("%s: %v", bin, err)
	}
	if !killed && code >= 0 && code != 130 && slices.Contains(args, "--json") && len(args) > 0 && slices.Contains([]string{"upgrade", "resume", "rollback"}, args[0]) {
		schemacheck.ValidateLines(t, e.lastOut)
	}
	return killed, code, errBuf.String()
}

// assertKnownBinaries: every node's binary is one of the releases.
func (e *e2e) assertKnownBinaries(when string, versions ...string) {
	e.t.Helper()
	ok := map[string]bool{}
	for _, v := range versions {
		ok[e.releaseSHA(v)] = true
	}
	for name, sha := range e.binaries() {
		if !ok[sha] {
			e.t.Errorf("%s: %s runs sha256 %s, which is none of %v", when, name, runbook.ShortSHA(sha), versions)
		}
	}
}

func TestE2EKillAndResume(t *testing.T) {
	t.Parallel()
	e, bin, state, inv, rel := startCLIE2E(t)
	ctx := context.Background()
	before := e.nodeState(ctx)

	// A release whose binary does not match its manifest is refused before
	// any node is touched: one line, exit 2, no journal, nothing changed.
	tampered := filepath.Join(t.TempDir(), "1.1.0")
	if err := os.CopyFS(tampered, os.DirFS(rel)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(tampered, "neuwerk"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# tampered\n")
	f.Close()
	_, code, stderr := e.cliRun(bin, state, nil, "upgrade", "-i", inv, "--release", tampered, "--yes", "--json")
	if code != runbook.ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "neuwerk") || strings.Contains(stderr, "goroutine") {
		t.Errorf("tampered release: exit %d, stderr %q: want exit 2 and one line naming the binary", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(state, "nwroll")); !os.IsNotExist(err) {
		t.Errorf("a refused release left state behind: %v", err)
	}
	if got := e.nodeState(ctx); got != before {
		t.Errorf("a refused release changed the nodes")
	}

	// Kill -9 at several points; resume each time.
	kills := []struct {
		what string
		args []string
		at   func(LogEntry) bool
	}{
		{"during staging", []string{"upgrade", "-i", inv, "--release", rel, "--yes", "--json", "--backup", "live"},
			func(l LogEntry) bool { return l.Type == "effect" && l.Op == "stage" && l.Status == "started" }},
		{"right after the .prev copy (the node stopped, not swapped)", []string{"resume", "-i", inv, "--yes", "--json"},
			func(l LogEntry) bool { return l.Type == "effect" && l.Op == "keep-prev" && l.Status == "ok" }},
		{"between stop and start", []string{"resume", "-i", inv, "--yes", "--json"},
			func(l LogEntry) bool {
				return l.Type == "effect" && l.Op == "stop" && l.Status == "ok" && strings.HasPrefix(l.Step, "upgrade/")
			}},
		{"during a gate wait", []string{"resume", "-i", inv, "--yes", "--json"},
			func(l LogEntry) bool { return l.Type == "gate" && strings.HasPrefix(l.Step, "upgrade/") }},
	}
	for _, k := range kills {
		killed, code, stderr := e.cliRun(bin, state, k.at, k.args...)
		if !killed {
			t.Fatalf("%s: never killed (exit %d, %s)", k.what, code, stderr)
		}
		e.assertKnownBinaries("after a kill "+k.what, "1.0.0", "1.1.0")
		// A new upgrade never buries the unfinished run: refused, naming
		// the run and both ways out, with nothing changed.
		runs := e.runsJSON(bin, state, inv)
		if len(runs) != 1 || !runs[0].Unfinished || runs[0].Outcome != journal.OutcomeInterrupted {
			t.Fatalf("after a kill %s: runs --json says %+v, want one interrupted, unfinished run", k.what, runs)
		}
		mid := e.nodeState(ctx)
		_, code, stderr = e.cliRun(bin, state, nil, "upgrade", "-i", inv, "--release", rel, "--yes", "--json")
		for _, want := range []string{"unfinished rollout", "run " + runs[0].ID, "nwroll resume -i " + inv, "nwroll rollback -i " + inv, "--abandon-run"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("upgrade after a kill %s: stderr %q does not say %q", k.what, stderr, want)
			}
		}
		if code != runbook.ExitRefused {
			t.Errorf("upgrade after a kill %s: exit %d, want 3", k.what, code)
		}
		if got := e.nodeState(ctx); got != mid {
			t.Errorf("the refused upgrade after a kill %s changed the nodes", k.what)
		}
	}
	_, code, stderr = e.cliRun(bin, state, nil, "resume", "-i", inv, "--yes", "--json")
	if code != runbook.ExitOK {
		t.Fatalf("final resume: exit %d: %s", code, stderr)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s after resume, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
	e.waitHealthy(ctx, 30*time.Second)
	for _, n := range e.c.Info().Nodes {
		if _, err := os.Stat(executor.LockPathForDataRoot(n.DataRoot)); !os.IsNotExist(err) {
			t.Errorf("%s: the lock is still there after the resumed run finished", n.Name)
		}
	}
	env := e.env
	env.StateDir = filepath.Join(state, "nwroll")
	assertOneDown(t, e.journalOf(env))
	if runs := e.runsJSON(bin, state, inv); len(runs) != 1 || runs[0].Unfinished || runs[0].Outcome != journal.OutcomeFinished {
		t.Errorf("after the final resume, runs --json says %+v, want one finished run", runs)
	}
	// Nothing is left to resume.
	_, code, stderr = e.cliRun(bin, state, nil, "resume", "-i", inv, "--yes")
	if code != runbook.ExitRefused || !strings.Contains(stderr, "nothing to resume") {
		t.Errorf("resume after the end: exit %d, %q", code, stderr)
	}
}

// writeLock puts holder's lock on the node with dataRoot, as another run
// would have; the func returned removes it.
func writeLock(t *testing.T, dataRoot string, holder executor.LockHolder) func() {
	t.Helper()
	lock := executor.LockPathForDataRoot(dataRoot)
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte(executor.LockJSON(holder)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() { os.Remove(lock) }
}

// runsJSON is `nwroll runs --json`'s list.
func (e *e2e) runsJSON(bin, stateDir, inv string) []journal.RunSummary {
	e.t.Helper()
	cmd := exec.Command(bin, "runs", "-i", inv, "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "XDG_STATE_HOME=" + stateDir}
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("nwroll runs --json: %v", err)
	}
	schemacheck.Validate(e.t, "runs", out)
	var rep RunsReport
	if err := json.Unmarshal(out, &rep); err != nil {
		e.t.Fatalf("nwroll runs --json: %v\n%s", err, out)
	}
	return rep.Runs
}

func (e *e2e) journalOf(env Env) []journal.Entry {
	e.t.Helper()
	run, err := journal.LatestRun(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		e.t.Fatal(err)
	}
	return run.Entries
}

func TestE2EHappyPath5(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 5, 2*time.Second, 30*time.Second)
	ctx := context.Background()
	initial := e.leaderName(ctx)
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive}})
	if code != runbook.ExitOK {
		t.Fatalf("upgrade: exit %d, %v", code, err)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
	entries := e.journal()
	order := swapOrder(entries, runbook.RecordOpSwap)
	led := leaderAtUpgrade(entries, initial)
	if len(order) != 5 {
		t.Fatalf("swaps %v", order)
	}
	for i, n := range order {
		if want := i == len(order)-1; led[n] != want {
			t.Errorf("swap order %v: %s led when its upgrade began: %v", order, n, led[n])
		}
	}
	assertOneDown(t, entries)
	e.waitHealthy(ctx, 30*time.Second)
}

func TestE2ECtrlCThenResume(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := e.env
	var once sync.Once
	stopped := ""
	env.OnMachine = func(m runbook.Machine) {
		// Ctrl-C while the first upgraded node is stopped.
		for _, n := range m.Nodes {
			if n.Down && m.Phase == runbook.PhaseFollowers {
				once.Do(func() { stopped = n.Name; cancel() })
			}
		}
	}
	code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: e.release("1.1.0"), Backup: runbook.BackupLive}})
	if code != runbook.ExitFailed || stopped == "" {
		t.Fatalf("interrupted upgrade: exit %d (%v), interrupted with %q down", code, err, stopped)
	}
	// Every node runs again, on a known build; the journal says where the
	// run stopped, and the lock is kept for resume.
	svcs, err := e.c.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.ActiveState != "active" {
			t.Errorf("%s is %s after the interrupted run", s.Node, s.ActiveState)
		}
	}
	e.assertKnownBinaries("after Ctrl-C", "1.0.0", "1.1.0")
	rp := journal.Progress(e.journal())
	if !rp.Started || !rp.Finished || rp.FinishedOK {
		t.Errorf("journal progress after Ctrl-C: %+v", rp)
	}
	quit := false
	for _, en := range e.journal() {
		quit = quit || (en.Kind == journal.Event && en.Op == "quit")
	}
	if !quit {
		t.Error("the journal does not record the interruption")
	}
	n, _ := e.c.Node(stopped)
	if _, err := os.Stat(executor.LockPathForDataRoot(n.DataRoot)); err != nil {
		t.Errorf("the lock should be kept for resume: %v", err)
	}
	// Quit ended the run with exit 1, keeping the lock: resume continues it.
	code, err = Resume(context.Background(), e.env, ResumeOptions{})
	if code != runbook.ExitOK {
		t.Fatalf("resume after Ctrl-C: exit %d, %v", code, err)
	}
	for name, sha := range e.binaries() {
		if sha != e.releaseSHA("1.1.0") {
			t.Errorf("%s runs sha256 %s after resume, want 1.1.0's", name, runbook.ShortSHA(sha))
		}
	}
}
