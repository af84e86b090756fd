package runbook

import (
	"errors"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// NodeView is one node as every screen shows it, built once per snapshot:
// its role, readiness with each failing check, lag and when it last
// answered, and (from a machine) its build and rollout state. The node
// table, `nwroll status` and the dialogs all read it.
type NodeView struct {
	Name   string
	NodeID string
	Role   string // leader | follower | learner | unknown
	// Answered is whether the node answered its last poll; Unreachable
	// says why not ("unreachable: connection refused", "timeout").
	Answered    bool
	Unreachable string
	Ready       bool
	Failing     []string // failing /ready checks, or why /health or /ready failed
	Lag         *uint64  // entries behind the leader, from its stats row
	LastSeen    time.Time

	// From the machine: what this run knows of the node's files and
	// where it stands in the rollout.
	Binary   BuildRef
	Staged   bool
	PrevKept bool
	Status   NodeStatus
	Since    time.Time
	Down     bool
	Err      string
}

// ViewNode is what one snapshot says of a node.
func ViewNode(snap health.ClusterSnapshot, name, id string) NodeView {
	v := NodeView{Name: name, NodeID: id, Role: "unknown"}
	if m, ok := snap.Member(id); ok {
		switch {
		case !m.IsVoter:
			v.Role = "learner"
		case m.Role == "leader":
			v.Role = "leader"
		default:
			v.Role = "follower"
		}
	}
	if r, ok := snap.Row(id); ok {
		switch {
		case r.Role == "leader":
			v.Role = "leader"
		case v.Role == "unknown" || v.Role == "leader":
			v.Role = "follower"
		}
		v.Lag = r.LagEntries
	}
	ns, ok := snap.NodeByID(id)
	if !ok && id == "" {
		ns, ok = snap.Node(name) // an instance just launched: not a member yet
	}
	if !ok {
		return v
	}
	v.Unreachable = pollError(ns)
	v.Answered = v.Unreachable == ""
	if v.Answered {
		v.LastSeen = ns.TakenAt
	}
	h := health.NodeHealthy(ns)
	v.Ready = h.OK
	if !h.OK {
		if f, ok := h.Value("failing"); ok {
			v.Failing = strings.Split(f, ", ")
		} else {
			v.Failing = shortReasons(h.Reasons)
		}
	}
	return v
}

// NodeViews are every node as the machine sees it now, in inventory order.
func (m Machine) NodeViews() []NodeView {
	out := make([]NodeView, len(m.Nodes))
	for i, n := range m.Nodes {
		v := NodeView{Name: n.Name, NodeID: n.NodeID, Role: "unknown"}
		if m.HaveSnapshot {
			v = ViewNode(m.Latest, n.Name, n.NodeID)
		}
		v.LastSeen = m.seen[n.Name]
		v.Binary, v.Staged, v.PrevKept = n.Binary, n.Staged, n.PrevKept
		v.Status, v.Since, v.Down, v.Err = n.Status, n.Since, n.Down, n.Err
		out[i] = v
	}
	return out
}

// noteSeen records when each node last answered a poll.
func (m *Machine) noteSeen(snap health.ClusterSnapshot) {
	for _, ns := range snap.Nodes {
		if pollError(ns) != "" || ns.TakenAt.IsZero() {
			continue
		}
		if m.seen == nil {
			m.seen = map[string]time.Time{}
		}
		if ns.TakenAt.After(m.seen[ns.Name]) {
			m.seen[ns.Name] = ns.TakenAt
		}
	}
}

// pollError is why a node did not answer its last poll, short enough for
// a cell; "" when it answered.
func pollError(n health.NodeSnapshot) string {
	err := n.HealthErr
	if err == nil {
		err = n.ReadyErr
	}
	if err == nil {
		return ""
	}
	var te interface{ Timeout() bool }
	switch {
	case health.IsNodeDown(err):
		return "unreachable: " + lastClause(err.Error())
	case errors.As(err, &te) && te.Timeout():
		return "timeout"
	}
	return lastClause(err.Error())
}

// lastClause keeps the end of a wrapped error: "dial tcp …: connection
// refused" → "connection refused".
func lastClause(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

func shortReasons(rs []string) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if i := strings.Index(r, ": "); i >= 0 {
			r = r[i+2:]
		}
		if len(r) > 80 {
			r = r[:80] + "…"
		}
		out = append(out, r)
	}
	return out
}
