package rollout

// Benchmarks of the engine against a simulated cluster over real OpenSSH
// (issue §5). Run them one at a time; each brings up its own cluster:
//
//	go test ./rollout -run '^$' -bench BenchmarkRolloutOverhead -benchtime 1x
//	go test ./rollout -run '^$' -bench BenchmarkStage64MiB -benchtime 3x
//	go test ./rollout -run '^$' -bench BenchmarkStatus -benchtime 10x
//	go test ./rollout -run '^$' -bench 'BenchmarkStop$' -benchtime 3x

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

func requireBenchE2E(b *testing.B) {
	b.Helper()
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	if _, err := os.Stat(sim.SSHD); err != nil {
		b.Skipf("%s not installed (apt-get install openssh-server)", sim.SSHD)
	}
}

// benchEnv brings up a cluster over OpenSSH and returns an Env on it.
func benchEnv(b *testing.B, nodes int) (*sim.Cluster, Env) {
	b.Helper()
	requireBenchE2E(b)
	c := simtest.Start(b, sim.Options{SSH: sim.SSHOpenSSH, Nodes: nodes, Out: io.Discard})
	return c, envFor(b, c, b.TempDir())
}

// BenchmarkRolloutOverhead times `upgrade --yes --backup-reuse` of 3 nodes
// from 1.0.0 to 1.1.0 and compares it with the cluster's own unavoidable
// waits, read from the simulator's service logs: for each node, from
// "Stopping neuwerk.service" to ready again (DHCP lease, policy replicated
// and a leader known, whichever is last), plus the stabilisation window the
// gates must hold for. ratio = rollout / waits.
func BenchmarkRolloutOverhead(b *testing.B) {
	c, env := benchEnv(b, 3)
	ctx := context.Background()
	rel, err := release.Load(filepath.Join(c.Dir(), "releases", "1.1.0"))
	if err != nil {
		b.Fatal(err)
	}
	window := env.Inventory.Gates.Stabilisation
	if p := os.Getenv("NWROLL_BENCH_LOG"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		env.Out = f
	}
	var total, waits time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		setID := benchBackupSet(b, env)
		b.StartTimer()
		start := time.Now()
		code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: rel, Backup: runbook.BackupReuse, BackupSet: setID}})
		took := time.Since(start)
		b.StopTimer()
		if code != runbook.ExitOK {
			b.Fatalf("upgrade: exit %d, %v", code, err)
		}
		w := benchWaits(b, c, start, window)
		total += took
		waits += w
		b.Logf("run %d: rollout %s, unavoidable waits %s (window %s), ratio %.3f", i+1, took.Round(time.Millisecond), w.Round(time.Millisecond), window, took.Seconds()/w.Seconds())
		if i+1 < b.N {
			if code, err := Rollback(ctx, env, RollbackOptions{}); code != runbook.ExitOK {
				b.Fatalf("rollback: exit %d, %v", code, err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "rollout-s/op")
	b.ReportMetric(waits.Seconds()/float64(b.N), "waits-s/op")
	b.ReportMetric(total.Seconds()/waits.Seconds(), "ratio")
}

// benchBackupSet takes a live backup of every node (a set to reuse).
func benchBackupSet(b *testing.B, env Env) string {
	b.Helper()
	ctx := context.Background()
	x, err := env.executor(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	if _, err := executor.SurveyCluster(ctx, x, false); err != nil {
		b.Fatal(err)
	}
	var id string
	for _, n := range x.NodeNames() {
		info, err := x.Backup(ctx, n, runbook.BackupLive)
		if err != nil {
			b.Fatal(err)
		}
		id = info.Set
	}
	return id
}

// benchWaits reads every node's service log for the restarts after since.
func benchWaits(b *testing.B, c *sim.Cluster, since time.Time, window time.Duration) time.Duration {
	b.Helper()
	var sum time.Duration
	for _, n := range c.Info().Nodes {
		stop, ready, err := restartToReady(n.Log, since)
		if err != nil {
			b.Fatalf("%s: %v", n.Name, err)
		}
		b.Logf("  %s: stopped %s, ready again %s later", n.Name, stop.Format("15:04:05.000"), ready.Sub(stop).Round(time.Millisecond))
		sum += ready.Sub(stop) + window
	}
	return sum
}

// restartToReady finds in a node's neuwerk.log the first stop after since
// and when the node was ready again after the start that followed.
func restartToReady(logPath string, since time.Time) (stop, ready time.Time, err error) {
	f, err := os.Open(logPath)
	if err != nil {
		return stop, ready, err
	}
	defer f.Close()
	var started bool
	var lease, policy, leader time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		ts, ok := logTime(l, since)
		if !ok || ts.Before(since) {
			continue
		}
		switch {
		case stop.IsZero() && strings.Contains(l, "Stopping neuwerk.service"):
			stop = ts
		case !stop.IsZero() && !started && strings.Contains(l, "Started neuwerk.service"):
			started = true
		case started && lease.IsZero() && strings.Contains(l, "dhcp lease acquired"):
			lease = ts
		case started && policy.IsZero() && strings.Contains(l, "policy replicated"):
			policy = ts
		case started && leader.IsZero() && strings.Contains(l, "cluster leader elected"):
			leader = ts
		}
	}
	if stop.IsZero() || lease.IsZero() || policy.IsZero() || leader.IsZero() {
		return stop, ready, fmt.Errorf("no complete restart after %s in %s", since.Format(time.RFC3339), logPath)
	}
	ready = lease
	for _, t := range []time.Time{policy, leader} {
		if t.After(ready) {
			ready = t
		}
	}
	return stop, ready, nil
}

// logTime parses the two timestamp shapes of a simulated node's log: the
// service manager's "Nov 23 21:11:53.232 ..." and the node's RFC 3339.
func logTime(l string, ref time.Time) (time.Time, bool) {
	if f := strings.Fields(l); len(f) > 0 {
		if t, err := time.Parse(time.RFC3339Nano, f[0]); err == nil {
			return t, true
		}
	}
	if len(l) >= 19 {
		if t, err := time.ParseInLocation("Jan _2 15:04:05.000", l[:19], time.Local); err == nil {
			return t.AddDate(ref.Year(), 0, 0), true
		}
	}
	return time.Time{}, false
}

// BenchmarkStatus times `nwroll status` (connect over SSH, mint a token,
// read files and locks, poll) on 3 and 25 nodes, with fresh SSH
// connections every time, as each CLI invocation has.
func BenchmarkStatus(b *testing.B) {
	for _, n := range []int{3, 25} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c, env := benchEnv(b, n)
			ctx := context.Background()
			var mu sync.Mutex
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := remote.NewSSHDialer(remote.SSHOptions{AgentSocket: "none"})
				env.Dialer = d
				rep, err := Status(ctx, env)
				d.Close()
				if err != nil {
					b.Fatal(err)
				}
				mu.Lock()
				if len(rep.Nodes) != n {
					b.Fatalf("status: %d nodes", len(rep.Nodes))
				}
				mu.Unlock()
			}
			_ = c
		})
	}
}
