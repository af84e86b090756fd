package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// NodeSpec is everything needed to lay out one node's root. The CAs, keyset
// and bootstrap tokens are shared by all nodes of a cluster.
type NodeSpec struct {
	Name      string // host name, e.g. fw-a
	IP        string // the node's IP: HTTPS, metrics, Raft and join listeners
	UUID      string // contents of var/lib/neuwerk/node_id
	JoinSeed  string // the seed's IP; empty on the seed itself
	HTTPCA    *CA
	ClusterCA *CA
	Keyset    APIKeyset
	Tokens    BootstrapTokens
	Sim       SimSettings // Peers must list every node, this one included
	// Integration, when set, is config.yaml's integration section.
	Integration *IntegrationConfig
}

// WriteNodeTree lays out a node root: config.yaml, sim-node.json, etc files,
// node_id, bootstrap-token (0600), HTTPS and cluster TLS material, the API
// keyset (0600), local policy store, compliance file and empty backup/log
// dirs. It does not install the neuwerk binary. Existing files are replaced.
func WriteNodeTree(root string, spec NodeSpec) error {
	if spec.HTTPCA == nil || spec.ClusterCA == nil {
		return errors.New("write node tree: both CAs are required")
	}
	if spec.Name == "" || spec.IP == "" || spec.UUID == "" {
		return errors.New("write node tree: name, IP and UUID are required")
	}
	p := PathsFor(root)
	cfg := NodeConfig(root, spec.IP, spec.JoinSeed)
	if spec.Integration != nil {
		cfg.Integration = *spec.Integration
	}
	cfgYAML, err := cfg.Marshal()
	if err != nil {
		return err
	}
	sim := spec.Sim
	if sim.Name == "" {
		sim.Name = spec.Name
	}
	simJSON, err := sim.Marshal()
	if err != nil {
		return err
	}
	keysetJSON, err := spec.Keyset.Marshal()
	if err != nil {
		return err
	}
	tokensJSON, err := spec.Tokens.Marshal()
	if err != nil {
		return err
	}
	httpCert, httpKey, err := spec.HTTPCA.IssueServer(spec.IP)
	if err != nil {
		return err
	}
	clusterCert, clusterKey, err := spec.ClusterCA.IssueServer(spec.IP)
	if err != nil {
		return err
	}
	machineID := make([]byte, 16)
	if _, err := rand.Read(machineID); err != nil {
		return err
	}
	policy, err := json.MarshalIndent(defaultPolicy(), "", "  ")
	if err != nil {
		return err
	}

	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{p.Config, cfgYAML, 0o644},
		{p.SimSettings, simJSON, 0o644},
		{filepath.Join(root, "etc", "hostname"), []byte(spec.Name + "\n"), 0o644},
		{filepath.Join(root, "etc", "hosts"), []byte(fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", spec.IP, spec.Name)), 0o644},
		{filepath.Join(root, "etc", "os-release"), []byte(osRelease), 0o644},
		{filepath.Join(root, "etc", "machine-id"), []byte(hex.EncodeToString(machineID) + "\n"), 0o444},
		{p.NodeID, []byte(spec.UUID + "\n"), 0o644},
		{p.BootstrapToken, tokensJSON, 0o600},
		{filepath.Join(p.HTTPTLSDir, "ca.crt"), spec.HTTPCA.CertPEM, 0o644},
		{filepath.Join(p.HTTPTLSDir, "node.crt"), httpCert, 0o644},
		{filepath.Join(p.HTTPTLSDir, "node.key"), httpKey, 0o600},
		{p.APIAuth, keysetJSON, 0o600},
		{filepath.Join(p.ClusterTLSDir, "ca.crt"), spec.ClusterCA.CertPEM, 0o644},
		{filepath.Join(p.ClusterTLSDir, "node.crt"), clusterCert, 0o644},
		{filepath.Join(p.ClusterTLSDir, "node.key"), clusterKey, 0o600},
		{filepath.Join(p.DataRoot, "local-policy-store", "policy.json"), append(policy, '\n'), 0o644},
		{filepath.Join(p.DataRoot, "compliance", "cis-waivers.txt"), []byte(cisWaivers), 0o644},
	}
	for _, f := range files {
		if err := writeFileMode(f.path, f.data, f.mode); err != nil {
			return fmt.Errorf("write node tree: %w", err)
		}
	}
	for _, dir := range []string{p.RaftDir, p.BackupDir, filepath.Dir(p.LogFile), p.BinDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write node tree: %w", err)
		}
	}
	return nil
}

// writeFileMode writes data to path (creating parent dirs) and forces mode,
// which os.WriteFile does not do for existing files or under a umask.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

const osRelease = `PRETTY_NAME="Ubuntu 24.04.2 LTS (neuwerk appliance, simulated)"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.2 LTS (Noble Numbat)"
ID=ubuntu
ID_LIKE=debian
`

const cisWaivers = `# CIS benchmark waivers for the neuwerk appliance image
1.1.2.1 /tmp is not a separate partition (cloud image)
`
