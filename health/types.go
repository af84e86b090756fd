// Package health is what a Neuwerk cluster says about itself, and how it
// is judged: the typed answers of its HTTPS API and their decoders, cluster
// snapshots, metrics, node ids, and the gates and their checks. It is pure
// (no network, no files): package health/api asks the nodes and fills the
// snapshots, package health/sysdump reads sysdump archives.
//
// The wire types below follow neuwerk-facts.md §1–§4, §10 and §11 field by
// field; the simulator in package sim serves these same types.
package health

// API paths (facts §1–§5).
const (
	PathHealth         = "/health"
	PathReady          = "/ready"
	PathStats          = "/api/v1/stats"
	PathMembers        = "/api/v1/cluster/members"
	PathWhoAmI         = "/api/v1/auth/whoami"
	PathMetrics        = "/metrics"
	PathClusterSysdump = "/api/v1/support/sysdump/cluster"
	PathNodeSysdump    = "/api/v1/support/sysdump/node"
)

// HealthResponse is the body of GET /health (always 200 while the server is up).
type HealthResponse struct {
	Status string `json:"status"`
}

// ReadyCheck is one of the eight named checks in GET /ready.
type ReadyCheck struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Detail *string `json:"detail"`
}

// ReadyResponse is the body of GET /ready, for both 200 and 503.
type ReadyResponse struct {
	Ready  bool         `json:"ready"`
	Checks []ReadyCheck `json:"checks"`
}

// The eight /ready checks, in the order Neuwerk always emits them.
const (
	CheckDataplaneRunning  = "dataplane_running"
	CheckDataplaneConfig   = "dataplane_config"
	CheckPolicyReady       = "policy_ready"
	CheckDNSAllowlist      = "dns_allowlist"
	CheckServicePlane      = "service_plane"
	CheckDraining          = "draining"
	CheckCluster           = "cluster"
	CheckPolicyReplication = "policy_replication"
)

// ReadyCheckNames lists the eight checks in wire order.
var ReadyCheckNames = []string{
	CheckDataplaneRunning, CheckDataplaneConfig, CheckPolicyReady, CheckDNSAllowlist,
	CheckServicePlane, CheckDraining, CheckCluster, CheckPolicyReplication,
}

// Standard failure details of the /ready checks (facts §1).
var ReadyCheckDetails = map[string]string{
	CheckDataplaneRunning:  "dataplane engine not running",
	CheckDataplaneConfig:   "missing dataplane config (dhcp)",
	CheckPolicyReady:       "policy store not initialized",
	CheckDNSAllowlist:      "dns proxy not ready",
	CheckServicePlane:      "service-plane runtime not ready",
	CheckDraining:          "instance is draining",
	CheckCluster:           "cluster membership not ready",
	CheckPolicyReplication: "policy replication not caught up",
}

// AllowDenyPending counts packets or bytes by verdict.
type AllowDenyPending struct {
	Allow      uint64 `json:"allow"`
	Deny       uint64 `json:"deny"`
	PendingTLS uint64 `json:"pending_tls"`
}

// DataplaneStats is stats.dataplane.
type DataplaneStats struct {
	ActiveFlows          uint64           `json:"active_flows"`
	ActiveNATEntries     uint64           `json:"active_nat_entries"`
	NATPortUtilization   float64          `json:"nat_port_utilization"`
	Packets              AllowDenyPending `json:"packets"`
	Bytes                AllowDenyPending `json:"bytes"`
	FlowsOpened          uint64           `json:"flows_opened"`
	FlowsClosed          uint64           `json:"flows_closed"`
	IPv4FragmentsDropped uint64           `json:"ipv4_fragments_dropped"`
	IPv4TTLExceeded      uint64           `json:"ipv4_ttl_exceeded"`
}

// DNSStats is stats.dns.
type DNSStats struct {
	QueriesAllow     uint64 `json:"queries_allow"`
	QueriesDeny      uint64 `json:"queries_deny"`
	NXDomainPolicy   uint64 `json:"nxdomain_policy"`
	NXDomainUpstream uint64 `json:"nxdomain_upstream"`
}

// TLSStats is stats.tls.
type TLSStats struct {
	Allow uint64 `json:"allow"`
	Deny  uint64 `json:"deny"`
}

// DHCPStats is stats.dhcp.
type DHCPStats struct {
	LeaseActive      bool   `json:"lease_active"`
	LeaseExpiryEpoch uint64 `json:"lease_expiry_epoch"`
}

// NodeCatchup is one row of stats.cluster.nodes (ClusterNodeCatchup).
// MatchedIndex and LagEntries are null when the leader has no replication
// state for the node yet.
type NodeCatchup struct {
	NodeID       string  `json:"node_id"`
	Addr         string  `json:"addr"`
	Role         string  `json:"role"`
	MatchedIndex *uint64 `json:"matched_index"`
	LagEntries   *uint64 `json:"lag_entries"`
	CaughtUp     bool    `json:"caught_up"`
}

// ClusterStats is stats.cluster. In cluster mode it is always the leader's view.
type ClusterStats struct {
	IsLeader          bool          `json:"is_leader"`
	CurrentTerm       uint64        `json:"current_term"`
	LastLogIndex      uint64        `json:"last_log_index"`
	LastApplied       uint64        `json:"last_applied"`
	NodeCount         uint64        `json:"node_count"`
	FollowerCount     uint64        `json:"follower_count"`
	FollowersCaughtUp uint64        `json:"followers_caught_up"`
	Nodes             []NodeCatchup `json:"nodes"`
}

// Stats is the body of GET /api/v1/stats (StatsSnapshot), keys in wire order.
type Stats struct {
	Dataplane DataplaneStats `json:"dataplane"`
	DNS       DNSStats       `json:"dns"`
	TLS       TLSStats       `json:"tls"`
	DHCP      DHCPStats      `json:"dhcp"`
	Cluster   ClusterStats   `json:"cluster"`
}

// Member is one entry of GET /api/v1/cluster/members.
type Member struct {
	NodeID             string  `json:"node_id"`
	Addr               string  `json:"addr"`
	Role               string  `json:"role"` // leader | follower | learner
	IsVoter            bool    `json:"is_voter"`
	CloudStatus        string  `json:"cloud_status"`
	DrainState         *string `json:"drain_state"`
	TerminationEventID *string `json:"termination_event_id"`
	AutoEvictReason    *string `json:"auto_evict_reason"`
}

// MembersResponse is the body of GET /api/v1/cluster/members.
type MembersResponse struct {
	Members []Member `json:"members"`
}

// ErrorBody is Neuwerk's error body, {"error": "..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

// WhoAmI is the body of GET /api/v1/auth/whoami.
type WhoAmI struct {
	Sub   string   `json:"sub"`
	SAID  *string  `json:"sa_id"`
	Exp   *int64   `json:"exp"`
	Roles []string `json:"roles"`
}

// SysdumpFanoutHeader must be "1" on POST /api/v1/support/sysdump/node.
const SysdumpFanoutHeader = "x-neuwerk-cluster-sysdump-fanout"
