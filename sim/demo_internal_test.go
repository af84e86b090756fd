package sim

import (
	"os"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim/node"
)

// Only a demo's cluster is built in demo mode: with DemoElectionTimeout
// every node has sim-demo.json, without it none has.
func TestBuildWritesDemoModeOnlyForTheDemo(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, demo := range []time.Duration{0, DemoElectionTimeout} {
		opts := Options{Dir: t.TempDir(), Nodes: 3, DemoElectionTimeout: demo}
		if err := opts.defaults(); err != nil {
			t.Fatal(err)
		}
		info, err := build(opts.Dir, exe, 250, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range info.Nodes {
			data, err := os.ReadFile(node.DemoSettingsPath(n.NodeDir))
			switch {
			case demo == 0 && !os.IsNotExist(err):
				t.Errorf("%s: a faithful cluster has %s (%v)", n.Name, node.DemoSettingsPath(n.NodeDir), err)
			case demo > 0 && err != nil:
				t.Errorf("%s: the demo's node has no demo settings: %v", n.Name, err)
			case demo > 0 && string(data) != "{\n  \"election_timeout_millis\": 500\n}\n":
				t.Errorf("%s: demo settings %q", n.Name, data)
			}
		}
	}
	if got := DemoLine(DemoElectionTimeout); got != "Raft elections after 500ms–1s without a leader, Neuwerk's take 2–4s" {
		t.Errorf("DemoLine = %q", got)
	}
}
