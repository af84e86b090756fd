package rollout

import (
	"os"
	"testing"

	"github.com/nwroll/nwroll/sim"
)

// TestMain is the package's only TestMain. The test binary runs the
// simulated nodes and supervisor (sim.Dispatch), and doubles as the child
// process of the journal's kill -9 test.
func TestMain(m *testing.M) {
	sim.Dispatch()
	if os.Getenv(journalChildEnv) != "" {
		os.Exit(journalTestChild())
	}
	os.Exit(m.Run())
}
