package node

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
)

// readiness evaluates the eight /ready checks in wire order (facts §1).
func (n *node) readiness() health.ReadyResponse {
	ok := map[string]bool{
		health.CheckDataplaneRunning:  n.dataplaneRunning.Load(),
		health.CheckDataplaneConfig:   n.leaseActive.Load(),
		health.CheckPolicyReady:       n.policyReady.Load(),
		health.CheckDNSAllowlist:      n.dnsReady.Load(),
		health.CheckServicePlane:      n.servicePlane.Load(),
		health.CheckDraining:          !n.draining.Load(),
		health.CheckCluster:           n.clusterReady(time.Now()),
		health.CheckPolicyReplication: n.policyReplicated(),
	}
	resp := health.ReadyResponse{Ready: true, Checks: make([]health.ReadyCheck, 0, len(health.ReadyCheckNames))}
	for _, name := range health.ReadyCheckNames {
		c := health.ReadyCheck{Name: name, OK: ok[name]}
		if !c.OK {
			detail := health.ReadyCheckDetails[name]
			c.Detail = &detail
			resp.Ready = false
		}
		resp.Checks = append(resp.Checks, c)
	}
	return resp
}

// clusterReady is the `cluster` check: a follower needs a known leader other
// than itself that is in the membership; a leader needs a quorum ack within
// election_timeout_min; candidates and shut-down nodes fail.
func (n *node) clusterReady(now time.Time) bool {
	self := raft.ServerID(n.id)
	servers := n.configuration()
	switch n.raft.State() {
	case raft.Leader:
		var voters []raft.ServerID
		for _, s := range servers {
			if s.Suffrage == raft.Voter {
				voters = append(voters, s.ID)
			}
		}
		at, ok := n.trans.quorumAck(voters, self, n.raft.CurrentTerm(), now)
		return ok && now.Sub(at) <= quorumAckLimit
	case raft.Follower:
		_, leader := n.raft.LeaderWithID()
		if leader == "" || leader == self {
			return false
		}
		for _, s := range servers {
			if s.ID == leader {
				return true
			}
		}
		return false
	default:
		return false
	}
}

// policyReplicated is the `policy_replication` check.
func (n *node) policyReplicated() bool {
	if !n.policyReady.Load() || n.policyGeneration.Load() == 0 {
		return false
	}
	if raw, ok := n.fsm.get(policyKey); ok {
		if _, err := parsePolicy(raw); err != nil {
			return false
		}
	}
	return true
}
