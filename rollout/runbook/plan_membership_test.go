package runbook

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
)

// Facts §13's Raft addresses and API addresses of fw-a, fw-b, fw-c.
var (
	planRaftAddr = map[string]string{planIDA: "10.0.1.11:9600", planIDB: "10.0.1.12:9600", planIDC: "10.0.1.13:9600"}
	planAPIAddr  = map[string]string{planIDA: "10.0.1.11:8443", planIDB: "10.0.1.12:8443", planIDC: "10.0.1.13:8443"}
)

// planMembers is a members answer; ids prefixed with "~" are learners.
func planMembers(ids ...string) *health.MembersResponse {
	var m health.MembersResponse
	for _, id := range ids {
		voter := !strings.HasPrefix(id, "~")
		id = strings.TrimPrefix(id, "~")
		m.Members = append(m.Members, health.Member{NodeID: id, Addr: planRaftAddr[id], IsVoter: voter, Role: "follower", CloudStatus: "unknown"})
	}
	return &m
}

// membershipInput is the golden cluster's inventory with the API
// addresses, keeping the nodes named.
func membershipInput(names ...string) PlanInput {
	in := planGoldenInput()
	var kept []PlanNode
	for _, n := range in.Nodes {
		if slices.Contains(names, n.Name) {
			n.Addr = planAPIAddr[n.NodeID]
			kept = append(kept, n)
		}
	}
	in.Nodes = kept
	return in
}

func mustBuild(t *testing.T, in PlanInput) Plan {
	t.Helper()
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func describes(p Plan, want string) bool {
	return slices.ContainsFunc(p.Describe(), func(l string) bool { return strings.Contains(l, want) })
}

// The observed bug: fw-c is a voter the inventory leaves out. The plan
// counts it (3 voters, quorum 2) and refuses, naming it by its Raft address.
func TestPlanQuorumFromMembershipWithAMemberTheInventoryLacks(t *testing.T) {
	in := membershipInput("fw-a", "fw-b")
	in.Members = planMembers(planIDB, planIDC, planIDA)
	p := mustBuild(t, in)

	if v := p.Voters(); v != 3 {
		t.Errorf("Voters() = %d, want 3 (the membership's, not the inventory's 2)", v)
	}
	if !describes(p, "Quorum: 3 voters, quorum 2, failure tolerance 1;") {
		t.Errorf("plan lacks the membership's quorum line:\n%s", strings.Join(p.Describe(), "\n"))
	}
	if q, _ := NewMachine(p, MachineOptions{}).Text("upgrade/fw-a"); q.Quorum != "stopping fw-a: voters up 3→2, quorum 2, failure tolerance 1→0" {
		t.Errorf("fw-a's quorum arithmetic = %q", q.Quorum)
	}
	want := []health.MembershipMismatch{{Kind: health.MemberNotInInventory, NodeID: planIDC, Addr: "10.0.1.13:9600", Voter: true}}
	if !reflect.DeepEqual(p.Mismatches, want) {
		t.Errorf("Mismatches = %+v, want %+v", p.Mismatches, want)
	}
	text := "Raft member 10.0.1.13:9600 (node id " + planIDC + ", a voter) is not in the inventory; add it to the inventory or remove it from the cluster first"
	err := p.Refusal()
	if err == nil || err.Error() != "plan refused: the Raft membership differs from the inventory: "+text {
		t.Errorf("Refusal() = %v, want it to name %q", err, text)
	}
	if !slices.Contains(p.Warnings, text+": the pre-check will refuse") {
		t.Errorf("warnings %q lack the member", p.Warnings)
	}
	if slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "only 2 voter(s)") }) {
		t.Errorf("warnings count the inventory's voters: %q", p.Warnings)
	}
}

// Five voters, two of them unknown to the inventory: quorum 3 of 5.
func TestPlanQuorumCountsEveryLiveVoter(t *testing.T) {
	in := membershipInput("fw-a", "fw-b", "fw-c")
	in.Members = planMembers(planIDB, planIDC, planIDA, "1000", "1001", "~1002")
	p := mustBuild(t, in)
	if v := p.Voters(); v != 5 {
		t.Errorf("Voters() = %d, want 5", v)
	}
	if !describes(p, "Quorum: 5 voters, quorum 3, failure tolerance 2;") {
		t.Errorf("plan:\n%s", strings.Join(p.Describe(), "\n"))
	}
	if q, _ := NewMachine(p, MachineOptions{}).Text("upgrade/fw-a"); q.Quorum != "stopping fw-a: voters up 5→4, quorum 3, failure tolerance 2→1" {
		t.Errorf("fw-a's quorum arithmetic = %q", q.Quorum)
	}
	err := p.Refusal()
	for _, want := range []string{"Raft member with node id 1000 (a voter)", "Raft member with node id 1001 (a voter)", "Raft member with node id 1002 (a learner)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Refusal() = %v, want it to name %q", err, want)
		}
	}
}

