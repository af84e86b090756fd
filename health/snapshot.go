package health

import "time"

// NodeSnapshot is what one node said about itself at TakenAt. Each of
// Health, Ready and Metrics is nil exactly when its error is set.
type NodeSnapshot struct {
	Name    string // inventory name
	NodeID  string // decimal API node id
	APIURL  string
	TakenAt time.Time

	Health     *HealthResponse
	HealthErr  error
	Ready      *ReadyResponse // 200 and 503 both land here
	ReadyErr   error
	Metrics    *Metrics
	MetricsErr error
}

// ClusterSnapshot is one poll of every node plus the leader's view
// (stats and members, which any node proxies to the leader).
type ClusterSnapshot struct {
	TakenAt time.Time
	Nodes   []NodeSnapshot // in the order of the clients given to api.Refresh

	Stats     *Stats
	StatsFrom string // name of the node that answered the stats call
	StatsErr  error

	Members     *MembersResponse
	MembersFrom string
	MembersErr  error
}

// Node returns the snapshot of the node with the inventory name.
func (c ClusterSnapshot) Node(name string) (NodeSnapshot, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeSnapshot{}, false
}

// NodeByID returns the snapshot of the node with the decimal node id.
func (c ClusterSnapshot) NodeByID(nodeID string) (NodeSnapshot, bool) {
	for _, n := range c.Nodes {
		if n.NodeID != "" && n.NodeID == nodeID {
			return n, true
		}
	}
	return NodeSnapshot{}, false
}

// NameOf maps a decimal node id to its inventory name, or returns the id.
func (c ClusterSnapshot) NameOf(nodeID string) string {
	if n, ok := c.NodeByID(nodeID); ok && n.Name != "" {
		return n.Name
	}
	return nodeID
}

// Leader returns the stats row with role "leader" (facts §2: the only way
// to find the leader in stats).
func (c ClusterSnapshot) Leader() (NodeCatchup, bool) {
	if c.Stats == nil {
		return NodeCatchup{}, false
	}
	return c.Stats.Cluster.Leader()
}

// NoLeaderReason says why the snapshot shows no leader: the stats call's
// error (502/503 while an election runs), or no row with role leader.
func (c ClusterSnapshot) NoLeaderReason() string {
	if c.StatsErr != nil {
		return c.StatsErr.Error()
	}
	return "no stats row has role leader"
}

// Row returns the stats row of nodeID. Rows are looked up by id, never by
// position: followers are ordered by node_id as a string.
func (c ClusterSnapshot) Row(nodeID string) (NodeCatchup, bool) {
	if c.Stats == nil {
		return NodeCatchup{}, false
	}
	return c.Stats.Cluster.Row(nodeID)
}

// Member returns the membership entry of nodeID.
func (c ClusterSnapshot) Member(nodeID string) (Member, bool) {
	if c.Members == nil {
		return Member{}, false
	}
	for _, m := range c.Members.Members {
		if m.NodeID == nodeID {
			return m, true
		}
	}
	return Member{}, false
}

// Leader returns the row with role "leader".
func (s ClusterStats) Leader() (NodeCatchup, bool) {
	for _, n := range s.Nodes {
		if n.Role == "leader" {
			return n, true
		}
	}
	return NodeCatchup{}, false
}

// Row returns the row of nodeID.
func (s ClusterStats) Row(nodeID string) (NodeCatchup, bool) {
	for _, n := range s.Nodes {
		if n.NodeID == nodeID {
			return n, true
		}
	}
	return NodeCatchup{}, false
}
