package health

import (
	"fmt"
	"strings"
)

// Gate names, as shown in the runbook and journal.
const (
	GateNodeHealthy      = "node healthy"
	GateClusterHealthy   = "cluster healthy"
	GateCaughtUp         = "caught up"
	GateApplied          = "applied"
	GateNewLeader        = "new leader"
	GatePeerErrorsSteady = "peer errors steady"
	GateQuorumKept       = "quorum kept"
	GateBinaryMatches    = "binary matches"
	GateLeaderStable     = "leader stable"
)

// MinVoters is the smallest voter count that survives a rolling restart
// (facts §0.9: two voters lose quorum when either stops).
const MinVoters = 3

// MaxApplyLag is the alert threshold on raft_last_log_index −
// raft_last_applied (facts §10).
const MaxApplyLag = 1000

// Quorum is the majority of voters Raft needs: voters/2+1.
func Quorum(voters int) int { return voters/2 + 1 }

// NodeHealthy: /health answered "ok", and /ready lists all eight checks
// (facts §1) and every check is ok. A missing check is a failure.
func NodeHealthy(n NodeSnapshot) Verdict {
	b := newVerdict(GateNodeHealthy)
	who := n.label()
	switch {
	case n.HealthErr != nil:
		b.fail("%s: /health failed: %s", who, describe(n.HealthErr))
		b.set("health", Text("down"))
	case n.Health == nil:
		b.fail("%s: /health not polled", who)
		b.set("health", Text("unknown"))
	case n.Health.Status != "ok":
		b.fail("%s: /health status %q, want \"ok\"", who, n.Health.Status)
		b.set("health", Text(n.Health.Status))
	default:
		b.set("health", Text("ok"))
	}

	switch {
	case n.ReadyErr != nil:
		b.fail("%s: /ready failed: %s", who, describe(n.ReadyErr))
		b.set("ready", Text("down"))
	case n.Ready == nil:
		b.fail("%s: /ready not polled", who)
		b.set("ready", Text("unknown"))
	default:
		failing := readyFailures(who, *n.Ready, b)
		okCount := len(ReadyCheckNames) - countKnown(failing)
		b.text("ready", "%d/%d ok", okCount, len(ReadyCheckNames))
		if len(failing) > 0 {
			b.set("failing", Text(strings.Join(failing, ", ")))
		}
	}
	return b.done()
}

// readyFailures adds a reason per failing or missing check and returns the
// names of the failing checks (known ones first, in wire order).
func readyFailures(who string, r ReadyResponse, b *verdict) []string {
	byName := map[string][]ReadyCheck{}
	for _, ch := range r.Checks {
		byName[ch.Name] = append(byName[ch.Name], ch)
	}
	var failing []string
	for _, name := range ReadyCheckNames {
		checks, ok := byName[name]
		if !ok {
			b.fail("%s: /ready check %s missing", who, name)
			failing = append(failing, name)
			continue
		}
		for _, ch := range checks {
			if !ch.OK {
				b.fail("%s: /ready check %s failing: %s", who, name, detailOf(ch))
				failing = append(failing, name)
				break
			}
		}
	}
	// Checks this version of nwroll does not know: fail only if not ok.
	for _, ch := range r.Checks {
		if !isKnownCheck(ch.Name) && !ch.OK {
			b.fail("%s: /ready check %s failing: %s", who, ch.Name, detailOf(ch))
			failing = append(failing, ch.Name)
		}
	}
	if len(failing) == 0 && !r.Ready {
		b.fail("%s: /ready says ready=false although every check is ok", who)
	}
	return failing
}

func countKnown(names []string) int {
	n := 0
	for _, name := range names {
		if isKnownCheck(name) {
			n++
		}
	}
	return n
}

func isKnownCheck(name string) bool {
	for _, k := range ReadyCheckNames {
		if k == name {
			return true
		}
	}
	return false
}

func detailOf(ch ReadyCheck) string {
	if ch.Detail == nil || *ch.Detail == "" {
		return "no detail"
	}
	return *ch.Detail
}

