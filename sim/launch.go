package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim/node"
)

// LaunchSpec describes a node to add to a running dynamic cluster, as a
// cloud group's scale-out would.
type LaunchSpec struct {
	// Release is installed on the new node (default: sim.json's release).
	Release string
	// JoinSeed is the name of the live node whose join listener the new
	// node joins through (its cluster.join_seed). Empty picks the oldest
	// live node, as Neuwerk's cloud integration does without join_seed.
	JoinSeed string
	// InstanceID is recorded as the node's instance (cloud mode: the fake
	// AWS launches it).
	InstanceID string
}

// membershipLock is DIR/run/membership.lock: Launch and Terminate change
// sim.json one at a time, across processes.
const membershipLock = "membership.lock"

func (c *Cluster) lockMembership() (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.dir, runDir, membershipLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// reload re-reads sim.json, which Launch and Terminate of other handles change.
func (c *Cluster) reload() error {
	info, err := readInfo(c.dir)
	if err != nil {
		return err
	}
	c.info = info
	return nil
}

// OldestLiveNode is the first node in sim.json that is not terminated.
func (c *Cluster) OldestLiveNode() (NodeInfo, error) {
	if err := c.reload(); err != nil {
		return NodeInfo{}, err
	}
	live := c.info.LiveNodes()
	if len(live) == 0 {
		return NodeInfo{}, fmt.Errorf("cluster %s has no live node", c.info.Cluster)
	}
	return live[0], nil
}

// Launch adds a node to the running dynamic cluster: the next unused name
// and address of the block (names and addresses are never reused, at most
// 25 nodes over the cluster's life), a node tree written like `sim up`
// writes one (joining through spec.JoinSeed), its host key appended to
// known_hosts, its record in sim.json, then its SSH server and service
// started by the supervisor. It returns once the service started; the
// node joins Raft on its own (poll GET /api/v1/cluster/members).
func (c *Cluster) Launch(ctx context.Context, spec LaunchSpec) (NodeInfo, error) {
	if _, err := pingSupervisor(ctx, c.dir); err != nil {
		return NodeInfo{}, c.notRunning(err)
	}
	unlock, err := c.lockMembership()
	if err != nil {
		return NodeInfo{}, err
	}
	defer unlock()
	if err := c.reload(); err != nil {
		return NodeInfo{}, err
	}
	info := c.info
	if !info.Dynamic {
		return NodeInfo{}, fmt.Errorf("cluster %s has a static peer list; only a dynamic cluster (sim.Options.Dynamic) can launch nodes", info.Cluster)
	}
	idx := len(info.Nodes) + 1
	if idx > maxNodes {
		return NodeInfo{}, fmt.Errorf("cluster %s has used all %d node names of its block", info.Cluster, maxNodes)
	}
	if spec.Release == "" {
		spec.Release = info.Release
	}
	if _, ok := info.Releases[spec.Release]; !ok {
		return NodeInfo{}, fmt.Errorf("release %q: the simulator has releases %s", spec.Release, ReleaseVersions())
	}
	seed, err := c.liveNode(spec.JoinSeed)
	if err != nil {
		return NodeInfo{}, err
	}
	secrets, err := loadClusterSecrets(c.dir, seed)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("read the cluster's secrets: %w", err)
	}
	n, peer, err := newNodeInfo(info, info.Block, idx, seed.SSHUser)
	if err != nil {
		return NodeInfo{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	n.LaunchedAt = &now
	n.InstanceID = spec.InstanceID
	warmup, err := time.ParseDuration(info.Warmup)
	if err != nil {
		warmup = DefaultWarmup
	}
	ns := nodeSpec(info, secrets, n, []node.Peer{peer}, warmup)
	ns.JoinSeed = seed.IP
	hostPub, err := writeNode(info, n, ns, Options{Release: spec.Release, SSH: info.SSHMode})
	if err != nil {
		return NodeInfo{}, err
	}
	if err := copyDemoSettings(seed, n); err != nil {
		return NodeInfo{}, err
	}
	if err := appendFile(info.KnownHosts, knownHostsLine(n.SSHAddr, hostPub)+"\n"); err != nil {
		return NodeInfo{}, err
	}
	info.Nodes = append(info.Nodes, n)
	if err := c.saveMembership(); err != nil {
		return NodeInfo{}, err
	}
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "launch", Node: n.Name}); err != nil {
		// Keep the record, marked terminated, so the name is not reused.
		info.Nodes[len(info.Nodes)-1].State = NodeTerminated
		info.Nodes[len(info.Nodes)-1].TerminatedAt = &now
		_ = c.saveMembership()
		return NodeInfo{}, fmt.Errorf("launch %s: %w", n.Name, c.notRunning(err))
	}
	fmt.Fprintf(c.out, "sim: launched %s (%s, release %s), joining through %s\n", n.Name, n.IP, spec.Release, seed.Name)
	return n, nil
}

