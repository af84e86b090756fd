package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/sysdump"
)

func launcherArgs(root string, rest ...string) []string {
	self := filepath.Join(PathsFor(root).BinDir, "neuwerk.new")
	return append([]string{"--release", "1.0.0", "--fault", "none", "--self", self}, rest...)
}

func TestMainRejectsFlags(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{{"--version"}, {"--http-bind", "1.2.3.4:8443"}, {"run"}} {
		var stdout, stderr strings.Builder
		if code := mainWith(launcherArgs(root, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stderr.String() != noFlagsMessage+"\n" || stdout.Len() != 0 {
			t.Errorf("%v: stderr %q stdout %q", args, stderr.String(), stdout.String())
		}
	}
	var stderr strings.Builder
	if code := mainWith([]string{"--fault", "bogus", "--self", "/x/opt/neuwerk/bin/neuwerk"}, &strings.Builder{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), `unknown fault "bogus"`) {
		t.Errorf("bad fault: exit %d, %q", code, stderr.String())
	}
	if got := RootFromSelf("/d/nodes/fw-a/opt/neuwerk/bin/neuwerk.prev"); got != "/d/nodes/fw-a" {
		t.Errorf("RootFromSelf = %s", got)
	}
}

func TestParseTTL(t *testing.T) {
	cases := map[string]time.Duration{
		"30m": 30 * time.Minute, "45s": 45 * time.Second, "2h": 2 * time.Hour, "90d": 90 * 24 * time.Hour, "600": 10 * time.Minute,
	}
	for in, want := range cases {
		if got, err := ParseTTL(in); err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-5m", "1w", "m", "1.5h", "30 m"} {
		if _, err := ParseTTL(bad); err == nil {
			t.Errorf("ParseTTL(%q) accepted", bad)
		}
	}
}

func TestStartupRefusesBadBootstrapToken(t *testing.T) {
	c := newTestCluster(t, blockUnit+1, 1, time.Second, nil)
	root := c.nodes[0].root
	token := PathsFor(root).BootstrapToken

	must(t, os.Chmod(token, 0o644))
	err := Run(context.Background(), root, RunOptions{Log: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "bootstrap token file permissions too open") {
		t.Errorf("0644 token: Run = %v", err)
	}
	if code := mainWith(launcherArgs(root), &strings.Builder{}, &syncBuffer{}); code != 2 {
		t.Errorf("0644 token: exit %d, want 2", code)
	}

	past := time.Now().Add(-time.Hour)
	tokens, err := NewBootstrapTokens()
	must(t, err)
	tokens.Tokens[0].ValidUntil = &past
	data, err := tokens.Marshal()
	must(t, err)
	must(t, writeFileMode(token, data, 0o600))
	err = Run(context.Background(), root, RunOptions{Log: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "no bootstrap token is valid now") {
		t.Errorf("expired token: Run = %v", err)
	}
}

// TestSingleNodeCLI runs one node and drives the CLI against it: token mint
// (all target forms) and the sysdump command, while running and stopped.
func TestSingleNodeCLI(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, blockUnit, 1, 200*time.Millisecond, nil)
	root := c.nodes[0].root
	p := PathsFor(root)
	c.start(0, FaultNone)
	c.waitReady(20*time.Second, 0)

	mint := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := mainWith(launcherArgs(root, append([]string{"auth", "token", "mint"}, args...)...), &stdout, &stderr)
		return code, strings.TrimSpace(stdout.String()), stderr.String()
	}

	t.Run("mint", func(t *testing.T) {
		code, admin, stderr := mint("--sub", "ops", "--roles", "admin", "--ttl", "30m", "--http-tls-dir", p.HTTPTLSDir)
		if code != 0 {
			t.Fatalf("mint admin: exit %d: %s", code, stderr)
		}
		claims, fail := verifyToken(c.keys, admin, time.Now())
		if fail != nil {
			t.Fatalf("minted token rejected: %s", fail.msg)
		}
		if claims.Subject != "ops" || !hasRole(claims.Roles, "admin") || claims.ID == "" ||
			time.Until(claims.ExpiresAt.Time) > 30*time.Minute || time.Until(claims.ExpiresAt.Time) < 29*time.Minute {
			t.Errorf("claims = %+v", claims)
		}
		status, h, _ := c.do("POST", 0, "/api/v1/support/sysdump/node", admin, map[string]string{health.SysdumpFanoutHeader: "1"})
		if status != 200 || h.Get("Content-Type") != "application/gzip" {
			t.Errorf("admin POST = %d %v", status, h)
		}

		// Default target (config's http.tls_dir), no roles: no roles claim, GET only.
		code, reader, stderr := mint("--sub", "viewer")
		if code != 0 {
			t.Fatalf("mint reader: exit %d: %s", code, stderr)
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(reader, ".")[1])
		must(t, err)
		var raw map[string]any
		must(t, json.Unmarshal(payload, &raw))
		if _, ok := raw["roles"]; ok || raw["iss"] != "neuwerk-api" || raw["aud"] != "neuwerk-api" {
			t.Errorf("reader claims = %s", payload)
		}
		if exp := int64(raw["exp"].(float64)) - time.Now().Unix(); exp < 89*86400 || exp > 90*86400 {
			t.Errorf("default ttl gives exp in %ds, want 90d", exp)
		}
		if status, _, _ := c.do("GET", 0, "/api/v1/stats", reader, nil); status != 200 {
			t.Errorf("reader GET = %d", status)
		}
		if status, _, body := c.do("POST", 0, "/api/v1/support/sysdump/cluster", reader, nil); status != 403 || string(body) != `{"error":"admin role required"}` {
			t.Errorf("reader POST = %d %s", status, body)
		}

		// Cluster-RPC form against the running node.
		if code, tok, stderr := mint("--sub", "ops", "--roles", "admin", "--cluster-addr", c.nodes[0].ip+":9600"); code != 0 || tok == "" {
			t.Errorf("mint --cluster-addr: exit %d %s", code, stderr)
		}
		// Real Neuwerk paths map onto the node root.
		if _, err := os.Stat("/var/lib/neuwerk"); os.IsNotExist(err) {
			if code, _, stderr := mint("--sub", "ops", "--http-tls-dir", "/var/lib/neuwerk/http-tls"); code != 0 {
				t.Errorf("mint with the node path: exit %d %s", code, stderr)
			}
		}
		if code, _, stderr := mint("--roles", "admin"); code != 2 || !strings.Contains(stderr, "--sub is required") {
			t.Errorf("mint without --sub: exit %d %q", code, stderr)
		}
	})

	takeSysdump := func(t *testing.T) []tarMember {
		out := filepath.Join(t.TempDir(), "dump.tar.gz")
		var stdout, stderr strings.Builder
		if code := mainWith(launcherArgs(root, "sysdump", "--output", out), &stdout, &stderr); code != 0 {
			t.Fatalf("sysdump: exit %d: %s", code, stderr.String())
		}
		if strings.TrimSpace(stdout.String()) != out {
			t.Errorf("sysdump printed %q, want %q", stdout.String(), out)
		}
		st, err := os.Stat(out)
		must(t, err)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("archive mode %o, want 600", st.Mode().Perm())
		}
		data, err := os.ReadFile(out)
		must(t, err)
		return readTarGz(t, data)
	}

	t.Run("sysdump while running", func(t *testing.T) {
		ms := takeSysdump(t)
		names := memberNames(ms)
		if !strings.HasPrefix(names[0], "var/lib/neuwerk/") || names[len(names)-1] != sysdump.NodeSummaryManifest {
			t.Errorf("first %s last %s", names[0], names[len(names)-1])
		}
		// Collection order: data root, etc, proc, sys, commands, http, summaries.
		groups := []string{"var/lib/neuwerk/", "etc/", "proc/", "sys/class/net/", "system/commands/", "system/http/", "summary/"}
		group := func(name string) int {
			if strings.HasPrefix(name, "system/journal/") {
				return 4
			}
			for i, g := range groups {
				if strings.HasPrefix(name, g) {
					return i
				}
			}
			return -1
		}
		for i := 1; i < len(names); i++ {
			if g0, g1 := group(names[i-1]), group(names[i]); g1 < 0 || g1 < g0 {
				t.Errorf("member %s after %s breaks the collection order", names[i], names[i-1])
			}
		}
		for _, m := range ms {
			switch {
			case strings.HasPrefix(m.name, "var/lib/neuwerk/cluster/raft/"):
				t.Errorf("raft store copied: %s", m.name)
			case m.name == "etc/neuwerk/config.yaml":
				t.Errorf("config.yaml must not be collected")
			case strings.HasPrefix(m.name, "var/lib/neuwerk/") && !strings.HasSuffix(m.name, ".manifest.json") && m.mode != 0o600:
				t.Errorf("%s mode %o, want 600", m.name, m.mode)
			}
			if !m.gnu {
				t.Errorf("%s is not a GNU header", m.name)
			}
		}
		want := map[string]string{
			"var/lib/neuwerk/bootstrap-token":         "redacted bootstrap token\n",
			"var/lib/neuwerk/http-tls/node.key":       "redacted secret file: node.key\n",
			"var/lib/neuwerk/cluster/tls/node.key":    "redacted secret file: node.key\n",
			"etc/hostname":                            "fw-a\n",
			"proc/sys/kernel/hostname":                "fw-a\n",
			"system/http/metrics-127.0.0.1-8080.prom": "request failed: error sending request for url (http://127.0.0.1:8080/metrics)\n",
		}
		for name, content := range want {
			if m, ok := findMember(ms, name); !ok || string(m.data) != content {
				t.Errorf("%s = %q (present %v), want %q", name, m.data, ok, content)
			}
		}
		auth, _ := findMember(ms, "var/lib/neuwerk/http-tls/api-auth.json")
		if !strings.Contains(string(auth.data), `"private_key": "<redacted>"`) || !strings.Contains(string(auth.data), c.keys.Keys[0].PublicKey) ||
			strings.Contains(string(auth.data), c.keys.Keys[0].PrivateKey) {
			t.Errorf("api-auth.json not redacted: %s", auth.data)
		}
		rm, ok := findMember(ms, "var/lib/neuwerk/cluster/raft.manifest.json")
		if !ok || !strings.Contains(string(rm.data), `"path": "/var/lib/neuwerk/cluster/raft/raft.db"`) {
			t.Errorf("raft manifest = %s", rm.data)
		}
		status, _ := findMember(ms, "system/commands/systemctl-status-neuwerk.txt")
		if !strings.HasPrefix(string(status.data), "$ systemctl status neuwerk.service --no-pager\nexit_status: 0\n--- stdout ---\n") ||
			!strings.Contains(string(status.data), "active (running)") || !strings.Contains(string(status.data), "--- stderr ---\n") {
			t.Errorf("systemctl status capture:\n%s", status.data)
		}
		var cluster map[string]any
		cm, _ := findMember(ms, "summary/cluster.json")
		must(t, json.Unmarshal(cm.data, &cluster))
		if cluster["voter_count"] != float64(1) || cluster["last_log_index"].(float64) < 2 || cluster["voted_for"] != c.nodes[0].id {
			t.Errorf("summary/cluster.json = %s", cm.data)
		}
		var policies map[string]*policySummary
		pm, _ := findMember(ms, "summary/policies.json")
		must(t, json.Unmarshal(pm.data, &policies))
		if policies["cluster"] == nil || !policies["cluster"].Present || policies["local"] == nil {
			t.Errorf("summary/policies.json = %s", pm.data)
		}
		var manifest sysdump.NodeManifest
		must(t, json.Unmarshal(ms[len(ms)-1].data, &manifest))
		statuses := map[string]string{}
		for _, e := range manifest.Entries {
			statuses[e.ArchivePath] = e.Status
		}
		if _, ok := findMember(ms, "etc/resolv.conf"); ok || statuses["etc/resolv.conf"] != "missing" {
			t.Errorf("missing etc/resolv.conf: member %v, manifest status %q", ok, statuses["etc/resolv.conf"])
		}
		if statuses["var/lib/neuwerk/cluster/raft.manifest.json"] != "manifest-only" || statuses["summary/cluster.json"] != "ok" {
			t.Errorf("manifest statuses: %v", statuses)
		}
	})

	c.stop(0)

	t.Run("after stop", func(t *testing.T) {
		ms := takeSysdump(t)
		status, _ := findMember(ms, "system/commands/systemctl-status-neuwerk.txt")
		if !strings.Contains(string(status.data), "exit_status: 3\n") || !strings.Contains(string(status.data), "inactive (dead)") {
			t.Errorf("systemctl status after stop:\n%s", status.data)
		}
		var cluster sysdump.Membership
		cm, _ := findMember(ms, "summary/cluster.json")
		must(t, json.Unmarshal(cm.data, &cluster))
		if cluster.LastAppliedIndex == 0 || cluster.LastAppliedIndex+2 < cluster.LastLogIndex || cluster.LastAppliedIndex > cluster.LastLogIndex {
			t.Errorf("offline summary: last_applied_index %d, last_log_index %d", cluster.LastAppliedIndex, cluster.LastLogIndex)
		}
		if code, _, stderr := mint("--sub", "ops", "--cluster-addr", c.nodes[0].ip+":9600"); code != 1 || !strings.Contains(stderr, "cluster auth rpc") {
			t.Errorf("mint --cluster-addr with the node down: exit %d %q", code, stderr)
		}
		if _, err := http.Get("http://" + c.nodes[0].ip + ":8080/metrics"); err == nil {
			t.Errorf("metrics listener still up after stop")
		}
	})
}
