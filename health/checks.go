package health

import (
	"fmt"
	"time"
)

// The checks a gate is made of. Each wraps one of the pure gate functions
// with the memory it needs and the words the plan prints for it. Node
// checks take a Label when a gate lists the same check for several nodes
// (the pre-check's "fw-a ready", "fw-b ready"…).

// NodeReady: /health ok and all eight /ready checks ok (NodeHealthy).
type NodeReady struct {
	Node  NodeRef
	Label string
}

func (c NodeReady) Name() string { return orName(c.Label, GateNodeHealthy) }
func (c NodeReady) Describe() string {
	return fmt.Sprintf("/health 200 and /ready with all %d checks ok on %s", len(ReadyCheckNames), c.Node.Name)
}
func (c NodeReady) Judge(s Sample) (Check, Verdict) {
	n, ok := s.Snap.NodeByID(c.Node.ID)
	var v Verdict
	if ok {
		v = NodeHealthy(n)
	} else {
		v = failed(GateNodeHealthy, c.Node.Name+": not in the snapshot")
	}
	v.Gate = c.Name()
	return c, v
}

// PreCheck is the runbook's pre-check: every node ready, then the cluster
// healthy with exactly these nodes as members.
func PreCheck(nodes []NodeRef) []Check {
	out := make([]Check, 0, len(nodes)+1)
	ids := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, NodeReady{Node: n, Label: n.Name + " ready"})
		ids = append(ids, n.ID)
	}
	return append(out, ClusterOK{IDs: ids})
}

// ClusterOK: a leader, every follower caught up, the membership equals the
// inventory, at least MinVoters voters (ClusterHealthy).
type ClusterOK struct {
	IDs []string // the inventory's decimal node ids
}

func (c ClusterOK) Name() string { return GateClusterHealthy }
func (c ClusterOK) Describe() string {
	return fmt.Sprintf("/api/v1/stats shows a leader and every follower caught up; the Raft membership equals the inventory (%d nodes); at least %d voters",
		len(c.IDs), MinVoters)
}
func (c ClusterOK) Judge(s Sample) (Check, Verdict) { return c, ClusterHealthy(s.Snap, c.IDs) }

// QuorumHolds: stopping Node keeps quorum and no other voter is down
// (QuorumKept); its Summary is the arithmetic.
type QuorumHolds struct {
	Node NodeRef
}

func (c QuorumHolds) Name() string { return GateQuorumKept }
func (c QuorumHolds) Describe() string {
	return "stopping " + c.Node.Name + " keeps quorum and every other voter is healthy and caught up"
}
func (c QuorumHolds) Judge(s Sample) (Check, Verdict) { return c, QuorumKept(s.Snap, c.Node.ID) }

// applyGrace is how far a restarted node may trail the leader's
// last_log_index while its gates hold: in a cluster that writes all the
// time a live follower is an entry or two behind at almost any instant, so
// the index to reach is what the leader had applyGrace ago. A node whose
// apply loop stalls after turning ready falls behind it within seconds.
const applyGrace = 2 * time.Second

// indexTarget is the memory of the catch-up checks: the leader's
// last_log_index sampled after a restart, then followed sample by sample.
type indexTarget struct {
	// AboveTerm: sample only from a leader in a later term (the node led
	// when it stopped, so the index must come from its successor).
	AboveTerm uint64

	sampled bool
	since   uint64
	hist    []indexSample
}

type indexSample struct {
	at     time.Time
	index  uint64
	leader string
}

// observe returns the index the node must have reached in snap, and
// whether there is one yet.
func (t indexTarget) observe(snap ClusterSnapshot) (indexTarget, uint64, bool) {
	leader, ok := snap.Leader()
	if !ok {
		return t, t.since, t.sampled
	}
	term := snap.Stats.Cluster.CurrentTerm
	if !t.sampled && term > t.AboveTerm {
		t.sampled, t.since = true, snap.Stats.Cluster.LastLogIndex
	}
	idx := t.since
	for i := len(t.hist) - 1; i >= 0 && t.sampled; i-- {
		h := t.hist[i]
		if snap.TakenAt.Sub(h.at) < applyGrace {
			continue
		}
		if h.leader == leader.NodeID && h.index > idx {
			idx = h.index
		}
		break
	}
	keep := t.hist
	for len(keep) > 0 && snap.TakenAt.Sub(keep[0].at) > 4*applyGrace {
		keep = keep[1:]
	}
	t.hist = append(append([]indexSample(nil), keep...), indexSample{at: snap.TakenAt, index: snap.Stats.Cluster.LastLogIndex, leader: leader.NodeID})
	return t, idx, t.sampled
}

