package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// BenchmarkStop compares, in one run, three stops of the same follower
// (facts §1: on SIGTERM a node drains 250 ms, then shuts down gracefully
// with a 1 s grace for open connections):
//   - alone: with no HTTPS connection to it from anyone;
//   - nwroll: the machine's stop (NodeAction OpStop) right after a poll;
//   - held: the bare stop command right after a poll, the keep-alive
//     connections the poll left still open.
//
// nwroll/alone is the figure issue 10 asks to keep at or below 1.2.
//
//	go test ./rollout -run '^$' -bench BenchmarkStop -benchtime 3x
func BenchmarkStop(b *testing.B) {
	_, env := benchEnv(b, 3)
	ctx := context.Background()
	newX := func() *executor.Executor {
		x, err := executor.New(executor.Config{Inventory: env.Inventory, Dialer: env.Dialer, StateDir: env.StateDir})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(x.Close)
		if err := x.Connect(ctx); err != nil {
			b.Fatal(err)
		}
		return x
	}
	polling, quiet := newX(), newX()
	const node = "fw-b"
	ready := func() {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if n, ok := polling.Poll(ctx).Node(node); ok && n.Ready != nil && n.Ready.Ready {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.Fatalf("%s not ready again within a minute", node)
	}
	timed := func(stop func() error) time.Duration {
		ready() // a poll: the polling executor's keep-alive connections are open
		start := time.Now()
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		if err := quiet.ServiceCommand(ctx, node, "start"); err != nil {
			b.Fatal(err)
		}
		return d
	}
	var alone, nwroll, held time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		alone += timed(func() error {
			for _, x := range []*executor.Executor{polling, quiet} {
				for _, c := range x.Clients() {
					c.CloseIdleConnections() // no HTTPS connection to any node
				}
			}
			return quiet.ServiceCommand(ctx, node, "stop")
		})
		nwroll += timed(func() error {
			return polling.Perform(ctx, runbook.NodeAction{Node: node, Op: runbook.OpStop}).(runbook.EffectResult).Err
		})
		held += timed(func() error { return polling.ServiceCommand(ctx, node, "stop") })
	}
	b.StopTimer()
	ready()
	n := float64(b.N)
	b.ReportMetric(alone.Seconds()/n, "alone-s")
	b.ReportMetric(nwroll.Seconds()/n, "nwroll-s")
	b.ReportMetric(held.Seconds()/n, "held-s")
	b.ReportMetric(nwroll.Seconds()/alone.Seconds(), "nwroll/alone")
	b.ReportMetric(held.Seconds()/alone.Seconds(), "held/alone")
}
