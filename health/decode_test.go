package health

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func TestDecodeReadyFixtures(t *testing.T) {
	tests := []struct {
		file    string
		ready   bool
		failing map[string]string // check → detail
	}{
		{"ready_200.json", true, map[string]string{}},
		{"ready_503_restarted.json", false, map[string]string{
			CheckDataplaneConfig:   "missing dataplane config (dhcp)",
			CheckPolicyReplication: "policy replication not caught up",
		}},
		{"ready_503_election.json", false, map[string]string{CheckCluster: "cluster membership not ready"}},
		{"ready_503_sigterm.json", false, map[string]string{
			CheckDataplaneRunning: "dataplane engine not running", CheckPolicyReady: "policy store not initialized",
			CheckDNSAllowlist: "dns proxy not ready", CheckServicePlane: "service-plane runtime not ready",
			CheckDraining: "instance is draining", CheckPolicyReplication: "policy replication not caught up",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := DecodeReady(healthtest.Fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if r.Ready != tt.ready {
				t.Errorf("ready = %v, want %v", r.Ready, tt.ready)
			}
			if len(r.Checks) != 8 {
				t.Fatalf("%d checks, want 8", len(r.Checks))
			}
			for i, ch := range r.Checks {
				if ch.Name != ReadyCheckNames[i] {
					t.Errorf("check %d = %s, want %s (wire order)", i, ch.Name, ReadyCheckNames[i])
				}
				want, shouldFail := tt.failing[ch.Name]
				if ch.OK == shouldFail {
					t.Errorf("check %s ok = %v, want %v", ch.Name, ch.OK, !shouldFail)
				}
				if shouldFail {
					if ch.Detail == nil || *ch.Detail != want {
						t.Errorf("check %s detail = %v, want %q", ch.Name, ch.Detail, want)
					}
					if ReadyCheckDetails[ch.Name] != want {
						t.Errorf("ReadyCheckDetails[%s] = %q, fixture says %q", ch.Name, ReadyCheckDetails[ch.Name], want)
					}
				} else if ch.Detail != nil {
					t.Errorf("check %s detail = %q, want null", ch.Name, *ch.Detail)
				}
			}
		})
	}
}

func TestDecodeStatsLeaderView(t *testing.T) {
	s, err := DecodeStats(healthtest.Fixture(t, "stats_leader.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Dataplane.ActiveFlows != 1843 || s.Dataplane.NATPortUtilization != 0.0273 ||
		s.Dataplane.Bytes.Allow != 88123441231 || s.Dataplane.IPv4TTLExceeded != 3 {
		t.Errorf("dataplane = %+v", s.Dataplane)
	}
	if s.DNS.NXDomainUpstream != 381 || s.TLS.Allow != 0 || !s.DHCP.LeaseActive || s.DHCP.LeaseExpiryEpoch != 1775301234 {
		t.Errorf("dns/tls/dhcp = %+v %+v %+v", s.DNS, s.TLS, s.DHCP)
	}
	c := s.Cluster
	if !c.IsLeader || c.CurrentTerm != 7 || c.LastLogIndex != 1544 || c.NodeCount != 3 || c.FollowersCaughtUp != 2 {
		t.Errorf("cluster = %+v", c)
	}
	gotOrder := []string{c.Nodes[0].NodeID, c.Nodes[1].NodeID, c.Nodes[2].NodeID}
	if want := []string{idB, idC, idA}; !reflect.DeepEqual(gotOrder, want) {
		t.Errorf("row order = %v, want leader then followers by node_id string %v", gotOrder, want)
	}
	leader, ok := c.Leader()
	if !ok || leader.NodeID != idB || leader.Addr != "10.0.1.12:9600" {
		t.Errorf("leader = %+v, %v", leader, ok)
	}
	a, ok := c.Row(idA)
	if !ok || a.MatchedIndex == nil || *a.MatchedIndex != 1544 || a.LagEntries == nil || *a.LagEntries != 0 || !a.CaughtUp {
		t.Errorf("row A = %+v", a)
	}
}

func TestDecodeStatsNullMatchedIndex(t *testing.T) {
	s, err := DecodeStats(healthtest.Fixture(t, "stats_post_election.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, ok := s.Cluster.Row(idB)
	if !ok || b.MatchedIndex != nil || b.LagEntries != nil || b.CaughtUp || b.Role != "follower" {
		t.Errorf("row B = %+v, want follower with null matched_index and lag_entries", b)
	}
	if l, _ := s.Cluster.Leader(); l.NodeID != idA {
		t.Errorf("leader = %s, want A", l.NodeID)
	}
}

func TestDecodeMembers(t *testing.T) {
	m, err := DecodeMembers(healthtest.Fixture(t, "members.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Members) != 3 {
		t.Fatalf("%d members", len(m.Members))
	}
	for _, mem := range m.Members {
		if !mem.IsVoter || mem.CloudStatus != "unknown" || mem.DrainState != nil || mem.AutoEvictReason != nil {
			t.Errorf("member = %+v", mem)
		}
	}
	if m.Members[0].Role != "leader" || m.Members[0].NodeID != idB {
		t.Errorf("first member = %+v", m.Members[0])
	}
}

func TestDecodersRejectBadShapes(t *testing.T) {
	tests := []struct {
		name string
		fn   func([]byte) error
		in   string
		want string
	}{
		{"ready without checks", func(b []byte) error { _, err := DecodeReady(b); return err }, `{"ready":false}`, `missing "checks"`},
		{"ready without ready", func(b []byte) error { _, err := DecodeReady(b); return err }, `{"checks":[]}`, `missing "ready"`},
		{"ready error body", func(b []byte) error { _, err := DecodeReady(b); return err }, `{"error":"boom"}`, `missing`},
		{"ready nameless check", func(b []byte) error { _, err := DecodeReady(b); return err }, `{"ready":true,"checks":[{"ok":true}]}`, "no name"},
		{"ready wrong type", func(b []byte) error { _, err := DecodeReady(b); return err }, `{"ready":"yes","checks":[]}`, "bad JSON shape"},
		{"stats null", func(b []byte) error { _, err := DecodeStats(b); return err }, `null`, "not a JSON object"},
		{"stats no cluster", func(b []byte) error { _, err := DecodeStats(b); return err }, `{"dataplane":{}}`, `missing "cluster"`},
		{"stats row no id", func(b []byte) error { _, err := DecodeStats(b); return err }, `{"cluster":{"nodes":[{"role":"leader"}]}}`, "lacks node_id"},
		{"stats negative", func(b []byte) error { _, err := DecodeStats(b); return err }, `{"cluster":{"last_log_index":-1}}`, "bad JSON shape"},
		{"members array", func(b []byte) error { _, err := DecodeMembers(b); return err }, `[]`, "not a JSON object"},
		{"members no id", func(b []byte) error { _, err := DecodeMembers(b); return err }, `{"members":[{"addr":"x"}]}`, "no node_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeReady(f *testing.F) {
	for _, name := range []string{"ready_200.json", "ready_503_restarted.json", "ready_503_sigterm.json", "ready_503_election.json", "error_503_leader_unknown.json"} {
		f.Add(healthtest.Fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeReady(b); err == nil {
			healthtest.RoundTrip(t, r, DecodeReady)
			_ = NodeHealthy(NodeSnapshot{Name: "fw", Health: &HealthResponse{Status: "ok"}, Ready: &r})
		}
	})
}

func FuzzDecodeStats(f *testing.F) {
	for _, name := range []string{"stats_leader.json", "stats_degraded.json", "stats_post_election.json", "error_502_proxy.json"} {
		f.Add(healthtest.Fixture(f, name))
	}
	members, _ := DecodeMembers(healthtest.Fixture(f, "members.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStats(b)
		if err != nil {
			return
		}
		healthtest.RoundTrip(t, s, DecodeStats)
		snap := ClusterSnapshot{Stats: &s, Members: &members}
		_ = ClusterHealthy(snap, []string{idA, idB, idC})
		_ = RowCaughtUp(snap, idC, 1544)
		_ = AppliedSince(snap, idC, 1544)
		_ = QuorumKept(snap, idC)
	})
}

func FuzzDecodeMembers(f *testing.F) {
	f.Add(healthtest.Fixture(f, "members.json"))
	f.Add([]byte(`{"members":[{"node_id":"1","is_voter":false,"auto_evict_reason":"missing_from_discovery:1775301234"}]}`))
	stats, _ := DecodeStats(healthtest.Fixture(f, "stats_leader.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMembers(b)
		if err != nil {
			return
		}
		healthtest.RoundTrip(t, m, DecodeMembers)
		snap := ClusterSnapshot{Stats: &stats, Members: &m}
		_ = ClusterHealthy(snap, []string{idA, idB, idC})
		for _, mem := range m.Members {
			_ = QuorumKept(snap, mem.NodeID)
		}
	})
}