// Terminate removes a node as a cloud group's scale-in would: SIGTERM to
// its service (it drains and exits; SIGKILL after 5 s), its SSH server
// stopped, and its sim.json record marked terminated (files and logs
// stay). Its Raft membership is left alone, as with a real instance.
func (c *Cluster) Terminate(ctx context.Context, name string) error {
	unlock, err := c.lockMembership()
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.reload(); err != nil {
		return err
	}
	if _, err := c.liveNode(name); err != nil || name == "" {
		if err == nil {
			err = errors.New("no node name given")
		}
		return err
	}
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "terminate", Node: name}); err != nil {
		return fmt.Errorf("terminate %s: %w", name, c.notRunning(err))
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := range c.info.Nodes {
		if c.info.Nodes[i].Name == name {
			c.info.Nodes[i].State, c.info.Nodes[i].TerminatedAt = NodeTerminated, &now
		}
	}
	fmt.Fprintf(c.out, "sim: terminated %s\n", name)
	return c.saveMembership()
}

// liveNode is the live node called name; "" is the oldest live node.
func (c *Cluster) liveNode(name string) (NodeInfo, error) {
	live := c.info.LiveNodes()
	if name == "" && len(live) > 0 {
		return live[0], nil
	}
	for _, n := range live {
		if n.Name == name {
			return n, nil
		}
	}
	return NodeInfo{}, fmt.Errorf("cluster %s has no live node %q (live: %v)", c.info.Cluster, name, namesOf(live))
}

// saveMembership writes sim.json and the inventory of the live nodes. A
// cloud inventory lists no nodes (they are discovered), so it stays as
// written, with whatever the operator changed in it.
func (c *Cluster) saveMembership() error {
	if err := writeInfo(c.info); err != nil {
		return err
	}
	if c.info.Cloud != "" {
		return nil
	}
	return os.WriteFile(c.info.Inventory, []byte(inventoryYAML(c.info)), 0o644)
}

// loadClusterSecrets reads the CAs from DIR/ca and the keyset and bootstrap
// tokens every node shares from node from.
func loadClusterSecrets(dir string, from NodeInfo) (clusterSecrets, error) {
	var s clusterSecrets
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, "ca", name)) }
	loadCA := func(cert, key string) (*node.CA, error) {
		c, err := read(cert)
		if err != nil {
			return nil, err
		}
		k, err := read(key)
		if err != nil {
			return nil, err
		}
		return node.LoadCA(c, k)
	}
	var err error
	if s.httpCA, err = loadCA("ca.crt", "ca.key"); err != nil {
		return s, err
	}
	if s.clusterCA, err = loadCA("cluster-ca.crt", "cluster-ca.key"); err != nil {
		return s, err
	}
	p := node.PathsFor(from.NodeDir)
	if s.keyset, err = node.LoadAPIKeyset(p.APIAuth); err != nil {
		return s, err
	}
	if s.tokens, err = node.LoadBootstrapTokens(p.BootstrapToken); err != nil {
		return s, err
	}
	return s, nil
}

// copyDemoSettings gives a launched node the seed's demo timings, if any.
func copyDemoSettings(from, to NodeInfo) error {
	b, err := os.ReadFile(node.DemoSettingsPath(from.NodeDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(node.DemoSettingsPath(to.NodeDir), b, 0o644)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Members reads GET /api/v1/cluster/members through node n (leader-proxied).
func (c *Cluster) Members(ctx context.Context, n NodeInfo, tok api.Token) (health.MembersResponse, error) {
	var m health.MembersResponse
	caPEM, err := os.ReadFile(c.info.CAPath)
	if err != nil {
		return m, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL+"/api/v1/cluster/members", nil)
	if err != nil {
		return m, err
	}
	req.Header.Set("Authorization", "Bearer "+string(tok))
	resp, err := hc.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("%s: GET /api/v1/cluster/members: status %d", n.Name, resp.StatusCode)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}