// ClusterHealthy: the leader's view shows a leader, every follower caught
// up (a null matched_index is not caught up), the Raft membership equals
// expectedIDs (decimal node ids from the inventory; CompareMembership names
// each node on one side only), and there are at least MinVoters voters.
func ClusterHealthy(c ClusterSnapshot, expectedIDs []string) Verdict {
	b := newVerdict(GateClusterHealthy)

	if c.StatsErr != nil || c.Stats == nil {
		b.fail("cluster: /api/v1/stats failed: %s", errOrMissing(c.StatsErr))
	} else {
		st := c.Stats.Cluster
		b.set("term", Count(st.CurrentTerm))
		b.set("last_log_index", Count(st.LastLogIndex))
		if leader, ok := st.Leader(); ok {
			b.set("leader", Text(c.NameOf(leader.NodeID)))
		} else {
			b.fail("cluster: no leader: no /api/v1/stats row has role \"leader\"")
			b.set("leader", Text("none"))
		}
		caughtUp := 0
		followers := 0
		for _, row := range st.Nodes { // wire order: leader, then followers by node_id string
			if row.Role == "leader" {
				continue
			}
			followers++
			if reason := notCaughtUp(row); reason != "" {
				b.fail("%s: not caught up: %s", c.NameOf(row.NodeID), reason)
				continue
			}
			caughtUp++
		}
		b.text("followers_caught_up", "%d/%d", caughtUp, followers)
		for _, id := range expectedIDs {
			if _, ok := st.Row(id); !ok {
				b.fail("%s: no row in /api/v1/stats (the leader does not list node %s)", c.NameOf(id), id)
			}
		}
	}

	if c.MembersErr != nil || c.Members == nil {
		b.fail("cluster: /api/v1/cluster/members failed: %s", errOrMissing(c.MembersErr))
		return b.done()
	}
	var voters, learners []string
	for _, m := range c.Members.Members {
		if m.IsVoter {
			voters = append(voters, m.NodeID)
		} else {
			learners = append(learners, m.NodeID)
		}
	}
	for _, mm := range CompareMembership(c.Members.Members, c.InventoryNodes(expectedIDs)) {
		b.fail("%s", mm)
	}
	b.set("members", Count(len(c.Members.Members)))
	b.set("voters", Count(len(voters)))
	if len(learners) > 0 {
		b.set("learners", Text(strings.Join(names(c, learners), ", ")))
	}
	if len(voters) < MinVoters {
		b.fail("cluster: only %d voter(s) (%s): a rolling restart needs at least %d, because %d voter(s) tolerate %d failure(s)",
			len(voters), strings.Join(names(c, voters), ", "), MinVoters, len(voters), max(len(voters)-Quorum(len(voters)), 0))
	}
	return b.done()
}

// notCaughtUp explains why a follower row is not caught up, or returns "".
func notCaughtUp(row NodeCatchup) string {
	switch {
	case row.MatchedIndex == nil:
		return "matched_index is null (the leader has no replication state for it yet)"
	case !row.CaughtUp:
		if row.LagEntries != nil {
			return fmt.Sprintf("matched_index %d, %d entries behind", *row.MatchedIndex, *row.LagEntries)
		}
		return fmt.Sprintf("matched_index %d, caught_up false", *row.MatchedIndex)
	}
	return ""
}

// RowCaughtUp: the leader's stats row for nodeID shows a matched_index of
// at least index, the leader's last_log_index sampled after the node
// restarted. The row's caught_up flag alone does not prove a follower is
// alive (facts §0.6), and a live follower is an entry behind while an
// append is in flight, so the index is what counts.
func RowCaughtUp(c ClusterSnapshot, nodeID string, index uint64) Verdict {
	b := newVerdict(GateCaughtUp)
	who := c.NameOf(nodeID)
	b.set("since_index", Count(index))
	switch row, ok := c.Row(nodeID); {
	case c.Stats == nil:
		b.fail("%s: /api/v1/stats failed: %s", who, errOrMissing(c.StatsErr))
	case !ok:
		b.fail("%s: no row in /api/v1/stats", who)
	default:
		b.set("matched_index", Text(fmtIndex(row.MatchedIndex)))
		b.set("lag_entries", Text(fmtIndex(row.LagEntries)))
		switch {
		case row.MatchedIndex == nil:
			b.fail("%s: matched_index is null (the leader has no replication state for it yet)", who)
		case *row.MatchedIndex < index:
			b.fail("%s: matched_index %d is below %d (lag %s)", who, *row.MatchedIndex, index, fmtIndex(row.LagEntries))
		}
	}
	return b.done()
}

