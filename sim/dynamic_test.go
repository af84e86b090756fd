package sim_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/node"
	"github.com/nwroll/nwroll/sim/simtest"
)

// TestDynamicLaunchTerminate runs a dynamic cluster with join_via_follower
// "forward": up gives three voters, a node launched through a follower
// becomes a voter, Terminate stops it and marks it in sim.json, the
// removal API drops it from Raft, and the next launch takes a new name.
func TestDynamicLaunchTerminate(t *testing.T) {
	t.Parallel()
	c := simtest.Start(t, sim.Options{Nodes: 3, Warmup: time.Second, Dynamic: true, JoinViaFollower: node.JoinForward})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info := c.Info()
	fwa := info.Nodes[0]
	tok, err := c.MintToken(ctx, fwa.Name, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	members := func() health.MembersResponse {
		t.Helper()
		m, err := c.Members(ctx, fwa, tok)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	m := members()
	if !info.Dynamic || info.JoinViaFollower != node.JoinForward || len(m.Members) != 3 {
		t.Fatalf("sim.json dynamic %v join_via_follower %q; members %+v", info.Dynamic, info.JoinViaFollower, m)
	}
	for _, mem := range m.Members {
		if !mem.IsVoter || (mem.NodeID == fwa.NodeID) != (mem.Role == "leader") {
			t.Errorf("member %+v (fw-a, the seed, should lead)", mem)
		}
	}
	settings, err := node.LoadSimSettings(filepath.Join(info.Nodes[1].NodeDir, "etc/neuwerk/sim-node.json"))
	if err != nil || !settings.Dynamic || settings.JoinViaFollower != node.JoinForward || len(settings.Peers) != 1 {
		t.Fatalf("fw-b sim-node.json: %+v %v", settings, err)
	}

	var fwd sim.NodeInfo
	t.Run("LaunchThroughFollower", func(t *testing.T) {
		fwd, err = c.Launch(ctx, sim.LaunchSpec{JoinSeed: "fw-b"})
		if err != nil {
			t.Fatal(err)
		}
		if fwd.Name != "fw-d" || fwd.IP != strings.TrimSuffix(fwa.IP, "11")+"14" || fwd.LaunchedAt == nil {
			t.Fatalf("launched %+v", fwd)
		}
		waitFor(t, 60*time.Second, "fw-d a voter", func() bool { return voterIn(members(), fwd.NodeID) })
		waitReady(t, c.Info(), fwd, 30*time.Second)
		if log, _ := os.ReadFile(info.Nodes[1].Log); !strings.Contains(string(log), "forwarded joiner to the leader") {
			t.Errorf("fw-b's log does not show the forward:\n%s", log)
		}
		again, err := sim.Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if got := again.Info().Nodes; len(got) != 4 || got[3].Name != "fw-d" || got[3].Terminated() {
			t.Fatalf("sim.json nodes after launch: %+v", got)
		}
		kh, _ := os.ReadFile(info.KnownHosts)
		if !strings.Contains(string(kh), fwd.IP) {
			t.Errorf("known_hosts lacks %s", fwd.IP)
		}
		out, _, code := runSSH(t, mustDial(t, c.Info(), fwd), "systemctl is-active neuwerk.service", "")
		if code != 0 || strings.TrimSpace(out) != "active" {
			t.Errorf("ssh fw-d systemctl is-active: %q exit %d", out, code)
		}
	})

	t.Run("Terminate", func(t *testing.T) {
		if fwd.Name == "" {
			t.Skip("no launched node")
		}
		st := waitService(t, c, fwd.Name, 10*time.Second, "running", func(s sim.ServiceStatus) bool { return s.MainPID > 0 })
		if err := c.Terminate(ctx, fwd.Name); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "fw-d's process gone", func() bool { return processGone(st.MainPID) })
		again, err := sim.Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := again.Node(fwd.Name)
		if !rec.Terminated() || rec.TerminatedAt == nil {
			t.Fatalf("sim.json record after terminate: %+v", rec)
		}
		rep, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range rep.Nodes {
			if ns.Name == fwd.Name && ns.Service != sim.NodeTerminated {
				t.Errorf("sim status shows %s as %q", ns.Name, ns.Service)
			}
		}
		if _, err := dialNode(t, c.Info(), fwd, info.KnownHosts); err == nil {
			t.Error("ssh to the terminated node still works")
		}
		if err := c.Terminate(ctx, fwd.Name); err == nil {
			t.Error("terminating a terminated node succeeded")
		}
		// Its Raft membership stays until someone removes it (G4).
		if !voterIn(members(), fwd.NodeID) {
			t.Fatal("the terminated node left Raft by itself")
		}
		status, body := removeMember(t, ctx, c.Info().CAPath, fwa, tok, fwd.NodeID)
		var after health.MembersResponse
		if status != http.StatusOK || json.Unmarshal(body, &after) != nil || len(after.Members) != 3 {
			t.Fatalf("remove fw-d: %d %s", status, body)
		}
	})

	t.Run("LaunchTakesANewName", func(t *testing.T) {
		fwe, err := c.Launch(ctx, sim.LaunchSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if fwe.Name != "fw-e" {
			t.Fatalf("second launch is %s, want fw-e", fwe.Name)
		}
		waitFor(t, 60*time.Second, "fw-e a voter", func() bool { return voterIn(members(), fwe.NodeID) })
	})
}

func voterIn(m health.MembersResponse, id string) bool {
	for _, mem := range m.Members {
		if mem.NodeID == id {
			return mem.IsVoter && mem.Role != "learner"
		}
	}
	return false
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeMember posts POST /api/v1/cluster/members/{id}/remove to node n.
func removeMember(t testing.TB, ctx context.Context, caPath string, n sim.NodeInfo, tok api.Token, id string) (int, []byte) {
	t.Helper()
	cl := nodeHTTPClient(t, caPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.APIURL+"/api/v1/cluster/members/"+id+"/remove", strings.NewReader(`{"force":false}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+string(tok))
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = io.Copy(&body, resp.Body)
	return resp.StatusCode, []byte(body.String())
}

// nodeHTTPClient trusts the cluster's HTTP CA.
func nodeHTTPClient(t testing.TB, caPath string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}

// TestDynamicLaunchOpenSSH launches a node into a one-node dynamic cluster
// with OpenSSH: the new node gets its own sshd, the requested release, and
// becomes a voter; Terminate stops its sshd too.
func TestDynamicLaunchOpenSSH(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(sim.SSHD); err != nil {
		if os.Getenv("NWROLL_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s not installed and NWROLL_REQUIRE_SSHD=1 (apt-get install openssh-server)", sim.SSHD)
		}
		t.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
	c := simtest.Start(t, sim.Options{Nodes: 1, SSH: sim.SSHOpenSSH, Warmup: 500 * time.Millisecond, Dynamic: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info := c.Info()
	if info.JoinViaFollower != node.JoinStuck {
		t.Errorf("default join_via_follower %q, want %q", info.JoinViaFollower, node.JoinStuck)
	}
	sshdPids := func() []int {
		t.Helper()
		rep, err := c.Status(ctx)
		if err != nil || !rep.Running {
			t.Fatalf("status: %+v %v", rep, err)
		}
		var pids []int
		for _, r := range c.AliveProcesses() {
			if r.Kind == "sshd" {
				pids = append(pids, r.Pid)
			}
		}
		return pids
	}
	if n := len(sshdPids()); n != 1 {
		t.Fatalf("%d sshd before the launch, want 1", n)
	}

	fwb, err := c.Launch(ctx, sim.LaunchSpec{Release: "1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fwb.NodeDir, "sshd_config")); err != nil {
		t.Fatal(err)
	}
	if got := sha256File(t, fwb.Binary); got != info.Releases["1.1.0"].SHA256 {
		t.Errorf("fw-b runs sha %s, want 1.1.0's", got)
	}
	cl := mustDial(t, c.Info(), fwb)
	if v := string(cl.ServerVersion()); !strings.Contains(v, "OpenSSH") {
		t.Fatalf("fw-b's server version %q is not OpenSSH", v)
	}
	if n := len(sshdPids()); n != 2 {
		t.Fatalf("%d sshd after the launch, want 2", n)
	}
	tok, err := c.MintToken(ctx, info.Nodes[0].Name, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "fw-b a voter", func() bool {
		m, err := c.Members(ctx, info.Nodes[0], tok)
		return err == nil && voterIn(m, fwb.NodeID)
	})

	if err := c.Terminate(ctx, fwb.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "fw-b's sshd gone", func() bool { return len(sshdPids()) == 1 })
	if _, err := dialNode(t, c.Info(), fwb, info.KnownHosts); err == nil {
		t.Error("ssh to the terminated node still works")
	}
}
