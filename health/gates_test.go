package health

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health/internal/healthtest"
)

var names3 = map[string]string{idA: "fw-a", idB: "fw-b", idC: "fw-c"}

func mustReady(t testing.TB, file string) *ReadyResponse {
	t.Helper()
	r, err := DecodeReady(healthtest.Fixture(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func mustStats(t testing.TB, file string) *Stats {
	t.Helper()
	s, err := DecodeStats(healthtest.Fixture(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

func mustMetrics(t testing.TB, text string) *Metrics {
	t.Helper()
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func followerMetrics(t testing.TB, lastApplied uint64) *Metrics {
	return mustMetrics(t, fmt.Sprintf("raft_is_leader 0\nraft_current_term 7\nraft_last_log_index %d\nraft_last_applied %d\ndhcp_lease_active 1\n", lastApplied, lastApplied))
}

// Facts §13's hosts: each node's Raft address (members API) and API URL.
var (
	raftAddrs = map[string]string{idA: "10.0.1.11:9600", idB: "10.0.1.12:9600", idC: "10.0.1.13:9600"}
	apiURLs   = map[string]string{idA: "https://10.0.1.11:8443", idB: "https://10.0.1.12:8443", idC: "https://10.0.1.13:8443"}
)

// healthyNode is a node that answers /health and an all-ok /ready.
func healthyNode(t testing.TB, name, id string) NodeSnapshot {
	return NodeSnapshot{
		Name: name, NodeID: id, APIURL: apiURLs[id],
		Health: &HealthResponse{Status: "ok"}, Ready: mustReady(t, "ready_200.json"),
		Metrics: followerMetrics(t, 1544),
	}
}

// members builds a members response; ids prefixed with "~" are learners.
func members(ids ...string) *MembersResponse {
	var m MembersResponse
	for _, id := range ids {
		voter := !strings.HasPrefix(id, "~")
		id = strings.TrimPrefix(id, "~")
		m.Members = append(m.Members, Member{NodeID: id, Addr: raftAddrs[id], IsVoter: voter, Role: "follower", CloudStatus: "unknown"})
	}
	return &m
}

// healthyCluster is facts §13: B leads, A and C follow, all caught up at 1544.
func healthyCluster(t testing.TB) ClusterSnapshot {
	return ClusterSnapshot{
		TakenAt: time.Date(2026, 4, 4, 10, 0, 0, 0, time.UTC),
		Nodes: []NodeSnapshot{
			healthyNode(t, "fw-a", idA), healthyNode(t, "fw-b", idB), healthyNode(t, "fw-c", idC),
		},
		Stats:   mustStats(t, "stats_leader.json"),
		Members: members(idB, idC, idA),
	}
}

func (c ClusterSnapshot) with(fn func(*ClusterSnapshot)) ClusterSnapshot {
	c.Nodes = append([]NodeSnapshot(nil), c.Nodes...)
	fn(&c)
	return c
}

func nodeIndex(c *ClusterSnapshot, name string) *NodeSnapshot {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i]
		}
	}
	panic(name)
}

func checkVerdict(t *testing.T, v Verdict, wantOK bool, wantReasons []string) {
	t.Helper()
	healthtest.CheckVerdict(t, v.OK, v.Reasons, wantOK, wantReasons)
}

func TestNodeHealthy(t *testing.T) {
	refused := &TransportError{Node: "fw-b", Kind: KindRefused, Detail: "connection refused: nothing listens on the port; the node is down or still starting"}
	withoutCheck := func(name string) *ReadyResponse {
		r := mustReady(t, "ready_200.json")
		var kept []ReadyCheck
		for _, ch := range r.Checks {
			if ch.Name != name {
				kept = append(kept, ch)
			}
		}
		r.Checks = kept
		return r
	}
	withExtra := func(ok bool) *ReadyResponse {
		r := mustReady(t, "ready_200.json")
		r.Checks = append(r.Checks, ReadyCheck{Name: "threat_intel", OK: ok, Detail: ptr("feed stale")})
		return r
	}
	tests := []struct {
		name    string
		mutate  func(*NodeSnapshot)
		ok      bool
		reasons []string
		ready   string
	}{
		{"healthy", func(n *NodeSnapshot) {}, true, nil, "8/8 ok"},
		{"just restarted (503)", func(n *NodeSnapshot) { n.Ready = mustReady(t, "ready_503_restarted.json") }, false, []string{
			"fw-b: /ready check dataplane_config failing: missing dataplane config (dhcp)",
			"fw-b: /ready check policy_replication failing: policy replication not caught up",
		}, "6/8 ok"},
		{"election", func(n *NodeSnapshot) { n.Ready = mustReady(t, "ready_503_election.json") }, false, []string{
			"fw-b: /ready check cluster failing: cluster membership not ready",
		}, "7/8 ok"},
		{"draining", func(n *NodeSnapshot) { n.Ready = mustReady(t, "ready_503_sigterm.json") }, false, nil, "2/8 ok"},
		{"missing check counts as failing", func(n *NodeSnapshot) { n.Ready = withoutCheck(CheckPolicyReplication) }, false, []string{
			"fw-b: /ready check policy_replication missing",
		}, "7/8 ok"},
		{"no checks at all", func(n *NodeSnapshot) { n.Ready = &ReadyResponse{Ready: true, Checks: []ReadyCheck{}} }, false, nil, "0/8 ok"},
		{"ready false with all checks ok", func(n *NodeSnapshot) { n.Ready.Ready = false }, false, []string{
			"fw-b: /ready says ready=false although every check is ok",
		}, "8/8 ok"},
		{"unknown extra check failing", func(n *NodeSnapshot) { n.Ready = withExtra(false) }, false, []string{
			"fw-b: /ready check threat_intel failing: feed stale",
		}, "8/8 ok"},
		{"unknown extra check ok", func(n *NodeSnapshot) { n.Ready = withExtra(true) }, true, nil, "8/8 ok"},
		{"down", func(n *NodeSnapshot) { n.Health, n.HealthErr, n.Ready, n.ReadyErr = nil, refused, nil, refused }, false, []string{
			"fw-b: /health failed: connection refused: nothing listens on the port; the node is down or still starting",
			"fw-b: /ready failed: connection refused: nothing listens on the port; the node is down or still starting",
		}, ""},
		{"health status not ok", func(n *NodeSnapshot) { n.Health = &HealthResponse{Status: "starting"} }, false, []string{
			`fw-b: /health status "starting", want "ok"`,
		}, "8/8 ok"},
		{"ready 500", func(n *NodeSnapshot) {
			n.Ready, n.ReadyErr = nil, &APIError{Node: "fw-b", Status: 500, Path: "/ready"}
		}, false, []string{"fw-b: /ready failed: 500 Internal Server Error"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := healthyNode(t, "fw-b", idB)
			tt.mutate(&n)
			v := NodeHealthy(n)
			checkVerdict(t, v, tt.ok, tt.reasons)
			if got, _ := v.Value("ready"); tt.ready != "" && got != tt.ready {
				t.Errorf("ready value = %q, want %q", got, tt.ready)
			}
			if v.Gate != GateNodeHealthy {
				t.Errorf("gate = %q", v.Gate)
			}
		})
	}
}

func TestClusterHealthy(t *testing.T) {
	all := []string{idA, idB, idC}
	tests := []struct {
		name     string
		snap     func() ClusterSnapshot
		expected []string
		ok       bool
		reasons  []string
	}{
		{"healthy", func() ClusterSnapshot { return healthyCluster(t) }, all, true, nil},
		{"expected ids in any order", func() ClusterSnapshot { return healthyCluster(t) }, []string{idC, idA, idB}, true, nil},
		{"degraded: C lags", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Stats = mustStats(t, "stats_degraded.json") })
		}, all, false, []string{"fw-c: not caught up: matched_index 1544, 6 entries behind"}},
		{"post-election null matched_index", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Stats = mustStats(t, "stats_post_election.json") })
		}, all, false, []string{"fw-b: not caught up: matched_index is null (the leader has no replication state for it yet)"}},
		{"no leader row", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
				s.Cluster.Nodes[0].Role = "follower"
				c.Stats = &s
			})
		}, all, false, []string{`cluster: no leader: no /api/v1/stats row has role "leader"`}},
		{"stats: leader unknown", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				c.Stats, c.StatsErr = nil, &APIError{Status: 503, Message: "leader unknown", Path: PathStats}
			})
		}, all, false, []string{"cluster: /api/v1/stats failed: 503 Service Unavailable: leader unknown"}},
		{"inventory has a node the cluster lacks", func() ClusterSnapshot { return healthyCluster(t) },
			[]string{idA, idB, idC, "1000"}, false, []string{
				"1000: no row in /api/v1/stats (the leader does not list node 1000)",
				"node 1000 is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first",
			}},
		{"cluster has a node the inventory lacks", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Nodes = c.Nodes[:2] }) // fw-a, fw-b
		}, []string{idA, idB}, false, []string{
			"Raft member 10.0.1.13:9600 (node id " + idC + ", a voter) is not in the inventory; add it to the inventory or remove it from the cluster first",
		}},
		{"an inventory node is no longer a member", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Members = members(idB, idA, "1000") })
		}, all, false, []string{
			"Raft member with node id 1000 (a voter) is not in the inventory; add it to the inventory or remove it from the cluster first",
			"fw-c (10.0.1.13:8443, node id " + idC + ") is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first",
		}},
		{"learner does not count as a voter", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Members = members(idB, "~"+idC, idA) })
		}, all, false, []string{
			"cluster: only 2 voter(s) (fw-b, fw-a): a rolling restart needs at least 3, because 2 voter(s) tolerate 0 failure(s)",
		}},
		{"2-voter cluster", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = []NodeCatchup{s.Cluster.Nodes[0], s.Cluster.Nodes[2]} // B, A
				c.Stats = &s
				c.Nodes = c.Nodes[:2] // fw-a, fw-b
				c.Members = members(idB, idA)
			})
		}, []string{idA, idB}, false, []string{
			"cluster: only 2 voter(s) (fw-b, fw-a): a rolling restart needs at least 3, because 2 voter(s) tolerate 0 failure(s)",
		}},
		{"members failed", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				c.Members, c.MembersErr = nil, &APIError{Status: 502, Message: "error sending request for url (https://10.0.1.12:8443/api/v1/cluster/members)"}
			})
		}, all, false, []string{"cluster: /api/v1/cluster/members failed: 502 Bad Gateway: error sending request for url (https://10.0.1.12:8443/api/v1/cluster/members)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, ClusterHealthy(tt.snap(), tt.expected), tt.ok, tt.reasons)
		})
	}

	v := ClusterHealthy(healthyCluster(t), all)
	for name, want := range map[string]string{"leader": "fw-b", "term": "7", "last_log_index": "1544", "followers_caught_up": "2/2", "voters": "3"} {
		if got, _ := v.Value(name); got != want {
			t.Errorf("value %s = %q, want %q", name, got, want)
		}
	}
}