// AppliedSince: the node's own /metrics raft_last_applied has reached
// index.
func AppliedSince(c ClusterSnapshot, nodeID string, index uint64) Verdict {
	b := newVerdict(GateApplied)
	who := c.NameOf(nodeID)
	b.set("since_index", Count(index))
	n, ok := c.NodeByID(nodeID)
	switch {
	case !ok:
		b.fail("%s: not polled, so its raft_last_applied is unknown", who)
	case n.Metrics == nil:
		b.fail("%s: /metrics failed: %s", who, errOrMissing(n.MetricsErr))
	case !n.Metrics.Has(MetricRaftLastApplied):
		b.fail("%s: /metrics has no %s", who, MetricRaftLastApplied)
	default:
		b.set("last_applied", Count(n.Metrics.LastApplied))
		if n.Metrics.LastApplied < index {
			b.fail("%s: raft_last_applied %d is below %d", who, n.Metrics.LastApplied, index)
		}
	}
	return b.done()
}

// PeerErrorsSteady: the leader's raft_peer_errors_total{peer_id} for the
// peer did not grow between two samples taken from the same leader.
func PeerErrorsSteady(peerName, peerID string, before, after *Metrics) Verdict {
	b := newVerdict(GatePeerErrorsSteady)
	who := peerName
	if who == "" {
		who = peerID
	}
	if before == nil || after == nil {
		b.fail("%s: need two /metrics samples of the leader", who)
		return b.done()
	}
	x, y := before.PeerErrors(peerID), after.PeerErrors(peerID)
	b.set("before", Number(x))
	b.set("after", Number(y))
	switch {
	case y > x:
		b.fail("%s: the leader's raft_peer_errors_total for it grew %g→%g between samples", who, x, y)
	case y < x:
		b.fail("%s: the leader's raft_peer_errors_total for it fell %g→%g: the samples are from different leaders or a restart", who, x, y)
	}
	for i, m := range []*Metrics{before, after} {
		if m.Has(MetricRaftIsLeader) && !m.IsLeader {
			b.fail("%s: sample %d is not from the leader (raft_is_leader 0)", who, i+1)
		}
	}
	return b.done()
}

// QuorumMath is the arithmetic of stopping one node: the one formatter
// every screen, plan and journal line uses. It never prints a negative
// failure tolerance.
type QuorumMath struct {
	Who      string // the node stopped
	Learner  bool   // it is a learner: stopping it does not touch quorum
	Voters   int    // voters in the membership
	UpBefore int    // voters up now
	UpAfter  int    // voters up once it is stopped
}

// QuorumOf is the arithmetic of stopping who while every voter is up, as
// a plan states it before any snapshot.
func QuorumOf(who string, voters int, learner bool) QuorumMath {
	q := QuorumMath{Who: who, Learner: learner, Voters: voters, UpBefore: voters, UpAfter: voters}
	if !learner {
		q.UpAfter--
	}
	return q
}

// Quorum is the majority the voters need.
func (q QuorumMath) Quorum() int { return Quorum(q.Voters) }

// Keeps reports whether quorum survives the stop.
func (q QuorumMath) Keeps() bool { return q.UpAfter >= q.Quorum() }

// String is "stopping fw-b: voters up 3→2, quorum 2, failure tolerance
// 1→0", or "…, quorum 2: would lose quorum" when it would not survive.
func (q QuorumMath) String() string {
	who := q.Who
	if q.Learner {
		who += " (a learner)"
	}
	head := fmt.Sprintf("stopping %s: voters up %d→%d, quorum %d", who, q.UpBefore, q.UpAfter, q.Quorum())
	switch {
	case q.UpBefore < q.Quorum():
		return head + ": quorum is already lost"
	case !q.Keeps():
		return head + ": would lose quorum"
	}
	return fmt.Sprintf("%s, failure tolerance %d→%d", head, q.UpBefore-q.Quorum(), q.UpAfter-q.Quorum())
}

