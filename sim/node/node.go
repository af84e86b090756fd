package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/nwroll/nwroll/health"
)

// Fault is a release's built-in bug (docs/sim.md "Releases").
type Fault string

// The simulated faults.
const (
	FaultNone       Fault = "none"
	FaultNeverReady Fault = "never-ready" // policy_replication never becomes ok
	FaultCrashloop  Fault = "crashloop"   // exits 2 a few seconds after start, like a failed join
	FaultStall      Fault = "stall"       // becomes ready, then stops applying the Raft log
	FaultFailClosed Fault = "failclosed"  // ready and caught up, but TLS intercept fails closed: svc_fail_closed_total grows
	FaultNeverJoins Fault = "never-joins" // never runs the join, so it is never a member and /ready's cluster check fails
)

// ParseFault validates a --fault value.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultNone, FaultNeverReady, FaultCrashloop, FaultStall, FaultFailClosed, FaultNeverJoins:
		return f, nil
	case "":
		return FaultNone, nil
	}
	return "", fmt.Errorf("unknown fault %q (want none, never-ready, crashloop, stall, failclosed or never-joins)", s)
}

// RunOptions tune one in-process daemon.
type RunOptions struct {
	Release string    // shown in the start-up log line only; Neuwerk exposes no version
	Fault   Fault     // empty means none
	Log     io.Writer // journal output; default os.Stderr
	// Warmup, when positive, overrides sim-node.json and NEUWERK_SIM_WARMUP.
	Warmup time.Duration
}

// Timings copied from Neuwerk (facts §1, §8).
const (
	drainVisible       = 250 * time.Millisecond // listener stays up after SIGTERM
	shutdownGrace      = time.Second
	quorumAckLimit     = 2 * time.Second // election_timeout_min
	policyLoopInterval = time.Second
)

// node is one running daemon. Several can run in one process (tests); there
// is no package-level mutable state.
type node struct {
	paths    NodePaths
	cfg      Config
	sim      SimSettings
	demo     DemoSettings // read with the Raft configuration; zero outside demo mode
	opts     RunOptions
	log      hclog.Logger
	raftLog  hclog.Logger
	uuid     string
	id       string // decimal node id
	httpPort string

	startedAt  time.Time
	warmup     time.Duration
	tick       time.Duration
	stallAfter time.Duration
	failAfter  time.Duration
	crashAfter time.Duration

	metrics *nodeMetrics
	fsm     *kvFSM
	store   *raftboltdb.BoltStore
	snaps   raft.SnapshotStore
	trans   *peerTransport
	raft    *raft.Raft

	keys         *keysetCache
	proxyClient  *http.Client
	fanoutClient *http.Client
	traffic      *trafficModel

	// Readiness flags (facts §1).
	dataplaneRunning atomic.Bool
	leaseActive      atomic.Bool
	policyReady      atomic.Bool
	dnsReady         atomic.Bool
	servicePlane     atomic.Bool
	draining         atomic.Bool
	leaseAt          atomic.Int64 // unix seconds of the DHCP lease
	policyGeneration atomic.Uint64
	frozenApplied    atomic.Int64 // raft_last_applied once stalled; -1 before
	policyKick       chan struct{}
	membershipMu     sync.Mutex // held while this leader changes the membership
}

// Run runs one node daemon rooted at root until ctx is cancelled (the
// SIGTERM path: drain, then stop) or a fatal error. Start-up failures are
// returned (Main exits 2 on any error); a clean shutdown returns nil.
func Run(ctx context.Context, root string, opts RunOptions) error {
	if opts.Fault == "" {
		opts.Fault = FaultNone
	}
	lg := newLoggers(opts.Log)
	n, err := newNode(root, opts, lg)
	if err == nil {
		err = n.run(ctx)
	}
	if err != nil {
		lg.main.Error("neuwerk exited with error", "error", err)
	}
	return err
}

