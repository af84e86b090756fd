package health

import (
	"reflect"
	"testing"
)

func TestCompareMembership(t *testing.T) {
	inv := func(ids ...string) []InventoryNode {
		names := map[string]string{idA: "fw-a", idB: "fw-b", idC: "fw-c"}
		var out []InventoryNode
		for _, id := range ids {
			out = append(out, InventoryNode{Name: names[id], ID: id, Addr: apiURLs[id][len("https://"):]})
		}
		return out
	}
	tests := []struct {
		name    string
		members *MembersResponse
		inv     []InventoryNode
		want    []MembershipMismatch
		texts   []string
	}{
		{"equal, in any order", members(idB, idC, idA), inv(idA, idB, idC), nil, nil},
		{"a voter the inventory lacks", members(idB, idC, idA), inv(idA, idB),
			[]MembershipMismatch{{Kind: MemberNotInInventory, NodeID: idC, Addr: "10.0.1.13:9600", Voter: true}},
			[]string{"Raft member 10.0.1.13:9600 (node id " + idC + ", a voter) is not in the inventory; add it to the inventory or remove it from the cluster first"}},
		{"a learner the inventory lacks", members(idB, "~"+idC, idA), inv(idA, idB),
			[]MembershipMismatch{{Kind: MemberNotInInventory, NodeID: idC, Addr: "10.0.1.13:9600"}},
			[]string{"Raft member 10.0.1.13:9600 (node id " + idC + ", a learner) is not in the inventory; add it to the inventory or remove it from the cluster first"}},
		{"an inventory node that is not a member", members(idB, idA), inv(idA, idB, idC),
			[]MembershipMismatch{{Kind: NodeNotMember, NodeID: idC, Addr: "10.0.1.13:8443", Name: "fw-c"}},
			[]string{"fw-c (10.0.1.13:8443, node id " + idC + ") is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first"}},
		{"both: members first, in membership order, then inventory nodes", members(idB, "1000", idA), inv(idC, idA, idB),
			[]MembershipMismatch{
				{Kind: MemberNotInInventory, NodeID: "1000", Voter: true},
				{Kind: NodeNotMember, NodeID: idC, Addr: "10.0.1.13:8443", Name: "fw-c"},
			},
			[]string{
				"Raft member with node id 1000 (a voter) is not in the inventory; add it to the inventory or remove it from the cluster first",
				"fw-c (10.0.1.13:8443, node id " + idC + ") is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first",
			}},
		{"an unnamed inventory node", members(idB), []InventoryNode{{ID: idB}, {ID: "1000"}},
			[]MembershipMismatch{{Kind: NodeNotMember, NodeID: "1000"}},
			[]string{"node 1000 is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CompareMembership(tt.members.Members, tt.inv)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("CompareMembership = %+v, want %+v", got, tt.want)
			}
			var texts []string
			for _, m := range got {
				texts = append(texts, m.String())
			}
			if !reflect.DeepEqual(texts, tt.texts) {
				t.Errorf("texts:\n  %q\nwant:\n  %q", texts, tt.texts)
			}
		})
	}
}

func TestCountVotersCountsMembersTheInventoryLacks(t *testing.T) {
	for _, tt := range []struct {
		members *MembersResponse
		want    int
	}{
		{members(idB, idC, idA), 3},
		{members(idB, "~"+idC, idA), 2},
		{members(idB, idC, idA, "1000", "~1001"), 4},
		{&MembersResponse{}, 0},
	} {
		if got := CountVoters(tt.members.Members); got != tt.want {
			t.Errorf("CountVoters(%+v) = %d, want %d", tt.members.Members, got, tt.want)
		}
	}
}

func TestSnapshotNamesInventoryNodesAndMembers(t *testing.T) {
	snap := healthyCluster(t).with(func(c *ClusterSnapshot) { c.Nodes = c.Nodes[:2] }) // fw-a, fw-b
	got := snap.InventoryNodes([]string{idA, "1000"})
	want := []InventoryNode{{Name: "fw-a", ID: idA, Addr: "10.0.1.11:8443"}, {ID: "1000"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InventoryNodes = %+v, want %+v", got, want)
	}
	for id, want := range map[string]string{idA: "fw-a", idC: "10.0.1.13:9600", "1000": "1000"} {
		if got := snap.MemberName(id); got != want {
			t.Errorf("MemberName(%s) = %q, want %q", id, got, want)
		}
	}
	for url, want := range map[string]string{"https://10.0.1.11:8443": "10.0.1.11:8443", "https://[fd00::1]:8443/": "[fd00::1]:8443", "": ""} {
		if got := (NodeSnapshot{APIURL: url}).Addr(); got != want {
			t.Errorf("Addr of %q = %q, want %q", url, got, want)
		}
	}
}
