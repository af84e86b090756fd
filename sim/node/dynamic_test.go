package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
)

// TestDynamicMembership runs a dynamic-mode cluster: fw-a is the seed, fw-b
// and fw-c join through it; fw-d joins through the leader later, fw-e
// through a follower with join_via_follower "stuck". Then the member
// removal API's refusals, a removal, and its 503 without a leader.
func TestDynamicMembership(t *testing.T) {
	seeds := []int{0, 0, 0, 0, 1} // fw-e joins through fw-b, a follower
	c := newTestClusterSeeds(t, blockDynamic, 5, 300*time.Millisecond, func(s *SimSettings) {
		s.Dynamic = true
		for _, p := range s.Peers {
			if p.Name == s.Name {
				s.Peers = []Peer{p}
				break
			}
		}
	}, func(i int) int { return seeds[i] })
	for i := 0; i < 3; i++ {
		c.start(i, FaultNone)
	}
	c.waitReady(60*time.Second, 0, 1, 2)
	waitFor(t, 30*time.Second, "3 voters", func() bool { return voters(c.members(0)) == 3 })
	if l := c.leader(); l != 0 {
		t.Fatalf("leader is node %d, want the seed fw-a", l)
	}
	m := c.members(1)
	for _, mem := range m.Members {
		if !mem.IsVoter || (mem.Role != "leader" && mem.Role != "follower") || mem.CloudStatus != "unknown" || mem.Addr == "" {
			t.Errorf("member %+v", mem)
		}
	}

	t.Run("JoinThroughLeader", func(t *testing.T) {
		c.start(3, FaultNone)
		waitFor(t, 30*time.Second, "fw-d a voter", func() bool { return isVoter(c.members(0), c.nodes[3].id) })
		log := c.nodes[0].log.String()
		learner := strings.Index(log, "added cluster learner")
		promoted := strings.Index(log, "promoted cluster learner to voter")
		if learner < 0 || promoted < learner || !strings.Contains(log[learner:], c.nodes[3].id) {
			t.Fatalf("leader log lacks learner, then voter for %s:\n%s", c.nodes[3].id, log)
		}
		c.waitReady(30*time.Second, 3)
		waitFor(t, 10*time.Second, "fw-d caught up", func() bool {
			_, st, _ := c.stats(0)
			for _, row := range st.Cluster.Nodes {
				if row.NodeID == c.nodes[3].id {
					return row.CaughtUp
				}
			}
			return false
		})
		// A restart re-runs the join; fw-d stays one voter, no churn.
		c.stop(3)
		c.start(3, FaultNone)
		c.waitReady(30*time.Second, 3)
		if n := strings.Count(c.nodes[0].log.String(), "added cluster learner: node_id="+c.nodes[3].id); n != 1 {
			t.Errorf("the leader added %d learners, want 1 (fw-d's restart must not re-add it)", n)
		}
		if v := voters(c.members(0)); v != 4 {
			t.Errorf("%d voters after fw-d's restart, want 4", v)
		}
	})

	t.Run("JoinThroughFollowerStuck", func(t *testing.T) {
		c.start(4, FaultNone)
		waitFor(t, 20*time.Second, "fw-b's failed membership change", func() bool {
			return strings.Contains(c.nodes[1].log.String(), "cluster membership change for joiner failed")
		})
		time.Sleep(3 * time.Second)
		if mem := c.members(0); memberIndex(mem, c.nodes[4].id) >= 0 {
			t.Fatalf("fw-e joined through a follower but is a member: %+v", mem)
		}
		status, r := c.ready(4)
		if status != http.StatusServiceUnavailable || checksByName(r)[health.CheckCluster].OK {
			t.Fatalf("fw-e /ready %d, cluster check ok %v; want 503 with cluster failing", status, checksByName(r)[health.CheckCluster].OK)
		}
		c.stop(4)
	})

	t.Run("RemoveMember", func(t *testing.T) {
		leaderID := c.nodes[0].id
		status, body := c.remove(1, leaderID, false) // proxied to the leader
		if status != http.StatusBadRequest || !strings.Contains(body, "it is the leader") {
			t.Errorf("self-removal: %d %s", status, body)
		}
		status, body = c.remove(0, "12345", false)
		if status != http.StatusNotFound || !strings.Contains(body, "not a cluster member") {
			t.Errorf("unknown member: %d %s", status, body)
		}
		if status, _ = c.removeAs(0, c.nodes[3].id, false, c.reader); status != http.StatusForbidden {
			t.Errorf("removal without the admin role: %d, want 403", status)
		}
		status, body = c.remove(2, c.nodes[3].id, false)
		var after health.MembersResponse
		if status != http.StatusOK || json.Unmarshal([]byte(body), &after) != nil {
			t.Fatalf("remove fw-d: %d %s", status, body)
		}
		if len(after.Members) != 3 || memberIndex(after, c.nodes[3].id) >= 0 || voters(after) != 3 {
			t.Fatalf("members after removing fw-d: %+v", after)
		}
		c.stop(3)
		status, body = c.remove(0, c.nodes[2].id, false)
		if status != http.StatusBadRequest || !strings.Contains(body, "below min_voters 3") {
			t.Errorf("removal below min_voters: %d %s", status, body)
		}
		if v := voters(c.members(0)); v != 3 {
			t.Errorf("%d voters after the refused removal, want 3", v)
		}
	})

	t.Run("RemoveWithoutLeader", func(t *testing.T) {
		c.stop(1)
		c.stop(2)
		waitFor(t, 15*time.Second, "fw-a to lose its leadership", func() bool {
			v, ok := c.metric(0, "raft_is_leader")
			return ok && v == 0
		})
		status, body := c.remove(0, c.nodes[1].id, false)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "leader unknown") {
			t.Errorf("removal without a leader: %d %s", status, body)
		}
	})
}