// QuorumKept: stopping nodeID leaves at least a quorum of healthy voters,
// and no other voter is already unhealthy. A voter is up when its node is
// healthy (NodeHealthy) and its stats row is caught up (one entry behind
// while an append is in flight counts as caught up). Summary carries the
// arithmetic (QuorumMath).
func QuorumKept(c ClusterSnapshot, nodeID string) Verdict {
	b := newVerdict(GateQuorumKept)
	who := c.NameOf(nodeID)
	if c.Members == nil {
		b.fail("stopping %s: cluster membership unknown: %s", who, errOrMissing(c.MembersErr))
		return b.done()
	}
	target, isMember := c.Member(nodeID)
	if !isMember {
		b.fail("stopping %s: node %s is not a Raft member", who, nodeID)
		return b.done()
	}

	q := QuorumMath{Who: who, Learner: !target.IsVoter}
	targetUp := false
	var down []string
	for _, m := range c.Members.Members {
		if !m.IsVoter {
			continue
		}
		q.Voters++
		reason := voterDown(c, m.NodeID)
		if reason == "" {
			q.UpBefore++
			if m.NodeID == nodeID {
				targetUp = true
			}
		} else if m.NodeID != nodeID {
			down = append(down, reason)
		}
	}
	q.UpAfter = q.UpBefore
	if targetUp {
		q.UpAfter--
	}
	arith := q.String()
	b.v.Summary = arith
	b.set("voters", Count(q.Voters))
	b.set("voters_up_before", Count(q.UpBefore))
	b.set("voters_up_after", Count(q.UpAfter))
	b.set("quorum", Count(q.Quorum()))
	if q.Keeps() {
		b.set("tolerance_after", Count(q.UpAfter-q.Quorum()))
	}

	if !q.Keeps() {
		b.fail("%s: refused", arith)
	}
	for _, d := range down {
		b.fail("%s: another voter is already unhealthy: %s", arith, d)
	}
	return b.done()
}

// voterDown says why a voter does not count as up, naming it, or returns "".
func voterDown(c ClusterSnapshot, nodeID string) string {
	who := c.NameOf(nodeID)
	n, ok := c.NodeByID(nodeID)
	if !ok {
		if m, ok := c.Member(nodeID); ok {
			who = MemberLabel(m)
		}
		return who + ": not in the inventory, so its health is unknown"
	}
	if v := NodeHealthy(n); !v.OK {
		return strings.Join(v.Reasons, "; ") // each names the node already
	}
	row, ok := c.Row(nodeID)
	if !ok {
		return who + ": no row in /api/v1/stats"
	}
	if row.Role != "leader" && !appendInFlight(row) {
		if reason := notCaughtUp(row); reason != "" {
			return who + ": not caught up: " + reason
		}
	}
	return ""
}

// appendInFlight: the row is one entry behind, as a live follower is
// while the leader's latest append is on its way.
func appendInFlight(row NodeCatchup) bool {
	return row.MatchedIndex != nil && row.LagEntries != nil && *row.LagEntries <= 1
}

// BinaryMatches: the sha256 of the node's installed binary equals the
// target release's (hex, case-insensitive).
func BinaryMatches(nodeName, gotSHA256, wantSHA256 string) Verdict {
	b := newVerdict(GateBinaryMatches)
	got, want := normSHA(gotSHA256), normSHA(wantSHA256)
	b.set("sha256", SHA256(got))
	b.set("target_sha256", SHA256(want))
	switch {
	case want == "":
		b.fail("%s: no target sha256 to compare with", nodeName)
	case got == "":
		b.fail("%s: the binary's sha256 is unknown", nodeName)
	case got != want:
		b.fail("%s: binary sha256 %s does not match the target %s", nodeName, short(got), short(want))
	}
	return b.done()
}

func (n NodeSnapshot) label() string {
	switch {
	case n.Name != "":
		return n.Name
	case n.NodeID != "":
		return n.NodeID
	}
	return n.APIURL
}

func errOrMissing(err error) string {
	if err == nil {
		return "no answer"
	}
	return describe(err)
}

func fmtIndex(p *uint64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%d", *p)
}

func names(c ClusterSnapshot, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = c.MemberName(id)
	}
	return out
}

func normSHA(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if f := strings.Fields(s); len(f) > 0 {
		s = f[0] // accept "sha  path" lines from sha256sum
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12] + "…"
	}
	return sha
}
