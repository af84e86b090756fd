package journal

import (
	"os"
	"testing"
)

// TestMain is the package's only TestMain. The test binary doubles as the
// child process of the journal's kill -9 test.
func TestMain(m *testing.M) {
	if os.Getenv(journalChildEnv) != "" {
		os.Exit(journalTestChild())
	}
	os.Exit(m.Run())
}
