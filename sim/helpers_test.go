package sim_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

// dialNode logs in to a node with DIR/client_key, checking its host key
// against DIR/known_hosts, as the engine does.
func dialNode(t testing.TB, info sim.Info, n sim.NodeInfo, knownHostsFile string) (*ssh.Client, error) {
	t.Helper()
	key, err := os.ReadFile(info.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatalf("known_hosts %s does not parse: %v", knownHostsFile, err)
	}
	return ssh.Dial("tcp", n.SSHAddr, &ssh.ClientConfig{
		User:              n.SSHUser,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
}

func mustDial(t testing.TB, info sim.Info, n sim.NodeInfo) *ssh.Client {
	t.Helper()
	c, err := dialNode(t, info, n, info.KnownHosts)
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", n.SSHUser, n.SSHAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runSSH runs one command in a new session and returns its output and exit code.
func runSSH(t testing.TB, c *ssh.Client, cmd string, stdin string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if stdin != "" {
		s.Stdin = strings.NewReader(stdin)
	}
	err = s.Run(cmd)
	code := 0
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitStatus()
	case err != nil:
		t.Fatalf("ssh %q: %v (stderr %q)", cmd, err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

func nodeClient(t testing.TB, info sim.Info, n sim.NodeInfo) *api.Client {
	t.Helper()
	cl, err := api.NewClient(api.Config{Name: n.Name, APIURL: n.APIURL, CAFile: n.CAPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// waitReady waits until the node's /ready is 200.
func waitReady(t testing.TB, info sim.Info, n sim.NodeInfo, timeout time.Duration) {
	t.Helper()
	cl := nodeClient(t, info, n)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := cl.Ready(ctx)
		cancel()
		if err == nil && r.Ready {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "503"
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node %s not ready after %v: %s", n.Name, timeout, last)
}

// waitService waits until cond holds for the node's service.
func waitService(t testing.TB, c *sim.Cluster, node string, timeout time.Duration, what string, cond func(sim.ServiceStatus) bool) sim.ServiceStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last sim.ServiceStatus
	for time.Now().Before(deadline) {
		ss, err := c.Services(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if s.Node == node {
				last = s
			}
		}
		if cond(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node %s: service never %s; last %+v", node, what, last)
	return last
}

// processGone reports whether pid no longer runs (or is a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// childrenOf lists the direct children of pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
