package rollout

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/node"
	"github.com/nwroll/nwroll/sim/simtest"
)

// BenchmarkCloudRollout times `upgrade --yes` of a 3-instance group on the
// simulated cloud (each iteration rolls to the other of 1.0.0 and 1.1.0)
// and splits it, from the run's journal, into the cluster's and the
// cloud's own waits and nwroll's part:
//   - surge-s: the capacity raised until the new instance runs with an address;
//   - join-s: from then until every join check holds (the node boots, joins, is promoted, catches up);
//   - retire-s: the instance deleted until it is gone (AWS: Neuwerk's
//     reconcile, drain, eviction and CompleteLifecycleAction; GCP: the
//     graceful shutdown);
//   - settle-s: from then until every settle check holds (an election after the leader);
//   - window-s: the stabilisation windows the gates hold for (policy, not waiting);
//   - nwroll-s: the rest: pre-checks, describes, polls, approvals, journal.
//
// Its followers forward joins (G5's other reading): after the first run
// the oldest instance, every new one's seed, need not lead.
//
// One sub-benchmark per simulated cloud.
func BenchmarkCloudRollout(b *testing.B) {
	for _, p := range sim.CloudKinds() {
		b.Run(p, func(b *testing.B) { benchCloudRollout(b, p) })
	}
}

func benchCloudRollout(b *testing.B, provider string) {
	requireBenchE2E(b)
	c := simtest.Start(b, sim.Options{Cloud: provider, Nodes: 3, Out: io.Discard, JoinViaFollower: node.JoinForward})
	info := c.Info()
	tok, err := c.MintToken(context.Background(), info.LiveNodes()[0].Name, true, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	env := envFor(b, c, b.TempDir())
	env.Token = tok
	window := env.Inventory.Gates.Stabilisation
	var total, surge, join, retire, settle, windows time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target := []string{"1.1.0", "1.0.0"}[i%2]
		start := time.Now()
		code, err := Upgrade(context.Background(), env, UpgradeOptions{PlanOptionsIn: PlanOptionsIn{Release: imageRel(target)}})
		took := time.Since(start)
		if code != runbook.ExitOK {
			b.Fatalf("upgrade to %s: exit %d: %v", target, code, err)
		}
		run, err := journal.LatestRun(env.StateDir, env.Inventory.Cluster)
		if err != nil {
			b.Fatal(err)
		}
		s, j, r, st, w := cloudWaits(run.Entries, window)
		total, surge, join, retire, settle, windows = total+took, surge+s, join+j, retire+r, settle+st, windows+w
	}
	n := float64(b.N)
	b.ReportMetric(total.Seconds()/n, "total-s/op")
	b.ReportMetric(surge.Seconds()/n, "surge-s/op")
	b.ReportMetric(join.Seconds()/n, "join-s/op")
	b.ReportMetric(retire.Seconds()/n, "retire-s/op")
	b.ReportMetric(settle.Seconds()/n, "settle-s/op")
	b.ReportMetric(windows.Seconds()/n, "window-s/op")
	b.ReportMetric((total-surge-join-retire-settle-windows).Seconds()/n, "nwroll-s/op")
}

// cloudWaits reads a cloud run's journal: the surges' and retirements'
// durations, the join and settle waits (from the effect before each gate
// to when its checks began to hold: the gate's pass less its window), and
// the windows.
func cloudWaits(entries []journal.Entry, window time.Duration) (surge, join, retire, settle, windows time.Duration) {
	intents := map[uint64]time.Time{}
	var last time.Time // the end of the latest surge or retirement (or member removal)
	var lastOp string
	for _, e := range entries {
		switch {
		case e.Kind == journal.Intent:
			intents[e.Effect] = e.TS
		case e.Kind == journal.Outcome && (e.Op == "surge" || e.Op == "retire"):
			d := e.TS.Sub(intents[e.Effect])
			if e.Op == "surge" {
				surge += d
			} else {
				retire += d
			}
			last, lastOp = e.TS, e.Op
		case e.Kind == journal.Outcome && e.Op == "remove-member":
			last = e.TS
		case e.Kind == journal.Event && e.Op == "gate-passed" && strings.HasPrefix(e.StepID, "replace/") && !last.IsZero():
			held := e.TS.Sub(last) - window
			if lastOp == "surge" {
				join += held
			} else {
				settle += held
			}
			windows += window
			last = time.Time{}
		}
	}
	return surge, join, retire, settle, windows
}
