package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// raftConfig mirrors Neuwerk's openraft settings (facts §8) in hashicorp
// terms: followers wait a random 2–4 s without heartbeats before an election
// (hashicorp randomises between HeartbeatTimeout and twice that), at most 32
// entries per AppendEntries. The leader lease is 1 s (shorter than the
// election timeout, longer than a few missed 200 ms heartbeats on a busy box).
// A demo's node (DemoSettings) uses its shorter election timeout for both,
// and a lease as long.
func (n *node) raftConfig(demo DemoSettings) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.id)
	c.HeartbeatTimeout = 2 * time.Second
	c.ElectionTimeout = 2 * time.Second
	c.LeaderLeaseTimeout = time.Second
	c.CommitTimeout = 50 * time.Millisecond
	c.MaxAppendEntries = 32
	c.SnapshotThreshold = 512
	c.SnapshotInterval = 30 * time.Second
	c.TrailingLogs = 1024
	c.Logger = n.raftLog
	if d := demo.ElectionTimeout(); d > 0 {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = d, d, d
	}
	return c
}

const raftDBName = "raft.db"

// startRaft opens the bbolt log/stable store and the file snapshot store
// under cluster/raft, starts the mTLS transport and Raft. A node without
// state bootstraps the full peer list (every node bootstraps the same
// configuration, which hashicorp documents as safe). In dynamic mode only
// the seed (no join_seed) bootstraps, a single-node membership of itself;
// a joiner starts empty and waits for the leader to add it.
func (n *node) startRaft() error {
	dir := n.cfg.RaftDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, raftDBName),
		BoltOptions: &bbolt.Options{Timeout: 5 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("open raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, n.raftLog)
	if err != nil {
		store.Close()
		return fmt.Errorf("open snapshot store: %w", err)
	}
	stream, err := newTLSStream(n.cfg.Cluster.Bind, n.cfg.Cluster.Advertise, n.cfg.ClusterTLSDir())
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster listener on %s: %w", n.cfg.Cluster.Bind, err)
	}
	base := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, Timeout: 2 * time.Second, Logger: n.raftLog,
	})
	n.store, n.snaps = store, snaps
	n.trans = newPeerTransport(base, n.metrics)

	demo, err := loadDemoSettings(n.paths.Root)
	if err != nil {
		n.closeRaftResources()
		return err
	}
	n.demo = demo
	conf := n.raftConfig(demo)
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		n.closeRaftResources()
		return err
	}
	if !has && (!n.sim.Dynamic || n.cfg.Cluster.JoinSeed == "") {
		var servers []raft.Server
		for _, p := range n.sim.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.NodeID), Address: raft.ServerAddress(p.RaftAddr)})
		}
		if n.sim.Dynamic {
			servers = []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.cfg.Cluster.Advertise)}}
		}
		if err := raft.BootstrapCluster(conf, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			n.closeRaftResources()
			return fmt.Errorf("bootstrap cluster: %w", err)
		}
		n.log.Info("initialised cluster membership", "voters", len(servers))
	}
	r, err := raft.NewRaft(conf, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		n.closeRaftResources()
		return err
	}
	n.raft = r
	n.log.Info("cluster runtime started", "bind", n.cfg.Cluster.Bind, "advertise", n.cfg.Cluster.Advertise)
	if d := demo.ElectionTimeout(); d > 0 {
		n.log.Info("demo mode: short raft election timeout, not neuwerk's 2-4s", "election_timeout", fmt.Sprintf("%v-%v", d, 2*d))
	}
	return nil
}

func (n *node) closeRaftResources() {
	n.trans.Close()
	n.store.Close()
}

// stopRaft shuts Raft down, bounded so a wedged node still exits.
func (n *node) stopRaft() {
	done := make(chan struct{})
	go func() {
		n.raft.Shutdown().Error()
		close(done)
	}()
	select {
	case <-done:
		n.persistApplied()
		n.store.Close()
	case <-time.After(1500 * time.Millisecond):
		n.log.Warn("raft shutdown did not finish in time; exiting anyway")
		n.trans.Close()
	}
}

// appliedKey holds the last applied index in the stable store, so offline
// readers (the CLI sysdump) can report it; hashicorp raft does not persist it.
const appliedKey = "sim/last_applied"

func (n *node) persistApplied() {
	if err := n.store.SetUint64([]byte(appliedKey), n.lastApplied()); err != nil {
		n.log.Debug("persist last applied index", "error", err)
	}
}

// appliedRecorder persists the last applied index every few seconds.
func (n *node) appliedRecorder(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.persistApplied()
		}
	}
}

// configuration is the latest Raft membership.
func (n *node) configuration() []raft.Server {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

func (n *node) isLeader() bool { return n.raft.State() == raft.Leader }

// lastApplied is raft_last_applied: frozen once the stall fault kicked in.
func (n *node) lastApplied() uint64 {
	if v := n.frozenApplied.Load(); v >= 0 {
		return uint64(v)
	}
	return n.raft.AppliedIndex()
}

// observeLeadership counts leader changes and logs them.
func (n *node) observeLeadership(ctx context.Context) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	var last raft.ServerID
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID == last {
				continue
			}
			last = lo.LeaderID
			if lo.LeaderID == "" {
				n.log.Warn("cluster leader lost", "term", n.raft.CurrentTerm())
				continue
			}
			n.metrics.leaderChanges.Inc()
			n.log.Info("cluster leader elected", "leader", string(lo.LeaderID),
				"self", lo.LeaderID == raft.ServerID(n.id), "term", n.raft.CurrentTerm())
			n.kickPolicy()
		}
	}
}

// leaderWrites is the leader's write load: it seeds policy/state once after
// winning if it is absent, then appends a small tick entry every n.tick so
// last_log_index grows and follower lag is real. A demo's leader also
// writes as soon as it wins, not up to a tick later.
func (n *node) leaderWrites(ctx context.Context) {
	t := time.NewTicker(n.tick)
	defer t.Stop()
	var won <-chan bool // nil, never ready, outside demo mode
	if n.demo.ElectionTimeout() > 0 {
		won = n.raft.LeaderCh()
	}
	var barrierTerm uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-won:
		}
		if !n.isLeader() {
			continue
		}
		term := n.raft.CurrentTerm()
		if term != barrierTerm {
			// Apply everything committed before deciding policy/state is absent.
			if err := n.raft.Barrier(time.Second).Error(); err != nil {
				continue
			}
			barrierTerm = term
		}
		cmd := command{Op: "tick", At: time.Now().UnixMilli()}
		if _, ok := n.fsm.get(policyKey); !ok && !n.fsm.stalled.Load() {
			value, _ := json.Marshal(defaultPolicy())
			cmd = command{Op: "set", Key: policyKey, Value: value}
		}
		data, _ := json.Marshal(cmd)
		if err := n.raft.Apply(data, 500*time.Millisecond).Error(); err != nil {
			n.log.Debug("leader write failed", "error", err)
		} else if cmd.Op == "set" {
			n.log.Info("initialised cluster policy state", "key", policyKey)
		}
	}
}

// raftAddrHost returns the IP of a Raft address.
func raftAddrHost(addr raft.ServerAddress) string {
	host, _, err := net.SplitHostPort(string(addr))
	if err != nil {
		return string(addr)
	}
	return host
}
