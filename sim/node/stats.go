package node

import (
	"hash/fnv"
	"math"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
)

func (n *node) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.statsSnapshot(time.Now()))
}

// statsSnapshot is this node's StatsSnapshot (facts §2). Only the leader
// answers it in cluster mode; followers proxy.
func (n *node) statsSnapshot(now time.Time) health.Stats {
	t := n.traffic.snapshot(now)
	return health.Stats{
		Dataplane: t.Dataplane,
		DNS:       t.DNS,
		TLS:       t.TLS,
		DHCP:      health.DHCPStats{LeaseActive: n.leaseActive.Load(), LeaseExpiryEpoch: uint64(n.leaseExpiry())},
		Cluster:   n.clusterStats(),
	}
}

// clusterStats builds stats.cluster: the leader row first (this node's
// current leader, or itself if none), then followers by node_id string.
func (n *node) clusterStats() health.ClusterStats {
	self := raft.ServerID(n.id)
	isLeader := n.isLeader()
	term := n.raft.CurrentTerm()
	last := n.raft.LastIndex()
	_, leaderID := n.raft.LeaderWithID()
	if leaderID == "" {
		leaderID = self
	}
	servers := n.configuration()
	cs := health.ClusterStats{
		IsLeader:     isLeader,
		CurrentTerm:  term,
		LastLogIndex: last,
		LastApplied:  n.lastApplied(),
		NodeCount:    uint64(len(servers)),
		Nodes:        []health.NodeCatchup{},
	}
	var leaderRow []health.NodeCatchup
	var followers []health.NodeCatchup
	for _, s := range servers {
		row := health.NodeCatchup{NodeID: string(s.ID), Addr: string(s.Address), Role: "follower"}
		if s.ID == leaderID {
			zero := uint64(0)
			lastIdx := last
			row.Role, row.MatchedIndex, row.LagEntries, row.CaughtUp = "leader", &lastIdx, &zero, true
			leaderRow = append(leaderRow, row)
			continue
		}
		if isLeader {
			if m, ok := n.trans.matched(s.ID, term); ok {
				lag := uint64(0)
				if last > m {
					lag = last - m
				}
				row.MatchedIndex, row.LagEntries, row.CaughtUp = &m, &lag, lag == 0
			}
		}
		followers = append(followers, row)
	}
	sort.Slice(followers, func(i, j int) bool { return followers[i].NodeID < followers[j].NodeID })
	for _, f := range followers {
		if f.CaughtUp {
			cs.FollowersCaughtUp++
		}
	}
	cs.FollowerCount = uint64(len(followers))
	cs.Nodes = append(append(cs.Nodes, leaderRow...), followers...)
	return cs
}

// handleMembers serves GET /api/v1/cluster/members in numeric id order.
func (n *node) handleMembers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.members())
}

// lessNodeID orders decimal node ids numerically.
func lessNodeID(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// trafficModel makes plausible dataplane counters that start at zero when
// the process gets its DHCP lease and grow at per-node rates.
type trafficModel struct {
	scale   float64      // per-node rate factor, 0.8..1.2
	started atomic.Int64 // unix nanos of the lease; 0 before
}

type trafficSnapshot struct {
	Dataplane health.DataplaneStats
	DNS       health.DNSStats
	TLS       health.TLSStats
}

func newTrafficModel(nodeID string) *trafficModel {
	h := fnv.New64a()
	h.Write([]byte(nodeID))
	return &trafficModel{scale: 0.8 + 0.4*float64(h.Sum64()%1000)/1000}
}

func (m *trafficModel) start(t time.Time) { m.started.CompareAndSwap(0, t.UnixNano()) }

func (m *trafficModel) snapshot(now time.Time) trafficSnapshot {
	var s trafficSnapshot
	start := m.started.Load()
	if start == 0 {
		return s
	}
	e := math.Max(0, now.Sub(time.Unix(0, start)).Seconds())
	k := m.scale
	c := func(rate float64) uint64 { return uint64(rate * k * e) }
	active := uint64((1750 + 120*math.Sin(e/37)) * k)
	nat := active * 97 / 100
	opened := c(55) + active
	allow, deny := c(2600), c(0.13)
	s.Dataplane = health.DataplaneStats{
		ActiveFlows:        active,
		ActiveNATEntries:   nat,
		NATPortUtilization: math.Round(float64(nat)/65535*10000) / 10000,
		Packets:            health.AllowDenyPending{Allow: allow, Deny: deny},
		Bytes:              health.AllowDenyPending{Allow: allow * 897, Deny: deny * 80},
		FlowsOpened:        opened,
		FlowsClosed:        opened - active,
		IPv4TTLExceeded:    c(1.0 / 600),
	}
	qDeny := c(0.05)
	s.DNS = health.DNSStats{QueriesAllow: c(11), QueriesDeny: qDeny, NXDomainPolicy: qDeny, NXDomainUpstream: c(0.009)}
	return s
}
