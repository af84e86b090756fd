package sim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"gopkg.in/yaml.v3"
)

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func perm(t testing.TB, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestCluster runs one 3-node cluster (embedded SSH) through the whole
// contract: layout, SSH, SFTP, service control, binary replacement, crash
// restart, refusal of a second up, and a down that leaves no process.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := simtest.Start(t, sim.Options{Nodes: 3, Warmup: time.Second})
	info := c.Info()
	dir := c.Dir()
	fwa, fwb, fwc := info.Nodes[0], info.Nodes[1], info.Nodes[2]

	t.Run("Layout", func(t *testing.T) {
		if info.State != sim.StateUp || info.SSHMode != sim.SSHEmbedded || len(info.Nodes) != 3 || info.Release != "1.0.0" {
			t.Fatalf("sim.json: state %q ssh %q nodes %d release %q", info.State, info.SSHMode, len(info.Nodes), info.Release)
		}
		if info.Cluster != fmt.Sprintf("sim-%d", info.Block) || info.Block < 2 || info.Block > 249 {
			t.Errorf("cluster %q block %d", info.Cluster, info.Block)
		}
		for _, f := range []string{"sim.json", "inventory.yaml", "known_hosts", "client_key", "client_key.pub", "authorized_keys",
			"bin/nwroll-sim", "supervisor.pid", "supervisor.sock", "supervisor.log",
			"ca/ca.crt", "ca/ca.key", "ca/cluster-ca.crt", "ca/cluster-ca.key"} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
				t.Errorf("missing %s: %v", f, err)
			}
		}
		if p := perm(t, info.ClientKey); p != 0o600 {
			t.Errorf("client_key is %04o, want 0600", p)
		}
		for i, n := range info.Nodes {
			if want := fmt.Sprintf("fw-%c", 'a'+i); n.Name != want {
				t.Errorf("node %d is %s, want %s", i, n.Name, want)
			}
			if want := fmt.Sprintf("127.0.%d.%d", info.Block, 11+i); n.IP != want || n.SSHAddr != want+":2222" ||
				n.APIURL != "https://"+want+":8443" || n.MetricsURL != "http://"+want+":8080" {
				t.Errorf("node %s addresses: %s %s %s %s", n.Name, n.IP, n.SSHAddr, n.APIURL, n.MetricsURL)
			}
			root := filepath.Join(dir, "nodes", n.Name)
			if n.NodeDir != root || n.DataRoot != filepath.Join(root, "var/lib/neuwerk") || n.Binary != filepath.Join(root, "opt/neuwerk/bin/neuwerk") ||
				n.BackupDir != filepath.Join(root, "var/backups/neuwerk") || n.CAPath != filepath.Join(root, "var/lib/neuwerk/http-tls/ca.crt") {
				t.Errorf("node %s paths: %+v", n.Name, n)
			}
			for _, f := range []string{"etc/neuwerk/config.yaml", "etc/neuwerk/sim-node.json", "etc/hostname", "etc/hosts", "etc/os-release", "etc/machine-id",
				"var/lib/neuwerk/http-tls/ca.crt", "var/lib/neuwerk/http-tls/node.crt", "var/lib/neuwerk/http-tls/node.key", "var/lib/neuwerk/http-tls/api-auth.json",
				"var/lib/neuwerk/cluster/tls/ca.crt", "var/lib/neuwerk/cluster/tls/node.crt", "var/lib/neuwerk/cluster/tls/node.key",
				"var/lib/neuwerk/cluster/raft", "var/lib/neuwerk/local-policy-store/policy.json", "var/lib/neuwerk/compliance/cis-waivers.txt",
				"var/backups/neuwerk", "var/log/neuwerk.log", "ssh_host_ed25519_key", "sim-bin/systemctl", "sim-bin/sudo", "sim-bin/journalctl", "sim-bin/neuwerk"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("node %s: missing %s", n.Name, f)
				}
			}
			for _, shim := range []string{"systemctl", "sudo", "journalctl", "neuwerk"} {
				if p := perm(t, filepath.Join(root, "sim-bin", shim)); p&0o111 == 0 {
					t.Errorf("node %s: shim %s is not executable (%04o)", n.Name, shim, p)
				}
			}
			idText, err := os.ReadFile(filepath.Join(n.DataRoot, "node_id"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := uuid.Parse(strings.TrimSpace(string(idText))); err != nil || strings.TrimSpace(string(idText)) != n.NodeUUID {
				t.Errorf("node %s: node_id %q, sim.json uuid %q", n.Name, idText, n.NodeUUID)
			}
			dec, err := health.NodeIDFromUUID(string(idText))
			if err != nil || dec != n.NodeID {
				t.Errorf("node %s: node_id %s is decimal %s, sim.json says %s (%v)", n.Name, idText, dec, n.NodeID, err)
			}
			if p := perm(t, filepath.Join(n.DataRoot, "bootstrap-token")); p != 0o600 {
				t.Errorf("node %s: bootstrap-token is %04o, want 0600", n.Name, p)
			}
			if got := sha256File(t, n.Binary); got != info.Releases["1.0.0"].SHA256 {
				t.Errorf("node %s: installed binary sha %s, want 1.0.0's %s", n.Name, got, info.Releases["1.0.0"].SHA256)
			}
			if p := perm(t, n.Binary); p != 0o755 {
				t.Errorf("node %s: binary is %04o, want 0755", n.Name, p)
			}
		}
		// Every node has the same API keyset (and so accepts the same tokens).
		k0, _ := os.ReadFile(filepath.Join(fwa.DataRoot, "http-tls/api-auth.json"))
		for _, n := range info.Nodes[1:] {
			if k, _ := os.ReadFile(filepath.Join(n.DataRoot, "http-tls/api-auth.json")); string(k) != string(k0) || len(k0) == 0 {
				t.Errorf("node %s: api-auth.json differs from fw-a's", n.Name)
			}
		}
	})

	t.Run("Releases", func(t *testing.T) {
		if len(info.Releases) != len(sim.Releases) || len(sim.Releases) != 7 {
			t.Fatalf("%d releases built, %d listed, want 7", len(info.Releases), len(sim.Releases))
		}
		seen := map[string]string{}
		for _, r := range sim.Releases {
			ri := info.Releases[r.Version]
			bin := filepath.Join(dir, "releases", r.Version, "neuwerk")
			sha := sha256File(t, bin)
			if ri.SHA256 != sha || ri.Dir != filepath.Dir(bin) || ri.Fault != r.Fault {
				t.Errorf("release %s: sim.json %+v, file sha %s", r.Version, ri, sha)
			}
			if other, dup := seen[sha]; dup {
				t.Errorf("releases %s and %s have the same sha256", r.Version, other)
			}
			seen[sha] = r.Version
			var m struct {
				ReleaseVersion string `json:"release_version"`
				GitRevision    string `json:"git_revision"`
				Artifacts      []struct {
					Path   string `json:"path"`
					Size   int64  `json:"size"`
					SHA256 string `json:"sha256"`
				} `json:"artifacts"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "releases", r.Version, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(bin)
			if m.ReleaseVersion != r.Version || len(m.GitRevision) != 40 || len(m.Artifacts) != 1 ||
				m.Artifacts[0].Path != "neuwerk" || m.Artifacts[0].SHA256 != sha || m.Artifacts[0].Size != st.Size() {
				t.Errorf("release %s manifest: %+v (file sha %s size %d)", r.Version, m, sha, st.Size())
			}
			sums, _ := os.ReadFile(filepath.Join(dir, "releases", r.Version, "SHA256SUMS"))
			if string(sums) != sha+"  neuwerk\n" {
				t.Errorf("release %s SHA256SUMS = %q", r.Version, sums)
			}
			script, _ := os.ReadFile(bin)
			if !strings.HasPrefix(string(script), "#!/bin/sh\n") || !strings.Contains(string(script), "--release "+r.Version+" --fault "+r.Fault) {
				t.Errorf("release %s launcher:\n%s", r.Version, script)
			}
		}
	})

	t.Run("InventoryAndKnownHosts", func(t *testing.T) {
		b, err := os.ReadFile(info.Inventory)
		if err != nil {
			t.Fatal(err)
		}
		var inv struct {
			Cluster string `yaml:"cluster"`
			SSH     struct {
				User          string   `yaml:"user"`
				Port          int      `yaml:"port"`
				IdentityFiles []string `yaml:"identity_files"`
				KnownHosts    string   `yaml:"known_hosts"`
				Sudo          bool     `yaml:"sudo"`
			} `yaml:"ssh"`
			API struct {
				Port        int    `yaml:"port"`
				MetricsPort int    `yaml:"metrics_port"`
				CAFile      string `yaml:"ca_file"`
				TokenEnv    string `yaml:"token_env"`
			} `yaml:"api"`
			Service map[string]string `yaml:"service"`
			Gates   struct {
				Timeout       string `yaml:"timeout"`
				Stabilisation string `yaml:"stabilisation"`
			} `yaml:"gates"`
			Nodes []struct {
				Name  string            `yaml:"name"`
				Host  string            `yaml:"host"`
				Paths map[string]string `yaml:"paths"`
			} `yaml:"nodes"`
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&inv); err != nil {
			t.Fatalf("inventory.yaml: %v\n%s", err, b)
		}
		if inv.Cluster != info.Cluster || inv.SSH.Port != 2222 || inv.SSH.User != fwa.SSHUser || !inv.SSH.Sudo ||
			len(inv.SSH.IdentityFiles) != 1 || inv.SSH.IdentityFiles[0] != info.ClientKey || inv.SSH.KnownHosts != info.KnownHosts ||
			inv.API.Port != 8443 || inv.API.MetricsPort != 8080 || inv.API.CAFile != info.CAPath ||
			inv.Gates.Timeout != "2m" || inv.Gates.Stabilisation != "5s" || len(inv.Nodes) != 3 {
			t.Fatalf("inventory: %+v", inv)
		}
		for i, n := range inv.Nodes {
			want := info.Nodes[i]
			if n.Name != want.Name || n.Host != want.IP || n.Paths["binary"] != want.Binary ||
				n.Paths["data_root"] != want.DataRoot || n.Paths["backup_dir"] != want.BackupDir {
				t.Errorf("inventory node %d: %+v", i, n)
			}
		}
		kh, err := os.ReadFile(info.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
		if len(lines) != 3 {
			t.Fatalf("known_hosts has %d lines", len(lines))
		}
		for i, line := range lines {
			n := info.Nodes[i]
			if !strings.HasPrefix(line, "["+n.IP+"]:2222 ssh-ed25519 AAAA") {
				t.Errorf("known_hosts line %d: %q", i, line)
			}
			_, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
			if err != nil || len(hosts) != 1 || hosts[0] != "["+n.IP+"]:2222" {
				t.Errorf("known_hosts line %d does not parse: %v %v", i, hosts, err)
				continue
			}
			hostKey, _ := os.ReadFile(filepath.Join(n.NodeDir, "ssh_host_ed25519_key"))
			signer, err := ssh.ParsePrivateKey(hostKey)
			if err != nil || string(signer.PublicKey().Marshal()) != string(key.Marshal()) {
				t.Errorf("node %s: known_hosts key does not match its host key (%v)", n.Name, err)
			}
		}
	})

	t.Run("SSHExec", func(t *testing.T) {
		cl := mustDial(t, info, fwb)
		out, _, code := runSSH(t, cl, "systemctl is-active neuwerk.service", "")
		if out != "active\n" || code != 0 {
			t.Fatalf("systemctl is-active: %q exit %d", out, code)
		}
		out, _, code = runSSH(t, cl, "sha256sum "+fwb.Binary, "")
		if code != 0 || strings.Fields(out)[0] != info.Releases["1.0.0"].SHA256 {
			t.Fatalf("sha256sum: %q exit %d", out, code)
		}
		out, _, _ = runSSH(t, cl, `echo "$PATH"; command -v systemctl; command -v sudo; command -v journalctl`, "")
		if !strings.HasPrefix(out, fwb.NodeDir+"/sim-bin:") || !strings.Contains(out, fwb.NodeDir+"/sim-bin/sudo\n") {
			t.Errorf("PATH and shims: %q", out)
		}
		out, errOut, code := runSSH(t, cl, "cat; echo err >&2; exit 7", "piped stdin\n")
		if out != "piped stdin\n" || errOut != "err\n" || code != 7 {
			t.Errorf("stdin/stderr/exit: %q %q %d", out, errOut, code)
		}
		out, _, code = runSSH(t, cl, "systemctl status neuwerk.service --no-pager", "")
		if code != 0 || !strings.Contains(out, "Active: active (running)") || !strings.Contains(out, "Main PID: ") {
			t.Errorf("systemctl status: exit %d\n%s", code, out)
		}
		out, _, code = runSSH(t, cl, "journalctl -u neuwerk.service --no-pager -n 3", "")
		if n := strings.Count(out, "\n"); code != 0 || n != 3 {
			t.Errorf("journalctl -n 3: exit %d, %d lines:\n%s", code, n, out)
		}
		_, errOut, code = runSSH(t, cl, "systemctl start nosuch.service", "")
		if code != 5 || !strings.Contains(errOut, "Unit nosuch.service not found") {
			t.Errorf("unknown unit: exit %d %q", code, errOut)
		}
		// Many sessions at once.
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := cl.NewSession()
				if err != nil {
					errs <- err.Error()
					return
				}
				defer s.Close()
				out, err := s.Output(fmt.Sprintf("echo %d", i))
				if err != nil || string(out) != fmt.Sprintf("%d\n", i) {
					errs <- fmt.Sprintf("session %d: %q %v", i, out, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("SSHRefusals", func(t *testing.T) {
		// A known_hosts that names fw-a's address with fw-b's key: a mismatch.
		kh, _ := os.ReadFile(info.KnownHosts)
		lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
		bad := filepath.Join(t.TempDir(), "known_hosts")
		swapped := strings.Replace(lines[1], "["+fwb.IP+"]", "["+fwa.IP+"]", 1)
		if err := os.WriteFile(bad, []byte(swapped+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := dialNode(t, info, fwa, bad)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) || len(ke.Want) == 0 {
			t.Fatalf("dial with a wrong host key: %v, want a knownhosts key mismatch", err)
		}
		// A client key that is not in authorized_keys.
		_, other, _ := ed25519Key(t)
		hk, _ := knownhosts.New(info.KnownHosts)
		_, err = ssh.Dial("tcp", fwa.SSHAddr, &ssh.ClientConfig{User: fwa.SSHUser, Auth: []ssh.AuthMethod{ssh.PublicKeys(other)}, HostKeyCallback: hk, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("dial with a foreign client key: %v", err)
		}
		// Port forwarding is refused.
		cl := mustDial(t, info, fwa)
		if _, err := cl.Dial("tcp", fwb.APIURL[len("https://"):]); err == nil {
			t.Fatal("direct-tcpip was accepted")
		}
	})

	t.Run("SFTP", func(t *testing.T) {
		cl := mustDial(t, info, fwc)
		sc, err := sftp.NewClient(cl)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		payload := strings.Repeat("neuwerk release payload\n", 40000) // ~1 MB
		dst := filepath.Join(fwc.NodeDir, "opt/neuwerk/bin/upload.test")
		f, err := sc.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, strings.NewReader(payload)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != payload {
			t.Fatalf("uploaded file: %d bytes, err %v", len(got), err)
		}
		if err := sc.Chmod(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if p := perm(t, dst); p != 0o755 {
			t.Errorf("chmod over sftp: %04o", p)
		}
		if err := sc.Remove(dst); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("StopStartOverSSH", func(t *testing.T) {
		cl := mustDial(t, info, fwc)
		if out, errOut, code := runSSH(t, cl, "sudo -n systemctl stop neuwerk.service", ""); code != 0 {
			t.Fatalf("sudo -n systemctl stop: exit %d %q %q", code, out, errOut)
		}
		out, _, code := runSSH(t, cl, "systemctl is-active neuwerk.service", "")
		if code != 3 || out != "inactive\n" {
			t.Fatalf("after stop: is-active %q exit %d", out, code)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := nodeClient(t, info, fwc).Ready(ctx)
		cancel()
		if err == nil {
			t.Fatal("/ready still answers after systemctl stop")
		}
		if _, _, code := runSSH(t, cl, "sudo -n -u root systemctl start neuwerk.service", ""); code != 0 {
			t.Fatalf("sudo systemctl start: exit %d", code)
		}
		waitReady(t, info, fwc, 30*time.Second)
	})

	t.Run("ReplaceBinary", func(t *testing.T) {
		cl := mustDial(t, info, fwb)
		newBin := info.Releases["1.1.0"].Binary
		script := fmt.Sprintf("set -e; cp %s %s.new; sudo -n systemctl stop neuwerk.service; mv %s.new %s; sudo -n systemctl start neuwerk.service; sha256sum %s",
			newBin, fwb.Binary, fwb.Binary, fwb.Binary, fwb.Binary)
		out, errOut, code := runSSH(t, cl, script, "")
		if code != 0 || len(strings.Fields(out)) == 0 {
			t.Fatalf("replace: exit %d %q %q", code, out, errOut)
		}
		if got := strings.Fields(out)[0]; got != info.Releases["1.1.0"].SHA256 || got == info.Releases["1.0.0"].SHA256 {
			t.Fatalf("sha256 after replacing: %s, want 1.1.0's %s", got, info.Releases["1.1.0"].SHA256)
		}
		st := waitService(t, c, fwb.Name, 10*time.Second, "active", func(s sim.ServiceStatus) bool { return s.ActiveState == "active" && s.MainPID != 0 })
		if cmd := procCmdline(st.MainPID); !strings.Contains(cmd, "--release 1.1.0") {
			t.Errorf("the running process is not 1.1.0: %q", cmd)
		}
		waitReady(t, info, fwb, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rep, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Nodes[1].Release != "1.1.0" || rep.Nodes[0].Release != "1.0.0" {
			t.Errorf("status releases: %s %s", rep.Nodes[0].Release, rep.Nodes[1].Release)
		}
	})

	t.Run("KillRestarts", func(t *testing.T) {
		before := waitService(t, c, fwa.Name, 5*time.Second, "active", func(s sim.ServiceStatus) bool { return s.ActiveState == "active" })
		pid, err := c.Kill(fwa.Name)
		if err != nil || pid != before.MainPID {
			t.Fatalf("kill: pid %d err %v (main pid was %d)", pid, err, before.MainPID)
		}
		killedAt := time.Now()
		// The auto-restart state lasts exactly the restart delay, so a loaded
		// machine may poll straight past it; the journal below proves it.
		after := waitService(t, c, fwa.Name, 10*time.Second, "restarted", func(s sim.ServiceStatus) bool {
			return s.ActiveState == "active" && s.MainPID != 0 && s.MainPID != before.MainPID
		})
		if took := time.Since(killedAt); took < sim.DefaultRestartDelay-200*time.Millisecond {
			t.Errorf("restarted after %v, before the restart delay %v", took, sim.DefaultRestartDelay)
		}
		if after.NRestarts != before.NRestarts+1 {
			t.Errorf("NRestarts %d -> %d", before.NRestarts, after.NRestarts)
		}
		if !processGone(before.MainPID) {
			t.Errorf("killed pid %d still runs", before.MainPID)
		}
		waitReady(t, info, fwa, 30*time.Second)
		log, _ := os.ReadFile(fwa.Log)
		assertInOrder(t, string(log),
			"neuwerk.service: Main process exited, code=killed, status=9/KILL",
			"neuwerk.service: Failed with result 'signal'.",
			"neuwerk.service: Scheduled restart job, restart counter is at 1.",
			"Started neuwerk.service")
	})

	t.Run("Status", func(t *testing.T) {
		// Everything is back; wait until the cluster says so.
		var rep sim.StatusReport
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var err error
			rep, err = c.Status(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			allReady := rep.Leader != ""
			for _, n := range rep.Nodes {
				allReady = allReady && n.Ready && n.Service == "active" && n.Role != "" && n.Lag != nil
			}
			if allReady || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		var b strings.Builder
		rep.WriteTable(&b)
		if !rep.Running || rep.Leader == "" || rep.Term == 0 || rep.LastIndex == 0 || rep.StatsError != "" {
			t.Fatalf("status:\n%s", b.String())
		}
		leaders := 0
		for _, n := range rep.Nodes {
			if !n.Ready || n.Service != "active" || n.Lag == nil {
				t.Errorf("node %s: %+v", n.Name, n)
			}
			if n.Role == "leader" {
				leaders++
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders:\n%s", leaders, b.String())
		}
		for _, want := range []string{"NAME", "SERVICE", "ROLE", "READY", "LAG", "RELEASE", "fw-a", "✓", "1.1.0", "leader " + rep.Leader} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, b.String())
			}
		}
	})

	t.Run("MintToken", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tok, err := c.MintToken(ctx, fwc.Name, true, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := api.NewClient(api.Config{Name: fwc.Name, APIURL: fwc.APIURL, CAFile: info.CAPath, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		who, err := cl.WhoAmI(ctx)
		if err != nil || who.Sub != "nwroll-sim" || len(who.Roles) != 1 || who.Roles[0] != "admin" {
			t.Fatalf("whoami: %+v %v", who, err)
		}
	})

	t.Run("LaunchNeedsDynamic", func(t *testing.T) {
		_, err := c.Launch(context.Background(), sim.LaunchSpec{})
		if err == nil || !strings.Contains(err.Error(), "static peer list") {
			t.Fatalf("launch into a static cluster: %v", err)
		}
		if again, err := sim.Open(dir); err != nil || len(again.Info().Nodes) != 3 {
			t.Fatalf("the refused launch touched sim.json: %v", err)
		}
	})

	t.Run("SecondUpRefused", func(t *testing.T) {
		_, err := sim.Up(context.Background(), sim.Options{Dir: dir, Nodes: 1})
		if err == nil || !strings.Contains(err.Error(), "nwroll sim down --dir") || !strings.Contains(err.Error(), dir) {
			t.Fatalf("second up: %v", err)
		}
		if again, err := sim.Open(dir); err != nil || again.Info().State != sim.StateUp {
			t.Fatalf("the refused up touched sim.json: %v", err)
		}
	})

	t.Run("Down", func(t *testing.T) {
		procs := c.Processes()
		kinds := map[string]int{}
		for _, p := range procs {
			kinds[p.Kind]++
		}
		// supervisor + 3 services + 2 restarts (stop/start, replace) + 1 crash restart.
		if kinds["supervisor"] != 1 || kinds["service"] < 6 {
			t.Fatalf("recorded processes: %+v", procs)
		}
		if err := c.Down(); err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			if !processGone(p.Pid) {
				t.Errorf("%s %s pid %d still runs after Down", p.Kind, p.Name, p.Pid)
			}
		}
		for _, f := range []string{"supervisor.sock", "supervisor.pid"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("%s left after Down", f)
			}
		}
		again, err := sim.Open(dir)
		if err != nil || again.Info().State != sim.StateDown {
			t.Fatalf("sim.json after down: %v", err)
		}
		if _, err := os.Stat(fwa.Log); err != nil {
			t.Errorf("node logs gone after Down: %v", err)
		}
		// Every port is free again.
		for _, n := range info.Nodes {
			for _, port := range []string{"8443", "8080", "9600", "9601", "2222"} {
				l, err := net.Listen("tcp", net.JoinHostPort(n.IP, port))
				if err != nil {
					t.Errorf("%s:%s still bound after Down: %v", n.IP, port, err)
					continue
				}
				l.Close()
			}
		}
		if _, _, _, err := c.Systemctl(context.Background(), fwa.Name, "is-active", "neuwerk.service"); err == nil || !strings.Contains(err.Error(), "not running") {
			t.Errorf("systemctl after down: %v", err)
		}
	})
}

// assertInOrder fails unless every want appears in text, each after the one
// before it.
func assertInOrder(t *testing.T, text string, wants ...string) {
	t.Helper()
	rest := text
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("log lacks %q after the lines before it:\n%s", w, text)
			return
		}
		rest = rest[i+len(w):]
	}
}
