package node

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/sysdump"
)

// TestCluster runs one three-node cluster over real HTTPS and Raft on
// loopback and walks through the behaviours the console relies on. The
// steps share the cluster to keep the package fast, so they run in order.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, blockCluster, 3, 1500*time.Millisecond, nil)
	for i := range c.nodes {
		c.start(i, FaultNone)
	}

	t.Run("warm-up then ready, eight checks in order", func(t *testing.T) {
		var first health.ReadyResponse
		var firstStatus int
		waitFor(t, 10*time.Second, "first /ready answer", func() bool {
			firstStatus, first = c.ready(0)
			return firstStatus != 0
		})
		if firstStatus != http.StatusServiceUnavailable || first.Ready {
			t.Fatalf("first /ready during warm-up = %d ready=%v, want 503 not ready", firstStatus, first.Ready)
		}
		checkNames(t, first)
		byName := checksByName(first)
		if byName[health.CheckDataplaneConfig].OK || detail(byName[health.CheckDataplaneConfig]) != "missing dataplane config (dhcp)" {
			t.Errorf("dataplane_config during warm-up = %+v", byName[health.CheckDataplaneConfig])
		}
		if byName[health.CheckPolicyReplication].OK || detail(byName[health.CheckPolicyReplication]) != "policy replication not caught up" {
			t.Errorf("policy_replication during warm-up = %+v", byName[health.CheckPolicyReplication])
		}
		if !byName[health.CheckDataplaneRunning].OK || !byName[health.CheckDraining].OK {
			t.Errorf("dataplane_running/draining should pass during warm-up: %+v", first.Checks)
		}

		c.waitReady(20*time.Second, 0, 1, 2)
		for i := range c.nodes {
			status, r := c.ready(i)
			if status != http.StatusOK || !r.Ready {
				t.Fatalf("node %d /ready = %d %+v", i, status, r)
			}
			checkNames(t, r)
			for _, ch := range r.Checks {
				if !ch.OK || ch.Detail != nil {
					t.Errorf("node %d check %+v, want ok with null detail", i, ch)
				}
			}
		}
		status, _, body := c.do(http.MethodGet, 1, "/health", "", nil)
		if status != http.StatusOK || string(body) != `{"status":"ok"}` {
			t.Errorf("/health = %d %s", status, body)
		}
	})

	leader := c.waitLeader(10 * time.Second)
	followers := others(len(c.nodes), leader)

	t.Run("stats from a follower is the leader's view", func(t *testing.T) {
		status, s, body := c.stats(followers[0])
		if status != http.StatusOK {
			t.Fatalf("stats via follower = %d %s", status, body)
		}
		cl := s.Cluster
		if !cl.IsLeader || cl.NodeCount != 3 || cl.FollowerCount != 2 || len(cl.Nodes) != 3 {
			t.Fatalf("cluster section = %+v", cl)
		}
		if cl.Nodes[0].Role != "leader" || cl.Nodes[0].NodeID != c.nodes[leader].id {
			t.Errorf("first row = %+v, want leader %s", cl.Nodes[0], c.nodes[leader].id)
		}
		if u64(cl.Nodes[0].MatchedIndex) != u64(&cl.LastLogIndex) || u64(cl.Nodes[0].LagEntries) != "0" || !cl.Nodes[0].CaughtUp {
			t.Errorf("leader row = matched %s lag %s caught_up %v (last_log_index %d)",
				u64(cl.Nodes[0].MatchedIndex), u64(cl.Nodes[0].LagEntries), cl.Nodes[0].CaughtUp, cl.LastLogIndex)
		}
		if cl.Nodes[1].NodeID >= cl.Nodes[2].NodeID {
			t.Errorf("followers not sorted by node_id string: %s, %s", cl.Nodes[1].NodeID, cl.Nodes[2].NodeID)
		}
		for _, row := range cl.Nodes[1:] {
			if row.Role != "follower" || row.MatchedIndex == nil || row.LagEntries == nil {
				t.Errorf("follower row %+v", row)
			}
		}
		if !s.DHCP.LeaseActive || s.DHCP.LeaseExpiryEpoch < uint64(time.Now().Unix()) {
			t.Errorf("dhcp = %+v", s.DHCP)
		}
		if !strings.HasPrefix(string(body), `{"dataplane":{`) || !strings.Contains(string(body), `"dns":{`) {
			t.Errorf("top-level key order wrong: %.80s", body)
		}
		// The leader's own answer names the same leader and term.
		_, direct, _ := c.stats(leader)
		if direct.Cluster.CurrentTerm != cl.CurrentTerm || direct.Cluster.Nodes[0].NodeID != cl.Nodes[0].NodeID {
			t.Errorf("leader view %+v differs from proxied view %+v", direct.Cluster, cl)
		}
		if direct.Cluster.LastLogIndex < cl.LastLogIndex {
			t.Errorf("last_log_index went backwards: %d then %d", cl.LastLogIndex, direct.Cluster.LastLogIndex)
		}
	})

	t.Run("node ids are the decimal form of node_id files", func(t *testing.T) {
		_, s, _ := c.stats(leader)
		rows := map[string]health.NodeCatchup{}
		for _, r := range s.Cluster.Nodes {
			rows[r.NodeID] = r
		}
		for _, n := range c.nodes {
			raw, err := os.ReadFile(PathsFor(n.root).NodeID)
			must(t, err)
			id, err := health.NodeIDFromUUID(string(raw))
			must(t, err)
			row, ok := rows[id]
			if !ok || row.Addr != n.ip+":9600" {
				t.Errorf("node %s: id %s row %+v", n.name, id, row)
			}
		}
		status, _, body := c.do(http.MethodGet, followers[1], "/api/v1/cluster/members", c.reader, nil)
		var members health.MembersResponse
		if status != http.StatusOK || json.Unmarshal(body, &members) != nil || len(members.Members) != 3 {
			t.Fatalf("members = %d %s", status, body)
		}
		leaders := 0
		for i, m := range members.Members {
			if m.Role == "leader" {
				leaders++
			}
			if !m.IsVoter || m.CloudStatus != "unknown" || m.DrainState != nil || c.indexOf(m.NodeID) < 0 {
				t.Errorf("member %+v", m)
			}
			if i > 0 && !lessNodeID(members.Members[i-1].NodeID, m.NodeID) {
				t.Errorf("members not in numeric order: %s then %s", members.Members[i-1].NodeID, m.NodeID)
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders in members", leaders)
		}
	})

	t.Run("auth: tokens, roles, errors", func(t *testing.T) {
		f := followers[0]
		cases := []struct {
			name, method, path, auth string
			hdr                      map[string]string
			want                     int
			wantErr                  string
		}{
			{"reader GET", "GET", "/api/v1/stats", "Bearer " + c.reader, nil, 200, ""},
			{"admin GET", "GET", "/api/v1/stats", "Bearer " + c.admin, nil, 200, ""},
			{"reader POST", "POST", "/api/v1/support/sysdump/node", "Bearer " + c.reader, map[string]string{health.SysdumpFanoutHeader: "1"}, 403, "admin role required"},
			{"admin POST no fanout", "POST", "/api/v1/support/sysdump/node", "Bearer " + c.admin, nil, 403, "cluster sysdump fanout header required"},
			{"admin POST fanout", "POST", "/api/v1/support/sysdump/node", "Bearer " + c.admin, map[string]string{health.SysdumpFanoutHeader: "1"}, 200, ""},
			{"garbage", "GET", "/api/v1/stats", "Bearer not-a-jwt", nil, 401, "invalid bearer token"},
			{"missing", "GET", "/api/v1/stats", "", nil, 401, "missing bearer token"},
			{"basic scheme", "GET", "/api/v1/stats", "Basic dXNlcjpwdw==", nil, 401, "invalid authorization scheme"},
			{"lowercase bearer", "GET", "/api/v1/auth/whoami", "bearer " + c.reader, nil, 200, ""},
		}
		for _, tc := range cases {
			hdr := map[string]string{}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			status, h, body := c.do(tc.method, f, tc.path, "", hdr)
			if status != tc.want {
				t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.want, body)
				continue
			}
			if tc.wantErr != "" {
				var e health.ErrorBody
				if json.Unmarshal(body, &e) != nil || e.Error != tc.wantErr || h.Get("Content-Type") != "application/json" {
					t.Errorf("%s: body %s (%s), want error %q", tc.name, body, h.Get("Content-Type"), tc.wantErr)
				}
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Referrer-Policy") != "no-referrer" || h.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s: security headers missing: %v", tc.name, h)
			}
		}

		// The cookie works too, and whoami is local.
		status, h, body := c.do("GET", f, "/api/v1/auth/whoami", "", map[string]string{"Cookie": "neuwerk_auth=" + c.admin})
		var who health.WhoAmI
		if status != 200 || json.Unmarshal(body, &who) != nil || who.Sub != "tester" || len(who.Roles) != 1 || who.Roles[0] != "admin" || who.Exp == nil {
			t.Errorf("whoami via cookie = %d %s", status, body)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("whoami Cache-Control = %q", h.Get("Cache-Control"))
		}
		if v, ok := c.metric(f, `http_auth_total{outcome="deny",reason="insufficient_role"}`); !ok || v < 1 {
			t.Errorf("http_auth_total deny/insufficient_role = %v %v", v, ok)
		}
		if v, ok := c.metric(f, `http_requests_total{method="GET",path="/api/v1/stats",status="200"}`); !ok || v < 1 {
			t.Errorf("http_requests_total for stats = %v %v", v, ok)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		leaders := 0
		for i := range c.nodes {
			v, ok := c.metric(i, "raft_is_leader")
			if !ok {
				t.Fatalf("node %d: no raft_is_leader", i)
			}
			leaders += int(v)
			for _, series := range []string{"dhcp_lease_active", `svc_fail_closed_total{component="tls"}`, "raft_current_term", "raft_last_applied"} {
				v, ok := c.metric(i, series)
				if !ok {
					t.Errorf("node %d: %s missing", i, series)
				}
				if series == `svc_fail_closed_total{component="tls"}` && v != 0 {
					t.Errorf("node %d: %s = %v", i, series, v)
				}
				if series == "dhcp_lease_active" && v != 1 {
					t.Errorf("node %d: %s = %v", i, series, v)
				}
			}
		}
		if leaders != 1 {
			t.Errorf("raft_is_leader sums to %d", leaders)
		}
	})

	stopped, caller := followers[0], followers[1]
	stoppedID := c.nodes[stopped].id

	t.Run("stopped follower lags and fails in the cluster sysdump", func(t *testing.T) {
		// SIGTERM: for about 250 ms /ready shows the drain before the
		// listener closes (facts §13 "during SIGTERM").
		c.readyWarm(stopped) // open the connection before the clock starts
		wait := c.stopAsync(stopped)
		var drain health.ReadyResponse
		waitFor(t, 240*time.Millisecond, "/ready to show the drain", func() bool {
			status, r := c.readyWarm(stopped)
			drain = r
			return status == http.StatusServiceUnavailable && !checksByName(r)[health.CheckDraining].OK
		})
		for _, ch := range drain.Checks {
			stays := ch.Name == health.CheckDataplaneConfig || ch.Name == health.CheckCluster
			if ch.OK != stays || (!ch.OK && detail(ch) != health.ReadyCheckDetails[ch.Name]) {
				t.Errorf("during drain: %s ok=%v detail=%s", ch.Name, ch.OK, detail(ch))
			}
		}
		start := time.Now()
		wait()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("shutdown took %s after the drain started", d)
		}
		if status, _ := c.ready(stopped); status != 0 {
			t.Errorf("/ready still answers after shutdown: %d", status)
		}
		lagOf := func() *uint64 {
			_, s, _ := c.stats(leader)
			for _, r := range s.Cluster.Nodes {
				if r.NodeID == stoppedID {
					return r.LagEntries
				}
			}
			return nil
		}
		var first uint64
		waitFor(t, 5*time.Second, "a non-zero lag for the stopped follower", func() bool {
			l := lagOf()
			if l != nil && *l > 0 {
				first = *l
				return true
			}
			return false
		})
		waitFor(t, 5*time.Second, "the lag to grow", func() bool {
			l := lagOf()
			return l != nil && *l >= first+3
		})
		errs := `raft_peer_errors_total{kind="transport",peer_id="` + stoppedID + `",rpc="append_entries"}`
		if v, ok := c.metric(leader, errs); !ok || v < 1 {
			t.Errorf("%s = %v %v", errs, v, ok)
		}

		status, h, body := c.do("POST", caller, "/api/v1/support/sysdump/cluster", c.admin, nil)
		if status != 200 {
			t.Fatalf("cluster sysdump = %d %s", status, body)
		}
		if h.Get("Content-Type") != "application/gzip" ||
			!regexp.MustCompile(`^attachment; filename="neuwerk-cluster-sysdump-\d{8}T\d{6}Z\.tar\.gz"$`).MatchString(h.Get("Content-Disposition")) {
			t.Errorf("headers: %v", h)
		}
		members := readTarGz(t, body)
		var okIDs []string
		for _, n := range c.nodes {
			if n.id != stoppedID {
				okIDs = append(okIDs, n.id)
			}
		}
		sort.Slice(okIDs, func(i, j int) bool { return lessNodeID(okIDs[i], okIDs[j]) })
		want := []string{"manifest.json", "cluster/overview.json", "cluster/failures.json", "cluster/membership.json"}
		for _, id := range okIDs {
			want = append(want, "nodes/"+id+"/meta.json", "nodes/"+id+"/sysdump.tar.gz")
		}
		if got := memberNames(members); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("outer members:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, m := range members {
			if m.mode != 0o644 || !m.gnu {
				t.Errorf("%s: mode %o gnu %v", m.name, m.mode, m.gnu)
			}
		}
		var manifest sysdump.Manifest
		m, _ := findMember(members, "manifest.json")
		must(t, json.Unmarshal(m.data, &manifest))
		if !manifest.Partial || manifest.NodesSucceeded != 2 || manifest.NodesFailed != 1 {
			t.Errorf("manifest = %+v", manifest)
		}
		var failures sysdump.Failures
		m, _ = findMember(members, "cluster/failures.json")
		must(t, json.Unmarshal(m.data, &failures))
		wantErr := "error sending request for url (https://" + c.nodes[stopped].ip + ":8443/api/v1/support/sysdump/node)"
		if len(failures.Failures) != 1 || failures.Failures[0].NodeID != stoppedID || failures.Failures[0].Error != wantErr {
			t.Errorf("failures = %+v", failures)
		}
		var ov sysdump.Overview
		m, _ = findMember(members, "cluster/overview.json")
		must(t, json.Unmarshal(m.data, &ov))
		if ov.LeaderNodeID != c.nodes[leader].id || len(ov.Nodes) != 3 || ov.Nodes[0].NodeID != ov.LeaderNodeID || ov.Nodes[0].Role != "leader" {
			t.Errorf("overview = %+v", ov)
		}
		for _, on := range ov.Nodes {
			failed := on.NodeID == stoppedID
			if failed != (on.Status == "failed") || failed != (on.Role == "unknown") || failed != (on.State == nil) {
				t.Errorf("overview node %+v", on)
			}
		}
		var membership map[string]any
		m, _ = findMember(members, "cluster/membership.json")
		must(t, json.Unmarshal(m.data, &membership))
		if membership["voter_count"] != float64(3) || membership["rocksdb"] != nil {
			t.Errorf("membership.json = %s", m.data)
		}
		for _, id := range okIDs {
			var meta sysdump.NodeMeta
			m, _ := findMember(members, "nodes/"+id+"/meta.json")
			must(t, json.Unmarshal(m.data, &meta))
			uuidText, _ := health.UUIDFromNodeID(id)
			if meta.NodeID != id || meta.State == nil || meta.State.NodeID == nil || *meta.State.NodeID != uuidText {
				t.Errorf("meta %s = %s", id, m.data)
			}
			nested, _ := findMember(members, "nodes/"+id+"/sysdump.tar.gz")
			inner := readTarGz(t, nested.data)
			if last := inner[len(inner)-1].name; last != sysdump.NodeSummaryManifest {
				t.Errorf("node %s archive ends with %s", id, last)
			}
			if _, ok := findMember(inner, "summary/cluster.json"); !ok {
				t.Errorf("node %s archive has no summary/cluster.json", id)
			}
			if tok, ok := findMember(inner, "var/lib/neuwerk/bootstrap-token"); !ok || string(tok.data) != "redacted bootstrap token\n" {
				t.Errorf("node %s bootstrap-token member %q", id, tok.data)
			}
		}
	})

	t.Run("restarted follower catches up", func(t *testing.T) {
		c.start(stopped, FaultNone)
		c.waitReady(15*time.Second, stopped)
		_, s, _ := c.stats(leader)
		target := s.Cluster.LastLogIndex
		waitFor(t, 10*time.Second, "the restarted follower to apply the leader's log", func() bool {
			v, ok := c.metric(stopped, "raft_last_applied")
			return ok && uint64(v) >= target
		})
		waitFor(t, 5*time.Second, "the leader to see it caught up", func() bool {
			_, s, _ := c.stats(leader)
			for _, r := range s.Cluster.Nodes {
				if r.NodeID == stoppedID {
					return r.CaughtUp
				}
			}
			return false
		})
	})

	t.Run("leader stop: 502/503, then a new leader", func(t *testing.T) {
		oldID := c.nodes[leader].id
		oldTerm, _ := c.metric(caller, "raft_current_term")
		start := time.Now()
		wait := c.stopAsync(leader)
		defer wait()
		seen := map[int]int{}
		var newView health.Stats
		waitFor(t, 15*time.Second, "a new leader", func() bool {
			status, s, _ := c.stats(caller)
			seen[status]++
			if status == 200 && s.Cluster.Nodes[0].NodeID != oldID {
				newView = s
				return true
			}
			return false
		})
		elapsed := time.Since(start)
		t.Logf("new leader after %s; statuses seen %v", elapsed.Round(time.Millisecond), seen)
		if seen[502]+seen[503] == 0 {
			t.Errorf("no 502/503 seen during the election: %v", seen)
		}
		if elapsed > 10*time.Second {
			t.Errorf("election took %s", elapsed)
		}
		if newView.Cluster.CurrentTerm <= uint64(oldTerm) {
			t.Errorf("term %d did not rise above %v", newView.Cluster.CurrentTerm, oldTerm)
		}
		for _, r := range newView.Cluster.Nodes {
			if r.NodeID == oldID && (r.MatchedIndex != nil || r.LagEntries != nil || r.CaughtUp || r.Role != "follower") {
				t.Errorf("stopped old leader row after election = %+v, want null matched/lag", r)
			}
		}
		if v, ok := c.metric(caller, "raft_leader_changes_total"); !ok || v < 2 {
			t.Errorf("raft_leader_changes_total = %v %v", v, ok)
		}
	})
}

func others(n, skip int) []int {
	var out []int
	for i := 0; i < n; i++ {
		if i != skip {
			out = append(out, i)
		}
	}
	return out
}

func checkNames(t *testing.T, r health.ReadyResponse) {
	t.Helper()
	if len(r.Checks) != len(health.ReadyCheckNames) {
		t.Fatalf("%d checks, want %d", len(r.Checks), len(health.ReadyCheckNames))
	}
	for i, ch := range r.Checks {
		if ch.Name != health.ReadyCheckNames[i] {
			t.Errorf("check %d is %q, want %q", i, ch.Name, health.ReadyCheckNames[i])
		}
	}
}

func checksByName(r health.ReadyResponse) map[string]health.ReadyCheck {
	m := map[string]health.ReadyCheck{}
	for _, ch := range r.Checks {
		m[ch.Name] = ch
	}
	return m
}

func detail(ch health.ReadyCheck) string {
	if ch.Detail == nil {
		return "<null>"
	}
	return *ch.Detail
}
