package health

import (
	"fmt"
	"strings"
)

// The live Raft membership (GET /api/v1/cluster/members) against the
// inventory: written once here, and read by the pre-check, the plan and
// `nwroll status`. Each side's nodes are named by address as well as id,
// since a bare 39-digit node id tells an operator nothing.

// MismatchKind says which side of the comparison lacks the node.
type MismatchKind int

// Mismatch kinds.
const (
	MemberNotInInventory MismatchKind = iota + 1 // a Raft member the inventory does not list
	NodeNotMember                                // an inventory node the Raft membership does not list
)

// InventoryNode is an inventory node as the comparison names it.
type InventoryNode struct {
	Name string // inventory name
	ID   string // decimal node id
	Addr string // where nwroll reaches its API (host:port); "" when unknown
}

// MembershipMismatch is one node on one side only.
type MembershipMismatch struct {
	Kind   MismatchKind
	NodeID string
	// Addr is the member's Raft address from the members API
	// (MemberNotInInventory) or the inventory node's API address
	// (NodeNotMember).
	Addr  string
	Name  string // the inventory name (NodeNotMember)
	Voter bool   // the member is a voter, so it counts towards quorum (MemberNotInInventory)
}

// String names the node by address and id, says what is wrong and the fix.
func (m MembershipMismatch) String() string {
	if m.Kind == MemberNotInInventory {
		return MemberLabel(Member{NodeID: m.NodeID, Addr: m.Addr, IsVoter: m.Voter}) +
			" is not in the inventory; add it to the inventory or remove it from the cluster first"
	}
	who, details := m.Name, []string{m.Addr, "node id " + m.NodeID}
	if who == "" {
		who, details = "node "+m.NodeID, details[:1]
	}
	if d := strings.Join(nonEmpty(details), ", "); d != "" {
		who += " (" + d + ")"
	}
	return who + " is in the inventory but not a Raft member; join it to the cluster or remove it from the inventory first"
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// MemberLabel names a member by its Raft address and id:
// "Raft member 10.0.1.13:9600 (node id 2590…, a voter)".
func MemberLabel(m Member) string {
	role := "a learner"
	if m.IsVoter {
		role = "a voter"
	}
	if m.Addr == "" {
		return fmt.Sprintf("Raft member with node id %s (%s)", m.NodeID, role)
	}
	return fmt.Sprintf("Raft member %s (node id %s, %s)", m.Addr, m.NodeID, role)
}

// CompareMembership lists the members the inventory lacks, in membership
// order, then the inventory nodes that are not members, in inventory order.
// Nil when both sides list the same node ids.
func CompareMembership(members []Member, inventory []InventoryNode) []MembershipMismatch {
	listed := map[string]bool{}
	for _, n := range inventory {
		listed[n.ID] = true
	}
	isMember := map[string]bool{}
	var out []MembershipMismatch
	for _, m := range members {
		isMember[m.NodeID] = true
		if !listed[m.NodeID] {
			out = append(out, MembershipMismatch{Kind: MemberNotInInventory, NodeID: m.NodeID, Addr: m.Addr, Voter: m.IsVoter})
		}
	}
	for _, n := range inventory {
		if !isMember[n.ID] {
			out = append(out, MembershipMismatch{Kind: NodeNotMember, NodeID: n.ID, Addr: n.Addr, Name: n.Name})
		}
	}
	return out
}

// CountVoters counts the voters of a membership: the number the quorum
// arithmetic starts from, whether or not the inventory lists them all.
func CountVoters(members []Member) int {
	v := 0
	for _, m := range members {
		if m.IsVoter {
			v++
		}
	}
	return v
}

// InventoryNodes names the inventory's node ids as the snapshot knows
// them: the inventory name and the API address nwroll polled.
func (c ClusterSnapshot) InventoryNodes(ids []string) []InventoryNode {
	out := make([]InventoryNode, 0, len(ids))
	for _, id := range ids {
		n := InventoryNode{ID: id}
		if s, ok := c.NodeByID(id); ok {
			n.Name, n.Addr = s.Name, s.Addr()
		}
		out = append(out, n)
	}
	return out
}

// Addr is the host:port of the node's API URL.
func (n NodeSnapshot) Addr() string {
	addr := n.APIURL
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	return addr
}

// MemberName names a node id for a list: its inventory name, else its
// Raft address, else the id.
func (c ClusterSnapshot) MemberName(nodeID string) string {
	if n, ok := c.NodeByID(nodeID); ok && n.Name != "" {
		return n.Name
	}
	if m, ok := c.Member(nodeID); ok && m.Addr != "" {
		return m.Addr
	}
	return nodeID
}
