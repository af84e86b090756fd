package rollout

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The plan shows a path only when every node uses it; per-node paths show
// as a placeholder, never as a default the nodes do not use.
func TestPlanOptionsForPaths(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(nodes string) *inventory.Inventory {
		t.Helper()
		doc := "cluster: c\nssh:\n  known_hosts: " + kh + "\nnodes:\n" + nodes
		inv, err := inventory.Parse("inv.yaml", []byte(doc), inventory.Options{SSHConfig: "none"})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	shared := PlanOptionsFor(load("  - {name: a, host: 10.0.0.1}\n  - {name: b, host: 10.0.0.2}\n"), PlanOptionsIn{Backup: runbook.BackupQuiesced}, false)
	if shared.Binary != "/opt/neuwerk/bin/neuwerk" || shared.DataRoot != "/var/lib/neuwerk" {
		t.Errorf("shared paths: %q %q", shared.Binary, shared.DataRoot)
	}
	per := PlanOptionsFor(load("  - {name: a, host: 10.0.0.1, paths: {binary: /x/neuwerk}}\n  - {name: b, host: 10.0.0.2}\n"), PlanOptionsIn{Backup: runbook.BackupQuiesced}, false)
	if per.Binary != "<binary>" || per.DataRoot != "/var/lib/neuwerk" {
		t.Errorf("per-node binary: %q, data root %q", per.Binary, per.DataRoot)
	}
}