// Neuwerk orders followers by node_id as a string: "259…" (C) sorts before
// "83…" (A) although 83… is the smaller number. Rows must be found by id.
func TestLexicographicNodeOrdering(t *testing.T) {
	ids := []string{idA, idB, idC}
	sort.Strings(ids) // Neuwerk orders rows by node id as a string
	if want := []string{idB, idC, idA}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("SortNodeIDs = %v, want %v", ids, want)
	}
	if got := mustStats(t, "stats_leader.json").Cluster.Nodes; got[1].NodeID != idC || got[2].NodeID != idA {
		t.Fatalf("fixture is not in Neuwerk's order")
	}

	// Only A, the numerically smallest and lexicographically last id, lags.
	snap := healthyCluster(t).with(func(c *ClusterSnapshot) {
		s := *mustStats(t, "stats_degraded.json")
		s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
		s.Cluster.Nodes[1] = NodeCatchup{NodeID: idC, Addr: "10.0.1.13:9600", Role: "follower", MatchedIndex: ptr[uint64](1550), LagEntries: ptr[uint64](0), CaughtUp: true}
		s.Cluster.Nodes[2] = NodeCatchup{NodeID: idA, Addr: "10.0.1.11:9600", Role: "follower", MatchedIndex: ptr[uint64](1547), LagEntries: ptr[uint64](3), CaughtUp: false}
		c.Stats = &s
	})
	checkVerdict(t, ClusterHealthy(snap, ids), false, []string{"fw-a: not caught up: matched_index 1547, 3 entries behind"})
	checkVerdict(t, RowCaughtUp(snap, idC, 1550), true, nil)
	checkVerdict(t, AppliedSince(snap, idC, 1550), false, []string{"fw-c: raft_last_applied 1544 is below 1550"})
	v := RowCaughtUp(snap, idA, 1550)
	if got, _ := v.Value("matched_index"); got != "1547" {
		t.Errorf("A's matched_index = %s; the row was looked up by position, not id", got)
	}

	// Both lag: reasons follow the wire order, C before A.
	snap.Stats.Cluster.Nodes[1] = NodeCatchup{NodeID: idC, Role: "follower", MatchedIndex: ptr[uint64](1549), LagEntries: ptr[uint64](1)}
	checkVerdict(t, ClusterHealthy(snap, ids), false, []string{
		"fw-c: not caught up: matched_index 1549, 1 entries behind",
		"fw-a: not caught up: matched_index 1547, 3 entries behind",
	})
}