// judge observes snap and judges the node against the index to reach with
// fn, or says it waits for a leader to sample one.
func (t indexTarget) judge(snap ClusterSnapshot, check string, node NodeRef, fn func(ClusterSnapshot, string, uint64) Verdict) (indexTarget, Verdict) {
	t, idx, ok := t.observe(snap)
	if !ok {
		return t, failed(check, node.Name+": waiting for a leader to sample its last_log_index")
	}
	return t, fn(snap, node.ID, idx)
}

// StatsCaughtUp: the node's stats row has matched the leader's index
// sampled after the restart (RowCaughtUp).
type StatsCaughtUp struct {
	Node NodeRef
	indexTarget
}

// NewStatsCaughtUp is the check for node; aboveTerm is the term before the
// stop when the node led then, else 0.
func NewStatsCaughtUp(node NodeRef, aboveTerm uint64) StatsCaughtUp {
	return StatsCaughtUp{Node: node, indexTarget: indexTarget{AboveTerm: aboveTerm}}
}

func (c StatsCaughtUp) Name() string { return GateCaughtUp }
func (c StatsCaughtUp) Describe() string {
	return c.Node.Name + "'s stats row matched_index ≥ the leader's last_log_index sampled after the restart"
}
func (c StatsCaughtUp) Judge(s Sample) (Check, Verdict) {
	var v Verdict
	c.indexTarget, v = c.indexTarget.judge(s.Snap, c.Name(), c.Node, RowCaughtUp)
	return c, v
}

// Applied: the node's own raft_last_applied has reached the leader's index
// sampled after the restart (AppliedSince).
type Applied struct {
	Node NodeRef
	indexTarget
}

// NewApplied is the check for node; aboveTerm as for NewStatsCaughtUp.
func NewApplied(node NodeRef, aboveTerm uint64) Applied {
	return Applied{Node: node, indexTarget: indexTarget{AboveTerm: aboveTerm}}
}

func (c Applied) Name() string { return GateApplied }
func (c Applied) Describe() string {
	return c.Node.Name + "'s own raft_last_applied ≥ that index"
}
func (c Applied) Judge(s Sample) (Check, Verdict) {
	var v Verdict
	c.indexTarget, v = c.indexTarget.judge(s.Snap, c.Name(), c.Node, AppliedSince)
	return c, v
}

// PeerErrors: the leader's raft_peer_errors_total for the node did not grow
// between two samples from the same leader (PeerErrorsSteady).
type PeerErrors struct {
	Node NodeRef

	prevLeader string
	prev       *Metrics
}

func (c PeerErrors) Name() string { return GatePeerErrorsSteady }
func (c PeerErrors) Describe() string {
	return fmt.Sprintf("the leader's raft_peer_errors_total for %s (peer_id %s) not growing between samples", c.Node.Name, c.Node.ID)
}
func (c PeerErrors) Judge(s Sample) (Check, Verdict) {
	leader, ok := s.Snap.Leader()
	var met *Metrics
	if ok {
		if ls, found := s.Snap.NodeByID(leader.NodeID); found {
			met = ls.Metrics
		}
	}
	prevLeader, prev := c.prevLeader, c.prev
	c.prevLeader, c.prev = "", nil
	if ok {
		c.prevLeader, c.prev = leader.NodeID, met
	}
	switch {
	case !ok:
		return c, failed(GatePeerErrorsSteady, c.Node.Name+": no leader to read raft_peer_errors_total from")
	case leader.NodeID == c.Node.ID:
		return c, Verdict{Gate: GatePeerErrorsSteady, OK: true, Summary: c.Node.Name + " leads: no peer errors towards itself"}
	case prevLeader != leader.NodeID || prev == nil:
		return c, failed(GatePeerErrorsSteady, c.Node.Name+": need two /metrics samples from the same leader")
	}
	return c, PeerErrorsSteady(c.Node.Name, c.Node.ID, prev, met)
}

