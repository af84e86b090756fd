package sim_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func ed25519Key(t testing.TB) (ed25519.PublicKey, ssh.Signer, error) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pub, s, nil
}

func TestUpRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		opts sim.Options
		want string
	}{
		{sim.Options{}, "--dir"},
		{sim.Options{Dir: dir, Nodes: 26}, "1 to 25"},
		{sim.Options{Dir: dir, Nodes: -1}, "1 to 25"},
		{sim.Options{Dir: dir, Release: "9.9.9"}, "1.1.1-stall"},
		{sim.Options{Dir: dir, SSH: "telnet"}, "openssh"},
		{sim.Options{Dir: dir, Warmup: -time.Second}, "negative"},
	}
	for _, tc := range cases {
		_, err := sim.Up(context.Background(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Up(%+v) = %v, want an error mentioning %q", tc.opts, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("rejected options still wrote %d entries into DIR", len(entries))
	}
}

func TestOpenWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	_, err := sim.Open(dir)
	if !errors.Is(err, sim.ErrNoCluster) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "sim up") {
		t.Fatalf("Open(empty dir) = %v", err)
	}
	// Leftovers of a cluster without sim.json are not clobbered.
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "fw-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = sim.Up(context.Background(), sim.Options{Dir: dir, Nodes: 1})
	if err == nil || !strings.Contains(err.Error(), "no sim.json") {
		t.Fatalf("Up over leftovers = %v", err)
	}
}

