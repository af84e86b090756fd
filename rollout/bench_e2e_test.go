package rollout

// Benchmarks of the engine against a simulated cluster over real OpenSSH
// (issue §5). Run them one at a time; each brings up its own cluster:
//
//	go test ./rollout -run '^$' -bench BenchmarkRolloutOverhead -benchtime 2x
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
	"syscall"
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

// BenchmarkRolloutOverhead times `upgrade --yes` of 3 nodes from 1.0.0 to
// 1.1.0, with quiesced backups (the default) and with --backup-reuse, and
// compares it with the cluster's own waits, read from the simulator's
// service logs (benchRestarts): for every restart in the run, a quiesced
// backup's and the upgrade's, the node's shutdown (SIGTERM to exit) and
// its way from start to ready, plus the window the gates must hold for.
// Everything else is nwroll's: the client's part of a stop, what it does
// between the exit and the start, the gates' latency, and all before the
// first stop and after the last gate.
// ratio = rollout / waits; ratio-sigterm-to-ready counts each restart from
// its SIGTERM to ready (the exit-to-start gap as the cluster's).
func BenchmarkRolloutOverhead(b *testing.B) {
	for _, mode := range []runbook.BackupMode{runbook.BackupQuiesced, runbook.BackupReuse} {
		b.Run("backup="+mode.String(), func(b *testing.B) { benchRollout(b, mode) })
	}
}

func benchRollout(b *testing.B, mode runbook.BackupMode) {
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
		env.Out, env.JSON = f, os.Getenv("NWROLL_BENCH_JSON") != ""
	}
	var total, waits, loose time.Duration
	var late windowLate
	env.OnMachine = late.watch
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		opts := PlanOptionsIn{Release: rel, Backup: mode}
		if mode == runbook.BackupReuse {
			opts.BackupSet = benchBackupSet(b, env)
		}
		b.StartTimer()
		start := time.Now()
		code, err := Upgrade(ctx, env, UpgradeOptions{PlanOptionsIn: opts})
		took := time.Since(start)
		b.StopTimer()
		if code != runbook.ExitOK {
			b.Fatalf("upgrade: exit %d, %v", code, err)
		}
		w, lw, n := benchWaits(b, c, start, start.Add(took), window)
		total += took
		waits += w
		loose += lw
		b.Logf("run %d: rollout %s, %d restarts, the cluster's waits %s (window %s each), ratio %.3f",
			i+1, took.Round(time.Millisecond), n, w.Round(time.Millisecond), window, took.Seconds()/w.Seconds())
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
	b.ReportMetric(total.Seconds()/loose.Seconds(), "ratio-sigterm-to-ready")
	b.ReportMetric(float64(late.sum.Milliseconds())/float64(max(late.n, 1)), "pass-after-window-ms")
	b.ReportMetric(float64(late.worst.Milliseconds()), "worst-pass-after-window-ms")
}

// windowLate measures, for every held gate, how long after its window's
// end (held since + hold) the machine saw it pass.
type windowLate struct {
	step       runbook.StepID
	end        time.Time
	sum, worst time.Duration
	n          int
}

