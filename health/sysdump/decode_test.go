package sysdump

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/internal/healthtest"
)

func TestDecodeOverviewAndFriends(t *testing.T) {
	o, err := DecodeOverview(healthtest.Fixture(t, "sysdump_overview.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !o.Partial || o.LeaderNodeID != healthtest.IDB || o.NodeCount != 3 || o.NodesSucceeded != 2 || o.NodesFailed != 1 || len(o.Nodes) != 3 {
		t.Errorf("overview = %+v", o)
	}
	c := o.Nodes[1]
	if c.NodeID != healthtest.IDC || c.Role != "unknown" || c.Status != "failed" || c.State != nil || c.Error == nil ||
		!strings.Contains(*c.Error, "10.0.1.13:8443") {
		t.Errorf("failed node = %+v", c)
	}
	b := o.Nodes[0].State
	if b == nil || b.NodeID == nil || *b.NodeID != "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40" || b.AuditFindingCount != 12 || !b.ClusterPresent || b.ClusterTokenCount != 3 {
		t.Errorf("leader state = %+v", b)
	}
	if id, _ := health.NodeIDFromUUID(*b.NodeID); id != o.Nodes[0].NodeID {
		t.Errorf("state.node_id %s does not map to %s", *b.NodeID, o.Nodes[0].NodeID)
	}

	m, err := DecodeManifest(healthtest.Fixture(t, "sysdump_manifest.json"))
	if err != nil || m.GeneratedAt != "2026-04-04T10:15:30.412873Z" || !m.Partial || m.NodesSucceeded != 2 || m.NodesFailed != 1 {
		t.Errorf("manifest = %+v, %v", m, err)
	}
	var f Failures
	if err := json.Unmarshal(healthtest.Fixture(t, "sysdump_failures.json"), &f); err != nil || len(f.Failures) != 1 || f.Failures[0].NodeID != healthtest.IDC {
		t.Errorf("failures = %+v, %v", f, err)
	}
}

func TestDecodeOverviewRejectsBadShapes(t *testing.T) {
	if _, err := DecodeOverview([]byte(`{"nodes":[`)); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("overview truncated: err = %v, want it to mention %q", err, "not a JSON object")
	}
}

func FuzzDecodeOverview(f *testing.F) {
	f.Add(healthtest.Fixture(f, "sysdump_overview.json"))
	f.Add(healthtest.Fixture(f, "sysdump_manifest.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o, err := DecodeOverview(b); err == nil {
			healthtest.RoundTrip(t, o, DecodeOverview)
		}
	})
}
