package api_test

// These tests read a real simulated cluster (real Raft, real HTTPS with the
// cluster's CA, real OpenSSH sshd) through the health package, as the engine
// and the console will.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

func requireSSHD(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sim.SSHD); err != nil {
		if os.Getenv("NWROLL_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s is missing and NWROLL_REQUIRE_SSHD=1: apt-get install openssh-server", sim.SSHD)
		}
		t.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
}

// sshRun runs one command on a simulated node over SSH, checking the host key
// strictly against the cluster's known_hosts.
func sshRun(t *testing.T, n sim.NodeInfo, cmd string) string {
	t.Helper()
	keyPEM, err := os.ReadFile(n.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(n.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ssh.Dial("tcp", n.SSHAddr, &ssh.ClientConfig{
		User:            n.SSHUser,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s: %v", n.SSHAddr, err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(cmd); err != nil {
		t.Fatalf("ssh %s %q: %v\nstderr: %s", n.Name, cmd, err, stderr.String())
	}
	return stdout.String()
}

func clientsFor(t *testing.T, c *sim.Cluster, tok api.Token) []*api.Client {
	t.Helper()
	var out []*api.Client
	for _, n := range c.Info().Nodes {
		cl, err := api.NewClient(api.Config{
			Name: n.Name, NodeID: n.NodeID, APIURL: n.APIURL, MetricsURL: n.MetricsURL,
			CAFile: n.CAPath, Token: tok,
			Timeouts: api.Timeouts{Probe: 2 * time.Second, API: 5 * time.Second, Metrics: 2 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cl)
	}
	return out
}

func expectedIDs(c *sim.Cluster) []string {
	var ids []string
	for _, n := range c.Info().Nodes {
		ids = append(ids, n.NodeID)
	}
	return ids
}

// eventually polls cond until it holds or the deadline passes; the message
// names the last state seen. It bounds a wait, it does not time the system.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last state: %s", what, within, last)
}

func TestAgainstSimulatedCluster(t *testing.T) {
	requireSSHD(t)
	c := simtest.Start(t, sim.Options{SSH: sim.SSHOpenSSH})
	info := c.Info()
	ctx := context.Background()

	// A token minted over real OpenSSH with the node's own binary (facts §5).
	fwb, _ := info.Node("fw-b")
	mint := func(roles string) api.Token {
		// The command an operator types on a real node (neuwerk is on PATH there).
		cmd := "sudo -n neuwerk auth token mint --sub nwroll-test " + roles +
			" --ttl 10m --http-tls-dir /var/lib/neuwerk/http-tls"
		return api.Token(strings.TrimSpace(sshRun(t, fwb, cmd)))
	}
	admin := mint("--roles admin")
	readonly := mint("")
	if strings.Count(admin.Reveal(), ".") != 2 || strings.Count(readonly.Reveal(), ".") != 2 {
		t.Fatalf("minted tokens are not JWTs")
	}
	clients := clientsFor(t, c, admin)
	byName := map[string]*api.Client{}
	for _, cl := range clients {
		byName[cl.Name()] = cl
	}

	t.Run("ready and stats shapes", func(t *testing.T) {
		var refs []health.NodeRef
		for _, n := range c.Info().Nodes {
			refs = append(refs, health.NodeRef{Name: n.Name, ID: n.NodeID})
		}
		// A fresh cluster may still be replicating its first policy (a follower
		// an entry behind), so the pre-check is observed as the engine does:
		// fresh samples until it passes.
		var snap health.ClusterSnapshot
		eventually(t, 15*time.Second, "fresh cluster passes the pre-check", func() (bool, string) {
			snap = api.Refresh(ctx, clients)
			g := health.Gate{Name: "pre-check", Checks: health.PreCheck(refs)}.Open(snap.TakenAt, time.Time{}).Observe(health.Sample{Snap: snap})
			return g.Outcome() == health.Passed, fmt.Sprint(g.Results())
		})
		for _, n := range snap.Nodes {
			if n.Ready == nil || !n.Ready.Ready {
				t.Fatalf("%s not ready: %+v %v", n.Name, n.Ready, n.ReadyErr)
			}
			var names []string
			for _, ch := range n.Ready.Checks {
				names = append(names, ch.Name)
				if ch.Detail != nil {
					t.Errorf("%s: ok check %s has detail %q, want null", n.Name, ch.Name, *ch.Detail)
				}
			}
			if !reflect.DeepEqual(names, health.ReadyCheckNames) {
				t.Errorf("%s: checks %v, want the eight in order %v", n.Name, names, health.ReadyCheckNames)
			}
		}
		st := snap.Stats.Cluster
		if st.NodeCount != 3 || st.FollowerCount != 2 || len(st.Nodes) != 3 || st.CurrentTerm == 0 || st.LastLogIndex == 0 {
			t.Fatalf("cluster stats: %+v", st)
		}
		if st.Nodes[0].Role != "leader" || st.Nodes[1].Role != "follower" || st.Nodes[2].Role != "follower" {
			t.Fatalf("rows not leader first: %+v", st.Nodes)
		}
		if st.Nodes[1].NodeID > st.Nodes[2].NodeID {
			t.Errorf("followers not sorted by node_id string: %s before %s", st.Nodes[1].NodeID, st.Nodes[2].NodeID)
		}
		voters := 0
		for _, m := range snap.Members.Members {
			if m.IsVoter {
				voters++
			}
		}
		if voters != 3 {
			t.Errorf("members: %d voters, want 3: %+v", voters, snap.Members.Members)
		}
	})

	t.Run("follower answers stats with the leader's view", func(t *testing.T) {
		st, err := clients[0].Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		leader, ok := st.Cluster.Leader()
		if !ok || !st.Cluster.IsLeader {
			t.Fatalf("no leader row or is_leader false: %+v", st.Cluster)
		}
		for _, n := range info.Nodes {
			if n.NodeID == leader.NodeID {
				continue
			}
			fst, err := byName[n.Name].Stats(ctx)
			if err != nil {
				t.Fatalf("stats via follower %s: %v", n.Name, err)
			}
			if !fst.Cluster.IsLeader {
				t.Errorf("stats via follower %s say is_leader false; stats are proxied to the leader", n.Name)
			}
			if l, _ := fst.Cluster.Leader(); l.NodeID != leader.NodeID {
				t.Errorf("follower %s names leader %s, want %s", n.Name, l.NodeID, leader.NodeID)
			}
			m, err := byName[n.Name].Metrics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.IsLeader {
				t.Errorf("follower %s metrics say raft_is_leader 1", n.Name)
			}
		}
	})

	t.Run("node_id decimal matches the UUID file", func(t *testing.T) {
		st, err := clients[0].Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range info.Nodes {
			raw := sshRun(t, n, "cat "+filepath.Join(n.DataRoot, "node_id"))
			dec, err := health.NodeIDFromUUID(raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Cluster.Row(dec); !ok {
				t.Errorf("%s: node_id %s (decimal %s) has no stats row", n.Name, strings.TrimSpace(raw), dec)
			}
		}
	})

	t.Run("readonly token works for GET and is refused for POST", func(t *testing.T) {
		ro := clientsFor(t, c, readonly)[0]
		if _, err := ro.Stats(ctx); err != nil {
			t.Fatalf("readonly GET stats: %v", err)
		}
		_, err := ro.ClusterSysdump(ctx, api.SysdumpOptions{Dir: t.TempDir()})
		if !health.IsForbidden(err) || !strings.Contains(err.Error(), "admin role required") {
			t.Fatalf("readonly POST sysdump: got %v, want 403 admin role required", err)
		}
		bad := clientsFor(t, c, api.Token("not-a-jwt"))[0]
		if _, err := bad.Stats(ctx); !health.IsUnauthorized(err) {
			t.Fatalf("garbage token: got %v, want 401", err)
		}
	})

	// Pick a follower to stop; the rest of the test runs around it.
	st, err := clients[0].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := st.Cluster.Nodes[2]
	var stoppedName string
	for _, n := range info.Nodes {
		if n.NodeID == stopped.NodeID {
			stoppedName = n.Name
		}
	}

	t.Run("stopped follower shows lag", func(t *testing.T) {
		if err := c.Stop(stoppedName); err != nil {
			t.Fatal(err)
		}
		var lagSeen uint64
		eventually(t, 15*time.Second, stoppedName+" lag grows", func() (bool, string) {
			st, err := byName[otherThan(info, stoppedName)].Stats(ctx)
			if err != nil {
				return false, err.Error()
			}
			row, ok := st.Cluster.Row(stopped.NodeID)
			if !ok || row.LagEntries == nil {
				return false, "no lag value yet"
			}
			lagSeen = *row.LagEntries
			return lagSeen >= 3 && !row.CaughtUp, fmt.Sprintf("lag %d, caught_up %v", lagSeen, row.CaughtUp)
		})
		snap := api.Refresh(ctx, clients)
		v := health.ClusterHealthy(snap, expectedIDs(c))
		if v.OK || !strings.Contains(strings.Join(v.Reasons, "\n"), stoppedName) {
			t.Fatalf("cluster-healthy gate should fail naming %s: %+v", stoppedName, v)
		}
	})

	t.Run("cluster sysdump with a stopped node is partial", func(t *testing.T) {
		var progressed int64
		res, err := byName[otherThan(info, stoppedName)].ClusterSysdump(ctx, api.SysdumpOptions{
			Dir: t.TempDir(), Progress: func(n int64) { progressed = n },
		})
		if err != nil {
			t.Fatal(err)
		}
		if progressed != res.Bytes || res.Bytes == 0 {
			t.Errorf("progress reported %d of %d bytes", progressed, res.Bytes)
		}
		if fi, err := os.Stat(res.Path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("sysdump file mode: %v %v", fi.Mode(), err)
		}
		a, err := sysdump.OpenArchive(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		man, err := a.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if !man.Partial || man.NodesSucceeded != 2 || man.NodesFailed != 1 {
			t.Fatalf("manifest %+v, want partial with 2 ok and 1 failed", man)
		}
		fails, err := a.Failures()
		if err != nil {
			t.Fatal(err)
		}
		if len(fails.Failures) != 1 || fails.Failures[0].NodeID != stopped.NodeID {
			t.Fatalf("failures %+v, want only %s", fails.Failures, stopped.NodeID)
		}
		for _, n := range info.Nodes {
			_, err := a.NodeManifest(n.NodeID)
			if n.NodeID == stopped.NodeID {
				if err == nil {
					t.Errorf("stopped node %s has a nested archive", n.Name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: nested summary/manifest.json: %v", n.Name, err)
			}
		}
	})

	t.Run("leader kill elects a new leader", func(t *testing.T) {
		if err := c.Start(stoppedName); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "cluster healthy again after start", func() (bool, string) {
			v := health.ClusterHealthy(api.Refresh(ctx, clients), expectedIDs(c))
			return v.OK, strings.Join(v.Reasons, "; ")
		})
		st, err := clients[0].Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		old, _ := st.Cluster.Leader()
		oldName := ""
		for _, n := range info.Nodes {
			if n.NodeID == old.NodeID {
				oldName = n.Name
			}
		}
		if _, err := c.Kill(oldName); err != nil {
			t.Fatal(err)
		}
		survivor := byName[otherThan(info, oldName)]
		sawTransition := false
		// The killed node restarts (Restart=on-failure) and may win the
		// election again: a new term proves the election, not a new name.
		oldTerm := st.Cluster.CurrentTerm
		eventually(t, 20*time.Second, "a leader elected in a new term", func() (bool, string) {
			st, err := survivor.Stats(ctx)
			if health.IsLeaderTransition(err) || health.IsNodeDown(err) {
				sawTransition = true
				return false, err.Error()
			}
			if err != nil {
				return false, err.Error()
			}
			l, ok := st.Cluster.Leader()
			return ok && st.Cluster.CurrentTerm > oldTerm, fmt.Sprintf("leader %s in term %d (before the kill: %s in term %d)", l.NodeID, st.Cluster.CurrentTerm, old.NodeID, oldTerm)
		})
		if !sawTransition {
			t.Logf("no 502/503 was observed during the election (the poll may have missed it)")
		}
	})
}

func otherThan(info sim.Info, name string) string {
	for _, n := range info.Nodes {
		if n.Name != name {
			return n.Name
		}
	}
	return ""
}
