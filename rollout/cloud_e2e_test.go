package rollout

// End to end on the simulated clouds: the headless runner rolls a 3-node
// cluster behind a fake managed group image-first, through the provider's
// real SDK, real Raft with dynamic membership and Neuwerk's simulated
// cloud integration (drain, auto-evict, the hold completed). The tests
// look at the group through nwroll's own provider, so they read the same
// on every cloud.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/node"
	"github.com/nwroll/nwroll/sim/simtest"
)

// cloudE2E is a simulated cloud cluster with an Env on its inventory.
type cloudE2E struct {
	*e2e
	tok api.Token
	p   cloud.Provider // nwroll's provider on the inventory, to look
}

func startCloudE2E(t *testing.T, provider string, nodes int, joinViaFollower string) *cloudE2E {
	t.Helper()
	requireE2E(t)
	t.Parallel()
	c := simtest.Start(t, sim.Options{Cloud: provider, Nodes: nodes, JoinViaFollower: joinViaFollower})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info := c.Info()
	tok, err := c.MintToken(ctx, info.LiveNodes()[0].Name, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &cloudE2E{e2e: &e2e{t: t, c: c, log: &syncBuffer{t: t}}, tok: tok}
	e.env = e.newEnv(t.TempDir())
	e.env.Token = tok
	if e.p, err = Providers(ctx, e.env.Inventory.Cloud); err != nil {
		t.Fatal(err)
	}
	return e
}

// info is sim.json as it is now (launches and terminations change it).
func (e *cloudE2E) info() *sim.Info {
	e.t.Helper()
	c, err := sim.Open(e.c.Dir())
	if err != nil {
		e.t.Fatal(err)
	}
	in := c.Info()
	return &in
}

// group is the group as nwroll's provider describes it now.
func (e *cloudE2E) group() cloud.Group {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := e.p.Describe(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

// image is the image tagged for release.
func (e *cloudE2E) image(release string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img, err := e.p.ImageFor(ctx, release)
	if err != nil {
		e.t.Fatal(err)
	}
	return img.ID
}

// launched is how many instances the group ever had (each is a node of
// the simulator, terminated or not).
func (e *cloudE2E) launched() int { return len(e.info().Nodes) }

// ids are the ids of instances.
func ids(instances []cloud.Instance) []string {
	var out []string
	for _, in := range instances {
		out = append(out, in.ID)
	}
	return out
}

// members asks a live node for the membership, through an election
// (502/503) for up to 30 s.
func (e *cloudE2E) members() health.MembersResponse {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var errs []string
		for _, n := range e.info().LiveNodes() {
			m, err := e.c.Members(ctx, n, e.tok)
			if err == nil {
				cancel()
				return m
			}
			errs = append(errs, err.Error())
		}
		cancel()
		if time.Now().After(deadline) {
			e.t.Fatalf("no node answered the members API for 30s: %s", strings.Join(errs, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (e *cloudE2E) leaderInstance() string {
	e.t.Helper()
	for _, m := range e.members().Members {
		if m.Role == "leader" {
			for _, n := range e.info().Nodes {
				if n.NodeID == m.NodeID {
					return n.InstanceID
				}
			}
		}
	}
	e.t.Fatal("no leader")
	return ""
}

func imageRel(v string) *release.Release { return &release.Release{Version: v, Source: v} }

// A 3-node group rolled from 1.0.0 to 1.1.0: afterwards 3 voters, none of
// the original instances or node ids, every instance on the new image,
// capacity 3, the group's movers as they were, the old leader's member
// removed; the leader was retired last. On GCP, which holds no deletion,
// nwroll removes every retired node's member Neuwerk did not evict. Then
// `nwroll rollback`: the group back on its template, 3 voters on the old
// image. The simulator takes G5's other reading here (a follower forwards
// a join to the leader): after the rollout the oldest instance, every new
// instance's seed, need not lead. (The off-script test rolls forward
// under the first reading.)
func TestCloudRolloutE2E(t *testing.T) { forClouds(t, testCloudRollout) }

// forClouds runs test on every simulated cloud, in parallel.
func forClouds(t *testing.T, test func(*testing.T, string)) {
	for _, p := range sim.CloudKinds() {
		t.Run(p, func(t *testing.T) { test(t, p) })
	}
}

func testCloudRollout(t *testing.T, provider string) {
	e := startCloudE2E(t, provider, 3, node.JoinForward)
	g0 := e.group()
	var oldInstances, oldIDs []string
	for _, n := range e.info().LiveNodes() {
		oldInstances, oldIDs = append(oldInstances, n.InstanceID), append(oldIDs, n.NodeID)
	}
	leader := e.leaderInstance()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: imageRel("1.1.0")}})
	if code != 0 {
		t.Fatalf("upgrade: exit %d: %v", code, err)
	}
	t.Logf("%s: cloud rollout of 3 nodes took %s", provider, time.Since(start).Round(time.Millisecond))

	g, img := e.group(), e.image("1.1.0")
	if g.Desired != 3 || len(g.Instances) != 3 || !slices.Equal(g.Suspended, g0.Suspended) || !slices.Equal(g.Movers, g0.Movers) {
		t.Fatalf("group after: desired %d, %d instances, suspended %v movers %v (before %v, %v)", g.Desired, len(g.Instances), g.Suspended, g.Movers, g0.Suspended, g0.Movers)
	}
	for _, in := range g.Instances {
		if slices.Contains(oldInstances, in.ID) || in.Lifecycle != cloud.InService || in.ImageID != img {
			t.Errorf("instance %s: %s on %s (1.1.0 is %s)", in.ID, in.State, in.ImageID, img)
		}
	}
	mem := e.members()
	if v := health.CountVoters(mem.Members); v != 3 || len(mem.Members) != 3 {
		t.Fatalf("members after: %+v", mem.Members)
	}
	for _, m := range mem.Members {
		if slices.Contains(oldIDs, m.NodeID) {
			t.Errorf("member %s is an original node", m.NodeID)
		}
	}
	entries := e.journal()
	retired := swapOrder(entries, "retire")
	if len(retired) != 3 || retired[2] != leader {
		t.Fatalf("retired %v; the leader %s must be last", retired, leader)
	}
	removed := swapOrder(entries, "remove-member")
	if provider == sim.CloudGCP {
		if !slices.Contains(removed, leader) {
			t.Fatalf("members removed by nwroll: %v, want the old leader %s among them", removed, leader)
		}
	} else if !slices.Equal(removed, []string{leader}) {
		t.Fatalf("members removed by nwroll: %v, want the old leader %s only (Neuwerk evicts a drained follower)", removed, leader)
	}
	if s := journal.Progress(entries); len(s.UpgradeOrder) != 3 {
		t.Fatalf("upgraded per the journal: %v", s.UpgradeOrder)
	}

	if code, err := Rollback(ctx, e.env, RollbackOptions{}); code != 0 {
		t.Fatalf("rollback: exit %d: %v", code, err)
	}
	g, img = e.group(), e.image("1.0.0")
	if g.Template != g0.Template || len(g.Instances) != 3 || g.Desired != 3 || !slices.Equal(g.Suspended, g0.Suspended) {
		t.Fatalf("after the rollback: template %+v (was %+v), %d instances, desired %d, suspended %v", g.Template, g0.Template, len(g.Instances), g.Desired, g.Suspended)
	}
	for _, in := range g.Instances {
		if in.ImageID != img {
			t.Errorf("after the rollback: %s runs %s, want 1.0.0's %s", in.ID, in.ImageID, img)
		}
	}
	if mem := e.members(); health.CountVoters(mem.Members) != 3 || len(mem.Members) != 3 {
		t.Fatalf("after the rollback: members %+v", mem.Members)
	}
}

// setGates writes short gate timings into the inventory.
func (e *cloudE2E) setGates(window, timeout time.Duration) {
	e.t.Helper()
	p := e.c.Info().Inventory
	b, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if !gatesRE.Match(b) {
		e.t.Fatalf("inventory %s has no gates section to tune", p)
	}
	b = gatesRE.ReplaceAll(b, []byte(fmt.Sprintf("gates:\n  timeout: %s\n  stabilisation: %s\n", timeout, window)))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.env = e.newEnv(e.env.StateDir)
	e.env.Token = e.tok
}

// Off-script on one group, in order: an image whose node never joins
// (the join gate fails naming the cause, nothing old is retired, the new
// instance is retired again); a rollout killed between a surge and its
// join gate and again between the leader's retirement and its member's
// removal, each resumed (exactly 3 voters, no orphan instance, the group
// unfrozen). The simulator takes the notes' inference G5 (a join through
// a follower never adds the joiner): the seed, the oldest instance, is
// the first leader, so the forward rollout works.
func TestCloudOffScriptE2E(t *testing.T) { forClouds(t, testCloudOffScript) }

func testCloudOffScript(t *testing.T, provider string) {
	e := startCloudE2E(t, provider, 3, node.JoinStuck)
	e.setGates(3*time.Second, 30*time.Second)
	g0, launched0 := e.group(), e.launched()
	orig := ids(g0.Instances)

	// 1. The never-joins image.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: imageRel("1.1.1-never-joins")}})
	if code != runbook.ExitRolledBack {
		t.Fatalf("never-joins: exit %d: %v", code, err)
	}
	g := e.group()
	if len(g.Instances) != 3 || g.Desired != 3 || g.Template != g0.Template || !slices.Equal(g.Suspended, g0.Suspended) {
		t.Fatalf("after never-joins: %d instances, desired %d, template %+v (was %+v), suspended %v", len(g.Instances), g.Desired, g.Template, g0.Template, g.Suspended)
	}
	if now := ids(g.Instances); !slices.Equal(now, orig) {
		t.Fatalf("after never-joins: instances %v, want the original %v", now, orig)
	}
	if n := e.launched() - launched0; n != 1 {
		t.Fatalf("never-joins launched %d instances, want 1", n)
	}
	fails := failures(e.journal())
	if len(fails) != 1 || !strings.Contains(fails[0], "never became a voter") || !strings.Contains(fails[0], "G5") {
		t.Fatalf("the failure names the likely cause: %q", fails)
	}
	if v := health.CountVoters(e.members().Members); v != 3 {
		t.Fatalf("after never-joins: %d voters", v)
	}

	// 2. Killed between surge and join gate, then between the leader's
	// retirement and its member's removal.
	bin := buildNwroll(t, t.TempDir())
	state := t.TempDir()
	inv := e.c.Info().Inventory
	e.cliEnv = []string{"NEUWERK_TOKEN=" + string(e.tok)}
	leader := e.leaderInstance()
	killed, code, stderr := e.cliRun(bin, state, func(l LogEntry) bool {
		return l.Type == "effect" && l.Op == "surge" && l.Status == "ok"
	}, "upgrade", "-i", inv, "--release", "1.1.0", "--yes", "--json")
	if !killed {
		t.Fatalf("never killed after the surge (exit %d: %s)", code, stderr)
	}
	if g := e.group(); len(g.Instances) != 4 || (len(g0.Movers) > 0 && len(g.Movers) != 0) {
		t.Fatalf("killed after the surge: %d instances, movers %v (before %v)", len(g.Instances), g.Movers, g0.Movers)
	}
	retires := 0
	killed, code, stderr = e.cliRun(bin, state, func(l LogEntry) bool {
		if l.Type == "effect" && l.Op == "retire" && l.Status == "ok" {
			retires++
		}
		return retires == 3 && l.Node == leader
	}, "resume", "-i", inv, "--yes", "--json")
	if !killed {
		t.Fatalf("never killed after the leader's retirement (exit %d: %s)", code, stderr)
	}
	_, code, stderr = e.cliRun(bin, state, nil, "resume", "-i", inv, "--yes", "--json")
	if code != runbook.ExitOK {
		t.Fatalf("final resume: exit %d: %s", code, stderr)
	}
	g = e.group()
	if len(g.Instances) != 3 || g.Desired != 3 || !slices.Equal(g.Suspended, g0.Suspended) || !slices.Equal(g.Movers, g0.Movers) {
		t.Fatalf("after the resumes: %d instances, desired %d, suspended %v, movers %v", len(g.Instances), g.Desired, g.Suspended, g.Movers)
	}
	if n := e.launched() - launched0; n != 1+3 {
		t.Fatalf("%d instances were launched in all, want 4 (never-joins' and one per node): a resume launched a second surge", n)
	}
	mem := e.members()
	if health.CountVoters(mem.Members) != 3 || len(mem.Members) != 3 {
		t.Fatalf("after the resumes: members %+v", mem.Members)
	}
	img := e.image("1.1.0")
	for _, in := range g.Instances {
		if slices.Contains(orig, in.ID) || in.ImageID != img {
			t.Fatalf("after the resumes: %s runs %s", in.ID, in.ImageID)
		}
	}
}

// failures are the failure events' details of a journal.
func failures(entries []journal.Entry) []string {
	var out []string
	for _, en := range entries {
		if en.Kind == journal.Event && en.Op == "failure" {
			out = append(out, en.Detail)
		}
	}
	return out
}
