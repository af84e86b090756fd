package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
)

// downClient points at ports nothing listens on: a stopped node.
func downClient(t testing.TB, ca *testCA, name, id string) *Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(Config{Name: name, NodeID: id, APIURL: "https://" + addr, MetricsURL: "http://" + addr, CAFile: ca.pemPath, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRefreshHealthyCluster(t *testing.T) {
	ca := newTestCA(t)
	var clients []*Client
	for _, n := range []struct{ name, id string }{{"fw-a", healthtest.IDA}, {"fw-b", healthtest.IDB}, {"fw-c", healthtest.IDC}} {
		clients = append(clients, newFakeNode(t).start(t, ca, n.name, n.id, Timeouts{}))
	}
	snap := Refresh(context.Background(), clients)
	if len(snap.Nodes) != 3 || snap.Nodes[0].Name != "fw-a" || snap.Nodes[2].NodeID != healthtest.IDC {
		t.Fatalf("nodes = %+v", snap.Nodes)
	}
	for _, n := range snap.Nodes {
		if n.HealthErr != nil || n.ReadyErr != nil || n.MetricsErr != nil || n.Metrics.LastApplied != 1544 || n.TakenAt.IsZero() {
			t.Errorf("%s: %+v", n.Name, n)
		}
	}
	if snap.StatsErr != nil || snap.Stats == nil || snap.StatsFrom == "" || snap.MembersErr != nil || len(snap.Members.Members) != 3 {
		t.Fatalf("leader view: stats %v from %q, members %v", snap.StatsErr, snap.StatsFrom, snap.MembersErr)
	}
	checkVerdict(t, judgeAll("pre-check", health.PreCheck(refsABC()), snap), true, nil)
	checkVerdict(t, health.QuorumKept(snap, healthtest.IDC), true, nil)
}

func TestRefreshWithANodeDown(t *testing.T) {
	ca := newTestCA(t)
	clients := []*Client{
		downClient(t, ca, "fw-a", healthtest.IDA),
		newFakeNode(t).start(t, ca, "fw-b", healthtest.IDB, Timeouts{}),
		newFakeNode(t).start(t, ca, "fw-c", healthtest.IDC, Timeouts{}),
	}
	snap := Refresh(context.Background(), clients)
	a := snap.Nodes[0]
	if !errors.Is(a.HealthErr, health.ErrConnRefused) || !errors.Is(a.ReadyErr, health.ErrConnRefused) || !errors.Is(a.MetricsErr, health.ErrConnRefused) || a.Health != nil || a.Ready != nil || a.Metrics != nil {
		t.Errorf("fw-a = %+v", a)
	}
	if snap.StatsErr != nil || (snap.StatsFrom != "fw-b" && snap.StatsFrom != "fw-c") {
		t.Errorf("stats from %q: %v; the down node must not be asked", snap.StatsFrom, snap.StatsErr)
	}
	v := health.QuorumKept(snap, healthtest.IDC)
	checkVerdict(t, v, false, nil)
	if v.Summary != "stopping fw-c: voters up 2→1, quorum 2: would lose quorum" {
		t.Errorf("summary = %q", v.Summary)
	}
}

func TestRefreshFallsOverOnLeaderErrors(t *testing.T) {
	ca := newTestCA(t)
	proxyFailed := newFakeNode(t)
	proxyFailed.stats, proxyFailed.statsStatus = healthtest.Fixture(t, "error_502_proxy.json"), 502
	proxyFailed.members, proxyFailed.membersStatus = healthtest.Fixture(t, "error_503_leader_unknown.json"), 503
	leader := newFakeNode(t)
	leader.healthDelay = 100 * time.Millisecond // fw-a answers /health first, so it is asked first
	clients := []*Client{
		proxyFailed.start(t, ca, "fw-a", healthtest.IDA, Timeouts{}),
		leader.start(t, ca, "fw-b", healthtest.IDB, Timeouts{}),
	}
	for range 2 {
		snap := Refresh(context.Background(), clients)
		if snap.StatsErr != nil || snap.StatsFrom != "fw-b" || snap.MembersFrom != "fw-b" {
			t.Fatalf("stats from %q (%v), members from %q (%v)", snap.StatsFrom, snap.StatsErr, snap.MembersFrom, snap.MembersErr)
		}
	}

	// When every node says so, the leader error is what the snapshot keeps.
	only := Refresh(context.Background(), clients[:1])
	if !health.IsLeaderProxyFailed(only.StatsErr) || !health.IsLeaderUnknown(only.MembersErr) || only.Stats != nil {
		t.Errorf("stats %v, members %v", only.StatsErr, only.MembersErr)
	}
}

func TestRefreshNothingAnswers(t *testing.T) {
	ca := newTestCA(t)
	snap := Refresh(context.Background(), []*Client{downClient(t, ca, "fw-a", healthtest.IDA), downClient(t, ca, "fw-b", healthtest.IDB)})
	if snap.StatsErr != errNoNodeAnswered || snap.MembersErr != errNoNodeAnswered {
		t.Errorf("stats %v, members %v", snap.StatsErr, snap.MembersErr)
	}
	v := health.ClusterHealthy(snap, []string{healthtest.IDA, healthtest.IDB})
	checkVerdict(t, v, false, []string{
		"cluster: /api/v1/stats failed: " + errNoNodeAnswered.Error(),
		"cluster: /api/v1/cluster/members failed: " + errNoNodeAnswered.Error(),
	})
	if empty := Refresh(context.Background(), nil); len(empty.Nodes) != 0 || empty.StatsErr == nil {
		t.Errorf("no clients: %+v", empty)
	}
}

func TestRefreshStopsOnBadToken(t *testing.T) {
	ca := newTestCA(t)
	var clients []*Client
	for i, id := range []string{healthtest.IDA, healthtest.IDB, healthtest.IDC} {
		n := newFakeNode(t)
		n.token = "another-token"
		clients = append(clients, n.start(t, ca, fmt.Sprintf("fw-%c", 'a'+i), id, Timeouts{}))
	}
	snap := Refresh(context.Background(), clients)
	if !health.IsUnauthorized(snap.StatsErr) || !health.IsUnauthorized(snap.MembersErr) {
		t.Errorf("stats %v, members %v", snap.StatsErr, snap.MembersErr)
	}
	// /health, /ready and /metrics need no token, so nodes still look healthy.
	checkVerdict(t, health.NodeHealthy(snap.Nodes[0]), true, nil)
}

// BenchmarkRefresh polls N in-process nodes (HTTPS API + HTTP metrics)
// per iteration, as the console does once a second.
func BenchmarkRefresh(b *testing.B) {
	for _, n := range []int{3, 9, 25} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			ca := newTestCA(b)
			clients := make([]*Client, n)
			for i := range clients {
				node := newFakeNode(b)
				node.metrics = healthtest.Fixture(b, "metrics_leader.prom")
				clients[i] = node.start(b, ca, fmt.Sprintf("fw-%d", i), fmt.Sprint(1000+i), Timeouts{})
			}
			ctx := context.Background()
			Refresh(ctx, clients) // warm the connection pools
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				snap := Refresh(ctx, clients)
				if snap.StatsErr != nil {
					b.Fatal(snap.StatsErr)
				}
			}
		})
	}
}
