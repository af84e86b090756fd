package sysdump

import (
	"encoding/json"

	"github.com/nwroll/nwroll/health"
)

// The JSON members of a sysdump (facts §4), field by field; the simulator
// in package sim writes these same types.

// Manifest is the outer archive's manifest.json.
type Manifest struct {
	GeneratedAt    string `json:"generated_at"`
	Partial        bool   `json:"partial"`
	NodesSucceeded uint64 `json:"nodes_succeeded"`
	NodesFailed    uint64 `json:"nodes_failed"`
}

// NodeStateSummary is the `state` object of overview nodes and meta.json.
type NodeStateSummary struct {
	GeneratedAt                string  `json:"generated_at"`
	ModeGuess                  string  `json:"mode_guess"`
	NodeID                     *string `json:"node_id"` // UUID form
	LocalPolicyCount           uint64  `json:"local_policy_count"`
	LocalActivePolicyID        *string `json:"local_active_policy_id"`
	ClusterPolicyCount         uint64  `json:"cluster_policy_count"`
	ClusterActivePolicyID      *string `json:"cluster_active_policy_id"`
	LocalServiceAccountCount   uint64  `json:"local_service_account_count"`
	LocalTokenCount            uint64  `json:"local_token_count"`
	ClusterServiceAccountCount uint64  `json:"cluster_service_account_count"`
	ClusterTokenCount          uint64  `json:"cluster_token_count"`
	LocalIntegrationCount      uint64  `json:"local_integration_count"`
	ClusterIntegrationCount    uint64  `json:"cluster_integration_count"`
	AuditFindingCount          uint64  `json:"audit_finding_count"`
	ClusterPresent             bool    `json:"cluster_present"`
	MetricsSuccessCount        uint64  `json:"metrics_success_count"`
}

// OverviewNode is one entry of cluster/overview.json.
type OverviewNode struct {
	NodeID string            `json:"node_id"`
	Addr   string            `json:"addr"`
	Role   string            `json:"role"`   // leader | follower | learner | unknown
	Status string            `json:"status"` // ok | failed
	Error  *string           `json:"error"`
	State  *NodeStateSummary `json:"state"`
}

// Overview is cluster/overview.json.
type Overview struct {
	GeneratedAt    string         `json:"generated_at"`
	Partial        bool           `json:"partial"`
	LeaderNodeID   string         `json:"leader_node_id"`
	NodeCount      uint64         `json:"node_count"`
	NodesSucceeded uint64         `json:"nodes_succeeded"`
	NodesFailed    uint64         `json:"nodes_failed"`
	Nodes          []OverviewNode `json:"nodes"`
}

// Failure is one entry of cluster/failures.json.
type Failure struct {
	NodeID string `json:"node_id"`
	Addr   string `json:"addr"`
	Error  string `json:"error"`
}

// Failures is cluster/failures.json.
type Failures struct {
	Failures []Failure `json:"failures"`
}

// NodeMeta is nodes/<id>/meta.json.
type NodeMeta struct {
	NodeID string            `json:"node_id"`
	Addr   string            `json:"addr"`
	Role   string            `json:"role"`
	State  *NodeStateSummary `json:"state"`
}

// Membership is cluster/membership.json (present only when the
// leader's bundle had summary/cluster.json), read from the leader's
// on-disk Raft store. Its rows reuse health.NodeCatchup, but here role is
// "leader" (the node this node voted for), "voter" or "learner", and
// matched_index/lag_entries are always null.
type Membership struct {
	CurrentTerm        uint64               `json:"current_term"`
	VotedFor           json.RawMessage      `json:"voted_for"` // shape not pinned down by the facts
	VoteCommitted      bool                 `json:"vote_committed"`
	LastLogIndex       uint64               `json:"last_log_index"`
	LastPurgedIndex    uint64               `json:"last_purged_index"`
	LastAppliedIndex   uint64               `json:"last_applied_index"`
	MembershipLogIndex uint64               `json:"membership_log_index"`
	JointConfigs       [][]string           `json:"joint_configs"`
	VoterCount         uint64               `json:"voter_count"`
	NodeCount          uint64               `json:"node_count"`
	Nodes              []health.NodeCatchup `json:"nodes"`
}

// NodeEntry is one entry of a per-node archive's summary/manifest.json.
type NodeEntry struct {
	Kind        string  `json:"kind"` // path | command | http | summary
	Source      string  `json:"source"`
	ArchivePath string  `json:"archive_path"`
	Status      string  `json:"status"` // ok | missing | manifest-only | symlink | http-error | request-failed | error
	Note        *string `json:"note"`
}

// NodeManifest is a per-node archive's summary/manifest.json, written last.
type NodeManifest struct {
	GeneratedAt string      `json:"generated_at"`
	Entries     []NodeEntry `json:"entries"`
}

// Paths of the well-known sysdump members.
const (
	ManifestPath        = "manifest.json"
	OverviewPath        = "cluster/overview.json"
	FailuresPath        = "cluster/failures.json"
	MembershipPath      = "cluster/membership.json"
	NodeSummaryManifest = "summary/manifest.json"
)
