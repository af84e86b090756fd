package rollout

import (
	"bytes"
	"strings"
	"testing"
)

func healthyReport() StatusReport {
	lag := uint64(0)
	return StatusReport{Cluster: "lab", Leader: "fw-a", Term: 3, Healthy: true, Nodes: []NodeStatusRow{
		{Name: "fw-a", Role: "leader", Release: "1.0.0", Active: true, Ready: true, Lag: &lag},
		{Name: "fw-b", Role: "follower", Release: "1.0.0", Active: true, Ready: true, Lag: &lag, Staged: "1.1.0"},
		{Name: "fw-c", Role: "follower", Release: "1.0.0", Active: true, Ready: true, Lag: &lag},
	}}
}

// Assess decides status's exit: healthy (0) or not (3), and says why.
func TestStatusAssess(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*StatusReport)
		wants []string
	}{
		{"healthy", func(*StatusReport) {}, nil},
		{"a live lock is not a fault", func(r *StatusReport) {
			r.Nodes[0].Lock, r.Nodes[0].LockRun = "alice@ops (pid 1, run 7f3a, …)", "7f3a"
		}, nil},
		{"no leader", func(r *StatusReport) { r.Leader = "" }, []string{"no leader"}},
		{"not ready", func(r *StatusReport) { r.Nodes[1].Ready, r.Nodes[1].Failing = false, []string{"raft", "dataplane"} }, []string{"fw-b not ready: raft, dataplane"}},
		{"unreachable", func(r *StatusReport) {
			r.Nodes[2].Ready, r.Nodes[2].Active, r.Nodes[2].Failing = false, false, []string{"connection refused"}
		}, []string{"fw-c not ready: connection refused", "fw-c service inactive"}},
		{"member not in the inventory", func(r *StatusReport) {
			r.MembersNotInInventory = []MemberNotInInventory{{NodeID: "9c1e", Addr: "127.0.3.14:9600", Voter: true}}
		}, []string{"Raft member 9c1e (127.0.3.14:9600) is not in the inventory"}},
		{"inventory node not a member", func(r *StatusReport) {
			r.NodesNotMembers = []NodeNotMember{{Name: "fw-c", NodeID: "77ab", Addr: "127.0.3.13:8443"}}
		}, []string{"fw-c is in the inventory but not a Raft member"}},
	}
	for _, c := range cases {
		r := healthyReport()
		c.edit(&r)
		got := r.Assess()
		if strings.Join(got, "|") != strings.Join(c.wants, "|") {
			t.Errorf("%s: Assess() = %q, want %q", c.name, got, c.wants)
		}
	}
}

func TestRenderStatusWords(t *testing.T) {
	r := healthyReport()
	var out bytes.Buffer
	RenderStatus(&out, r)
	if !strings.Contains(out.String(), "1.0.0, 1.1.0 staged") || !strings.HasSuffix(out.String(), "\nhealthy\n") {
		t.Errorf("healthy table should say \"1.0.0, 1.1.0 staged\" and end with healthy:\n%s", out.String())
	}

	r.Nodes[0].Lock, r.Nodes[0].LockRun, r.Nodes[0].LockPID, r.Nodes[0].LockGone = "alice@ops (pid 4242, run 7f3a)", "7f3a", 4242, true
	r.Leader = ""
	r.Problems, r.Healthy = r.Assess(), false
	out.Reset()
	RenderStatus(&out, r)
	for _, want := range []string{
		"held by run 7f3a, pid 4242 on this host, no longer running",
		"note: fw-a: the lock's run 7f3a is gone; take it over with --break-lock",
		"\nNOT HEALTHY: no leader\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
