package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nwroll/nwroll/rollout/inventory"
)

// SSHOptions tune an SSHDialer. The zero value is ready to use.
type SSHOptions struct {
	// AgentSocket is the ssh-agent socket; "" means $SSH_AUTH_SOCK, "none" no agent.
	AgentSocket string
	// DialTimeout bounds one attempt: TCP connect plus SSH handshake (default 15s).
	DialTimeout time.Duration
	// Attempts is how often a transient dial failure is tried (default 3).
	Attempts int
	// Backoff is the wait before the second attempt, doubled after (default 500ms).
	Backoff time.Duration
	// KeepaliveInterval is how often keepalive@openssh.com is sent (default
	// 15s); the connection is closed after KeepaliveMaxMissed unanswered
	// ones in a row (default 3). A negative interval disables keepalives.
	KeepaliveInterval  time.Duration
	KeepaliveMaxMissed int
	// DialContext opens the TCP connection to the first hop (the node, or its
	// first jump host). Default: a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (o *SSHOptions) defaults() {
	if o.AgentSocket == "" {
		o.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if o.AgentSocket == "none" {
		o.AgentSocket = ""
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 15 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.KeepaliveInterval == 0 {
		o.KeepaliveInterval = 15 * time.Second
	}
	if o.KeepaliveMaxMissed <= 0 {
		o.KeepaliveMaxMissed = 3
	}
	if o.DialContext == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		o.DialContext = d.DialContext
	}
}

// SSHDialer dials nodes over SSH and keeps one connection per node (and per
// jump host) in a pool: every Remote of the same node shares it, and a dead
// connection is replaced on next use. Close ends them all.
type SSHDialer struct {
	opts SSHOptions

	mu      sync.Mutex
	entries map[string]*poolEntry
	closed  bool

	connects atomic.Int64
	reuses   atomic.Int64
}

// Stats counts the pool's work.
type Stats struct {
	Connects int64 // SSH connections established (handshakes completed)
	Reuses   int64 // times a live pooled connection was used instead
	Open     int   // connections currently open (nodes and jump hosts)
}

// NewSSHDialer returns a dialer with opts (defaults applied).
func NewSSHDialer(opts SSHOptions) *SSHDialer {
	opts.defaults()
	return &SSHDialer{opts: opts, entries: map[string]*poolEntry{}}
}

var _ Dialer = (*SSHDialer)(nil)

// Stats reports the pool's counters.
func (d *SSHDialer) Stats() Stats {
	s := Stats{Connects: d.connects.Load(), Reuses: d.reuses.Load()}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.entries {
		e.mu.Lock()
		if e.conn != nil && e.conn.alive() {
			s.Open++
		}
		e.mu.Unlock()
	}
	return s
}

// Close closes every pooled connection; later Dials and Remote calls fail
// with ErrClosed.
func (d *SSHDialer) Close() error {
	d.mu.Lock()
	d.closed = true
	entries := d.entries
	d.entries = map[string]*poolEntry{}
	d.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		if e.conn != nil {
			e.conn.close()
		}
		e.mu.Unlock()
	}
	return nil
}

// Dial connects to node (or reuses its live connection) and returns a Remote.
func (d *SSHDialer) Dial(ctx context.Context, node inventory.Node) (Remote, error) {
	if _, err := d.client(ctx, node); err != nil {
		return nil, err
	}
	return &sshRemote{d: d, node: node}, nil
}

// hop is one SSH endpoint on the way to a node.
type hop struct {
	user, host string
	port       int
}

func (h hop) addr() string   { return net.JoinHostPort(h.host, strconv.Itoa(h.port)) }
func (h hop) target() string { return h.user + "@" + h.addr() }

func hopsOf(n inventory.Node) []hop {
	hops := make([]hop, 0, len(n.Jump)+1)
	for _, j := range n.Jump {
		hops = append(hops, hop{user: j.User, host: j.Host, port: j.Port})
	}
	return append(hops, hop{user: n.User, host: n.Host, port: n.SSHPort})
}

// chainKey names the connection to hops[len-1] through the hops before it,
// with the credentials used (the same address reached with other keys or
// another known_hosts file is another connection).
func chainKey(n inventory.Node, hops []hop) string {
	var b strings.Builder
	for i, h := range hops {
		if i > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(h.target())
	}
	fmt.Fprintf(&b, " [%s|%s]", n.KnownHosts, strings.Join(n.IdentityFiles, ","))
	return b.String()
}

type poolEntry struct {
	mu   sync.Mutex // held while dialing, so one node is dialed once
	conn *conn
}

