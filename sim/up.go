package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/sim/node"
	"golang.org/x/crypto/ssh"
)

// SSH modes.
const (
	SSHEmbedded = "embedded" // an x/crypto/ssh server inside the supervisor (default)
	SSHOpenSSH  = "openssh"  // one real OpenSSH sshd per node
)

// Defaults of Options.
const (
	DefaultNodes  = 3
	DefaultWarmup = 3 * time.Second
)

// Options configure Up.
type Options struct {
	// Dir is the cluster directory (required). It is created if missing.
	Dir string
	// Nodes is the number of nodes, 1..25 (default 3).
	Nodes int
	// Release is installed on every node (default "1.0.0"; see Releases).
	Release string
	// SSH is "embedded" (default) or "openssh".
	SSH string
	// Warmup is how long a started node waits for its simulated DHCP lease
	// before /ready can turn green (default 3s).
	Warmup time.Duration
	// Executable is copied to DIR/bin/nwroll-sim and runs every simulated
	// process. Default: os.Executable(), which must call sim.Dispatch first
	// thing (nwroll does; so must a test binary's TestMain).
	Executable string
	// Out receives progress and the summary (default: discarded).
	Out io.Writer
	// ReadyTimeout bounds the wait for readiness (default 30s + 2s per node + Warmup).
	ReadyTimeout time.Duration
	// DemoElectionTimeout, when positive, puts every node in the
	// simulator's demo mode (node.DemoSettings): Raft's heartbeat and
	// election timeout is this instead of Neuwerk's 2 s, so an election
	// starts after a random 1–2× it. Only `nwroll demo` sets it
	// (DemoElectionTimeout); a faithful cluster leaves it 0.
	DemoElectionTimeout time.Duration
	// Dynamic builds the cluster with Neuwerk's dynamic Raft membership
	// (node.SimSettings.Dynamic): fw-a initialises a single-node cluster
	// and is the first leader, the others join through it and are added
	// as learners, then voters. Only a dynamic cluster can Launch nodes.
	Dynamic bool
	// JoinViaFollower is what a follower serving a join does in a dynamic
	// cluster: node.JoinStuck (default: the joiner is never added) or
	// node.JoinForward (the change goes to the leader).
	JoinViaFollower string
	// Cloud "aws" (implies Dynamic) puts the cluster behind a fake AWS
	// Auto Scaling group the supervisor serves (docs/sim.md "Cloud mode").
	Cloud string
	// Owner, when set, is the pid of the process the cluster belongs to:
	// once it ends, however it ends (a closed terminal, a kill -9), the
	// supervisor brings the cluster down. `nwroll demo` sets it.
	Owner int
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("no cluster directory given (--dir DIR)")
	}
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Nodes < 1 || o.Nodes > maxNodes {
		return fmt.Errorf("--nodes %d: a simulated cluster has 1 to %d nodes", o.Nodes, maxNodes)
	}
	if o.Release == "" {
		o.Release = DefaultRelease
	}
	if _, ok := releaseSpec(o.Release); !ok {
		return fmt.Errorf("--release %q: the simulator has releases %s", o.Release, ReleaseVersions())
	}
	switch o.SSH {
	case "":
		o.SSH = SSHEmbedded
	case SSHEmbedded, SSHOpenSSH:
	default:
		return fmt.Errorf("--ssh %q: use %q (built in, the default) or %q (real sshd)", o.SSH, SSHEmbedded, SSHOpenSSH)
	}
	if o.Warmup < 0 {
		return fmt.Errorf("--warmup %v: must not be negative", o.Warmup)
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Cloud != "" {
		if _, ok := cloudKinds[o.Cloud]; !ok {
			return fmt.Errorf("--cloud %q: the simulator fakes %s", o.Cloud, strings.Join(CloudKinds(), ", "))
		}
		o.Dynamic = true
	}
	switch o.JoinViaFollower {
	case "":
		if o.Dynamic {
			o.JoinViaFollower = node.JoinStuck
		}
	case node.JoinStuck, node.JoinForward:
		if !o.Dynamic {
			return fmt.Errorf("join via follower %q needs a dynamic cluster", o.JoinViaFollower)
		}
	default:
		return fmt.Errorf("join via follower %q: use %q or %q", o.JoinViaFollower, node.JoinStuck, node.JoinForward)
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 30*time.Second + time.Duration(o.Nodes)*2*time.Second + o.Warmup
	}
	return nil
}

