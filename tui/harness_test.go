package tui

import (
	"context"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The model tests drive the console's Update with keys and engine
// messages. Effects go to a deterministic fake cluster
// (rollouttest.Cluster) that answers at once; the harness feeds the
// answers back as the engine would, and moves the fake's clock one second
// per tick.

// fakeDriver answers every effect from the fake cluster and records them.
// The cluster is not safe for concurrent use, and Cmds run on goroutines
// (a poll the harness stopped waiting for may still run): every use of it
// holds mu.
type fakeDriver struct {
	c       *rollouttest.Cluster
	mu      sync.Mutex
	batches [][]runbook.Effect
	answers []runbook.Event
}

func (d *fakeDriver) Dispatch(_ uint64, effs []runbook.Effect) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.batches = append(d.batches, effs)
	for _, e := range effs {
		if ev := d.c.Answer(e); ev != nil {
			d.answers = append(d.answers, ev)
		}
	}
}

func (d *fakeDriver) Events() <-chan runbook.Event { return nil } // the harness delivers answers itself
func (d *fakeDriver) Drain()                       {}
func (d *fakeDriver) Close()                       {}

// cluster runs fn with the cluster to itself.
func (d *fakeDriver) cluster(fn func(c *rollouttest.Cluster)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.c)
}

func (d *fakeDriver) next() (runbook.Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.answers) == 0 {
		return nil, false
	}
	ev := d.answers[0]
	d.answers = d.answers[1:]
	return ev, true
}

// effects returns every effect dispatched since mark (a count from
// dispatched()).
func (d *fakeDriver) effectsSince(mark int) []runbook.Effect {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []runbook.Effect
	for _, b := range d.batches[mark:] {
		out = append(out, b...)
	}
	return out
}

func (d *fakeDriver) dispatched() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.batches)
}

type harness struct {
	t    testing.TB
	c    *rollouttest.Cluster
	d    *fakeDriver
	m    Model
	quit bool // a Cmd asked the program to quit
	// closed gets the engine's closedMsg when its Cmd answers after
	// cmdWait: releasing the connections can take longer on a loaded
	// machine, and the quit that follows must not be lost.
	closed chan tea.Msg
}

// cmdWait is how long the harness waits for a Cmd's answer; clocks and
// listeners block far longer and are dropped (the harness ticks itself).
const cmdWait = 20 * time.Millisecond

func newHarness(t testing.TB, nodes, leader int, opts runbook.PlanOptions, w, h int) *harness {
	t.Helper()
	return newHarnessOn(t, rollouttest.NewCluster(nodes, leader), opts, w, h)
}

// newHarnessOn is newHarness on a cluster the test set up first.
func newHarnessOn(t testing.TB, c *rollouttest.Cluster, opts runbook.PlanOptions, w, h int) *harness {
	t.Helper()
	plan := c.Plan(t, opts)
	d := &fakeDriver{c: c}
	e := newEngine(func(context.Context) (snap health.ClusterSnapshot) {
		d.cluster(func(c *rollouttest.Cluster) { snap = c.Snapshot() })
		return snap
	}, nil)
	e.driver = d
	e.clock = func() (now time.Time) { d.cluster(func(c *rollouttest.Cluster) { now = c.Now() }); return now }
	e.serviceLog = func(_ context.Context, node string, n int) ([]string, error) {
		var lines []string
		d.cluster(func(c *rollouttest.Cluster) { lines = c.ServiceLog(node, n) })
		return lines, nil
	}
	hs := &harness{t: t, c: c, d: d, m: New(Deps{Operator: "op@test"}), closed: make(chan tea.Msg, 4)}
	hs.update(tea.WindowSizeMsg{Width: w, Height: h})
	hs.update(preparedMsg{machine: runbook.NewMachine(plan, runbook.MachineOptions{Approver: "op@test"}),
		holder: "op@test (run 0badc0de)", journal: "/state/lab/run.jsonl", runID: "0badc0de", engine: e, at: c.Now()})
	hs.pump()
	return hs
}

// update runs one message through Update and the Cmds it returns.
func (h *harness) update(msg tea.Msg) {
	h.t.Helper()
	next, cmd := h.m.Update(msg)
	h.m = next.(Model)
	for _, out := range runCmds(cmd, h.closed) {
		if _, ok := out.(tea.QuitMsg); ok {
			h.quit = true
			continue
		}
		h.update(out)
	}
}

// runCmds runs cmd's leaves concurrently and returns the messages that came
// back within cmdWait; what comes later goes to forwardLate.
func runCmds(cmd tea.Cmd, closed chan<- tea.Msg) []tea.Msg {
	if cmd == nil {
		return nil
	}
	leaves := []tea.Cmd{cmd}
	var out []tea.Msg
	for len(leaves) > 0 {
		results := make(chan tea.Msg, len(leaves))
		for _, c := range leaves {
			go func() { results <- c() }()
		}
		n := len(leaves)
		leaves = nil
		timeout := time.After(cmdWait)
	collect:
		for i := 0; i < n; i++ {
			select {
			case msg := <-results:
				switch msg := msg.(type) {
				case nil:
				case tea.BatchMsg:
					for _, c := range msg {
						if c != nil {
							leaves = append(leaves, c)
						}
					}
				default:
					out = append(out, msg)
				}
			case <-timeout:
				go forwardLate(results, n-i, closed)
				break collect
			}
		}
	}
	return out
}