// maxSessions bounds the sessions (commands, SFTP transfers) open at once
// on one connection, below OpenSSH's default MaxSessions of 10; more wait.
const maxSessions = 8

// conn is one pooled SSH connection.
type conn struct {
	client *ssh.Client
	parent *conn // the jump host connection it runs through, if any
	dead   chan struct{}
	once   sync.Once
	closed atomic.Bool   // set by close, before dead is closed
	slots  chan struct{} // one per open session
}

// acquire takes a session slot, waiting while maxSessions are open.
func (c *conn) acquire(ctx context.Context) (func(), error) {
	select {
	case c.slots <- struct{}{}:
	case <-c.dead:
		return nil, errors.New("connection closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-c.slots }) }, nil
}

func (c *conn) alive() bool {
	if c.closed.Load() {
		return false
	}
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

func (c *conn) close() {
	c.closed.Store(true)
	c.once.Do(func() { _ = c.client.Close() })
}

// client returns a live *ssh.Client for node, dialing if needed.
func (d *SSHDialer) client(ctx context.Context, node inventory.Node) (*ssh.Client, error) {
	c, err := d.get(ctx, node, hopsOf(node))
	if err != nil {
		return nil, err
	}
	return c.client, nil
}

// get returns the pooled connection to hops[len-1], dialing it (and the
// jump hosts before it) if there is none or it died.
func (d *SSHDialer) get(ctx context.Context, node inventory.Node, hops []hop) (*conn, error) {
	key := chainKey(node, hops)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	e := d.entries[key]
	if e == nil {
		e = &poolEntry{}
		d.entries[key] = e
	}
	d.mu.Unlock()

	if err := lockCtx(ctx, &e.mu); err != nil {
		return nil, err
	}
	defer e.mu.Unlock()
	if e.conn != nil && e.conn.alive() && (e.conn.parent == nil || e.conn.parent.alive()) {
		d.reuses.Add(1)
		return e.conn, nil
	}
	if e.conn != nil {
		e.conn.close()
		e.conn = nil
	}
	var parent *conn
	if len(hops) > 1 {
		p, err := d.get(ctx, node, hops[:len(hops)-1])
		if err != nil {
			return nil, err
		}
		parent = p
	}
	c, err := d.dialRetry(ctx, node, hops, parent)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		c.close()
		return nil, ErrClosed
	}
	e.conn = c
	d.connects.Add(1)
	return c, nil
}

// channel opens something on the node's pooled connection (a session, an
// SFTP client) with a session slot held; release frees the slot and must be
// called once the thing is closed. When opening fails and the connection
// does not answer a keepalive either, it is closed and replaced once.
func channel[T any](ctx context.Context, d *SSHDialer, node inventory.Node, what string, open func(*ssh.Client) (T, error)) (T, func(), error) {
	var zero T
	for try := 0; ; try++ {
		c, err := d.get(ctx, node, hopsOf(node))
		if err != nil {
			return zero, nil, err
		}
		release, err := c.acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return zero, nil, ctx.Err()
			}
			if try == 0 {
				continue // it died while we waited: redial
			}
			return zero, nil, &TransportError{Node: node.Name, Op: what, Err: err}
		}
		v, err := open(c.client)
		if err == nil {
			return v, release, nil
		}
		release()
		var oe *ssh.OpenChannelError
		if errors.As(err, &oe) {
			// The server is alive and said no (e.g. sshd's MaxSessions).
			return zero, nil, &TransportError{Node: node.Name, Op: what, Err: fmt.Errorf("%w (is sshd's MaxSessions lower than %d?)", err, maxSessions)}
		}
		if c.probe(2 * time.Second) {
			// Alive: the failure is the server's answer (e.g. no sftp subsystem).
			return zero, nil, &TransportError{Node: node.Name, Op: what, Err: err}
		}
		c.close()
		if try == 1 || ctx.Err() != nil {
			if ctx.Err() != nil {
				return zero, nil, ctx.Err()
			}
			return zero, nil, &TransportError{Node: node.Name, Op: what, Err: err}
		}
	}
}

// lockCtx takes mu unless ctx ends first.
func lockCtx(ctx context.Context, mu *sync.Mutex) error {
	if mu.TryLock() {
		return nil
	}
	got := make(chan struct{})
	go func() {
		mu.Lock()
		close(got)
	}()
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		go func() { <-got; mu.Unlock() }()
		return ctx.Err()
	}
}