func newNode(root string, opts RunOptions, lg loggers) (*node, error) {
	paths := PathsFor(root)
	cfg, err := LoadConfig(paths.Config)
	if err != nil {
		return nil, err
	}
	sim, err := LoadSimSettings(paths.SimSettings)
	if err != nil {
		return nil, err
	}
	n := &node{
		paths: paths, cfg: cfg, sim: sim, opts: opts, log: lg.main, raftLog: lg.raft,
		startedAt:  time.Now(),
		tick:       millisOr(sim.TickMillis, 300*time.Millisecond),
		stallAfter: millisOr(sim.StallAfterMillis, 4*time.Second),
		failAfter:  millisOr(sim.FailClosedAfterMillis, 3*time.Second),
		crashAfter: millisOr(sim.CrashAfterMillis, 3*time.Second),
		fsm:        newKVFSM(),
		keys:       &keysetCache{path: cfg.APIAuthPath()},
		policyKick: make(chan struct{}, 1),
	}
	n.frozenApplied.Store(-1)
	n.warmup = n.resolveWarmup()
	if _, n.httpPort, err = net.SplitHostPort(cfg.HTTP.Bind); err != nil {
		return nil, err
	}
	if n.uuid, err = n.loadOrCreateNodeID(); err != nil {
		return nil, err
	}
	if n.id, err = health.NodeIDFromUUID(n.uuid); err != nil {
		return nil, err
	}
	if _, ok := n.peer(n.id); !ok && !sim.Dynamic {
		return nil, fmt.Errorf("node id %s (%s) is not in the peer list of %s", n.id, n.uuid, paths.SimSettings)
	}
	n.traffic = newTrafficModel(n.id)
	n.metrics = newNodeMetrics(n.gauges())
	return n, nil
}

func (n *node) resolveWarmup() time.Duration {
	if n.opts.Warmup > 0 {
		return n.opts.Warmup
	}
	if env := os.Getenv("NEUWERK_SIM_WARMUP"); env != "" {
		d, err := time.ParseDuration(env)
		if err == nil && d >= 0 {
			return d
		}
		n.log.Warn("ignoring invalid NEUWERK_SIM_WARMUP", "value", env)
	}
	return millisOr(n.sim.WarmupMillis, 3*time.Second)
}

// loadOrCreateNodeID reads node_id, creating it on first start as Neuwerk does.
func (n *node) loadOrCreateNodeID() (string, error) {
	id, err := readNodeUUID(n.cfg.Cluster.NodeIDPath)
	if errors.Is(err, os.ErrNotExist) {
		id = newUUID()
		n.log.Info("generated node id", "path", n.cfg.Cluster.NodeIDPath, "node_id", id)
		return id, writeFileMode(n.cfg.Cluster.NodeIDPath, []byte(id+"\n"), 0o644)
	}
	return id, err
}

func (n *node) peer(id string) (Peer, bool) {
	for _, p := range n.sim.Peers {
		if p.NodeID == id {
			return p, true
		}
	}
	return Peer{}, false
}

func (n *node) run(ctx context.Context) error {
	n.log.Info("starting neuwerk", "release", n.opts.Release, "node_id", n.id, "cluster", n.sim.Cluster,
		"config", n.paths.Config)

	tokens, err := LoadBootstrapTokens(n.cfg.Cluster.TokenPath)
	if err != nil {
		return err
	}
	if _, err := tokens.Current(time.Now()); err != nil {
		return fmt.Errorf("load bootstrap token %s: %w", n.cfg.Cluster.TokenPath, err)
	}
	if n.opts.Fault == FaultCrashloop {
		return n.failJoin(ctx)
	}
	if n.cfg.Cluster.JoinSeed != "" && n.opts.Fault == FaultNeverJoins {
		n.log.Warn("never-joins fault: skipping the cluster join", "seed", n.cfg.Cluster.JoinSeed)
	} else if n.cfg.Cluster.JoinSeed != "" {
		if err := n.joinCluster(ctx, tokens); err != nil || ctx.Err() != nil {
			return err
		}
	}

	if err := n.startRaft(); err != nil {
		return fmt.Errorf("start cluster runtime: %w", err)
	}
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopRuntime := func() {
		stopBG()
		waitTimeout(&wg, time.Second)
		n.stopRaft()
	}
	fatal := make(chan error, 4)
	ls, err := n.listen(bg, &wg, fatal)
	if err != nil {
		stopRuntime()
		return err
	}
	n.setPlanes(true)
	n.log.Info("http api listening", "bind", n.cfg.HTTP.Bind)
	n.log.Info("metrics listening", "bind", n.cfg.Metrics.Bind)
	n.startLoops(bg, &wg)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
	}
	n.drain(ls, runErr == nil)
	stopRuntime()
	if runErr == nil {
		n.log.Info("shutdown complete")
	}
	return runErr
}

