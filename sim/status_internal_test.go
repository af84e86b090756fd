package sim

import (
	"slices"
	"strings"
	"testing"
)

func TestStatsOrder(t *testing.T) {
	nodes := []NodeStatus{
		{Name: "a", ReadyError: "connection refused"},
		{Name: "b"}, // answers /ready, not ready
		{Name: "c", Ready: true},
		{Name: "d", Ready: true},
	}
	if got, want := statsOrder(nodes), []int{2, 3, 1}; !slices.Equal(got, want) {
		t.Fatalf("statsOrder = %v, want %v (ready first, then the not-ready that answered)", got, want)
	}
	if got := statsOrder([]NodeStatus{{ReadyError: "down"}}); len(got) != 0 {
		t.Fatalf("statsOrder of nodes that do not answer = %v, want none", got)
	}
}

func TestStatusTableCloud(t *testing.T) {
	rep := StatusReport{Cluster: "sim-3", Running: true, Leader: "fw-a",
		Cloud: &CloudGroupStatus{URL: "http://127.0.3.250:4566", Service: awsFakeTitle, Group: "neuwerk-sim-3", Desired: 3, Min: 3, Max: 4, Template: "neuwerk-sim-3", Version: "1"},
		Nodes: []NodeStatus{{Name: "fw-a", IP: "127.0.3.11", InstanceID: "i-0abc", Lifecycle: "InService", Service: "active", Role: "leader", Ready: true, Release: "1.0.0"},
			{Name: "fw-b", IP: "127.0.3.12", InstanceID: "i-0def", Service: NodeTerminated, ReadyError: NodeTerminated, Release: "1.0.0"}}}
	var b strings.Builder
	rep.WriteTable(&b)
	for _, want := range []string{
		"group neuwerk-sim-3  desired 3  min 3  max 4  template neuwerk-sim-3 version 1  (fake AWS (Auto Scaling + EC2) http://127.0.3.250:4566)\n",
		"NAME  IP          INSTANCE  LIFECYCLE  SERVICE",
		"fw-a  127.0.3.11  i-0abc    InService  active",
		"fw-b  127.0.3.12  i-0def    -          terminated",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	rep.Cloud = &CloudGroupStatus{URL: "http://127.0.3.250:4566", Group: "neuwerk-sim-3", Error: "cluster not running"}
	b.Reset()
	rep.WriteTable(&b)
	if !strings.Contains(b.String(), "group neuwerk-sim-3 at http://127.0.3.250:4566: cluster not running\n") {
		t.Errorf("table of a down cloud cluster:\n%s", b.String())
	}
}
