package node

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/sysdump"
)

// clusterSummary is a per-node archive's summary/cluster.json.
// Its Raft part is cluster/membership.json, written as the reader reads it;
// a voted_for node reads role "leader".
type clusterSummary struct {
	sysdump.Membership
	RocksDB storeStats `json:"rocksdb"`
}

// storeStats reports the bbolt store under Neuwerk's RocksDB field names.
type storeStats struct {
	EstimatedNumKeys       uint64 `json:"estimated_num_keys"`
	LiveSSTFilesSizeBytes  uint64 `json:"live_sst_files_size_bytes"`
	TotalSSTFilesSizeBytes uint64 `json:"total_sst_files_size_bytes"`
	MemtableBytes          uint64 `json:"memtable_bytes"`
}

// snapshotMeta is the part of hashicorp's file snapshot meta.json we read.
type snapshotMeta struct {
	ID                 string
	Index              uint64
	Term               uint64
	Configuration      raft.Configuration
	ConfigurationIndex uint64
}

// latestSnapshot reads the newest snapshot's metadata without opening the
// snapshot store (which would write a permissions probe file).
func latestSnapshot(raftDir string) (snapshotMeta, string, bool) {
	dirs, _ := filepath.Glob(filepath.Join(raftDir, "snapshots", "*", "meta.json"))
	var best snapshotMeta
	var bestDir string
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var m snapshotMeta
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if bestDir == "" || m.Index > best.Index {
			best, bestDir = m, filepath.Dir(path)
		}
	}
	return best, bestDir, bestDir != ""
}

// summarizeRaftStore reads term, vote, log bounds and the latest membership
// from a Raft store. applied is the node's last applied index.
func summarizeRaftStore(store *raftboltdb.BoltStore, raftDir string, applied uint64) (clusterSummary, error) {
	var s clusterSummary
	var err error
	if s.CurrentTerm, err = getUint64(store, "CurrentTerm"); err != nil {
		return s, err
	}
	first, err := store.FirstIndex()
	if err != nil {
		return s, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return s, err
	}
	snap, _, hasSnap := latestSnapshot(raftDir)
	s.LastLogIndex = last
	if first > 0 {
		s.LastPurgedIndex = first - 1
	}
	if hasSnap {
		s.LastLogIndex = max(s.LastLogIndex, snap.Index)
		if first == 0 {
			s.LastPurgedIndex = snap.Index
		}
	}
	s.LastAppliedIndex = applied

	// Latest membership: the newest configuration entry in the log, or the
	// snapshot's when it is newer.
	var conf raft.Configuration
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if store.GetLog(i, &l) != nil || l.Type != raft.LogConfiguration {
			continue
		}
		conf, s.MembershipLogIndex = raft.DecodeConfiguration(l.Data), i
		break
	}
	if hasSnap && snap.ConfigurationIndex > s.MembershipLogIndex {
		conf, s.MembershipLogIndex = snap.Configuration, snap.ConfigurationIndex
	}

	voteTerm, _ := getUint64(store, "LastVoteTerm")
	voteAddr, _ := store.Get([]byte("LastVoteCand"))
	servers := append([]raft.Server(nil), conf.Servers...)
	sort.Slice(servers, func(i, j int) bool { return lessNodeID(string(servers[i].ID), string(servers[j].ID)) })
	var voters []string
	s.Nodes = []health.NodeCatchup{}
	for _, srv := range servers {
		role := "voter"
		if srv.Suffrage != raft.Voter {
			role = "learner"
		} else {
			voters = append(voters, string(srv.ID))
		}
		if len(voteAddr) > 0 && string(voteAddr) == string(srv.Address) {
			s.VotedFor, _ = json.Marshal(string(srv.ID))
			s.VoteCommitted = voteTerm == s.CurrentTerm
			role = "leader"
		}
		s.Nodes = append(s.Nodes, health.NodeCatchup{NodeID: string(srv.ID), Addr: string(srv.Address), Role: role})
	}
	s.JointConfigs = [][]string{voters}
	if voters == nil {
		s.JointConfigs = [][]string{{}}
	}
	s.VoterCount = uint64(len(voters))
	s.NodeCount = uint64(len(servers))

	if last >= first && last > 0 {
		s.RocksDB.EstimatedNumKeys = last - first + 1
	}
	s.RocksDB.EstimatedNumKeys += 4 // term, vote and applied keys
	if st, err := os.Stat(filepath.Join(raftDir, raftDBName)); err == nil {
		s.RocksDB.LiveSSTFilesSizeBytes = uint64(st.Size())
	}
	s.RocksDB.TotalSSTFilesSizeBytes = dirSize(raftDir)
	return s, nil
}

func getUint64(store *raftboltdb.BoltStore, key string) (uint64, error) {
	v, err := store.GetUint64([]byte(key))
	if err != nil && err.Error() == "not found" {
		return 0, nil
	}
	return v, err
}

func dirSize(dir string) uint64 {
	var total uint64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			total += uint64(info.Size())
		}
		return nil
	})
	return total
}

// offlineRaftView reads a (possibly running) node's Raft store for the CLI
// sysdump: bbolt holds an exclusive lock while the daemon runs, so it copies
// raft.db and opens the copy read-only. The last applied index is the one
// the daemon persisted (every 2 s and at shutdown), or the newest
// snapshot's index if that is higher.
func offlineRaftView(raftDir string) (clusterSummary, *storedPolicy, error) {
	tmp, err := os.MkdirTemp("", "neuwerk-raft-copy-")
	if err != nil {
		return clusterSummary{}, nil, err
	}
	defer os.RemoveAll(tmp)
	copyPath := filepath.Join(tmp, raftDBName)
	if err := copyFile(filepath.Join(raftDir, raftDBName), copyPath); err != nil {
		return clusterSummary{}, nil, fmt.Errorf("copy raft store: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        copyPath,
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: time.Second},
	})
	if err != nil {
		return clusterSummary{}, nil, fmt.Errorf("open raft store copy: %w", err)
	}
	defer store.Close()
	snap, snapDir, hasSnap := latestSnapshot(raftDir)
	applied, _ := getUint64(store, appliedKey)
	if hasSnap {
		applied = max(applied, snap.Index)
	}
	if last, err := store.LastIndex(); err == nil && last > 0 {
		applied = min(applied, max(last, snap.Index))
	}
	summary, err := summarizeRaftStore(store, raftDir, applied)
	if err != nil {
		return summary, nil, err
	}
	return summary, replicatedPolicy(store, snapDir), nil
}

// replicatedPolicy finds the newest policy/state in the log, else in the
// latest snapshot.
func replicatedPolicy(store *raftboltdb.BoltStore, snapDir string) *storedPolicy {
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if store.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		var c command
		if json.Unmarshal(l.Data, &c) == nil && c.Op == "set" && c.Key == policyKey {
			if p, err := parsePolicy(c.Value); err == nil {
				return &p
			}
		}
	}
	if snapDir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(snapDir, "state.bin"))
	if err != nil {
		return nil
	}
	var st fsmState
	if json.Unmarshal(data, &st) != nil {
		return nil
	}
	if raw, ok := st.Data[policyKey]; ok {
		if p, err := parsePolicy(raw); err == nil {
			return &p
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
