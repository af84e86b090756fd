package release_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// TestMain is the package's only TestMain: the test binary runs the
// simulated nodes and supervisor (sim.Dispatch).
func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

// The simulator's real DIR/releases are valid releases, and a simulated
// node's installed binary is identified by its sha256.
func TestReleaseCatalogSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	c := simtest.Start(t, sim.Options{Nodes: 1})
	info := c.Info()
	known, warnings, err := release.LoadCatalog(filepath.Join(c.Dir(), "releases"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if len(known) != len(sim.Releases) {
		t.Fatalf("catalog has %d releases, the simulator wrote %d", len(known), len(sim.Releases))
	}
	for _, r := range known {
		want, ok := info.Releases[r.Version]
		if !ok {
			t.Errorf("catalog release %s is not in sim.json", r.Version)
			continue
		}
		if r.SHA256 != want.SHA256 || r.BinaryPath != want.Binary {
			t.Errorf("release %s: sha %s binary %s; sim.json says %s %s", r.Version, r.SHA256, r.BinaryPath, want.SHA256, want.Binary)
		}
	}
	node := info.Nodes[0]
	sha, err := release.FileSHA256(node.Binary)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := known.Version(sha); got != info.Release {
		t.Errorf("node %s runs %q, sim.json says %s", node.Name, got, info.Release)
	}
	// A binary that matches no release (an edited copy) is unknown.
	b, _ := os.ReadFile(node.Binary)
	if got, ok := known.Version(release.RelTestSHA(append(b, '#'))); ok {
		t.Errorf("edited binary identified as %q", got)
	}
	// The simulator's 1.1.0 is also loadable directly and as a tar.gz.
	r, err := release.Load(filepath.Join(c.Dir(), "releases", "1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	arc := filepath.Join(t.TempDir(), "1.1.0.tar.gz")
	release.RelTestTarGz(t, arc, release.RelTestDirEntries(t, r.Dir, "1.1.0"))
	rt, err := release.Load(arc)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Cleanup()
	if rt.SHA256 != r.SHA256 || rt.Version != "1.1.0" {
		t.Errorf("tar.gz of sim release: %+v", rt)
	}
}
