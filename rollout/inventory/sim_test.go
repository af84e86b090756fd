package inventory

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

// The inventory `nwroll sim up` writes loads as it is, and every node
// resolves to what sim.json says about it.
func TestLoadSimInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	t.Setenv(EnvSSHConfig, "none") // never the real ~/.ssh/config
	c := simtest.Start(t, sim.Options{Nodes: 3})
	info := c.Info()
	inv, err := Load(info.Inventory)
	if err != nil {
		t.Fatalf("load %s: %v", info.Inventory, err)
	}
	if inv.Cluster != info.Cluster {
		t.Errorf("cluster %q, sim.json %q", inv.Cluster, info.Cluster)
	}
	if inv.API.CAFile != info.CAPath || inv.API.Port != 8443 || inv.API.MetricsPort != 8080 || inv.API.TokenEnv != "NEUWERK_TOKEN" {
		t.Errorf("api = %+v", inv.API)
	}
	if inv.SSH.KnownHosts != info.KnownHosts || !reflect.DeepEqual(inv.SSH.IdentityFiles, []string{info.ClientKey}) || !inv.SSH.Sudo {
		t.Errorf("ssh = %+v", inv.SSH)
	}
	if inv.Gates.Timeout <= 0 || inv.Gates.Stabilisation <= 0 || inv.Gates.Stabilisation >= inv.Gates.Timeout || inv.Gates.Timeout > time.Hour {
		t.Errorf("gates = %+v", inv.Gates)
	}
	nodes := inv.Nodes()
	if len(nodes) != len(info.Nodes) {
		t.Fatalf("%d nodes, sim.json has %d", len(nodes), len(info.Nodes))
	}
	for i, n := range nodes {
		s := info.Nodes[i]
		if n.Name != s.Name || n.SSHAddr() != s.SSHAddr || n.User != s.SSHUser || n.APIURL != s.APIURL || n.MetricsURL != s.MetricsURL {
			t.Errorf("node %d = %+v; sim.json: %+v", i, n, s)
		}
		if n.Paths != (Paths{Binary: s.Binary, DataRoot: s.DataRoot, BackupDir: s.BackupDir}) {
			t.Errorf("node %s paths = %+v; sim.json: %s %s %s", n.Name, n.Paths, s.Binary, s.DataRoot, s.BackupDir)
		}
		if n.KnownHosts != s.KnownHosts || !reflect.DeepEqual(n.IdentityFiles, []string{s.ClientKey}) || len(n.Jump) != 0 || !n.Sudo {
			t.Errorf("node %s ssh = %+v", n.Name, n)
		}
	}
}