// dialRetry dials hops[len-1] (through parent), retrying transient failures.
func (d *SSHDialer) dialRetry(ctx context.Context, node inventory.Node, hops []hop, parent *conn) (*conn, error) {
	target := hops[len(hops)-1]
	nodeName := node.Name
	if len(hops) < len(node.Jump)+1 {
		nodeName = "" // a jump host
	}
	var last error
	backoff := d.opts.Backoff
	attempts := 0
	for attempts < d.opts.Attempts {
		attempts++
		c, err := d.dialOnce(ctx, node, nodeName, target, parent)
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !transient(err) || attempts == d.opts.Attempts {
			break
		}
		if parent != nil && !parent.alive() {
			break // the jump host connection died: get() redials it next time
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff *= 2
	}
	var hk *HostKeyError
	var ae *AuthError
	if errors.As(last, &hk) || errors.As(last, &ae) {
		return nil, last
	}
	desc := target.target()
	if len(hops) > 1 {
		var via []string
		for _, h := range hops[:len(hops)-1] {
			via = append(via, h.target())
		}
		desc += " via " + strings.Join(via, ", ")
	}
	return nil, &DialError{Node: nodeName, Target: desc, Attempts: attempts, Err: last}
}

// dialOnce makes one attempt: TCP (directly or through parent), handshake, auth.
func (d *SSHDialer) dialOnce(ctx context.Context, node inventory.Node, nodeName string, h hop, parent *conn) (*conn, error) {
	actx, cancel := context.WithTimeout(ctx, d.opts.DialTimeout)
	defer cancel()

	hostKeys, hkErr, algos, err := d.hostKeyCallback(node, nodeName, h)
	if err != nil {
		return nil, err
	}
	auth, err := d.authMethods(node)
	if err != nil {
		return nil, err
	}
	defer auth.close()

	var nc net.Conn
	if parent == nil {
		nc, err = d.opts.DialContext(actx, "tcp", h.addr())
	} else {
		nc, err = parent.client.DialContext(actx, "tcp", h.addr())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// Bound the handshake by the attempt's context.
	stop := context.AfterFunc(actx, func() { nc.Close() })
	if dl, ok := actx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	cfg := &ssh.ClientConfig{
		User:              h.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(auth.signers)},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Timeout:           d.opts.DialTimeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, h.addr(), cfg)
	stopped := stop()
	if err != nil {
		nc.Close()
		if *hkErr != nil {
			return nil, *hkErr
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !stopped && actx.Err() != nil {
			return nil, fmt.Errorf("SSH handshake: %w", actx.Err())
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &AuthError{Node: nodeName, Target: h.target(), IdentityFiles: auth.files,
				AgentKeys: auth.agentKeys, AgentSocket: auth.agentSocket, Skipped: auth.skipped, Err: err}
		}
		if strings.Contains(err.Error(), "no common algorithm for host key") && len(algos) > 0 {
			return nil, fmt.Errorf("%w: %s has only %s keys for %s, and the node offers none of that type: "+
				"were its host keys replaced? Verify the node's keys out of band, then update %s",
				err, node.KnownHosts, strings.Join(algos, "/"), h.addr(), node.KnownHosts)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{client: ssh.NewClient(sc, chans, reqs), dead: make(chan struct{}), slots: make(chan struct{}, maxSessions)}
	c.parent = parent
	go func() {
		_ = c.client.Wait()
		close(c.dead)
	}()
	if parent != nil {
		go func() {
			select {
			case <-parent.dead:
				c.close()
			case <-c.dead:
			}
		}()
	}
	if d.opts.KeepaliveInterval > 0 {
		go keepalive(c, d.opts.KeepaliveInterval, d.opts.KeepaliveMaxMissed)
	}
	return c, nil
}

// probe reports whether the peer answers a keepalive within timeout.
func (c *conn) probe(timeout time.Duration) bool {
	if !c.alive() {
		return false
	}
	replied := make(chan error, 1)
	go func() {
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-replied:
		return err == nil
	case <-t.C:
		return false
	case <-c.dead:
		return false
	}
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after maxMissed unanswered in a row. Any reply, even a
// failure (OpenSSH's answer), proves the peer alive.
func keepalive(c *conn, interval time.Duration, maxMissed int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timer := time.NewTimer(interval)
		select {
		case err := <-replied:
			timer.Stop()
			if err != nil {
				c.close()
				return
			}
			missed = 0
		case <-timer.C:
			missed++
		case <-c.dead:
			timer.Stop()
			return
		}
		if missed >= maxMissed {
			c.close()
			return
		}
	}
}

// hostKeyCallback checks host keys strictly against the node's known_hosts.
// A refused key is also stored in *hkErr, typed.
func (d *SSHDialer) hostKeyCallback(node inventory.Node, nodeName string, h hop) (ssh.HostKeyCallback, **HostKeyError, []string, error) {
	file := node.KnownHosts
	if file == "" {
		return nil, nil, nil, fmt.Errorf("no known_hosts file for %s: set ssh.known_hosts in the inventory", h.target())
	}
	kh, err := knownhosts.New(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, nil, fmt.Errorf("known_hosts file %s does not exist: verify %s's host key fingerprint out of band, then add it: ssh-keyscan -p %d %s >> %s",
				file, h.addr(), h.port, h.host, file)
		}
		return nil, nil, nil, fmt.Errorf("read known_hosts: %w (fix or remove that line)", err)
	}
	var hkErr *HostKeyError
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := kh(hostname, remote, key)
		if err == nil {
			return nil
		}
		e := &HostKeyError{Node: nodeName, Host: hostname, Port: h.port, KeyType: key.Type(),
			Fingerprint: ssh.FingerprintSHA256(key), Kind: HostKeyUnknown, KnownHostsFile: file}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			e.Kind, e.KnownHostsFile, e.Line = HostKeyRevoked, re.Revoked.Filename, re.Revoked.Line
		case errors.As(err, &ke) && len(ke.Want) > 0:
			e.Kind, e.KnownHostsFile, e.Line = HostKeyMismatch, ke.Want[0].Filename, ke.Want[0].Line
		case errors.As(err, &ke):
		default:
			return err
		}
		hkErr = e
		return e
	}
	return cb, &hkErr, hostKeyAlgorithms(kh, h), nil
}

// probeKey is a throwaway public key used to ask known_hosts which key
// types it holds for a host.
var probeKey = func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(nil)
	k, _ := ssh.NewPublicKey(pub)
	return k
}()