// Cluster is a handle on a simulated cluster in a directory.
type Cluster struct {
	dir  string
	info *Info
	out  io.Writer

	supMu   sync.Mutex
	supDone chan struct{} // closed when the supervisor this process started has exited
}

// Up builds a simulated cluster in opts.Dir, starts its supervisor in the
// background and returns once every node is ready, a leader is elected and
// every follower has caught up. On failure nothing of the cluster is left
// running; DIR keeps its files (and logs) for reading.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	dir, err := absDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.SSH == SSHOpenSSH {
		if err := checkSSHD(); err != nil {
			return nil, err
		}
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the nwroll executable to run the simulator: %w", err)
		}
	}
	if err := refuseBusyDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Two `sim up` on one DIR at once: the second one waits for nothing and refuses.
	dirLock, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer dirLock.Close()
	if err := syscall.Flock(int(dirLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("another 'nwroll sim up' is building a cluster in %s right now; wait for it, or pick another dir", dir)
	}
	if err := refuseBusyDir(dir); err != nil { // again, now that DIR is ours
		return nil, err
	}
	for _, name := range layoutNames {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("clear the previous cluster in %s: %w", dir, err)
		}
	}

	lock, err := acquireBlock(opts.Nodes)
	if err != nil {
		return nil, err
	}
	defer lock.Close() // the supervisor holds its own reference from here on

	start := time.Now()
	info, err := build(dir, exe, lock.n, opts)
	if err != nil {
		return nil, fmt.Errorf("build the cluster in %s: %w", dir, err)
	}
	fmt.Fprintf(opts.Out, "sim: built cluster %s in %s (%d nodes, release %s, ssh %s, block 127.0.%d.0/24)\n",
		info.Cluster, dir, opts.Nodes, opts.Release, opts.SSH, info.Block)

	c := &Cluster{dir: dir, info: info, out: opts.Out}
	if err := c.startSupervisor(ctx, lock); err != nil {
		c.cleanupAfterFailure()
		return nil, err
	}
	fmt.Fprintf(opts.Out, "sim: supervisor running; waiting for the nodes to become ready (warm-up %v)\n", opts.Warmup)
	leader, err := c.waitReady(ctx, opts.ReadyTimeout)
	if err != nil {
		c.cleanupAfterFailure()
		return nil, fmt.Errorf("%w\nthe cluster was stopped; its files and logs stay in %s", err, dir)
	}
	info.State = StateUp
	if err := writeInfo(info); err != nil {
		return c, err
	}
	c.printSummary(opts.Out, leader, time.Since(start))
	return c, nil
}

