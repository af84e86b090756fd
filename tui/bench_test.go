package tui

import (
	"fmt"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// BenchmarkConsoleView measures one full-screen View() at 120x40 mid-rollout (a
// follower's stabilise gate open) with a full log pane, for 3, 9 and 50
// nodes:
//
//	go test -run '^$' -bench BenchmarkConsoleView -benchmem ./tui/
func BenchmarkConsoleView(b *testing.B) {
	for _, n := range []int{3, 9, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			h := newHarness(b, n, n-1, rollouttest.DefaultPlanOptions(), 120, 40)
			c := rollouttest.NewCluster(n, n-1)
			d := rollouttest.NewDriver(b, c, c.Plan(b, rollouttest.DefaultPlanOptions()), runbook.MachineOptions{Approver: "op@test"})
			d.AutoApprove = true
			d.Begin()
			mid := rollouttest.NodeName(n / 2)
			d.RunUntil(func(m runbook.Machine) bool {
				s, ok := m.Current()
				return ok && s.Kind == runbook.StepUpgrade && s.Node == mid && m.Gate.Open && m.Gate.Name == "stabilise"
			})
			h.m.machine = d.M
			h.m.now = c.Now()
			var entries []rollout.LogEntry
			for i := range maxLogLines {
				entries = append(entries, rollout.LogEntry{TS: rollouttest.T0.Add(time.Duration(i) * time.Second), Node: rollouttest.NodeName(i % n),
					Type: "effect", Op: "stop", Status: "ok", Detail: "neuwerk.service stopped", Seconds: 1.3})
			}
			h.update(logMsg{entries: entries, from: h.m.eng})
			if got := len(h.m.log.lines); got != maxLogLines {
				b.Fatalf("log pane holds %d lines, want %d", got, maxLogLines)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = h.m.View()
			}
		})
	}
}