func TestRowCaughtUpAndAppliedSince(t *testing.T) {
	tests := []struct {
		name    string
		snap    func() ClusterSnapshot
		node    string
		index   uint64
		ok      bool
		reasons []string // RowCaughtUp's, then AppliedSince's
	}{
		{"caught up", func() ClusterSnapshot { return healthyCluster(t) }, idA, 1544, true, nil},
		{"caught up, lower index", func() ClusterSnapshot { return healthyCluster(t) }, idC, 1000, true, nil},
		{"the leader's own row", func() ClusterSnapshot { return healthyCluster(t) }, idB, 1544, true, nil},
		{"index not reached", func() ClusterSnapshot { return healthyCluster(t) }, idA, 1550, false, []string{
			"fw-a: matched_index 1544 is below 1550 (lag 0)",
			"fw-a: raft_last_applied 1544 is below 1550",
		}},
		{"lagging row", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Stats = mustStats(t, "stats_degraded.json") })
		}, idC, 1550, false, []string{
			"fw-c: matched_index 1544 is below 1550 (lag 6)",
			"fw-c: raft_last_applied 1544 is below 1550",
		}},
		{"one entry behind but past the index: caught up", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
				s.Cluster.Nodes[2] = NodeCatchup{NodeID: idA, Role: "follower", MatchedIndex: ptr[uint64](1543), LagEntries: ptr[uint64](1)}
				c.Stats = &s
			})
		}, idA, 1540, true, nil},
		{"null matched_index", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				c.Stats = mustStats(t, "stats_post_election.json")
				nodeIndex(c, "fw-b").Metrics = followerMetrics(t, 1552)
			})
		}, idB, 1552, false, []string{"fw-b: matched_index is null (the leader has no replication state for it yet)"}},
		{"row caught up but node's own apply behind (stopped follower)", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Stats = mustStats(t, "stats_degraded.json") })
		}, idA, 1550, false, []string{"fw-a: raft_last_applied 1544 is below 1550"}},
		{"metrics failed", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				n := nodeIndex(c, "fw-a")
				n.Metrics, n.MetricsErr = nil, &TransportError{Kind: KindTimeout, Detail: "timed out"}
			})
		}, idA, 1544, false, []string{"fw-a: /metrics failed: timed out"}},
		{"metrics lack raft_last_applied", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { nodeIndex(c, "fw-a").Metrics = mustMetrics(t, "raft_is_leader 0\n") })
		}, idA, 1544, false, []string{"fw-a: /metrics has no raft_last_applied"}},
		{"node not in stats", func() ClusterSnapshot { return healthyCluster(t) }, "1000", 1, false, []string{
			"1000: no row in /api/v1/stats",
			"1000: not polled, so its raft_last_applied is unknown",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := tt.snap()
			checkVerdict(t, allOf(GateCaughtUp, RowCaughtUp(snap, tt.node, tt.index), AppliedSince(snap, tt.node, tt.index)), tt.ok, tt.reasons)
		})
	}
}

