package rollout

import (
	"os"
	"testing"

	"github.com/nwroll/nwroll/sim"
)

// TestMain is the package's only TestMain. The test binary runs the
// simulated nodes and supervisor (sim.Dispatch).
func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}
