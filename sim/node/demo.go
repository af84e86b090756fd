package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The simulator's demo mode (`nwroll demo`): Raft timings shorter than
// Neuwerk's, so a demo's cluster elects its first leader in about a second
// instead of 2–4 s. Only the demo writes the file; every other cluster (sim
// up, the tests) keeps Neuwerk's timings (facts §8). The console says so on
// screen when it runs on a demo's cluster.

// DemoSettings is etc/neuwerk/sim-demo.json, present only on a demo's nodes.
type DemoSettings struct {
	// ElectionTimeoutMillis replaces the 2 s heartbeat and election
	// timeout: a follower without a leader starts an election after a
	// random 1–2× this (Neuwerk: 2–4 s).
	ElectionTimeoutMillis int `json:"election_timeout_millis"`
}

// ElectionTimeout is the demo's election timeout, 0 when it keeps Neuwerk's.
func (d DemoSettings) ElectionTimeout() time.Duration {
	return time.Duration(max(d.ElectionTimeoutMillis, 0)) * time.Millisecond
}

// DemoSettingsPath is where a node root keeps its demo settings.
func DemoSettingsPath(root string) string {
	return filepath.Join(root, "etc", "neuwerk", "sim-demo.json")
}

// WriteDemoSettings puts a node rooted at root in demo mode.
func WriteDemoSettings(root string, d DemoSettings) error {
	if d.ElectionTimeout() < 50*time.Millisecond {
		return fmt.Errorf("demo election timeout %v: at least 50ms", d.ElectionTimeout())
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeFileMode(DemoSettingsPath(root), append(data, '\n'), 0o644)
}

// loadDemoSettings reads a node's demo settings; a node without the file
// is not in demo mode (the zero DemoSettings).
func loadDemoSettings(root string) (DemoSettings, error) {
	data, err := os.ReadFile(DemoSettingsPath(root))
	if errors.Is(err, os.ErrNotExist) {
		return DemoSettings{}, nil
	}
	if err != nil {
		return DemoSettings{}, fmt.Errorf("read demo settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d DemoSettings
	if err := dec.Decode(&d); err != nil {
		return DemoSettings{}, fmt.Errorf("%s: invalid demo settings: %w", DemoSettingsPath(root), err)
	}
	return d, nil
}