func TestPeerErrorsSteady(t *testing.T) {
	leader := mustMetrics(t, string(healthtest.Fixture(t, "metrics_leader.prom")))
	grown := mustMetrics(t, strings.Replace(string(healthtest.Fixture(t, "metrics_leader.prom")),
		`kind="transport",peer_id="`+idC+`",rpc="append_entries"} 12`, `kind="transport",peer_id="`+idC+`",rpc="append_entries"} 13`, 1))
	follower := mustMetrics(t, string(healthtest.Fixture(t, "metrics_follower.prom")))
	tests := []struct {
		name          string
		before, after *Metrics
		peer          string
		ok            bool
		reasons       []string
	}{
		{"steady", leader, leader, idC, true, nil},
		{"steady for another peer while C grows", leader, grown, idA, true, nil},
		{"grew", leader, grown, idC, false, []string{`fw-c: the leader's raft_peer_errors_total for it grew 16→17 between samples`}},
		{"fell", grown, leader, idC, false, []string{`fw-c: the leader's raft_peer_errors_total for it fell 17→16: the samples are from different leaders or a restart`}},
		{"missing sample", nil, leader, idC, false, []string{"fw-c: need two /metrics samples of the leader"}},
		{"not the leader", follower, follower, idC, false, []string{
			"fw-c: sample 1 is not from the leader (raft_is_leader 0)",
			"fw-c: sample 2 is not from the leader (raft_is_leader 0)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := PeerErrorsSteady(names3[tt.peer], tt.peer, tt.before, tt.after)
			checkVerdict(t, v, tt.ok, tt.reasons)
		})
	}
}

