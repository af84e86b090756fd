package rollout

// End to end on the simulated cloud (issue 11): the headless runner rolls
// a 3-node cluster behind the fake Auto Scaling group image-first, through
// the real AWS SDK, real Raft with dynamic membership and Neuwerk's
// simulated aws-asg integration (drain, auto-evict, the hook completed).

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// cloudE2E is a simulated cloud cluster with an Env on its inventory.
type cloudE2E struct {
	*e2e
	tok api.Token
}

func startCloudE2E(t *testing.T, nodes int) *cloudE2E {
	t.Helper()
	requireE2E(t)
	c := simtest.Start(t, sim.Options{Cloud: sim.CloudAWS, Nodes: nodes})
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

// group is the fake AWS's group and the image of each release.
func (e *cloudE2E) group() (*fakeaws.Group, map[string]string, fakeaws.State) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.c.CloudState(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	g := st.Groups[e.info().CloudGroup]
	if g == nil {
		e.t.Fatalf("no group %s in the fake", e.info().CloudGroup)
	}
	images := map[string]string{}
	for id, img := range st.Images {
		images[img.Tags[fakeaws.ReleaseTag]] = id
	}
	return g, images, st
}

// members asks a live node for the membership.
func (e *cloudE2E) members() health.MembersResponse {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []string
	for _, n := range e.info().LiveNodes() {
		m, err := e.c.Members(ctx, n, e.tok)
		if err == nil {
			return m
		}
		errs = append(errs, err.Error())
	}
	e.t.Fatalf("no node answered the members API: %s", strings.Join(errs, "; "))
	return health.MembersResponse{}
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
// capacity 3, the group's processes as they were, the old leader's member
// removed; the leader was retired last.
func TestCloudRolloutE2E(t *testing.T) {
	e := startCloudE2E(t, 3)
	g0, images, _ := e.group()
	var oldInstances, oldIDs []string
	for _, n := range e.info().LiveNodes() {
		oldInstances, oldIDs = append(oldInstances, n.InstanceID), append(oldIDs, n.NodeID)
	}
	leader := e.leaderInstance()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	code, err := Upgrade(ctx, e.env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: imageRel("1.1.0")}})
	if code != 0 {
		t.Fatalf("upgrade: exit %d: %v", code, err)
	}
	t.Logf("cloud rollout of 3 nodes took %s", time.Since(start).Round(time.Millisecond))

	g, _, st := e.group()
	if g.Desired != 3 || len(g.Members) != 3 || !slices.Equal(g.Suspended, g0.Suspended) {
		t.Fatalf("group after: desired %d, %d instances, suspended %v (before %v)", g.Desired, len(g.Members), g.Suspended, g0.Suspended)
	}
	for _, m := range g.Members {
		if slices.Contains(oldInstances, m.InstanceID) || m.Lifecycle != "InService" || st.Instances[m.InstanceID].ImageID != images["1.1.0"] {
			t.Errorf("instance %s: %s on %s (1.1.0 is %s)", m.InstanceID, m.Lifecycle, st.Instances[m.InstanceID].ImageID, images["1.1.0"])
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
	if removed := swapOrder(entries, "remove-member"); !slices.Equal(removed, []string{leader}) {
		t.Fatalf("members removed by nwroll: %v, want the old leader %s only", removed, leader)
	}
	if s := journal.Progress(entries); len(s.UpgradeOrder) != 3 {
		t.Fatalf("upgraded per the journal: %v", s.UpgradeOrder)
	}
}
