package node

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/sysdump"
)

// liveSysdumpSource describes this running daemon.
func (n *node) liveSysdumpSource() sysdumpSource {
	return sysdumpSource{
		root:     n.paths.Root,
		nodeUUID: n.uuid,
		service:  serviceStatus{active: true, pid: os.Getpid(), since: n.startedAt},
		raft: func() (clusterSummary, *storedPolicy, error) {
			s, err := summarizeRaftStore(n.store, n.cfg.RaftDir(), n.lastApplied())
			var policy *storedPolicy
			if raw, ok := n.fsm.get(policyKey); ok {
				if p, err := parsePolicy(raw); err == nil {
					policy = &p
				}
			}
			return s, policy, err
		},
	}
}

// handleNodeSysdump serves POST /api/v1/support/sysdump/node (admin + the
// fan-out header; never proxied).
func (n *node) handleNodeSysdump(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(health.SysdumpFanoutHeader) != "1" {
		writeError(w, http.StatusForbidden, "cluster sysdump fanout header required")
		return
	}
	data, err := buildNodeArchive(n.liveSysdumpSource(), time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// nodeResult is one member's outcome in a cluster sysdump.
type nodeResult struct {
	server  raft.Server
	role    string
	archive []byte
	state   *sysdump.NodeStateSummary
	err     string
}

// handleClusterSysdump serves POST /api/v1/support/sysdump/cluster on the
// leader: every member in numeric id order, sequentially; itself locally,
// the others through their node endpoint.
func (n *node) handleClusterSysdump(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	self := raft.ServerID(n.id)
	servers := n.configuration()
	sort.Slice(servers, func(i, j int) bool { return lessNodeID(string(servers[i].ID), string(servers[j].ID)) })

	var results []nodeResult
	var ownArchive []byte
	failed := 0
	for _, s := range servers {
		res := nodeResult{server: s, role: "follower"}
		switch {
		case s.ID == self:
			res.role = "leader"
		case s.Suffrage != raft.Voter:
			res.role = "learner"
		}
		var err error
		if s.ID == self {
			res.archive, err = buildNodeArchive(n.liveSysdumpSource(), time.Now())
			if err != nil {
				res.err = err.Error()
			}
			ownArchive = res.archive
		} else {
			res.archive, res.err = n.fetchNodeSysdump(r, s)
		}
		if res.err != "" {
			failed++
			res.role, res.archive = "unknown", nil
		} else if raw, ok := readArchiveMember(res.archive, "summary/state.json"); ok {
			var st sysdump.NodeStateSummary
			if json.Unmarshal(raw, &st) == nil {
				res.state = &st
			}
		}
		results = append(results, res)
	}
	if failed == len(results) {
		writeError(w, http.StatusBadGateway, "cluster sysdump failed on every node")
		return
	}

	generated := rfc3339Micro(now)
	a := newArchiveWriter(now)
	ok := uint64(len(results) - failed)
	a.addJSON(sysdump.ManifestPath, sysdump.Manifest{
		GeneratedAt: generated, Partial: failed > 0, NodesSucceeded: ok, NodesFailed: uint64(failed),
	})
	a.addJSON(sysdump.OverviewPath, n.overview(generated, results, failed))
	failures := sysdump.Failures{Failures: []sysdump.Failure{}}
	for _, res := range results {
		if res.err != "" {
			failures.Failures = append(failures.Failures, sysdump.Failure{
				NodeID: string(res.server.ID), Addr: string(res.server.Address), Error: res.err})
		}
	}
	a.addJSON(sysdump.FailuresPath, failures)
	if raw, ok := readArchiveMember(ownArchive, "summary/cluster.json"); ok {
		var m sysdump.Membership
		if json.Unmarshal(raw, &m) == nil {
			a.addJSON(sysdump.MembershipPath, m)
		}
	}
	for _, res := range results {
		if res.err != "" {
			continue
		}
		id := string(res.server.ID)
		a.addJSON("nodes/"+id+"/meta.json", sysdump.NodeMeta{
			NodeID: id, Addr: string(res.server.Address), Role: res.role, State: res.state})
		a.add("nodes/"+id+"/sysdump.tar.gz", res.archive, 0o644)
	}
	data, err := a.finish()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition",
		`attachment; filename="neuwerk-cluster-sysdump-`+sysdumpFileStamp(now)+`.tar.gz"`)
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// overview is cluster/overview.json: leader first, then by node_id string.
func (n *node) overview(generated string, results []nodeResult, failed int) sysdump.Overview {
	ov := sysdump.Overview{
		GeneratedAt: generated, Partial: failed > 0, LeaderNodeID: n.id,
		NodeCount: uint64(len(results)), NodesSucceeded: uint64(len(results) - failed), NodesFailed: uint64(failed),
	}
	for _, res := range results {
		on := sysdump.OverviewNode{NodeID: string(res.server.ID), Addr: string(res.server.Address),
			Role: res.role, Status: "ok", State: res.state}
		if res.err != "" {
			e := res.err
			on.Status, on.Error = "failed", &e
		}
		ov.Nodes = append(ov.Nodes, on)
	}
	sort.SliceStable(ov.Nodes, func(i, j int) bool {
		li, lj := ov.Nodes[i].NodeID == n.id, ov.Nodes[j].NodeID == n.id
		if li != lj {
			return li
		}
		return ov.Nodes[i].NodeID < ov.Nodes[j].NodeID
	})
	return ov
}

// fetchNodeSysdump calls a peer's node sysdump endpoint with the caller's
// credentials. It returns the archive or Neuwerk's error text.
func (n *node) fetchNodeSysdump(r *http.Request, s raft.Server) ([]byte, string) {
	url := "https://" + net.JoinHostPort(raftAddrHost(s.Address), n.httpPort) + "/api/v1/support/sysdump/node"
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, url, nil)
	if err != nil {
		return nil, err.Error()
	}
	for _, h := range []string{"Authorization", "Cookie"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Header.Set(health.SysdumpFanoutHeader, "1")
	resp, err := n.fanoutClient.Do(req)
	if err != nil {
		return nil, sendError(url)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "error decoding response body"
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp.StatusCode, body)
	}
	return body, ""
}