func TestQuorumKept(t *testing.T) {
	const idD, idE = "1000", "99999999999999999999"
	five := func() ClusterSnapshot {
		return healthyCluster(t).with(func(c *ClusterSnapshot) {
			s := *mustStats(t, "stats_leader.json")
			s.Cluster.Nodes = append(append([]NodeCatchup(nil), s.Cluster.Nodes...),
				NodeCatchup{NodeID: idD, Role: "follower", MatchedIndex: ptr[uint64](1544), LagEntries: ptr[uint64](0), CaughtUp: true},
				NodeCatchup{NodeID: idE, Role: "follower", MatchedIndex: ptr[uint64](1544), LagEntries: ptr[uint64](0), CaughtUp: true})
			c.Stats = &s
			c.Nodes = append(c.Nodes, healthyNode(t, "fw-d", idD), healthyNode(t, "fw-e", idE))
			c.Members = members(idB, idD, idC, idA, idE)
		})
	}
	tests := []struct {
		name    string
		snap    func() ClusterSnapshot
		stop    string
		ok      bool
		summary string
		reasons []string
	}{
		{"3 healthy voters, stop a follower", func() ClusterSnapshot { return healthyCluster(t) }, idC, true,
			"stopping fw-c: voters up 3→2, quorum 2, failure tolerance 1→0", nil},
		{"3 healthy voters, stop the leader", func() ClusterSnapshot { return healthyCluster(t) }, idB, true,
			"stopping fw-b: voters up 3→2, quorum 2, failure tolerance 1→0", nil},
		{"another voter already unhealthy", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { nodeIndex(c, "fw-a").Ready = mustReady(t, "ready_503_restarted.json") })
		}, idC, false, "stopping fw-c: voters up 2→1, quorum 2: would lose quorum", []string{
			"stopping fw-c: voters up 2→1, quorum 2: would lose quorum: refused",
			"stopping fw-c: voters up 2→1, quorum 2: would lose quorum: another voter is already unhealthy: fw-a: /ready check dataplane_config failing: missing dataplane config (dhcp); fw-a: /ready check policy_replication failing: policy replication not caught up",
		}},
		{"another voter not caught up (null matched_index)", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
				s.Cluster.Nodes[2] = NodeCatchup{NodeID: idA, Role: "follower"}
				c.Stats = &s
			})
		}, idC, false, "stopping fw-c: voters up 2→1, quorum 2: would lose quorum", nil},
		{"another voter one entry behind (an append in flight) counts as up", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
				for i := range s.Cluster.Nodes {
					if r := &s.Cluster.Nodes[i]; r.NodeID == idA {
						m, lag := s.Cluster.LastLogIndex-1, uint64(1)
						r.MatchedIndex, r.LagEntries, r.CaughtUp = &m, &lag, false
					}
				}
				c.Stats = &s
			})
		}, idC, true, "stopping fw-c: voters up 3→2, quorum 2, failure tolerance 1→0", nil},
		{"another voter two entries behind is down", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				s := *mustStats(t, "stats_leader.json")
				s.Cluster.Nodes = append([]NodeCatchup(nil), s.Cluster.Nodes...)
				for i := range s.Cluster.Nodes {
					if r := &s.Cluster.Nodes[i]; r.NodeID == idA {
						m, lag := s.Cluster.LastLogIndex-2, uint64(2)
						r.MatchedIndex, r.LagEntries, r.CaughtUp = &m, &lag, false
					}
				}
				c.Stats = &s
			})
		}, idC, false, "stopping fw-c: voters up 2→1, quorum 2: would lose quorum", nil},
		{"stopping an already unhealthy node keeps the count", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { nodeIndex(c, "fw-c").Ready = mustReady(t, "ready_503_restarted.json") })
		}, idC, true, "stopping fw-c: voters up 2→2, quorum 2, failure tolerance 0→0", nil},
		{"2-voter cluster", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Members = members(idB, idA); c.Nodes = c.Nodes[:2] })
		}, idA, false, "stopping fw-a: voters up 2→1, quorum 2: would lose quorum", []string{
			"stopping fw-a: voters up 2→1, quorum 2: would lose quorum: refused",
		}},
		{"learner stop does not touch quorum", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Members = members(idB, "~"+idC, idA) })
		}, idC, true, "stopping fw-c (a learner): voters up 2→2, quorum 2, failure tolerance 0→0", nil},
		{"5 voters, stop one", five, idC, true, "stopping fw-c: voters up 5→4, quorum 3, failure tolerance 2→1", nil},
		{"5 voters, one down: quorum holds but refuse anyway", func() ClusterSnapshot {
			return five().with(func(c *ClusterSnapshot) {
				n := nodeIndex(c, "fw-d")
				n.Health, n.HealthErr = nil, &TransportError{Kind: KindRefused, Detail: "connection refused"}
				n.Ready, n.ReadyErr = nil, &TransportError{Kind: KindRefused, Detail: "connection refused"}
			})
		}, idC, false, "stopping fw-c: voters up 4→3, quorum 3, failure tolerance 1→0", []string{
			"stopping fw-c: voters up 4→3, quorum 3, failure tolerance 1→0: another voter is already unhealthy: fw-d: /health failed: connection refused; fw-d: /ready failed: connection refused",
		}},
		{"voter missing from the inventory", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) { c.Nodes = c.Nodes[1:] })
		}, idC, false, "stopping fw-c: voters up 2→1, quorum 2: would lose quorum", []string{
			"stopping fw-c: voters up 2→1, quorum 2: would lose quorum: refused",
			"stopping fw-c: voters up 2→1, quorum 2: would lose quorum: another voter is already unhealthy: " +
				"Raft member 10.0.1.11:9600 (node id " + idA + ", a voter): not in the inventory, so its health is unknown",
		}},
		{"not a member", func() ClusterSnapshot { return healthyCluster(t) }, "1000", false, "",
			[]string{"stopping 1000: node 1000 is not a Raft member"}},
		{"membership unknown", func() ClusterSnapshot {
			return healthyCluster(t).with(func(c *ClusterSnapshot) {
				c.Members, c.MembersErr = nil, &APIError{Status: 503, Message: "leader unknown"}
			})
		}, idC, false, "", []string{"stopping fw-c: cluster membership unknown: 503 Service Unavailable: leader unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := QuorumKept(tt.snap(), tt.stop)
			checkVerdict(t, v, tt.ok, tt.reasons)
			if v.Summary != tt.summary {
				t.Errorf("summary = %q, want %q", v.Summary, tt.summary)
			}
		})
	}
	v := QuorumKept(healthyCluster(t), idC)
	for name, want := range map[string]string{"voters": "3", "quorum": "2", "voters_up_before": "3", "voters_up_after": "2", "tolerance_after": "0"} {
		if got, _ := v.Value(name); got != want {
			t.Errorf("value %s = %q, want %q", name, got, want)
		}
	}
	if _, ok := QuorumKept(tests[2].snap(), idC).Value("tolerance_after"); ok {
		t.Error("a stop that loses quorum must not record a failure tolerance")
	}
	if q := []int{Quorum(1), Quorum(2), Quorum(3), Quorum(4), Quorum(5)}; !reflect.DeepEqual(q, []int{1, 2, 2, 3, 3}) {
		t.Errorf("Quorum(1..5) = %v", q)
	}
}