// listeners are the node's join listener and its API and metrics servers.
type listeners struct {
	join         net.Listener
	api, metrics *http.Server
}

// listen opens the listeners; on a failure it closes the ones already open.
func (n *node) listen(bg context.Context, wg *sync.WaitGroup, fatal chan<- error) (listeners, error) {
	var ls listeners
	var err error
	ls.join, err = n.serveJoin(bg, wg)
	if err != nil {
		return ls, fmt.Errorf("start join listener on %s: %w", n.cfg.Cluster.JoinBind, err)
	}
	ls.api, err = n.serveAPI(fatal)
	if err != nil {
		ls.join.Close()
		return ls, err
	}
	ls.metrics, err = n.serveMetrics(fatal)
	if err != nil {
		ls.api.Close()
		ls.join.Close()
		return ls, err
	}
	return ls, nil
}

// setPlanes sets the readiness of the dataplane, policy, DNS and service plane.
func (n *node) setPlanes(up bool) {
	n.dataplaneRunning.Store(up)
	n.policyReady.Store(up)
	n.dnsReady.Store(up)
	n.servicePlane.Store(up)
}

// startLoops starts the background work of a running node, and the fault's own loop.
func (n *node) startLoops(bg context.Context, wg *sync.WaitGroup) {
	n.goLoop(bg, wg, n.observeLeadership)
	n.goLoop(bg, wg, n.leaderWrites)
	n.goLoop(bg, wg, n.dhcpLoop)
	n.goLoop(bg, wg, n.policyReplicationLoop)
	n.goLoop(bg, wg, n.appliedRecorder)
	if n.cfg.Integration.Mode != "" {
		n.goLoop(bg, wg, n.integrationLoop)
	}
	switch n.opts.Fault {
	case FaultStall:
		n.goLoop(bg, wg, n.stallLoop)
	case FaultFailClosed:
		n.goLoop(bg, wg, n.failClosedLoop)
	}
}

// drain is the shutdown sequence (facts §1): readiness goes red at once, the
// listener stays up briefly so probes see it (on a signal, not a fatal
// error), then a graceful stop.
func (n *node) drain(ls listeners, signalled bool) {
	n.draining.Store(true)
	n.setPlanes(false)
	if signalled {
		n.log.Info("shutdown signal received; draining")
		time.Sleep(drainVisible)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	if ls.api.Shutdown(sctx) != nil {
		ls.api.Close()
	}
	if ls.metrics.Shutdown(sctx) != nil {
		ls.metrics.Close()
	}
	cancel()
	ls.join.Close()
}

func (n *node) goLoop(ctx context.Context, wg *sync.WaitGroup, f func(context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f(ctx)
	}()
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// dhcpLoop models the dataplane's DHCP bootstrap: the lease (and with it
// dataplane_config) arrives when the warm-up ends, and is renewed hourly.
func (n *node) dhcpLoop(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(n.warmup):
	}
	now := time.Now()
	n.leaseAt.Store(now.Unix())
	n.leaseActive.Store(true)
	n.traffic.start(now)
	n.metrics.leaseChanges.Inc()
	n.log.Info("dataplane dhcp lease acquired", "ip", n.ip(), "lease_secs", 3600)
	n.kickPolicy()
}

func (n *node) leaseExpiry() int64 {
	at := n.leaseAt.Load()
	if at == 0 {
		return 0
	}
	// Renewed every half lease.
	renewals := (time.Now().Unix() - at) / 1800
	return at + 1800*renewals + 3600
}

func (n *node) ip() string {
	host, _, _ := net.SplitHostPort(n.cfg.HTTP.Bind)
	return host
}

func (n *node) kickPolicy() {
	select {
	case n.policyKick <- struct{}{}:
	default:
	}
}

// policyReplicationLoop mirrors Neuwerk's 1 s loop: once a leader is known
// and the local state machine holds policy/state, compile and persist it and
// bump the policy generation. The never-ready fault never gets there.
func (n *node) policyReplicationLoop(ctx context.Context) {
	t := time.NewTicker(policyLoopInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.policyKick:
		}
		if n.opts.Fault == FaultNeverReady || !n.leaseActive.Load() || n.policyGeneration.Load() > 0 {
			continue
		}
		if _, leader := n.raft.LeaderWithID(); leader == "" {
			continue
		}
		raw, ok := n.fsm.get(policyKey)
		if !ok {
			continue
		}
		policy, err := parsePolicy(raw)
		if err != nil {
			n.log.Warn("replicated policy does not parse", "error", err)
			continue
		}
		if err := n.persistLocalPolicy(policy); err != nil {
			n.log.Warn("persist local policy store", "error", err)
		}
		n.policyGeneration.Store(max(policy.Generation, 1))
		n.log.Info("policy replicated from cluster", "generation", policy.Generation,
			"source_groups", len(policy.SourceGroups))
	}
}

