package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
)

// Dynamic membership (facts §8, cloud-rollout.md G5). After answering a
// join, the serving node adds the joiner as a learner (hashicorp's
// AddNonvoter), waits until it has caught up, then promotes it to voter.
// Both are leader operations: on a follower they fail, so the joiner is
// never added (join_via_follower "stuck", the inference), unless the
// follower passes the change to the leader ("forward").

const (
	membershipTimeout = 5 * time.Second  // one AddNonvoter, AddVoter or RemoveServer
	catchUpTimeout    = 10 * time.Second // a learner reaching the leader's last index
)

// errNotLeaderJoin is the failure of a membership change on a follower.
var errNotLeaderJoin = errors.New("this node is not the leader: add_learner and change_membership run on the leader only")

// addJoiner is the join handler's background step: add the joiner, retried
// like the join itself (8 attempts, backoff 250 ms to 8 s plus jitter), then
// give up silently but for the log.
func (n *node) addJoiner(ctx context.Context, id, addr string, forwarded bool) {
	backoff := 250 * time.Millisecond
	for attempt := 1; attempt <= joinAttempts; attempt++ {
		err := n.addMember(ctx, id, addr, forwarded)
		if err == nil {
			return
		}
		n.log.Warn("cluster membership change for joiner failed", "attempt", fmt.Sprintf("%d/%d", attempt, joinAttempts),
			"joiner", id, "error", err)
		if attempt == joinAttempts || errors.Is(err, raft.ErrRaftShutdown) {
			return
		}
		jitter, _ := rand.Int(rand.Reader, big.NewInt(250))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(jitter.Int64())*time.Millisecond):
		}
		backoff = min(backoff*2, 8*time.Second)
	}
}

// addMember makes id a voter at addr: learner first, then, once caught up,
// voter. A node that already is a voter at addr is left alone.
func (n *node) addMember(ctx context.Context, id, addr string, forwarded bool) error {
	if !n.isLeader() {
		if n.sim.JoinViaFollower == JoinForward && !forwarded {
			return n.forwardJoin(ctx, id, addr)
		}
		return errNotLeaderJoin
	}
	sid, saddr := raft.ServerID(id), raft.ServerAddress(addr)
	learner := false
	for _, s := range n.configuration() {
		if s.ID != sid || s.Address != saddr {
			continue
		}
		if s.Suffrage == raft.Voter {
			n.log.Debug("joiner is already a voter", "joiner", id)
			return nil
		}
		learner = true
	}
	if !learner {
		n.membershipMu.Lock()
		err := n.raft.AddNonvoter(sid, saddr, 0, membershipTimeout).Error()
		n.membershipMu.Unlock()
		if err != nil {
			return fmt.Errorf("add learner: %w", err)
		}
		n.log.Info("added cluster learner", "node_id", id, "addr", addr)
	}
	if err := n.waitCaughtUp(ctx, sid); err != nil {
		return err
	}
	n.membershipMu.Lock()
	err := n.raft.AddVoter(sid, saddr, 0, membershipTimeout).Error()
	n.membershipMu.Unlock()
	if err != nil {
		return fmt.Errorf("promote learner: %w", err)
	}
	n.log.Info("promoted cluster learner to voter", "node_id", id, "addr", addr)
	return nil
}