func TestBinaryMatches(t *testing.T) {
	const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	checkVerdict(t, BinaryMatches("fw-a", strings.ToUpper(sha), sha), true, nil)
	checkVerdict(t, BinaryMatches("fw-a", sha+"  /opt/neuwerk/bin/neuwerk\n", sha), true, nil)
	checkVerdict(t, BinaryMatches("fw-a", "0"+sha[1:], sha), false,
		[]string{"fw-a: binary sha256 0f86d081884c… does not match the target 9f86d081884c…"})
	checkVerdict(t, BinaryMatches("fw-a", "", sha), false, []string{"fw-a: the binary's sha256 is unknown"})
	checkVerdict(t, BinaryMatches("fw-a", sha, ""), false, []string{"fw-a: no target sha256 to compare with"})
}

func TestLeaderSteadyRemembersTheLastSample(t *testing.T) {
	healthy := healthyCluster(t)
	moved := healthy.with(func(c *ClusterSnapshot) { c.Stats = mustStats(t, "stats_post_election.json") })
	none := healthy.with(func(c *ClusterSnapshot) { c.Stats, c.StatsErr = nil, &APIError{Status: 503, Message: "leader unknown"} })
	var c Check = LeaderSteady{}
	judge := func(snap ClusterSnapshot) Verdict {
		var v Verdict
		c, v = c.Judge(Sample{Snap: snap})
		return v
	}
	checkVerdict(t, judge(healthy), false, []string{"cluster: need two samples with a leader to judge leadership stable"})
	checkVerdict(t, judge(healthy), true, nil)
	checkVerdict(t, judge(moved), false, []string{"cluster: leader moved fw-b→fw-a"})
	checkVerdict(t, judge(moved), true, nil)
	checkVerdict(t, judge(none), false, []string{"cluster: no leader in the latest sample"})
	checkVerdict(t, judge(moved), false, []string{"cluster: need two samples with a leader to judge leadership stable"})
	// A new term under the same leader is an election too.
	reelected := moved.with(func(c *ClusterSnapshot) {
		s := *c.Stats
		s.Cluster.CurrentTerm++
		c.Stats = &s
	})
	checkVerdict(t, judge(reelected), false, []string{"cluster: term changed 8→9 (an election happened)"})
}