func (n *node) persistLocalPolicy(p storedPolicy) error {
	data, err := jsonIndent(p)
	if err != nil {
		return err
	}
	return writeFileMode(filepath.Join(n.paths.DataRoot, "local-policy-store", "policy.json"), data, 0o644)
}

// stallLoop implements the stall fault: ready first, then the apply loop
// silently stops.
func (n *node) stallLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !n.readiness().Ready {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(n.stallAfter):
	}
	n.frozenApplied.Store(int64(n.raft.AppliedIndex()))
	n.fsm.stall()
	n.log.Debug("state machine apply loop stalled")
}

// failClosedInterval is how often the failclosed fault's TLS intercept
// fails closed once the node is ready.
const failClosedInterval = 500 * time.Millisecond

// failClosedLoop implements the failclosed fault: the node becomes ready
// and keeps up with the log, but a few seconds later (failAfter, as
// traffic reaches the new trust store) every intercepted TLS connection
// fails closed, so svc_fail_closed_total{component="tls"} grows steadily
// (an abort condition of facts §10 that /ready does not show).
func (n *node) failClosedLoop(ctx context.Context) {
	t := time.NewTicker(failClosedInterval)
	defer t.Stop()
	logged := false
	var readyAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if readyAt.IsZero() && n.readiness().Ready {
			readyAt = time.Now()
		}
		if readyAt.IsZero() || time.Since(readyAt) < n.failAfter {
			continue
		}
		n.metrics.failClosed.WithLabelValues("tls").Inc()
		if !logged {
			logged = true
			n.log.Warn("tls intercept failing closed", "component", "tls", "error", "upstream handshake: certificate chain rejected by the new trust store")
		}
	}
}

// failJoin is the crashloop fault: eight failed join attempts spread over
// crashAfter, then exit 2 like a node that cannot join.
func (n *node) failJoin(ctx context.Context) error {
	target := n.cfg.Cluster.JoinSeed
	if target == "" {
		target = n.cfg.Cluster.JoinBind
	}
	step := n.crashAfter / joinAttempts
	reason := errors.New("join handshake rejected: csr signature does not match bootstrap token")
	for attempt := 1; attempt <= joinAttempts; attempt++ {
		n.log.Warn("cluster join attempt failed", "attempt", fmt.Sprintf("%d/%d", attempt, joinAttempts),
			"seed", target, "error", reason)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(step):
		}
	}
	return fmt.Errorf("cluster join failed after %d attempts: %w", joinAttempts, reason)
}

// gauges binds the metric gauges to live state.
func (n *node) gauges() gaugeReaders {
	r := func(f func() uint64) func() float64 {
		return func() float64 {
			if n.raft == nil {
				return 0
			}
			return float64(f())
		}
	}
	return gaugeReaders{
		isLeader: func() float64 {
			return boolFloat(n.raft != nil && n.raft.State() == raft.Leader)
		},
		currentTerm:    r(func() uint64 { return n.raft.CurrentTerm() }),
		lastLogIndex:   r(func() uint64 { return n.raft.LastIndex() }),
		lastApplied:    r(n.lastApplied),
		natUtilization: func() float64 { return n.traffic.snapshot(time.Now()).Dataplane.NATPortUtilization },
		leaseActive:    func() float64 { return boolFloat(n.leaseActive.Load()) },
		leaseExpiry:    func() float64 { return float64(n.leaseExpiry()) },
	}
}
