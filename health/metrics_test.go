package health

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func TestParseMetricsLeader(t *testing.T) {
	m, err := ParseMetrics(bytes.NewReader(healthtest.Fixture(t, "metrics_leader.prom")))
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsLeader || m.CurrentTerm != 7 || m.LastLogIndex != 1550 || m.LastApplied != 1550 || m.LeaderChanges != 4 {
		t.Errorf("raft gauges = leader %v term %d log %d applied %d changes %g", m.IsLeader, m.CurrentTerm, m.LastLogIndex, m.LastApplied, m.LeaderChanges)
	}
	if got := m.PeerErrors(idC); got != 16 {
		t.Errorf("PeerErrors(C) = %g, want 12+3+1", got)
	}
	if got := m.PeerErrors(idA); got != 2 {
		t.Errorf("PeerErrors(A) = %g, want 2", got)
	}
	if got := m.PeerErrors(idB); got != 0 {
		t.Errorf("PeerErrors(B) = %g, want 0 (no series)", got)
	}
	if len(m.PeerErrorSamples) != 4 {
		t.Fatalf("%d peer error samples", len(m.PeerErrorSamples))
	}
	// Sorted by peer_id string, then rpc, then kind: C ("259…") before A ("83…").
	first := m.PeerErrorSamples[0]
	if first.PeerID != idC || first.RPC != "append_entries" || first.Kind != "timeout" || first.Value != 3 {
		t.Errorf("first sample = %+v", first)
	}
	if m.FailClosed["tls"] != 0 || m.FailClosedTotal() != 0 || !m.DHCPLeaseActive || m.DHCPLeaseExpiryEpoch != 1775301234 {
		t.Errorf("fail closed %v, dhcp %v %d", m.FailClosed, m.DHCPLeaseActive, m.DHCPLeaseExpiryEpoch)
	}
	if m.NATPortUtilization != 0.0273 {
		t.Errorf("nat = %g", m.NATPortUtilization)
	}
	if m.AuthDenies() != 6 || len(m.Auth) != 3 {
		t.Errorf("auth denies = %g, samples %+v", m.AuthDenies(), m.Auth)
	}
	if len(m.PeerRTTs) != 1 {
		t.Fatalf("rtt = %+v", m.PeerRTTs)
	}
	rtt := m.PeerRTTs[0]
	if rtt.PeerID != idA || rtt.RPC != "append_entries" || rtt.Count != 500 || rtt.Sum != 1.25 || rtt.Mean() != 0.0025 || len(rtt.Buckets) < 3 {
		t.Errorf("rtt = %+v", rtt)
	}
	// Raw families stay available for anything not typed.
	if v, ok := m.Sum("rocksdb_estimated_num_keys", nil); !ok || v != 812 {
		t.Errorf("rocksdb_estimated_num_keys = %g, %v", v, ok)
	}
	if v, ok := m.Sum(MetricRaftPeerErrors, map[string]string{"peer_id": idC, "kind": "transport"}); !ok || v != 13 {
		t.Errorf("transport errors to C = %g, %v; want 13", v, ok)
	}
	if _, ok := m.Sum("nope_total", nil); ok {
		t.Error("absent family reported present")
	}
}

func TestParseMetricsFollowerExcerpt(t *testing.T) {
	m, err := ParseMetrics(bytes.NewReader(healthtest.Fixture(t, "metrics_follower.prom")))
	if err != nil {
		t.Fatal(err)
	}
	if m.IsLeader || m.CurrentTerm != 7 || m.LastApplied != 1544 || !m.DHCPLeaseActive {
		t.Errorf("follower = %+v", m)
	}
	if !m.Has(MetricRaftLastApplied) || m.Has(MetricRaftPeerErrors) || m.Has(MetricRaftLeaderChanges) {
		t.Error("Has disagrees with the excerpt")
	}
	if m.PeerErrors(idB) != 0 || len(m.PeerRTTs) != 0 {
		t.Error("no peer data expected")
	}
}

func TestParseMetricsErrors(t *testing.T) {
	for _, in := range []string{
		"raft_is_leader one\n",
		"raft_peer_errors_total{peer_id=\"1\" 3\n",
		"# TYPE x counter\n# TYPE x gauge\nx 1\n",
	} {
		if _, err := ParseMetrics(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("ParseMetrics(%q) err = %v", in, err)
		}
	}
}

func TestMetricsNilSafe(t *testing.T) {
	var m *Metrics
	if m.Has(MetricRaftIsLeader) || m.PeerErrors(idA) != 0 || m.AuthDenies() != 0 || m.FailClosedTotal() != 0 {
		t.Error("nil *Metrics should read as empty")
	}
}