func TestQuorumMathNeverNegative(t *testing.T) {
	for _, tt := range []struct {
		q    QuorumMath
		want string
	}{
		{QuorumOf("fw-b", 3, false), "stopping fw-b: voters up 3→2, quorum 2, failure tolerance 1→0"},
		{QuorumOf("fw-e", 4, true), "stopping fw-e (a learner): voters up 4→4, quorum 3, failure tolerance 1→1"},
		{QuorumOf("fw-a", 2, false), "stopping fw-a: voters up 2→1, quorum 2: would lose quorum"},
		{QuorumOf("fw-a", 1, false), "stopping fw-a: voters up 1→0, quorum 1: would lose quorum"},
		{QuorumMath{Who: "fw-c", Voters: 3, UpBefore: 1, UpAfter: 0}, "stopping fw-c: voters up 1→0, quorum 2: quorum is already lost"},
	} {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.q, got, tt.want)
		}
		if strings.Contains(tt.q.String(), "→-") || strings.Contains(tt.q.String(), " -") {
			t.Errorf("%q prints a negative number", tt.q.String())
		}
	}
}

// allOf combines verdicts under one name: OK when all are, with every
// reason and every value (prefixed by its check's name).
func allOf(gate string, vs ...Verdict) Verdict {
	out := Verdict{Gate: gate, OK: true}
	for _, v := range vs {
		if !v.OK {
			out.OK = false
			out.Reasons = append(out.Reasons, v.Reasons...)
		}
		for _, gv := range v.Values {
			out.Values = append(out.Values, GateValue{Name: v.Gate + "." + gv.Name, Value: gv.Value})
		}
	}
	return out
}

