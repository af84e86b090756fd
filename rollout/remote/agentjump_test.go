package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/nwroll/nwroll/rollout/inventory"
)

// startAgent serves an ssh-agent holding the key file on a unix socket.
func startAgent(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(kr, c) }()
		}
	}()
	return sock
}

// The key only in the agent logs in; a passphrase-protected identity file
// whose key is in the agent counts as offered.
func testAgent(t *testing.T, c *cluster) {
	n := c.nodes[0]
	sock := startAgent(t, c.info.ClientKey)
	node := withNode(n, func(x *inventory.Node) { x.IdentityFiles = nil })
	d, _ := newDialer(t, SSHOptions{AgentSocket: sock})
	r := dial(t, d, node)
	if out, res := runOut(t, r, Cmd("echo", "via agent")); res.ExitCode != 0 || len(out) != 1 || out[0] != "via agent" {
		t.Errorf("run via agent: %+v %q", res, out)
	}
	// A dead agent socket plus an unauthorised key: the message names both.
	stranger := filepath.Join(t.TempDir(), "id_stranger")
	newKey(t, stranger)
	d2, _ := newDialer(t, SSHOptions{AgentSocket: filepath.Join(t.TempDir(), "gone.sock")})
	_, err := d2.Dial(context.Background(), withNode(n, func(x *inventory.Node) { x.IdentityFiles = []string{stranger} }))
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v", err)
	}
	mustContain(t, err.Error(), stranger, "gone.sock")
}

// startJumpSSHD runs a real OpenSSH sshd on 127.0.0.1 that allows TCP
// forwarding (the simulated nodes' sshd_config forbids it), with a fresh host
// key, accepting the cluster's client key. It returns its address and a
// known_hosts line for it.
func startJumpSSHD(t *testing.T, c *cluster) (string, string) {
	t.Helper()
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	signer := newKey(t, hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel VERBOSE
`, addr, hostKey, filepath.Join(c.info.Dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	cfgPath := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Logf("jump sshd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jump sshd does not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	host, port, _ := net.SplitHostPort(addr)
	return addr, "[" + host + "]:" + port + " " + string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
}

func testJumpHost(t *testing.T, c *cluster) {
	requireSSHD(t)
	target := c.nodes[1]
	jumpAddr, jumpLine := startJumpSSHD(t, c)
	jh, jp, _ := net.SplitHostPort(jumpAddr)
	var port int
	fmt.Sscan(jp, &port)
	simKH, _ := os.ReadFile(c.info.KnownHosts)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, append(simKH, []byte(jumpLine)...), 0o600)
	node := withNode(target, func(x *inventory.Node) {
		x.KnownHosts = kh
		x.Jump = []inventory.Jump{{User: target.User, Host: jh, Port: port}}
	})

	t.Run("through a jump host", func(t *testing.T) {
		d, cnt := newDialer(t, SSHOptions{})
		r := dial(t, d, node)
		out, res := runOut(t, r, Cmd("sh", "-c", "echo $SSH_CONNECTION"))
		if res.ExitCode != 0 || len(out) != 1 {
			t.Fatalf("run: %+v %q", res, out)
		}
		// The node saw a connection from the jump sshd, and this process
		// only ever dialed the jump host.
		if cnt.count() != 1 || cnt.addrs[0] != jumpAddr {
			t.Errorf("dialed %v, want only the jump host %s", cnt.addrs, jumpAddr)
		}
		local := writeRandom(t, t.TempDir(), 1<<20)
		if err := r.Upload(context.Background(), local, filepath.Join(target.Paths.BackupDir, "via-jump.bin"), 0o600, "", nil); err != nil {
			t.Errorf("upload through the jump host: %v", err)
		}
		if st := d.Stats(); st.Open != 2 || st.Connects != 2 {
			t.Errorf("stats %+v: want the jump connection and the node's", st)
		}
		// A second node through the same jump host reuses its connection.
		other := withNode(c.nodes[0], func(x *inventory.Node) { x.KnownHosts = kh; x.Jump = node.Jump })
		dial(t, d, other)
		if cnt.count() != 1 || d.Stats().Open != 3 {
			t.Errorf("%d TCP connections, stats %+v: the jump connection should be shared", cnt.count(), d.Stats())
		}
	})

	t.Run("unknown jump host key", func(t *testing.T) {
		d, _ := newDialer(t, SSHOptions{})
		_, err := d.Dial(context.Background(), withNode(node, func(x *inventory.Node) { x.KnownHosts = c.info.KnownHosts }))
		var hk *HostKeyError
		if !errors.As(err, &hk) || hk.Kind != HostKeyUnknown || hk.Host != jumpAddr || hk.Node != "" {
			t.Fatalf("err = %v (%+v), want the jump host's key unknown", err, hk)
		}
	})

	t.Run("a node that forbids forwarding as the jump host", func(t *testing.T) {
		// The simulated nodes' sshd_config says AllowTcpForwarding no.
		a := c.nodes[0]
		d, _ := newDialer(t, SSHOptions{})
		_, err := d.Dial(context.Background(), withNode(target, func(x *inventory.Node) {
			x.Jump = []inventory.Jump{{User: a.User, Host: a.Host, Port: a.SSHPort}}
		}))
		var de *DialError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "AllowTcpForwarding") {
			t.Fatalf("err = %v, want a DialError naming AllowTcpForwarding", err)
		}
	})
}