// Two clusters started at the same time get different address blocks; a
// cluster brought down can be brought up again in the same DIR.
func TestParallelClustersAndReuse(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	clusters := make([]*sim.Cluster, 2)
	dirs := []string{t.TempDir(), t.TempDir()}
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			clusters[i], errs[i] = sim.Up(ctx, sim.Options{Dir: dirs[i], Nodes: 1, Warmup: 500 * time.Millisecond})
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i, c := range clusters {
			if c != nil {
				if t.Failed() {
					simtest.DumpLogs(t, dirs[i])
				}
				_ = c.Down()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
	}
	a, b := clusters[0].Info(), clusters[1].Info()
	if a.Block == b.Block || a.Nodes[0].IP == b.Nodes[0].IP || a.Cluster == b.Cluster {
		t.Fatalf("both clusters got block %d (%s, %s)", a.Block, a.Nodes[0].IP, b.Nodes[0].IP)
	}
	for _, in := range []sim.Info{a, b} {
		cl, err := api.NewClient(api.Config{APIURL: in.Nodes[0].APIURL, CAFile: in.CAPath})
		if err != nil {
			t.Fatal(err)
		}
		r, err := cl.Ready(context.Background())
		if err != nil || !r.Ready {
			t.Errorf("%s: ready %v %v", in.Cluster, r.Ready, err)
		}
		cl.CloseIdleConnections()
	}
	// The other cluster's CA does not verify this cluster's node.
	cross, err := api.NewClient(api.Config{APIURL: a.Nodes[0].APIURL, CAFile: b.CAPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cross.Ready(context.Background()); err == nil {
		t.Errorf("cluster %s's node verified with cluster %s's CA", a.Cluster, b.Cluster)
	}

	// SIGTERM to the supervisor brings its cluster down cleanly.
	var sup, svc int
	for _, p := range clusters[0].Processes() {
		switch p.Kind {
		case "supervisor":
			sup = p.Pid
		case "service":
			svc = p.Pid
		}
	}
	if err := syscall.Kill(sup, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !(processGone(sup) && processGone(svc)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !processGone(sup) || !processGone(svc) {
		t.Fatalf("after SIGTERM: supervisor gone %v, node process gone %v", processGone(sup), processGone(svc))
	}
	for _, f := range []string{"supervisor.sock", "supervisor.pid"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err == nil {
			t.Errorf("%s left after the supervisor's SIGTERM", f)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(dirs[0], "supervisor.log")); !strings.Contains(string(log), "terminated: bringing the cluster down") {
		t.Errorf("supervisor.log does not show the SIGTERM:\n%s", log)
	}

	// Down, then up again in the same DIR: a fresh cluster.
	oldUUID := a.Nodes[0].NodeUUID
	if err := clusters[0].Down(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	again, err := sim.Up(ctx, sim.Options{Dir: dirs[0], Nodes: 1, Warmup: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("up after down in the same dir: %v", err)
	}
	clusters[0] = again
	if again.Info().Nodes[0].NodeUUID == oldUUID || again.Info().State != sim.StateUp {
		t.Errorf("reused dir kept the old node identity or state: %+v", again.Info())
	}
}

// If the supervisor dies, Down still ends the node processes it recorded.
//
// Its DIR has a space and a quote in it (the shims and launchers must quote
// it) and is longer than a unix socket path may be (the control socket
// falls back to /proc/self/fd/N/supervisor.sock).
func TestDownAfterSupervisorKilled(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "it's a dir with spaces "+strings.Repeat("x", 60))
	c := simtest.Start(t, sim.Options{Dir: dir, Nodes: 1, Warmup: 500 * time.Millisecond})
	if len(filepath.Join(dir, "supervisor.sock")) <= 108 {
		t.Fatalf("dir %q is too short to exercise the long socket path", dir)
	}
	info := c.Info()
	cl := mustDial(t, info, info.Nodes[0])
	if out, errOut, code := runSSH(t, cl, "sudo -n systemctl is-active neuwerk.service && journalctl -u neuwerk.service -n 1 --no-pager | wc -l", ""); out != "active\n1\n" || code != 0 {
		t.Fatalf("shims in a dir with spaces: %q %q exit %d", out, errOut, code)
	}
	cl.Close()
	var sup, svc int
	for _, p := range c.Processes() {
		switch p.Kind {
		case "supervisor":
			sup = p.Pid
		case "service":
			svc = p.Pid
		}
	}
	if sup == 0 || svc == 0 {
		t.Fatalf("recorded processes: %+v", c.Processes())
	}
	if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(sup) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !processGone(sup) {
		t.Fatal("supervisor survived SIGKILL")
	}
	if processGone(svc) {
		t.Fatal("the node process died with the supervisor; this test needs it orphaned")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := c.Status(ctx)
	if err != nil || rep.Running || rep.Nodes[0].Service != "down" {
		t.Errorf("status without a supervisor: running %v service %q err %v", rep.Running, rep.Nodes[0].Service, err)
	}
	if err := c.Down(); err != nil {
		t.Fatal(err)
	}
	if !processGone(svc) {
		t.Fatalf("node process %d survived Down", svc)
	}
	if alive := c.AliveProcesses(); len(alive) != 0 {
		t.Fatalf("alive after Down: %+v", alive)
	}
}

// The same contract over real OpenSSH: login, the systemctl shim on PATH,
// sudo -n, SFTP upload, and minting a token with the node binary over SSH.
func TestOpenSSH(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(sim.SSHD); err != nil {
		if os.Getenv("NWROLL_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s not installed and NWROLL_REQUIRE_SSHD=1 (apt-get install openssh-server)", sim.SSHD)
		}
		t.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
	c := simtest.Start(t, sim.Options{Nodes: 1, SSH: sim.SSHOpenSSH, Warmup: 500 * time.Millisecond})
	info := c.Info()
	n := info.Nodes[0]
	if info.SSHMode != sim.SSHOpenSSH {
		t.Fatalf("ssh mode %q", info.SSHMode)
	}
	if _, err := os.Stat(filepath.Join(n.NodeDir, "sshd_config")); err != nil {
		t.Fatal(err)
	}
	cl := mustDial(t, info, n)
	if v := string(cl.ServerVersion()); !strings.Contains(v, "OpenSSH") {
		t.Fatalf("server version %q is not OpenSSH", v)
	}
	// sshd's SetEnv puts the shims first, and SHLVL=1 keeps bash from
	// reading the local user's ~/.bashrc (which could prepend its own
	// directories): the PATH is exactly the node's.
	out, errOut, code := runSSH(t, cl, `echo "$PATH"; command -v systemctl; command -v sudo; command -v journalctl`, "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	simBin := n.NodeDir + "/sim-bin"
	if code != 0 || len(lines) != 4 || lines[0] != simBin+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ||
		lines[1] != simBin+"/systemctl" || lines[2] != simBin+"/sudo" || lines[3] != simBin+"/journalctl" {
		t.Fatalf("PATH in an OpenSSH session: exit %d %q %q", code, out, errOut)
	}
	out, _, code = runSSH(t, cl, "systemctl is-active neuwerk.service", "")
	if out != "active\n" || code != 0 {
		t.Fatalf("is-active: %q %d", out, code)
	}
	out, _, code = runSSH(t, cl, "sudo -n systemctl is-active neuwerk.service && sudo -n id -u", "")
	if code != 0 || !strings.HasPrefix(out, "active\n") {
		t.Fatalf("sudo -n: %q exit %d", out, code)
	}
	// SFTP (internal-sftp).
	sc, err := sftp.NewClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(n.NodeDir, "opt/neuwerk/bin/neuwerk.new")
	f, err := sc.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(info.Releases["1.1.0"].Binary)
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sc.Close()
	out, _, code = runSSH(t, cl, "sha256sum "+dst, "")
	if code != 0 || !strings.HasPrefix(out, info.Releases["1.1.0"].SHA256+" ") {
		t.Fatalf("uploaded release sha: %q", out)
	}
	// Mint an admin token over SSH with the installed binary, as the engine does.
	out, errOut, code = runSSH(t, cl, fmt.Sprintf("sudo -n %s auth token mint --sub engine --roles admin --ttl 30m --http-tls-dir %s",
		n.Binary, filepath.Join(n.DataRoot, "http-tls")), "")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("mint over ssh: exit %d %q %q", code, out, errOut)
	}
	client, err := api.NewClient(api.Config{APIURL: n.APIURL, CAFile: n.CAPath, Token: api.Token(strings.TrimSpace(out))})
	if err != nil {
		t.Fatal(err)
	}
	who, err := client.WhoAmI(context.Background())
	if err != nil || who.Sub != "engine" {
		t.Fatalf("whoami with the minted token: %+v %v", who, err)
	}
	// Stop and start through sudo and the shim.
	if _, errOut, code := runSSH(t, cl, "sudo -n systemctl stop neuwerk.service", ""); code != 0 {
		t.Fatalf("stop over openssh: %d %q", code, errOut)
	}
	if out, _, code := runSSH(t, cl, "systemctl is-active neuwerk.service", ""); code != 3 || out != "inactive\n" {
		t.Fatalf("after stop: %q %d", out, code)
	}
	if _, errOut, code := runSSH(t, cl, "sudo -n systemctl start neuwerk.service", ""); code != 0 {
		t.Fatalf("start over openssh: %d %q", code, errOut)
	}
	waitReady(t, info, n, 30*time.Second)
	// Down with a session still open: sshd's per-connection processes
	// (their own sessions, so outside sshd's process group) must go too.
	procs := c.Processes()
	var sessionPids []int
	for _, p := range procs {
		if p.Kind == "sshd" {
			sessionPids = append(sessionPids, childrenOf(p.Pid)...)
		}
	}
	if len(sessionPids) == 0 {
		t.Fatal("found no sshd session process under the listener")
	}
	if err := c.Down(); err != nil {
		t.Fatal(err)
	}
	sshd := 0
	for _, p := range procs {
		if p.Kind == "sshd" {
			sshd++
		}
		if !processGone(p.Pid) {
			t.Errorf("%s pid %d survived Down", p.Kind, p.Pid)
		}
	}
	for _, pid := range sessionPids {
		if !processGone(pid) {
			t.Errorf("sshd session process %d (%s) survived Down", pid, procCmdline(pid))
		}
	}
	if sshd != 1 {
		t.Errorf("%d sshd processes recorded, want 1", sshd)
	}
}

// BenchmarkUp measures time-to-ready: Up (build, start, wait for every node
// ready and every follower caught up) plus Down.
// BenchmarkUp measures sim up to ready (1 s warm-up) plus down:
//
//	go test -run '^$' -bench BenchmarkUp -benchtime 3x ./sim/
func BenchmarkUp(b *testing.B) {
	if testing.Short() {
		b.Skip("starts real clusters")
	}
	for _, nodes := range []int{3, 9} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var toReady time.Duration
			for b.Loop() {
				dir := b.TempDir()
				start := time.Now()
				c, err := sim.Up(context.Background(), sim.Options{Dir: dir, Nodes: nodes, Warmup: time.Second})
				toReady += time.Since(start)
				if err != nil {
					simtest.DumpLogs(b, dir)
					b.Fatal(err)
				}
				if err := c.Down(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(toReady.Seconds()/float64(b.N), "s-to-ready/op")
		})
	}
}