// BinaryIs: the node's binary, read over SSH since ReadSince, has the
// wanted sha256 (BinaryMatches).
type BinaryIs struct {
	Node      NodeRef
	Label     string
	Path      string // the binary's path, for Describe
	Want      string // sha256
	WantLabel string // the release it is, for Describe
	ReadSince time.Time
}

func (c BinaryIs) Name() string { return orName(c.Label, GateBinaryMatches) }
func (c BinaryIs) Describe() string {
	return fmt.Sprintf("sha256 of %s on %s is %s (%s)", c.Path, c.Node.Name, c.WantLabel, SHA256(normSHA(c.Want)).Short())
}
func (c BinaryIs) Judge(s Sample) (Check, Verdict) {
	b, ok := s.Binaries[c.Node.Name]
	got := ""
	if ok && !b.At.Before(c.ReadSince) {
		got = b.SHA256
	}
	v := BinaryMatches(c.Node.Name, got, c.Want)
	if got == "" && ok {
		v.Reasons = []string{c.Node.Name + ": binary not read since the restart yet"}
	}
	v.Gate = c.Name()
	return c, v
}

// NewLeaderElected: a leader in a term above AboveTerm, the term before the
// leader Stopped was stopped.
type NewLeaderElected struct {
	Stopped   NodeRef
	AboveTerm uint64
	Election  time.Duration // tolerated without a leader, for Describe
}

func (c NewLeaderElected) Name() string { return GateNewLeader }
func (c NewLeaderElected) Describe() string {
	return fmt.Sprintf("a new leader is elected (a term above the one before the stop); no leader is tolerated for %s", c.Election)
}
func (c NewLeaderElected) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateNewLeader)
	leader, ok := s.Snap.Leader()
	term := uint64(0)
	if ok {
		term = s.Snap.Stats.Cluster.CurrentTerm
	}
	b.set("term_before_stop", Count(c.AboveTerm))
	b.set("term", Count(term))
	if !ok || term <= c.AboveTerm {
		b.fail("cluster: no leader elected after %s stopped (term %d, before the stop %d): %s", c.Stopped.Name, term, c.AboveTerm, s.Snap.NoLeaderReason())
	} else {
		b.v.Summary = "leader " + s.Snap.NameOf(leader.NodeID)
	}
	return c, b.done()
}

// LeaderSteady: the same leader in the same term as the previous sample.
type LeaderSteady struct {
	seen       bool
	prevLeader string
	prevTerm   uint64
}

func (c LeaderSteady) Name() string { return GateLeaderStable }
func (c LeaderSteady) Describe() string {
	return "leadership stable: the same leader and term in consecutive samples"
}
func (c LeaderSteady) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateLeaderStable)
	leader, ok := s.Snap.Leader()
	prevSeen, prevLeader, prevTerm := c.seen, c.prevLeader, c.prevTerm
	c.seen, c.prevLeader, c.prevTerm = ok, "", 0
	if !ok {
		b.fail("cluster: no leader in the latest sample")
		return c, b.done()
	}
	term := s.Snap.Stats.Cluster.CurrentTerm
	c.prevLeader, c.prevTerm = leader.NodeID, term
	b.set("leader", Text(s.Snap.NameOf(leader.NodeID)))
	b.set("term", Count(term))
	switch {
	case !prevSeen:
		b.fail("cluster: need two samples with a leader to judge leadership stable")
	case prevLeader != leader.NodeID:
		b.fail("cluster: leader moved %s→%s", s.Snap.NameOf(prevLeader), s.Snap.NameOf(leader.NodeID))
	case prevTerm != term:
		b.fail("cluster: term changed %d→%d (an election happened)", prevTerm, term)
	}
	return c, b.done()
}

func failed(gate, reason string) Verdict {
	return Verdict{Gate: gate, Reasons: []string{reason}}
}

func orName(label, name string) string {
	if label != "" {
		return label
	}
	return name
}