// refuseBusyDir refuses a DIR that holds a cluster that is not down.
func refuseBusyDir(dir string) error {
	if pid, ok := liveSupervisor(dir); ok {
		return fmt.Errorf("%s already holds a running simulated cluster (supervisor pid %d); run 'nwroll sim down --dir %s' first, or pick another dir", dir, pid, shellQuote(dir))
	}
	in, err := readInfo(dir)
	switch {
	case err == nil:
		if in.State != StateDown {
			return fmt.Errorf("%s already holds simulated cluster %s (state %q in sim.json); run 'nwroll sim down --dir %s' first, or pick another dir", dir, in.Cluster, in.State, shellQuote(dir))
		}
		return nil
	case errors.Is(err, ErrNoCluster):
		// No sim.json: refuse leftovers of a cluster we would clobber.
		for _, name := range []string{"nodes", "releases", supervisorSock} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				return fmt.Errorf("%s holds %s but no sim.json; remove it or pick another dir", dir, name)
			}
		}
		return nil
	default:
		return fmt.Errorf("%v; run 'nwroll sim down --dir %s' or pick another dir", err, shellQuote(dir))
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// build lays out DIR: keys, CAs, releases, node trees, inventory, sim.json.
func build(dir, exe string, block int, opts Options) (*Info, error) {
	simExe := filepath.Join(dir, "bin", simBinary)
	if err := copyFile(exe, simExe, 0o755); err != nil {
		return nil, fmt.Errorf("copy %s to %s: %w", exe, simExe, err)
	}
	for _, d := range []string{"ca", "releases", "nodes", runDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	cluster := fmt.Sprintf("sim-%d", block)
	if err := writeClientKey(dir, cluster); err != nil {
		return nil, err
	}
	secrets, err := writeClusterSecrets(dir, cluster)
	if err != nil {
		return nil, err
	}

	info := &Info{
		Cluster: cluster, Block: block, SSHMode: opts.SSH, Dir: dir, State: StateStarting,
		Release: opts.Release, Warmup: opts.Warmup.String(),
		Dynamic: opts.Dynamic, JoinViaFollower: opts.JoinViaFollower,
		Cloud:      opts.Cloud,
		Inventory:  filepath.Join(dir, inventoryFile),
		CAPath:     filepath.Join(dir, "ca", "ca.crt"),
		ClientKey:  filepath.Join(dir, clientKeyFile),
		KnownHosts: filepath.Join(dir, knownHostsFile),
		Executable: simExe,
		CreatedAt:  time.Now().UTC().Truncate(time.Second),
	}
	if opts.Owner > 0 {
		info.Owner = &Owner{Pid: opts.Owner, Start: processStart(opts.Owner)}
	}
	if info.Releases, err = writeReleases(dir, simExe); err != nil {
		return nil, err
	}
	if info.Cloud != "" {
		info.CloudURL, info.CloudGroup = cloudURL(block), CloudGroupName(cluster)
		cloudKinds[info.Cloud].place(info)
	}
	// Nodes: identities first, since every node lists all peers.
	var peers []node.Peer
	if info.Nodes, peers, err = nodeIdentities(info, block, opts.Nodes, currentUser()); err != nil {
		return nil, err
	}
	if info.Cloud != "" {
		for i := range info.Nodes {
			info.Nodes[i].InstanceID = cloudKinds[info.Cloud].instanceID(cluster, info.Nodes[i].Name, i)
		}
	}
	if err := writeNodes(info, secrets, peers, opts); err != nil {
		return nil, err
	}
	if err := os.WriteFile(info.Inventory, []byte(inventoryYAML(info)), 0o644); err != nil {
		return nil, err
	}
	if err := writeInfo(info); err != nil {
		return nil, err
	}
	return info, nil
}

// writeClientKey writes the client key the inventory logs in with, and
// authorized_keys for both SSH modes.
func writeClientKey(dir, cluster string) error {
	clientPub, err := writeSSHKey(filepath.Join(dir, clientKeyFile), "nwroll-sim-client@"+cluster)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, authKeysFile), ssh.MarshalAuthorizedKey(clientPub), 0o600)
}

// clusterSecrets are what every node of the cluster shares.
type clusterSecrets struct {
	httpCA, clusterCA *node.CA
	keyset            node.APIKeyset
	tokens            node.BootstrapTokens
}

// writeClusterSecrets makes the HTTP CA, the cluster-TLS CA, the API keyset
// and the bootstrap token, and writes the CAs to DIR/ca.
func writeClusterSecrets(dir, cluster string) (clusterSecrets, error) {
	var s clusterSecrets
	var err error
	if s.httpCA, err = node.NewCA("neuwerk http ca (" + cluster + ")"); err != nil {
		return s, err
	}
	if s.clusterCA, err = node.NewCA("neuwerk cluster ca (" + cluster + ")"); err != nil {
		return s, err
	}
	caFiles := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.crt", s.httpCA.CertPEM, 0o644}, {"ca.key", s.httpCA.KeyPEM, 0o600},
		{"cluster-ca.crt", s.clusterCA.CertPEM, 0o644}, {"cluster-ca.key", s.clusterCA.KeyPEM, 0o600},
	}
	for _, f := range caFiles {
		if err := os.WriteFile(filepath.Join(dir, "ca", f.name), f.data, f.mode); err != nil {
			return s, err
		}
	}
	if s.keyset, err = node.GenerateAPIKeyset(); err != nil {
		return s, err
	}
	if s.tokens, err = node.NewBootstrapTokens(); err != nil {
		return s, err
	}
	return s, nil
}

// writeReleases writes every simulated release to DIR/releases.
func writeReleases(dir, simExe string) (map[string]ReleaseInfo, error) {
	releases := map[string]ReleaseInfo{}
	for _, r := range Releases {
		ri, err := writeRelease(dir, simExe, r)
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", r.Version, err)
		}
		releases[r.Version] = ri
	}
	return releases, nil
}

// nodeIdentities names the nodes and gives each its addresses, node id and
// paths, and its entry in the peer list.
func nodeIdentities(info *Info, block, count int, sshUser string) ([]NodeInfo, []node.Peer, error) {
	var nodes []NodeInfo
	var peers []node.Peer
	for i := 1; i <= count; i++ {
		n, peer, err := newNodeInfo(info, block, i, sshUser)
		if err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
		peers = append(peers, peer)
	}
	return nodes, peers, nil
}

