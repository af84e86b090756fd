package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Cluster states recorded in sim.json.
const (
	// StateStarting: `sim up` is building the cluster or waiting for it.
	StateStarting = "starting"
	// StateUp: the cluster was ready when `sim up` returned.
	StateUp = "up"
	// StateDown: `sim down` stopped every process. DIR's files stay for
	// reading; a new `sim up` on DIR replaces them with a fresh cluster.
	StateDown = "down"
)

// File names inside DIR (docs/sim.md).
const (
	infoFile       = "sim.json"
	inventoryFile  = "inventory.yaml"
	knownHostsFile = "known_hosts"
	clientKeyFile  = "client_key"
	authKeysFile   = "authorized_keys"
	supervisorPid  = "supervisor.pid"
	supervisorSock = "supervisor.sock"
	supervisorLog  = "supervisor.log"
	runDir         = "run"  // pid records
	pidsFile       = "pids" // run/pids: every process the cluster started, one "PID KIND NAME" a line
	simBinary      = "nwroll-sim"
)

// layoutNames are the top-level entries `sim up` creates in DIR; a fresh
// `sim up` on a down cluster removes exactly these.
var layoutNames = []string{
	infoFile, inventoryFile, knownHostsFile, clientKeyFile, clientKeyFile + ".pub", authKeysFile,
	supervisorPid, supervisorSock, supervisorLog, runDir, "bin", "ca", "releases", "nodes", cloudFile,
}

// Info is sim.json: the machine-readable description of a simulated cluster.
type Info struct {
	Cluster string `json:"cluster"`
	Block   int    `json:"block"`
	SSHMode string `json:"ssh_mode"`
	Dir     string `json:"dir"`
	State   string `json:"state"`
	Release string `json:"release"` // installed on every node by `sim up`
	Warmup  string `json:"warmup"`
	// Dynamic: the nodes use dynamic Raft membership (Options.Dynamic).
	Dynamic         bool   `json:"dynamic,omitempty"`
	JoinViaFollower string `json:"join_via_follower,omitempty"`
	// Cloud is the provider in cloud mode (Options.Cloud): the supervisor
	// serves its fake at CloudURL, whose group CloudGroup holds the nodes
	// as instances; the group is in CloudRegion (AWS, GCP), CloudProject
	// (GCP), CloudSubscription and CloudResourceGroup (Azure).
	Cloud              string                 `json:"cloud,omitempty"`
	CloudURL           string                 `json:"cloud_url,omitempty"`
	CloudRegion        string                 `json:"cloud_region,omitempty"`
	CloudProject       string                 `json:"cloud_project,omitempty"`
	CloudSubscription  string                 `json:"cloud_subscription,omitempty"`
	CloudResourceGroup string                 `json:"cloud_resource_group,omitempty"`
	CloudGroup         string                 `json:"cloud_group,omitempty"`
	Inventory          string                 `json:"inventory"`
	CAPath             string                 `json:"ca_path"`
	ClientKey          string                 `json:"client_key"`
	KnownHosts         string                 `json:"known_hosts"`
	Executable         string                 `json:"executable"` // DIR/bin/nwroll-sim
	Releases           map[string]ReleaseInfo `json:"releases"`
	Nodes              []NodeInfo             `json:"nodes"`
	CreatedAt          time.Time              `json:"created_at"`
	// Owner is the process the cluster goes down with (Options.Owner).
	Owner *Owner `json:"owner,omitempty"`
}

// Owner is a process by its pid and its start time (clock ticks since
// boot, /proc/PID/stat), so a recycled pid is not taken for it.
type Owner struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// ReleaseInfo describes one release directory under DIR/releases.
type ReleaseInfo struct {
	Dir    string `json:"dir"`
	Binary string `json:"binary"`
	SHA256 string `json:"sha256"`
	Fault  string `json:"fault"`
}

// NodeInfo describes one simulated node.
type NodeInfo struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	SSHAddr    string `json:"ssh_addr"`
	SSHUser    string `json:"ssh_user"`
	ClientKey  string `json:"client_key"`
	KnownHosts string `json:"known_hosts"`
	APIURL     string `json:"api_url"`
	MetricsURL string `json:"metrics_url"`
	RaftAddr   string `json:"raft_addr"`
	JoinAddr   string `json:"join_addr"`
	CAPath     string `json:"ca_path"`
	NodeUUID   string `json:"node_uuid"`
	NodeID     string `json:"node_id"`
	NodeDir    string `json:"node_dir"`
	DataRoot   string `json:"data_root"`
	Binary     string `json:"binary"`
	BackupDir  string `json:"backup_dir"`
	Log        string `json:"log"`
	// InstanceID is the node's instance in the fake AWS (cloud mode).
	InstanceID string `json:"instance_id,omitempty"`
	// State is "" for a node of the running cluster and NodeTerminated once
	// Terminate removed it; its record and files stay for reading.
	State        string     `json:"state,omitempty"`
	LaunchedAt   *time.Time `json:"launched_at,omitempty"` // set by Launch
	TerminatedAt *time.Time `json:"terminated_at,omitempty"`
}

// NodeTerminated is NodeInfo.State of a node Terminate removed.
const NodeTerminated = "terminated"

// Terminated reports whether Terminate removed the node.
func (n NodeInfo) Terminated() bool { return n.State == NodeTerminated }

// LiveNodes lists the nodes not terminated, oldest first.
func (in *Info) LiveNodes() []NodeInfo {
	var out []NodeInfo
	for _, n := range in.Nodes {
		if !n.Terminated() {
			out = append(out, n)
		}
	}
	return out
}

// ErrNoCluster is returned (wrapped) by Open when DIR holds no simulated cluster.
var ErrNoCluster = errors.New("no simulated cluster")

// Node returns the node called name.
func (in *Info) Node(name string) (NodeInfo, bool) {
	for _, n := range in.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeInfo{}, false
}

// NodeNames lists the node names in order.
func (in *Info) NodeNames() []string {
	names := make([]string, len(in.Nodes))
	for i, n := range in.Nodes {
		names[i] = n.Name
	}
	return names
}

func readInfo(dir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dir, infoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s holds %w (no %s); start one with 'nwroll sim up --dir %s'", dir, ErrNoCluster, infoFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %v; it is not a simulator's sim.json", filepath.Join(dir, infoFile), err)
	}
	if len(in.Nodes) == 0 || in.Dir == "" {
		return nil, fmt.Errorf("%s: no nodes; it is not a simulator's sim.json", filepath.Join(dir, infoFile))
	}
	return &in, nil
}

func writeInfo(in *Info) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(in.Dir, infoFile), append(b, '\n'), 0o644)
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so readers never see half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return copyAtomic(path, bytes.NewReader(data), perm)
}

// copyAtomic copies r to a temporary file beside path, sets perm and renames
// it into place.
func copyAtomic(path string, r io.Reader, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// absDir cleans and absolutises a --dir value.
func absDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory given (--dir DIR)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, nil
}