func (c *testCluster) members(i int) health.MembersResponse {
	var m health.MembersResponse
	status, _, body := c.do(http.MethodGet, i, "/api/v1/cluster/members", c.reader, nil)
	if status == http.StatusOK {
		must(c.t, json.Unmarshal(body, &m))
	}
	return m
}

func (c *testCluster) remove(i int, id string, force bool) (int, string) {
	return c.removeAs(i, id, force, c.admin)
}

func (c *testCluster) removeAs(i int, id string, force bool, token string) (int, string) {
	body, _ := json.Marshal(map[string]bool{"force": force})
	req, err := http.NewRequest(http.MethodPost, c.url(i, "/api/v1/cluster/members/"+id+"/remove"), bytes.NewReader(body))
	must(c.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func voters(m health.MembersResponse) int {
	n := 0
	for _, mem := range m.Members {
		if mem.IsVoter {
			n++
		}
	}
	return n
}

func memberIndex(m health.MembersResponse, id string) int {
	for i, mem := range m.Members {
		if mem.NodeID == id {
			return i
		}
	}
	return -1
}

func isVoter(m health.MembersResponse, id string) bool {
	i := memberIndex(m, id)
	return i >= 0 && m.Members[i].IsVoter && m.Members[i].Role != "learner"
}

// TestIntegrationStateInMembers writes a node's integration state through
// a one-node in-memory Raft and reads it back in the members body.
func TestIntegrationStateInMembers(t *testing.T) {
	n := newInmemLeader(t)
	if m := n.members().Members; len(m) != 1 || m[0].CloudStatus != "unknown" || m[0].DrainState != nil || m[0].TerminationEventID != nil || m[0].Role != "leader" {
		t.Fatalf("members before: %+v", m)
	}
	must(t, n.setIntegrationState("7", IntegrationState{CloudStatus: "terminating", DrainState: "Drained", TerminationEventID: "ev-1"}))
	m := n.members().Members
	if len(m) != 1 || m[0].CloudStatus != "terminating" || m[0].DrainState == nil || *m[0].DrainState != "Drained" ||
		m[0].TerminationEventID == nil || *m[0].TerminationEventID != "ev-1" {
		t.Fatalf("members after: %+v", m)
	}
}

// TestRemoveMemberRefusals runs remove_member's guards on a one-node
// in-memory Raft, including the one the live cluster cannot time: a
// membership change already in flight.
func TestRemoveMemberRefusals(t *testing.T) {
	n := newInmemLeader(t)
	cases := []struct {
		name   string
		setup  func() func()
		id     string
		force  bool
		status int
		want   string
	}{
		{"in flight", func() func() { n.membershipMu.Lock(); return n.membershipMu.Unlock }, "7", true,
			http.StatusBadRequest, "cluster membership is changing (joint configuration); retry once it settles"},
		{"unknown", nil, "8", false, http.StatusNotFound, "node 8 is not a cluster member"},
		{"self", nil, "7", false, http.StatusBadRequest, "refusing to remove node 7: it is the leader (self-removal needs force)"},
	}
	for _, tc := range cases {
		undo := func() {}
		if tc.setup != nil {
			undo = tc.setup()
		}
		err := n.removeMember(tc.id, tc.force)
		undo()
		if err == nil || err.Error() != tc.want || removeStatus(err) != tc.status {
			t.Errorf("%s: %v (status %d), want %q %d", tc.name, err, removeStatus(err), tc.want, tc.status)
		}
	}
	if s := removeStatus(errors.New("forward to leader: node is not the leader")); s != http.StatusServiceUnavailable {
		t.Errorf("a forward error maps to %d, want 503", s)
	}
}

// newInmemLeader is a node whose Raft is a one-node in-memory cluster
// (id 7) that has elected itself.
func newInmemLeader(t *testing.T) *node {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = "7"
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	conf.Logger = newLoggers(io.Discard).raft
	store := raft.NewInmemStore()
	snaps := raft.NewInmemSnapshotStore()
	addr, trans := raft.NewInmemTransport("")
	must(t, raft.BootstrapCluster(conf, store, store, snaps, trans, raft.Configuration{Servers: []raft.Server{{ID: "7", Address: addr}}}))
	n := &node{id: "7", fsm: newKVFSM(), log: newLoggers(io.Discard).main}
	r, err := raft.NewRaft(conf, n.fsm, store, store, snaps, trans)
	must(t, err)
	t.Cleanup(func() { r.Shutdown().Error() })
	n.raft = r
	waitFor(t, 5*time.Second, "a leader", n.isLeader)
	return n
}