func (w *windowLate) watch(m runbook.Machine) {
	g := m.Gate
	if g.Open && g.Hold > 0 && !g.HeldSince().IsZero() {
		w.step, w.end = g.Step, g.HeldSince().Add(g.Hold)
		return
	}
	if w.end.IsZero() {
		return
	}
	if s, ok := m.StepByID(w.step); ok && (s.Status == runbook.StatusDone || !g.Open || g.Step != w.step) {
		if s.Status == runbook.StatusDone {
			d := time.Since(w.end)
			w.sum += d
			w.worst = max(w.worst, d)
			w.n++
		}
		w.end = time.Time{}
	}
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

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// benchWaits sums, over every restart of every node between from and to,
// the cluster's wait plus window (and SIGTERM to ready plus window: the
// looser count, which gives the cluster the time between exit and start),
// and counts the restarts.
func benchWaits(b *testing.B, c *sim.Cluster, from, to time.Time, window time.Duration) (sum, loose time.Duration, count int) {
	b.Helper()
	for _, n := range c.Info().Nodes {
		rs, err := benchRestarts(n.Log, from, to)
		if err != nil {
			b.Fatalf("%s: %v", n.Name, err)
		}
		for _, r := range rs {
			b.Logf("  %s: SIGTERM %s, exited %s later, started %s after that, ready %s later",
				n.Name, r.stop.Format("15:04:05.000"), ms(r.exited.Sub(r.stop)), ms(r.started.Sub(r.exited)), ms(r.ready.Sub(r.started)))
			sum += r.wait() + window
			loose += r.ready.Sub(r.stop) + window
			count++
		}
	}
	return sum, loose, count
}

// restart is one stop and start of a node's service, as its log tells:
// the SIGTERM, the exit, the next start, and ready again.
type restart struct{ stop, exited, started, ready time.Time }

// wait is the cluster's own part of a restart: the node's shutdown, and
// its way back to ready. What nwroll does between the exit and the start
// (keep .prev, swap, a quiesced backup's tar) is nwroll's.
func (r restart) wait() time.Duration { return r.exited.Sub(r.stop) + r.ready.Sub(r.started) }

// benchRestarts reads a node's neuwerk.log for the restarts between from
// and to: each from "Stopping neuwerk.service" (the SIGTERM) to the exit
// ("Stopped"), and from the next start to ready again: its DHCP lease
// and its policy replicated from the cluster, whichever is last (the
// replication needs a leader, so it also says one is known; a follower
// may log no election after its restart, and its next one can come with
// a later restart of another node).
func benchRestarts(logPath string, from, to time.Time) ([]restart, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []restart
	var cur *restart
	var started bool
	var lease, policy time.Time
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.exited.IsZero() || cur.started.IsZero() || lease.IsZero() || policy.IsZero() {
			return fmt.Errorf("the restart at %s in %s never got ready again", cur.stop.Format(time.RFC3339Nano), logPath)
		}
		cur.ready = lease
		if policy.After(lease) {
			cur.ready = policy
		}
		out = append(out, *cur)
		cur = nil
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		ts, ok := logTime(l, from)
		if !ok || ts.Before(from) || ts.After(to) {
			continue
		}
		switch {
		case strings.Contains(l, "Stopping neuwerk.service"):
			if err := finish(); err != nil {
				return nil, err
			}
			cur, started = &restart{stop: ts}, false
			lease, policy = time.Time{}, time.Time{}
		case cur == nil:
		case cur.exited.IsZero() && strings.Contains(l, "Stopped neuwerk.service"):
			cur.exited = ts
		case !started && strings.Contains(l, "Started neuwerk.service"):
			started, cur.started = true, ts
		case started && lease.IsZero() && strings.Contains(l, "dhcp lease acquired"):
			lease = ts
		case started && policy.IsZero() && strings.Contains(l, "policy replicated"):
			policy = ts
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, sc.Err()
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
// connections every time, as each CLI invocation has. client-cpu-ms is
// this process's CPU per status: nwroll's own work, apart from the
// simulated nodes' sshd, shells and services, which share this machine's
// cores (on a real fleet each node does its part on its own).
func BenchmarkStatus(b *testing.B) {
	for _, n := range []int{3, 25} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			_, env := benchEnv(b, n)
			ctx := context.Background()
			cpu0 := selfCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d := remote.NewSSHDialer(remote.SSHOptions{AgentSocket: "none"})
				env.Dialer = d
				rep, err := Status(ctx, env)
				d.Close()
				if err != nil {
					b.Fatal(err)
				}
				if len(rep.Nodes) != n {
					b.Fatalf("status: %d nodes", len(rep.Nodes))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((selfCPU()-cpu0).Milliseconds())/float64(b.N), "client-cpu-ms/op")
		})
	}
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
