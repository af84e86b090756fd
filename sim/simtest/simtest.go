// Package simtest starts simulated Neuwerk clusters for tests.
//
// The test package's TestMain must call sim.Dispatch first thing, because the
// test binary itself runs the simulated nodes and the supervisor:
//
//	func TestMain(m *testing.M) {
//		sim.Dispatch()
//		os.Exit(m.Run())
//	}
package simtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
)

// Start brings a cluster up in a fresh t.TempDir() (unless opts.Dir is set)
// and registers its Down in t.Cleanup: the cluster always comes down, even
// when the test fails. On failure the node logs and the supervisor log are
// written to the test log. A failed Up fails the test at once.
func Start(t testing.TB, opts sim.Options) *sim.Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Warmup == 0 {
		opts.Warmup = time.Second
	}
	if opts.Out == nil {
		opts.Out = testWriter{t}
	}
	dir := opts.Dir
	t.Cleanup(func() {
		if t.Failed() {
			DumpLogs(t, dir)
		}
		c, err := sim.Open(dir)
		if err != nil {
			return // Up never wrote sim.json
		}
		if err := c.Down(); err != nil {
			t.Errorf("simtest: bring cluster in %s down: %v", dir, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := sim.Up(ctx, opts)
	if err != nil {
		t.Fatalf("simtest: sim up: %v", err)
	}
	return c
}

// dumpTail keeps a failure's log dump short enough that the failure message
// itself stays in view of a CI log's tail.
const dumpTail = 20

// DumpLogs writes the tail of the supervisor log and of every node's
// neuwerk.log (and sshd.log) in dir to the test log.
func DumpLogs(t testing.TB, dir string) {
	t.Helper()
	logs := []string{filepath.Join(dir, "supervisor.log")}
	nodes, _ := filepath.Glob(filepath.Join(dir, "nodes", "*"))
	for _, n := range nodes {
		logs = append(logs, filepath.Join(n, "var", "log", "neuwerk.log"), filepath.Join(n, "var", "log", "sshd.log"))
	}
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > dumpTail {
			lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-dumpTail)}, lines[len(lines)-dumpTail:]...)
		}
		t.Logf("==== %s ====\n%s", p, strings.Join(lines, "\n"))
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
