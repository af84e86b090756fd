package sim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SSHD is where `--ssh openssh` looks for OpenSSH's server.
const SSHD = "/usr/sbin/sshd"

func checkSSHD() error {
	if _, err := os.Stat(SSHD); err != nil {
		return fmt.Errorf("--ssh openssh needs OpenSSH's server at %s (apt-get install openssh-server), or use the default --ssh embedded", SSHD)
	}
	return nil
}

// sshdQuote quotes an sshd_config argument (and escapes the %-tokens that
// AuthorizedKeysFile and friends expand).
func sshdQuote(s string, tokens bool) string {
	if tokens {
		s = strings.ReplaceAll(s, "%", "%%")
	}
	return `"` + s + `"`
}

func sshdPidFile(dir, node string) string { return filepath.Join(dir, runDir, node+"-sshd.pid") }

// sshdConfig is the sshd_config of one node in openssh mode.
//
// PATH: sshd sets the session PATH itself, then applies SetEnv, which wins
// over its default (sshd_config(5): "Environment variables set by SetEnv
// override the default environment"). The login shell runs the command with
// `-c` and, non-interactive, reads no profile, so the node's shims come
// first. The openssh test checks this by running `echo $PATH` and `command -v systemctl`.
//
// SHLVL=1: a simulated node logs in as the local user, and Debian's bash
// sources that user's ~/.bashrc for every command sshd runs (SSH_SOURCE_BASHRC)
// unless SHLVL says it is nested. A developer's rc (pyenv init: 0.45 s here)
// is no part of a firewall node, and would swamp every measured round trip.
func sshdConfig(dir string, n NodeInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sshd for simulated Neuwerk node %s (nwroll sim, --ssh openssh)\n", n.Name)
	fmt.Fprintf(&b, "ListenAddress %s\n", n.SSHAddr)
	fmt.Fprintf(&b, "HostKey %s\n", sshdQuote(filepath.Join(n.NodeDir, "ssh_host_ed25519_key"), false))
	fmt.Fprintf(&b, "AuthorizedKeysFile %s\n", sshdQuote(filepath.Join(dir, authKeysFile), true))
	fmt.Fprintf(&b, "PidFile %s\n", sshdQuote(sshdPidFile(dir, n.Name), false))
	b.WriteString(`UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 200:30:400
MaxSessions 100
LogLevel INFO
`)
	fmt.Fprintf(&b, "SetEnv %s SHLVL=1\n", sshdQuote("PATH="+sessionPath(n.NodeDir), false))
	return b.String()
}

// daemonProc is a started helper process (sshd) and the channel closed when it is reaped.
type daemonProc struct {
	name string
	pid  int
	done chan struct{}
}

// stop ends sshd and every session below it (sshd's per-connection
// processes start sessions of their own, so the process group alone misses
// them): SIGTERM, then SIGKILL after timeout.
func (d *daemonProc) stop(timeout time.Duration) {
	kids := descendants(d.pid)
	started := make([]string, len(kids))
	for i, k := range kids {
		started[i] = procStartTime(k)
		_ = syscall.Kill(k, syscall.SIGTERM)
	}
	_ = syscall.Kill(-d.pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-d.pid, syscall.SIGKILL)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i, k := range kids {
		if st := procStartTime(k); st != "" && st == started[i] {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
	}
}

// startSSHD starts `sshd -D -e -f <node>/sshd_config`, stderr to
// <node>/var/log/sshd.log, and waits until it accepts connections.
func startSSHD(dir string, n NodeInfo, record func(pid int, kind, name string)) (*daemonProc, error) {
	if err := checkSSHD(); err != nil {
		return nil, err
	}
	// sshd's privilege separation directory.
	if _, err := os.Stat("/run/sshd"); errors.Is(err, os.ErrNotExist) {
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	logPath := filepath.Join(n.NodeDir, "var", "log", "sshd.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(SSHD, "-D", "-e", "-f", filepath.Join(n.NodeDir, "sshd_config"))
	cmd.Dir = n.NodeDir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: start %s: %w", n.Name, SSHD, err)
	}
	d := &daemonProc{name: n.Name, pid: cmd.Process.Pid, done: make(chan struct{})}
	if record != nil {
		record(d.pid, "sshd", n.Name)
	}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", n.SSHAddr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("node %s: sshd exited at start (%v); see %s:\n%s", n.Name, waitErr, logPath, tailFile(logPath, 5))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop(time.Second)
			return nil, fmt.Errorf("node %s: sshd does not listen on %s after 10s; see %s", n.Name, n.SSHAddr, logPath)
		}
	}
}