// waitCaughtUp waits until id's matched index reaches the leader's last
// index as it was when the wait began.
func (n *node) waitCaughtUp(ctx context.Context, id raft.ServerID) error {
	target := n.raft.LastIndex()
	deadline := time.Now().Add(catchUpTimeout)
	for {
		if !n.isLeader() {
			return errNotLeaderJoin
		}
		if m, ok := n.trans.matched(id, n.raft.CurrentTerm()); ok && m >= target {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("learner %s did not catch up to index %d within %v", id, target, catchUpTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// forwardJoin passes a joiner's membership change to the leader's join
// listener, signed with this node's bootstrap token.
func (n *node) forwardJoin(ctx context.Context, id, addr string) error {
	leader, ok := n.leaderHost()
	if !ok {
		return errors.New("forward membership change: leader unknown")
	}
	_, port, err := net.SplitHostPort(n.cfg.Cluster.JoinBind)
	if err != nil {
		return err
	}
	tokens, err := LoadBootstrapTokens(n.cfg.Cluster.TokenPath)
	if err != nil {
		return err
	}
	tok, err := tokens.Current(time.Now())
	if err != nil {
		return err
	}
	target := net.JoinHostPort(leader, port)
	if err := n.joinOnce(ctx, target, tok, joinRequest{NodeID: id, RaftAddr: addr, Forwarded: true}); err != nil {
		return fmt.Errorf("forward membership change to the leader at %s: %w", target, err)
	}
	n.log.Info("forwarded joiner to the leader", "joiner", id, "leader", target)
	return nil
}

// leaderHost is the leader's IP, from the Raft configuration.
func (n *node) leaderHost() (string, bool) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", false
	}
	for _, s := range n.configuration() {
		if s.ID == id {
			return raftAddrHost(s.Address), true
		}
	}
	return "", false
}

// removeMemberPath is the route pattern of POST /api/v1/cluster/members/{id}/remove.
const removeMemberPath = "/api/v1/cluster/members/{id}/remove"

// memberIDFromRemovePath returns {id} of a member removal path.
func memberIDFromRemovePath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/v1/cluster/members/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/remove")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// errUnknownMember is a removal of a node id not in the membership (404;
// the facts say nothing about this case).
var errUnknownMember = errors.New("not a cluster member")

// handleRemoveMember serves POST /api/v1/cluster/members/{id}/remove
// {"force":bool} on the leader and answers with the new members.
func (n *node) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id, _ := memberIDFromRemovePath(r.URL.Path)
	var body struct {
		Force bool `json:"force"`
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: %v", err))
		return
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid request body: %v", err))
			return
		}
	}
	if err := n.removeMember(id, body.Force); err != nil {
		writeError(w, removeStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, n.members())
}

// removeStatus maps a removal error to its status (facts §8): "forward" or
// "leader unknown" 503, an unknown member 404, anything else 400.
func removeStatus(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "forward") || strings.Contains(msg, "leader unknown"):
		return http.StatusServiceUnavailable
	case errors.Is(err, errUnknownMember):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// removeMember is Neuwerk's remove_member(force, min_voters): it refuses a
// membership change in flight (openraft's joint configuration), the
// leader's own removal and going below min_voters, unless forced.
func (n *node) removeMember(id string, force bool) error {
	if !n.membershipMu.TryLock() {
		return errors.New("cluster membership is changing (joint configuration); retry once it settles")
	}
	defer n.membershipMu.Unlock()
	if !n.isLeader() {
		return errors.New("forward to leader: this node is no longer the leader")
	}
	servers := n.configuration()
	var target *raft.Server
	voters := 0
	for i, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == id {
			target = &servers[i]
		}
	}
	switch {
	case target == nil:
		return fmt.Errorf("node %s is %w", id, errUnknownMember)
	case id == n.id && !force:
		return fmt.Errorf("refusing to remove node %s: it is the leader (self-removal needs force)", id)
	case target.Suffrage == raft.Voter && voters-1 < n.cfg.MinVoters() && !force:
		return fmt.Errorf("refusing to remove voter %s: %d voters would remain, below min_voters %d (removal needs force)",
			id, voters-1, n.cfg.MinVoters())
	}
	if err := n.raft.RemoveServer(target.ID, 0, membershipTimeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("forward to leader: %w", err)
		}
		return fmt.Errorf("remove member %s: %w", id, err)
	}
	n.log.Info("removed cluster member", "node_id", id, "force", force)
	return nil
}

// members is the body of GET /api/v1/cluster/members, in numeric id order.
func (n *node) members() health.MembersResponse {
	_, leaderID := n.raft.LeaderWithID()
	servers := n.configuration()
	sort.Slice(servers, func(i, j int) bool { return lessNodeID(string(servers[i].ID), string(servers[j].ID)) })
	resp := health.MembersResponse{Members: []health.Member{}}
	for _, s := range servers {
		m := health.Member{NodeID: string(s.ID), Addr: string(s.Address), IsVoter: s.Suffrage == raft.Voter, CloudStatus: "unknown"}
		switch {
		case s.ID == leaderID:
			m.Role = "leader"
		case s.Suffrage != raft.Voter:
			m.Role = "learner"
		default:
			m.Role = "follower"
		}
		if st, ok := n.integrationState(string(s.ID)); ok {
			st.apply(&m)
		}
		resp.Members = append(resp.Members, m)
	}
	return resp
}

// IntegrationState is a node's replicated cloud-integration lifecycle
// state, as GET /api/v1/cluster/members shows it. The node-side cloud
// integration writes it with setIntegrationState.
type IntegrationState struct {
	CloudStatus        string `json:"cloud_status,omitempty"`         // e.g. active, terminating, missing
	DrainState         string `json:"drain_state,omitempty"`          // Active | Draining | Drained
	TerminationEventID string `json:"termination_event_id,omitempty"` // the provider's event id
	// DrainStartedMillis is when the drain began (unix ms), so a new
	// leader finishes it on time.
	DrainStartedMillis int64 `json:"drain_started_ms,omitempty"`
	DrainedMillis      int64 `json:"drained_ms,omitempty"` // when the drain completed
}

func (s IntegrationState) apply(m *health.Member) {
	if s.CloudStatus != "" {
		m.CloudStatus = s.CloudStatus
	}
	if s.DrainState != "" {
		v := s.DrainState
		m.DrainState = &v
	}
	if s.TerminationEventID != "" {
		v := s.TerminationEventID
		m.TerminationEventID = &v
	}
}

// integrationKey is where a node's IntegrationState lives in the replicated state.
func integrationKey(id string) string { return "integration/members/" + id }

func (n *node) integrationState(id string) (IntegrationState, bool) {
	raw, ok := n.fsm.get(integrationKey(id))
	if !ok {
		return IntegrationState{}, false
	}
	var s IntegrationState
	if err := json.Unmarshal(raw, &s); err != nil {
		return IntegrationState{}, false
	}
	return s, true
}

// setIntegrationState replicates node id's integration state; it runs on
// the leader (a follower's write fails with raft.ErrNotLeader).
func (n *node) setIntegrationState(id string, s IntegrationState) error {
	value, err := json.Marshal(s)
	if err != nil {
		return err
	}
	data, err := json.Marshal(command{Op: "set", Key: integrationKey(id), Value: value})
	if err != nil {
		return err
	}
	return n.raft.Apply(data, membershipTimeout).Error()
}
