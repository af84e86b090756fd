package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

func requireSSHD(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(sim.SSHD); err != nil {
		if os.Getenv("NWROLL_REQUIRE_SSHD") == "1" {
			t.Fatalf("%s is missing and NWROLL_REQUIRE_SSHD=1: apt-get install openssh-server", sim.SSHD)
		}
		t.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
}

// cluster is a simulated cluster and its inventory, loaded without any
// ssh_config.
type cluster struct {
	sim   *sim.Cluster
	info  sim.Info
	nodes []inventory.Node
}

func startCluster(t testing.TB, mode string, nodes int) *cluster {
	t.Helper()
	if mode == sim.SSHOpenSSH {
		requireSSHD(t)
	}
	t.Setenv(inventory.EnvSSHConfig, "none")
	c := simtest.Start(t, sim.Options{SSH: mode, Nodes: nodes})
	info := c.Info()
	inv, err := inventory.Load(info.Inventory)
	if err != nil {
		t.Fatalf("load the sim's inventory: %v", err)
	}
	return &cluster{sim: c, info: info, nodes: inv.Nodes()}
}

// counter counts TCP connections a dialer opens, and the addresses dialed.
type counter struct {
	mu    sync.Mutex
	n     int
	addrs []string
	wrap  func(net.Conn) net.Conn
}

func (c *counter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	c.n++
	c.addrs = append(c.addrs, addr)
	wrap := c.wrap
	c.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil || wrap == nil {
		return nc, err
	}
	return wrap(nc), nil
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// newDialer is an SSHDialer without the agent, counting its TCP connections.
func newDialer(t testing.TB, opts SSHOptions) (*SSHDialer, *counter) {
	t.Helper()
	cnt := &counter{}
	if opts.AgentSocket == "" {
		opts.AgentSocket = "none"
	}
	if opts.DialContext == nil {
		opts.DialContext = cnt.dial
	}
	if opts.Backoff == 0 {
		opts.Backoff = 20 * time.Millisecond
	}
	d := NewSSHDialer(opts)
	t.Cleanup(func() { d.Close() })
	return d, cnt
}

func dial(t testing.TB, d Dialer, n inventory.Node) Remote {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := d.Dial(ctx, n)
	if err != nil {
		t.Fatalf("dial %s: %v", n.Name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// runOut runs cmd and returns its stdout lines, failing on a transport error.
func runOut(t testing.TB, r Remote, cmd Command) ([]string, Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	res, err := r.Run(ctx, cmd, func(s Stream, l string) {
		if s == Stdout {
			out = append(out, l)
		} else {
			t.Logf("stderr: %s", l)
		}
	})
	if err != nil {
		t.Fatalf("run %s: %v", cmd, err)
	}
	return out, res
}

// writeRandom writes size random bytes to a new file and returns its path.
func writeRandom(t testing.TB, dir string, size int) string {
	t.Helper()
	p := filepath.Join(dir, "payload.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, int64(size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// tempsIn lists leftover temporary uploads in dir.
func tempsIn(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.nwroll-tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hostKeyOf returns the node's host key as the sim's known_hosts lists it.
func hostKeyOf(t testing.TB, knownHosts, addr string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	want := "[" + host + "]:" + port
	for len(b) > 0 {
		_, hosts, key, _, rest, err := ssh.ParseKnownHosts(b)
		if err != nil {
			break
		}
		for _, h := range hosts {
			if h == want {
				return key
			}
		}
		b = rest
	}
	t.Fatalf("no key for %s in %s", want, knownHosts)
	return nil
}

// newKey writes a fresh ed25519 private key (OpenSSH format) and its .pub.
func newKey(t testing.TB, path string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// proxy is a local TCP proxy in front of an SSH server: it can drop the
// first connections it accepts, and freeze live ones (stop forwarding
// without closing), as a dead network path does.
type proxy struct {
	ln       net.Listener
	target   string
	drop     atomic.Int32 // connections still to drop at once
	accepted atomic.Int32
	mu       sync.Mutex
	frozen   bool
	conns    []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.drop.Add(-1) >= 0 {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// freeze stops forwarding on every connection open now; new ones are not
// affected once unfreeze is called.
func (p *proxy) freeze(on bool) {
	p.mu.Lock()
	p.frozen = on
	p.mu.Unlock()
}

// cutConn closes the underlying connection once more than limit bytes were
// written through it: a network drop in the middle of a transfer.
type cutConn struct {
	net.Conn
	limit   int64
	written atomic.Int64
	cut     atomic.Bool
}

func (c *cutConn) Write(b []byte) (int, error) {
	if c.written.Add(int64(len(b))) > c.limit {
		if c.cut.CompareAndSwap(false, true) {
			c.Conn.Close()
		}
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func withNode(n inventory.Node, f func(*inventory.Node)) inventory.Node {
	f(&n)
	return n
}

func mustContain(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q\ndoes not contain %q", s, sub)
		}
	}
}