// judgeAll runs checks once on snap, as one verdict.
func judgeAll(name string, checks []Check, snap ClusterSnapshot) Verdict {
	vs := make([]Verdict, len(checks))
	for i, c := range checks {
		_, vs[i] = c.Judge(Sample{Snap: snap})
	}
	return allOf(name, vs...)
}

func refsABC() []NodeRef {
	return []NodeRef{{Name: "fw-a", ID: idA}, {Name: "fw-b", ID: idB}, {Name: "fw-c", ID: idC}}
}

func TestPreCheck(t *testing.T) {
	checks := PreCheck(refsABC())
	if len(checks) != 4 || checks[2].Name() != "fw-c ready" || checks[3].Name() != GateClusterHealthy {
		t.Fatalf("checks = %v", checks)
	}
	v := judgeAll("pre-check", checks, healthyCluster(t))
	checkVerdict(t, v, true, nil)
	if got, _ := v.Value("fw-c ready.ready"); got != "8/8 ok" {
		t.Errorf("fw-c ready.ready = %q", got)
	}
	bad := healthyCluster(t).with(func(c *ClusterSnapshot) {
		nodeIndex(c, "fw-c").Ready = mustReady(t, "ready_503_restarted.json")
		c.Stats = mustStats(t, "stats_degraded.json")
	})
	v = judgeAll("pre-check", checks, bad)
	checkVerdict(t, v, false, []string{
		"fw-c: /ready check dataplane_config failing: missing dataplane config (dhcp)",
		"fw-c: /ready check policy_replication failing: policy replication not caught up",
		"fw-c: not caught up: matched_index 1544, 6 entries behind",
	})
	if !strings.HasPrefix(v.Err().Error(), "pre-check: fw-c: /ready check dataplane_config") {
		t.Errorf("Err = %v", v.Err())
	}
}

func TestVerdictString(t *testing.T) {
	v := QuorumKept(healthyCluster(t), idC)
	if s := v.String(); s != "quorum kept: ok: stopping fw-c: voters up 3→2, quorum 2, failure tolerance 1→0" {
		t.Errorf("String = %q", s)
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, NodeHealthy(NodeSnapshot{Name: "fw-x"}))
	if !strings.Contains(buf.String(), "fw-x: /health not polled") {
		t.Errorf("print = %q", buf.String())
	}
}
