package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A node without sim-demo.json keeps Neuwerk's Raft timings (facts §8); a
// demo's node takes its short election timeout for the heartbeat and
// election timeouts and the lease, and hashicorp accepts the result.
func TestDemoSettingsShortenOnlyADemosElections(t *testing.T) {
	root := t.TempDir()
	n := &node{id: "1", paths: PathsFor(root), raftLog: hclog.NewNullLogger()}

	d, err := loadDemoSettings(root)
	if err != nil || d.ElectionTimeout() != 0 {
		t.Fatalf("no file: %+v, %v; want no demo mode", d, err)
	}
	c := n.raftConfig(d)
	if c.HeartbeatTimeout != 2*time.Second || c.ElectionTimeout != 2*time.Second || c.LeaderLeaseTimeout != time.Second {
		t.Errorf("outside demo mode: heartbeat %v, election %v, lease %v; want Neuwerk's 2s, 2s, 1s",
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout)
	}

	if err := WriteDemoSettings(root, DemoSettings{ElectionTimeoutMillis: 500}); err != nil {
		t.Fatal(err)
	}
	if d, err = loadDemoSettings(root); err != nil || d.ElectionTimeout() != 500*time.Millisecond {
		t.Fatalf("demo settings read back as %+v, %v", d, err)
	}
	c = n.raftConfig(d)
	if c.HeartbeatTimeout != 500*time.Millisecond || c.ElectionTimeout != 500*time.Millisecond || c.LeaderLeaseTimeout != 500*time.Millisecond {
		t.Errorf("demo mode: heartbeat %v, election %v, lease %v; want 500ms each", c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout)
	}
	if err := raft.ValidateConfig(c); err != nil {
		t.Errorf("demo raft config: %v", err)
	}
}

func TestDemoSettingsRefuseNonsense(t *testing.T) {
	root := t.TempDir()
	if err := WriteDemoSettings(root, DemoSettings{ElectionTimeoutMillis: 10}); err == nil {
		t.Error("a 10ms election timeout was written")
	}
	if _, err := os.Stat(DemoSettingsPath(root)); !os.IsNotExist(err) {
		t.Errorf("a refused setting left a file: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(DemoSettingsPath(root)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(DemoSettingsPath(root), []byte(`{"election_timeout": 500}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDemoSettings(root); err == nil {
		t.Error("an unknown field was accepted")
	}
}
