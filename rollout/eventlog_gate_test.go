package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// flagCheck holds while its flag (read at judgement time) is true.
type flagCheck struct {
	name string
	ok   *bool
}

func (c flagCheck) Name() string     { return c.name }
func (c flagCheck) Describe() string { return c.name }
func (c flagCheck) Judge(health.Sample) (health.Check, health.Verdict) {
	v := health.Verdict{Gate: c.name, OK: *c.ok}
	if !v.OK {
		v.Reasons = []string{"fw-b: " + c.name + " not yet"}
	}
	return c, v
}

// A waiting gate logs what changed, not the same reasons every poll: that
// it started waiting and on what, each check that turns, when all hold,
// and one short line per heartbeat while nothing changes.
func TestEventLogLogsAGateOnlyWhenItChanges(t *testing.T) {
	var lines []string
	r := NewEventLog(func(l LogEntry) { lines = append(lines, l.Status+" "+l.Detail) })
	ready, caught := false, false
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	g := health.Gate{Name: "stabilise", Hold: 5 * time.Second, Timeout: time.Minute,
		Checks: []health.Check{flagCheck{"node healthy", &ready}, flagCheck{"caught up", &caught}}}.Open(t0, time.Time{})
	m := runbook.Machine{Now: t0}
	poll := func(n int) {
		for i := 0; i < n; i++ {
			m.Now = m.Now.Add(time.Second)
			g = g.Observe(health.Sample{Snap: health.ClusterSnapshot{TakenAt: m.Now}})
			m.Gate = runbook.OpenGate{Gate: g, Open: true, Step: "upgrade/fw-b", Node: "fw-b"}
			r.AfterEvent(m, runbook.Snapshot{At: m.Now})
		}
	}
	poll(5)
	ready = true
	poll(5)
	caught = true
	poll(3)
	ready = false
	poll(1)
	want := []string{
		"waiting 0 of 2 checks hold; waiting for node healthy, caught up",
		"check ✓ node healthy holds",
		"check ✓ caught up holds",
		"holding all 2 checks hold; they must hold for 5s",
		"check ✗ node healthy: fw-b: node healthy not yet",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// Nothing changes for longer than the heartbeat: one line says so.
	r.mu.Lock()
	r.gate.at = r.gate.at.Add(-gateHeartbeat)
	r.mu.Unlock()
	lines = nil
	poll(2)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "waiting still, after 15s: node healthy") {
		t.Errorf("heartbeat lines %q, want one naming the failing check", lines)
	}
}

// A gate of one check (the quorum's) says so in words, not "all 1 checks".
func TestEventLogOneCheckHolds(t *testing.T) {
	var lines []string
	r := NewEventLog(func(l LogEntry) { lines = append(lines, l.Status+" "+l.Detail) })
	ok := true
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	g := health.Gate{Name: "quorum", Checks: []health.Check{flagCheck{"quorum kept", &ok}}}.Open(t0, time.Time{})
	g = g.Observe(health.Sample{Snap: health.ClusterSnapshot{TakenAt: t0.Add(time.Second)}})
	r.AfterEvent(runbook.Machine{Now: t0.Add(time.Second), Gate: runbook.OpenGate{Gate: g, Open: true, Step: "upgrade/fw-b", Node: "fw-b"}}, runbook.Snapshot{})
	if len(lines) != 1 || lines[0] != "holding its check holds" {
		t.Errorf("lines %q, want one saying its check holds", lines)
	}
}