// newNodeInfo is node i's (1-based) identity: name, addresses, a fresh
// node id, paths, and its peer entry.
func newNodeInfo(info *Info, block, i int, sshUser string) (NodeInfo, node.Peer, error) {
	name, ip := nodeName(i), nodeIP(block, i)
	id := uuid.NewString()
	decimal, err := health.NodeIDFromUUID(id)
	if err != nil {
		return NodeInfo{}, node.Peer{}, err
	}
	root := filepath.Join(info.Dir, "nodes", name)
	p := node.PathsFor(root)
	hp := func(port int) string { return ip + ":" + strconv.Itoa(port) }
	n := NodeInfo{
		Name: name, IP: ip, SSHAddr: hp(PortSSH), SSHUser: sshUser,
		ClientKey: info.ClientKey, KnownHosts: info.KnownHosts,
		APIURL: "https://" + hp(PortHTTPS), MetricsURL: "http://" + hp(PortMetrics),
		RaftAddr: hp(PortRaft), JoinAddr: hp(PortJoin),
		CAPath:   filepath.Join(p.HTTPTLSDir, "ca.crt"),
		NodeUUID: id, NodeID: decimal,
		NodeDir: root, DataRoot: p.DataRoot,
		Binary:    filepath.Join(p.BinDir, "neuwerk"),
		BackupDir: p.BackupDir, Log: p.LogFile,
	}
	peer, err := node.NewPeer(name, ip, id)
	return n, peer, err
}

// writeNodes writes every node, the first one the seed the others join,
// and known_hosts with their host keys.
func writeNodes(info *Info, secrets clusterSecrets, peers []node.Peer, opts Options) error {
	var knownHosts strings.Builder
	for i, n := range info.Nodes {
		spec := nodeSpec(info, secrets, n, peers, opts.Warmup)
		if i > 0 {
			spec.JoinSeed = info.Nodes[0].IP
		}
		hostPub, err := writeNode(info, n, spec, opts)
		if err != nil {
			return err
		}
		knownHosts.WriteString(knownHostsLine(n.SSHAddr, hostPub) + "\n")
	}
	return os.WriteFile(info.KnownHosts, []byte(knownHosts.String()), 0o644)
}

// nodeSpec is node n's tree: the static peer list, or in dynamic mode
// its own entry only, since membership then lives in Raft.
func nodeSpec(info *Info, secrets clusterSecrets, n NodeInfo, peers []node.Peer, warmup time.Duration) node.NodeSpec {
	sim := node.SimSettings{
		Cluster: info.Cluster, Name: n.Name, Peers: peers,
		WarmupMillis: int(warmup / time.Millisecond),
	}
	if info.Cloud != "" {
		sim.CloudEndpoint, sim.DrainMillis = info.CloudURL, CloudDrainMillis
	}
	if info.Dynamic {
		sim.Dynamic, sim.JoinViaFollower = true, info.JoinViaFollower
		sim.Peers = nil
		for _, p := range peers {
			if p.NodeID == n.NodeID {
				sim.Peers = []node.Peer{p}
			}
		}
	}
	return node.NodeSpec{
		Name: n.Name, IP: n.IP, UUID: n.NodeUUID,
		HTTPCA: secrets.httpCA, ClusterCA: secrets.clusterCA, Keyset: secrets.keyset, Tokens: secrets.tokens,
		Sim: sim, Integration: nodeIntegration(info),
	}
}

