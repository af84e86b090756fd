package tui

import (
	"os"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
)

func TestMain(m *testing.M) {
	sim.Dispatch() // the test binary also runs the simulated nodes
	time.Local = time.UTC
	os.Exit(m.Run())
}