// hostKeyAlgorithms lists the algorithms of the keys known_hosts holds for
// h, so the server presents one of those (as OpenSSH does) rather than a
// type there is no entry for, which would look like a mismatch. nil (any
// algorithm) when known_hosts has no entry for h.
func hostKeyAlgorithms(kh ssh.HostKeyCallback, h hop) []string {
	err := kh(h.addr(), &net.TCPAddr{IP: net.IPv4zero, Port: h.port}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		t := w.Key.Type()
		list := []string{t}
		if t == ssh.KeyAlgoRSA {
			list = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range list {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// authSet is the keys offered for one connection attempt.
type authSet struct {
	list        []ssh.Signer
	files       []string
	skipped     []string
	agentKeys   int
	agentSocket string
	agentConn   net.Conn
}

func (a *authSet) signers() ([]ssh.Signer, error) { return a.list, nil }

func (a *authSet) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}

// authMethods gathers the identity files' keys, then the agent's.
func (d *SSHDialer) authMethods(node inventory.Node) (*authSet, error) {
	a := &authSet{}
	seen := map[string]bool{}
	add := func(s ssh.Signer) {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			a.list = append(a.list, s)
		}
	}
	var encrypted []string
	for _, f := range node.IdentityFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("%s (%v)", f, err))
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			encrypted = append(encrypted, f)
			continue
		case err != nil:
			a.skipped = append(a.skipped, fmt.Sprintf("%s (%v)", f, err))
			continue
		}
		a.files = append(a.files, f)
		add(s)
	}
	if d.opts.AgentSocket != "" {
		c, err := net.Dial("unix", d.opts.AgentSocket)
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("the agent at %s (%v)", d.opts.AgentSocket, err))
		} else {
			a.agentConn = c
			a.agentSocket = d.opts.AgentSocket
			ag := agent.NewClient(c)
			if ss, err := ag.Signers(); err == nil {
				for _, s := range ss {
					a.agentKeys++
					add(s)
				}
			}
			// Encrypted identity files are usable when the agent holds them.
			if keys, err := ag.List(); err == nil {
				for i := 0; i < len(encrypted); i++ {
					if agentHolds(keys, encrypted[i]) {
						a.files = append(a.files, encrypted[i])
						encrypted = append(encrypted[:i], encrypted[i+1:]...)
						i--
					}
				}
			}
		}
	}
	for _, f := range encrypted {
		a.skipped = append(a.skipped, fmt.Sprintf("%s (passphrase-protected and not in the agent: ssh-add %s)", f, f))
	}
	return a, nil
}

// agentHolds reports whether the agent has the public half of the key file
// (read from file.pub).
func agentHolds(keys []*agent.Key, file string) bool {
	b, err := os.ReadFile(file + ".pub")
	if err != nil {
		return false
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}