// writeNode writes one node's tree, its installed release, an empty log,
// its host key, its shims and, for OpenSSH, its sshd_config.
func writeNode(info *Info, n NodeInfo, spec node.NodeSpec, opts Options) (ssh.PublicKey, error) {
	if err := node.WriteNodeTree(n.NodeDir, spec); err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	if d := opts.DemoElectionTimeout; d > 0 {
		if err := node.WriteDemoSettings(n.NodeDir, node.DemoSettings{ElectionTimeoutMillis: int(d / time.Millisecond)}); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	if err := copyFile(info.Releases[opts.Release].Binary, n.Binary, 0o755); err != nil {
		return nil, fmt.Errorf("node %s: install release %s: %w", n.Name, opts.Release, err)
	}
	if err := os.WriteFile(n.Log, nil, 0o644); err != nil {
		return nil, err
	}
	hostPub, err := writeSSHKey(filepath.Join(n.NodeDir, "ssh_host_ed25519_key"), "root@"+n.Name)
	if err != nil {
		return nil, err
	}
	if err := writeShims(info.Dir, info.Executable, n); err != nil {
		return nil, fmt.Errorf("node %s: shims: %w", n.Name, err)
	}
	if opts.SSH == SSHOpenSSH {
		if err := os.WriteFile(filepath.Join(n.NodeDir, "sshd_config"), []byte(sshdConfig(info.Dir, n)), 0o644); err != nil {
			return nil, err
		}
	}
	return hostPub, nil
}

func writeShims(dir, simExe string, n NodeInfo) error {
	bin := filepath.Join(n.NodeDir, "sim-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	shims := map[string]string{
		"systemctl":  systemctlShim(simExe, dir, n.Name),
		"sudo":       sudoShim,
		"journalctl": journalctlShim(n.Log),
		"neuwerk":    neuwerkShim(n.Binary),
	}
	for name, text := range shims {
		p := filepath.Join(bin, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// inventoryYAML renders DIR/inventory.yaml (docs/inventory.md).
func inventoryYAML(in *Info) string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "# nwroll inventory of the simulated Neuwerk cluster %s, written by 'nwroll sim up'.\n", in.Cluster)
	if in.Cloud == "" {
		fmt.Fprintf(&b, "# Per-node paths point into %s/nodes/<name>/.\n", in.Dir)
	}
	fmt.Fprintf(&b, "cluster: %s\n", in.Cluster)
	fmt.Fprintf(&b, "ssh:\n  user: %s\n  port: %d\n  identity_files: [%s]\n  known_hosts: %s\n  sudo: true\n",
		q(in.Nodes[0].SSHUser), PortSSH, q(in.ClientKey), q(in.KnownHosts))
	fmt.Fprintf(&b, "api:\n  port: %d\n  metrics_port: %d\n  ca_file: %s\n  token_env: NEUWERK_TOKEN\n", PortHTTPS, PortMetrics, q(in.CAPath))
	b.WriteString("service:\n  unit: neuwerk.service\n  stop: systemctl stop neuwerk.service\n  start: systemctl start neuwerk.service\n  is_active: systemctl is-active neuwerk.service\n")
	b.WriteString("gates:\n  timeout: 2m\n  stabilisation: 5s\n")
	if in.Cloud != "" {
		// The nodes are the group's instances, discovered at each run. Their
		// paths differ per node (DIR/nodes/<name>/...) and the inventory has
		// one set for discovered nodes, so none is written: nwroll's cloud
		// mode reads no node files when api.ca_file and NEUWERK_TOKEN are
		// given (docs/sim.md "Cloud mode").
		b.WriteString(cloudKinds[in.Cloud].inventory(in))
		return b.String()
	}
	b.WriteString("nodes:\n")
	for _, n := range in.LiveNodes() {
		fmt.Fprintf(&b, "  - name: %s\n    host: %s\n    paths:\n      binary: %s\n      data_root: %s\n      backup_dir: %s\n",
			n.Name, n.IP, q(n.Binary), q(n.DataRoot), q(n.BackupDir))
	}
	return b.String()
}

// startSupervisor launches `DIR/bin/nwroll-sim __sim-supervisor --dir DIR`
// in its own session, hands it the block lock and waits until it answers.
func (c *Cluster) startSupervisor(ctx context.Context, lock *blockLock) error {
	logf, err := os.OpenFile(filepath.Join(c.dir, supervisorLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(c.info.Executable, "__sim-supervisor", "--dir", c.dir, "--lock-fd", "3")
	cmd.Dir = c.dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{lock.file}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervisor %s: %w", c.info.Executable, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	c.supMu.Lock()
	c.supDone = done
	c.supMu.Unlock()

	deadline := time.Now().Add(30*time.Second + time.Duration(len(c.info.Nodes))*time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := pingSupervisor(pctx, c.dir)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the supervisor exited at start (%v):\n%s(full log: %s)", waitErr,
				indent(tailFile(filepath.Join(c.dir, supervisorLog), 15)), filepath.Join(c.dir, supervisorLog))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the supervisor does not answer on %s; see %s", filepath.Join(c.dir, supervisorSock), filepath.Join(c.dir, supervisorLog))
		}
	}
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

// cleanupAfterFailure stops whatever a failed Up started and marks DIR down.
func (c *Cluster) cleanupAfterFailure() {
	if err := c.Down(); err != nil {
		fmt.Fprintf(c.out, "sim: cleaning up after the failed start: %v\n", err)
	}
}

// supervisorExited reports whether the supervisor this process started has exited.
func (c *Cluster) supervisorExited() bool {
	c.supMu.Lock()
	ch := c.supDone
	c.supMu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