// fw-c is in the inventory but left the cluster: named by its API address,
// and the two voters left are what the quorum arithmetic counts.
func TestPlanRefusesAnInventoryNodeThatIsNotAMember(t *testing.T) {
	in := membershipInput("fw-a", "fw-b", "fw-c")
	in.Members = planMembers(planIDB, planIDA)
	p := mustBuild(t, in)
	if v := p.Voters(); v != 2 {
		t.Errorf("Voters() = %d, want 2", v)
	}
	text := "fw-c (10.0.1.13:8443, node id " + planIDC + ") is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first"
	if err := p.Refusal(); err == nil || !strings.HasSuffix(err.Error(), ": "+text) {
		t.Errorf("Refusal() = %v, want it to end with %q", err, text)
	}
	for _, w := range []string{text + ": the pre-check will refuse", "only 2 voter(s): the pre-check will refuse; a rolling restart needs at least 3"} {
		if !slices.Contains(p.Warnings, w) {
			t.Errorf("warnings %q lack %q", p.Warnings, w)
		}
	}
}

func TestPlanMembershipThatMatchesTheInventory(t *testing.T) {
	in := membershipInput("fw-a", "fw-b", "fw-c")
	in.Members = planMembers(planIDB, "~"+planIDC, planIDA)
	in.Nodes[2].Voter = true // the inventory's flag does not count: the membership says learner
	p := mustBuild(t, in)
	if err := p.Refusal(); err != nil || len(p.Mismatches) != 0 {
		t.Errorf("Refusal() = %v, mismatches %+v", err, p.Mismatches)
	}
	if v := p.Voters(); v != 2 {
		t.Errorf("Voters() = %d, want 2 (fw-c is a learner)", v)
	}
}

func TestPlanRefusesAnUnknownMembership(t *testing.T) {
	in := membershipInput("fw-a", "fw-b", "fw-c")
	in.MembersErr = errors.New("503 Service Unavailable: leader unknown")
	p := mustBuild(t, in)
	err := p.Refusal()
	want := "plan refused: the Raft membership is unknown (/api/v1/cluster/members failed: 503 Service Unavailable: leader unknown), " +
		"so the quorum arithmetic cannot be stated; run plan again once the cluster has a leader"
	if err == nil || err.Error() != want {
		t.Errorf("Refusal() = %v, want %q", err, want)
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.HasPrefix(w, "the Raft membership is unknown (") }) {
		t.Errorf("warnings %q do not say the membership is unknown", p.Warnings)
	}
}

// A caller with no cluster to ask (a fake, a test) gives no membership:
// the nodes are the membership, and nothing is refused.
func TestPlanWithoutAMembershipTakesTheNodes(t *testing.T) {
	p := mustBuild(t, planGoldenInput())
	if err := p.Refusal(); err != nil || p.Voters() != 3 {
		t.Errorf("Refusal() = %v, Voters() = %d", err, p.Voters())
	}
}

func TestPlanNodesFromSnapshotAddresses(t *testing.T) {
	snap := health.ClusterSnapshot{
		Nodes:   []health.NodeSnapshot{{Name: "fw-a", NodeID: planIDA, APIURL: "https://10.0.1.11:8443"}},
		Members: planMembers(planIDA, planIDB),
	}
	nodes := PlanNodesFromSnapshot(planGoldenInput().Nodes, snap)
	if nodes[0].Addr != "10.0.1.11:8443" || nodes[1].Addr != "" {
		t.Errorf("addresses %q, %q", nodes[0].Addr, nodes[1].Addr)
	}
}

// The leader is the member the inventory lacks: the warning names it,
// rather than claiming there is no leader.
func TestPlanNamesALeaderTheInventoryLacks(t *testing.T) {
	in := membershipInput("fw-a", "fw-b")
	in.Nodes[1].Leader = false
	in.Members = planMembers(planIDB, planIDC, planIDA)
	in.Members.Members[1].Role = "leader" // fw-c
	p := mustBuild(t, in)
	want := "the leader is Raft member 10.0.1.13:9600 (node id " + planIDC + ", a voter), which the inventory lacks"
	if !slices.Contains(p.Warnings, want) || slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.HasPrefix(w, "no leader") }) {
		t.Errorf("warnings %q, want %q and no 'no leader'", p.Warnings, want)
	}
}