// forwardLate waits for the n results still out: a batch's Cmds still
// run (a dispatch to the fake cluster must never be lost to a loaded
// machine), a closedMsg goes to closed, anything else is dropped as
// before.
func forwardLate(results <-chan tea.Msg, n int, closed chan<- tea.Msg) {
	for range n {
		switch msg := (<-results).(type) {
		case closedMsg:
			closed <- msg
		case tea.BatchMsg:
			var leaves []tea.Cmd
			for _, c := range msg {
				if c != nil {
					leaves = append(leaves, c)
				}
			}
			ch := make(chan tea.Msg, len(leaves))
			for _, c := range leaves {
				go func() { ch <- c() }()
			}
			go forwardLate(ch, len(leaves), closed)
		}
	}
}

// pump feeds every pending answer back.
func (h *harness) pump() {
	h.t.Helper()
	for {
		select {
		case msg := <-h.closed:
			h.update(msg)
			continue
		default:
		}
		ev, ok := h.d.next()
		if !ok {
			return
		}
		h.update(engineMsg{ev: ev, from: h.m.eng})
	}
}

// tick moves the fake clock one second and delivers the console's tick.
// A refresh the tick asked for is answered here if its Cmd did not answer
// within cmdWait (a loaded machine): the screen never depends on the
// scheduler.
func (h *harness) tick() {
	h.t.Helper()
	var now time.Time
	h.d.cluster(func(c *rollouttest.Cluster) { c.Tick(); now = c.Now() })
	h.update(tickMsg{at: now})
	if h.m.refreshing {
		var snap health.ClusterSnapshot
		h.d.cluster(func(c *rollouttest.Cluster) { snap = c.Snapshot() })
		h.update(refreshMsg{snap: snap, from: h.m.eng})
	}
	h.pump()
}

// arm delivers the approval dialog's arming.
func (h *harness) arm() {
	h.update(armMsg{seq: h.m.machine.ApprovalSeq()})
}

// readDialog scrolls the dialog to its end when the screen cuts it, as an
// operator must before y approves it.
func (h *harness) readDialog() {
	h.t.Helper()
	if dialogUnseen(h.m) > 0 {
		h.key("G")
	}
	if n := dialogUnseen(h.m); n > 0 {
		h.t.Fatalf("G left %d lines of the dialog unseen\n%s", n, h.screen())
	}
}

// dialogUnseen is how many lines of the dialog on screen are below its view.
func dialogUnseen(m Model) int {
	f := m.frame()
	d, _ := m.placeDialog(&f, lipgloss.Height(m.nodes.in(&f).View()))
	return d.unseen()
}

// armedNow reports whether the approval dialog on screen takes y.
func armedNow(m Model) bool {
	f := m.frame()
	return m.dialog.in(&f).armedNow()
}

// namedKeys are the keys h.key takes by name; any other is its text.
var namedKeys = map[string]rune{"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab,
	"up": tea.KeyUp, "down": tea.KeyDown, "pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp}

func (h *harness) key(k string) {
	h.t.Helper()
	msg := tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
	if code, ok := namedKeys[k]; ok {
		msg = tea.KeyPressMsg{Code: code}
	}
	if k == "ctrl+c" {
		msg = tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	h.update(msg)
	h.pump()
}

// until ticks until cond holds.
func (h *harness) until(what string, cond func(Model) bool) {
	h.t.Helper()
	for i := 0; i < 2000; i++ {
		h.pump()
		if cond(h.m) {
			return
		}
		h.tick()
	}
	h.t.Fatalf("never reached %s; phase %s, pause %+v, allowed %v\n%s", what, h.m.machine.Phase, h.m.machine.Pause, h.m.machine.Allowed(), h.screen())
}

// approveUntil approves every dialog until cond holds.
func (h *harness) approveUntil(what string, cond func(Model) bool) {
	h.t.Helper()
	for i := 0; i < 2000; i++ {
		h.pump()
		if cond(h.m) {
			return
		}
		if _, ok := h.m.machine.AwaitingApproval(); ok {
			h.arm()
			h.readDialog()
			h.key("y")
			continue
		}
		h.tick()
	}
	h.t.Fatalf("never reached %s; phase %s, pause %+v\n%s", what, h.m.machine.Phase, h.m.machine.Pause, h.screen())
}

func (h *harness) screen() string { return ansi.Strip(h.m.View().Content) }

func awaiting(kind runbook.StepKind) func(Model) bool {
	return func(m Model) bool {
		s, ok := m.machine.AwaitingApproval()
		return ok && s.Kind == kind
	}
}

func pausedOnFailure(m Model) bool {
	return m.machine.Pause != nil && m.machine.Failure != nil && !m.machine.Failure.SysdumpPending
}

// untilQuit waits for the console to quit once its engine has closed.
func (h *harness) untilQuit() {
	h.t.Helper()
	guard := time.After(30 * time.Second) // a hang guard, not a speed limit
	for !h.quit {
		select {
		case msg := <-h.closed:
			h.update(msg)
		case <-guard:
			h.t.Fatalf("the console did not exit after the machine finished\n%s", h.screen())
		}
	}
}
