package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

func quiescedOpts() runbook.PlanOptions {
	o := rollouttest.DefaultPlanOptions()
	o.Backup = runbook.BackupQuiesced
	return o
}

func changesSince(h *harness, mark int) []string {
	return rollouttest.Changes(h.d.effectsSince(mark))
}

func TestApproveNeedsAnArmedDialogAndRunsTheStep(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.until("the lock dialog", awaiting(runbook.StepLock))
	if !strings.Contains(h.screen(), "Approve step 4 of") || !strings.Contains(h.screen(), "Take the lock") {
		t.Fatalf("the lock dialog is not on screen:\n%s", h.screen())
	}
	mark := h.d.dispatched()
	h.key("y") // before the dialog armed: ignored
	if s, _ := h.m.machine.StepByID("lock"); !s.ApprovedAt.IsZero() {
		t.Fatal("y approved a dialog that had not armed yet")
	}
	if !strings.Contains(h.m.notice, "just opened") {
		t.Errorf("notice %q should say why y did nothing", h.m.notice)
	}
	if got := rollouttest.EffectsOf[runbook.LockNodes](h.d.effectsSince(mark)); len(got) != 0 {
		t.Fatalf("locks taken without approval: %v", got)
	}
	h.arm()
	if !strings.Contains(h.screen(), "y approve") || !strings.Contains(h.screen(), "cancel (default)") {
		t.Fatalf("the armed dialog should show its keys, cancel the default:\n%s", h.screen())
	}
	h.key("y")
	s, _ := h.m.machine.StepByID("lock")
	if s.ApprovedAt.IsZero() || s.ApprovedBy != "op@test" {
		t.Fatalf("lock step after y: approved %v by %q", s.ApprovedAt, s.ApprovedBy)
	}
	if got := rollouttest.EffectsOf[runbook.LockNodes](h.d.effectsSince(mark)); len(got) != 1 {
		t.Fatalf("LockNodes effects after approval: %d, want 1", len(got))
	}
}

func TestCancelIsTheDefaultAndContinueAsksAgain(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first backup dialog", awaiting(runbook.StepBackup))
	step, _ := h.m.machine.AwaitingApproval()
	h.arm()
	mark := h.d.dispatched()
	h.key("enter")
	if p := h.m.machine.Pause; p == nil || p.Kind != runbook.PauseDeclined {
		t.Fatalf("enter on the dialog: pause %+v, want declined", p)
	}
	if ch := changesSince(h, mark); len(ch) != 0 {
		t.Fatalf("a declined step changed nodes: %v", ch)
	}
	if !strings.Contains(h.screen(), "Declined: ") || !strings.Contains(h.screen(), "ask for the approval again") {
		t.Fatalf("the declined prompt is missing:\n%s", h.screen())
	}
	h.key("c")
	s, ok := h.m.machine.AwaitingApproval()
	if !ok || s.ID != step.ID {
		t.Fatalf("c did not ask for %s again (awaiting %v %s)", step.ID, ok, s.ID)
	}
	if armedNow(h.m) {
		t.Fatal("the dialog asked again is armed at once; it must take a fresh keypress after arming")
	}
	h.arm()
	h.key("esc")
	if p := h.m.machine.Pause; p == nil || p.Kind != runbook.PauseDeclined {
		t.Fatalf("esc on the dialog: pause %+v, want declined", p)
	}
}

// Pressing y or enter repeatedly never approves two steps: the second key
// lands while the step runs (ignored), and the next dialog takes keys only
// once armed.
func TestRepeatedKeysNeverApproveTwoSteps(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first backup dialog", awaiting(runbook.StepBackup))
	first, _ := h.m.machine.AwaitingApproval()
	h.arm()
	h.key("y")
	h.key("y")
	h.key("enter")
	h.key("y")
	h.until("the second backup dialog", func(m Model) bool {
		s, ok := m.machine.AwaitingApproval()
		return ok && s.ID != first.ID
	})
	second, _ := h.m.machine.AwaitingApproval()
	h.key("y")
	h.key("y")
	if s, _ := h.m.machine.StepByID(second.ID); !s.ApprovedAt.IsZero() {
		t.Fatalf("%s was approved by keys pressed before its dialog armed", second.ID)
	}
	h.arm()
	h.update(tea.KeyPressMsg{Code: 'y', Text: "y", IsRepeat: true})
	if s, _ := h.m.machine.StepByID(second.ID); !s.ApprovedAt.IsZero() {
		t.Fatalf("%s was approved by a key repeat", second.ID)
	}
	h.key("y")
	if s, _ := h.m.machine.StepByID(second.ID); s.ApprovedAt.IsZero() {
		t.Fatalf("%s not approved by a fresh y on the armed dialog", second.ID)
	}
	approvals := 0
	for _, s := range h.m.machine.Steps {
		if !s.ApprovedAt.IsZero() {
			approvals++
		}
	}
	if approvals != 3 { // lock, first backup, second backup
		t.Errorf("%d steps approved, want 3", approvals)
	}
}

func TestAbortAsksAgainThenLeavesNodesUp(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
	h.key("a")
	if !h.m.machine.AbortAsked || !strings.Contains(h.screen(), "Abort the rollout?") {
		t.Fatalf("a did not ask first:\n%s", h.screen())
	}
	h.key("n")
	if h.m.machine.AbortAsked || h.m.machine.Finished {
		t.Fatal("n did not withdraw the abort")
	}
	if _, ok := h.m.machine.AwaitingApproval(); !ok {
		t.Fatal("after n the upgrade dialog should be back")
	}
	h.key("a")
	// The dialog says what the end does, from its step's definition: the
	// staged target goes, on this confirmation.
	f := h.m.frame()
	dlg := h.m.dialog.in(&f)
	dlg.SetSize(120, 40)
	said := strings.Join(strings.Fields(strings.ReplaceAll(ansi.Strip(dlg.View()), "║", "")), " ")
	for _, want := range []string{"Then: Remove the staged release and release the lock",
		"remove /opt/neuwerk/bin/neuwerk.new (1.1.0, staged and never put in place) from fw-a, fw-b, fw-c", "the confirmed abort covers it"} {
		if !strings.Contains(said, want) {
			t.Errorf("the abort dialog does not say %q: %s", want, said)
		}
	}
	h.key("y")
	h.until("the end", func(m Model) bool { return m.machine.Finished })
	for _, n := range h.c.Nodes() {
		if !n.Up {
			t.Errorf("%s left down after the abort", n.Name)
		}
		if n.Binary != rollouttest.Old {
			t.Errorf("%s changed its binary though no upgrade was approved", n.Name)
		}
		if n.Staged != (runbook.BuildRef{}) {
			t.Errorf("%s keeps %s staged after the abort", n.Name, n.Staged.Label())
		}
	}
	if s, _ := h.m.machine.StepByID("upgrade/fw-a"); s.Status != runbook.StatusSkipped {
		t.Errorf("upgrade/fw-a %s after the abort at its dialog, want skipped", s.Status)
	}
	if h.m.machine.LockHeld() {
		t.Error("an abort keeps the lock")
	}
}

// After a gate failure each choice does what it says.
func TestGateFailureChoices(t *testing.T) {
	for _, c := range []struct {
		key   string
		check func(t *testing.T, h *harness, node string, effs []runbook.Effect)
	}{
		{"w", func(t *testing.T, h *harness, node string, _ []runbook.Effect) {
			if h.m.machine.Pause != nil || !h.m.machine.Gate.Open || h.m.machine.Gate.Node != node {
				t.Fatalf("keep waiting: pause %+v, gate %+v", h.m.machine.Pause, h.m.machine.Gate)
			}
		}},
		{"s", func(t *testing.T, h *harness, _ string, effs []runbook.Effect) {
			if got := rollouttest.EffectsOf[runbook.TakeSysdump](effs); len(got) != 1 {
				t.Fatalf("s: %d sysdumps taken, want 1", len(got))
			}
			if h.m.machine.Pause == nil {
				t.Fatal("a sysdump must not end the pause")
			}
		}},
		{"r", func(t *testing.T, h *harness, node string, _ []runbook.Effect) {
			s, ok := h.m.machine.AwaitingApproval()
			if !ok || s.Kind != runbook.StepRollback || s.Node != node {
				t.Fatalf("r: awaiting %v %+v, want the rollback of %s", ok, s, node)
			}
			if !strings.Contains(h.screen(), "Approve step") || !strings.Contains(h.screen(), "Roll back "+node+": 1.1.0 → 1.0.0") {
				t.Fatalf("the rollback dialog does not ask to roll %s back to 1.0.0:\n%s", node, h.screen())
			}
		}},
		{"R", func(t *testing.T, h *harness, node string, _ []runbook.Effect) {
			s, ok := h.m.machine.AwaitingApproval()
			if !ok || s.Kind != runbook.StepRollback {
				t.Fatalf("R: awaiting %v %+v, want a rollback", ok, s)
			}
		}},
		{"a", func(t *testing.T, h *harness, _ string, _ []runbook.Effect) {
			if !h.m.machine.AbortAsked {
				t.Fatal("a after a failure did not ask to abort")
			}
		}},
	} {
		t.Run(c.key, func(t *testing.T) {
			h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), 120, 40)
			h.d.cluster(func(c *rollouttest.Cluster) { c.NeverReadyOn("fw-a") })
			h.approveUntil("the failure", pausedOnFailure)
			f := h.m.machine.Failure
			if f.Kind != runbook.FailTimeout || f.Node != "fw-a" || f.Sysdump == "" {
				t.Fatalf("failure %+v, want a gate timeout on fw-a with its sysdump", f)
			}
			scr := h.screen()
			for _, want := range []string{"Gate timeout on fw-a", "keep waiting", "take a cluster sysdump now", "roll this node back", "roll back every upgraded node", "abort", "sysdump: "} {
				if !strings.Contains(scr, want) {
					t.Errorf("the failure prompt lacks %q:\n%s", want, scr)
				}
			}
			if !strings.Contains(h.statusLine(), "w keep waiting") || strings.Contains(h.statusLine(), "y approve") {
				t.Errorf("the status bar should list the failure's keys only: %q", h.statusLine())
			}
			mark := h.d.dispatched()
			h.key(c.key)
			c.check(t, h, "fw-a", h.d.effectsSince(mark))
		})
	}
}

func (h *harness) statusLine() string {
	lines := strings.Split(h.screen(), "\n")
	return lines[len(lines)-2]
}

func TestQuitMidRolloutAsksThenStopsSafely(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first backup dialog", awaiting(runbook.StepBackup))
	h.key("q")
	if !h.m.dialog.askQuit || !strings.Contains(h.screen(), "Quit in the middle of the rollout?") {
		t.Fatalf("q did not ask first:\n%s", h.screen())
	}
	h.key("n")
	if h.m.dialog.askQuit || h.m.quitting {
		t.Fatal("n did not keep the console open")
	}
	h.key("q")
	h.key("y")
	h.until("the end", func(m Model) bool { return m.machine.Finished })
	h.untilQuit()
	msgs := strings.Join(h.m.FinalMessages(), "\n")
	if h.m.ExitCode() != runbook.ExitFailed || !strings.Contains(msgs, "continue with: `nwroll resume -i INVENTORY --run 0badc0de` (or `nwroll rollback -i INVENTORY --run 0badc0de` to undo it)") {
		t.Fatalf("exit %d, messages:\n%s", h.m.ExitCode(), msgs)
	}
	for _, n := range h.c.Nodes() {
		if !n.Up {
			t.Errorf("%s left down by the quit", n.Name)
		}
	}
}

func TestTooSmallAndResize(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	for _, size := range [][2]int{{120, 40}, {80, 24}, {160, 50}} {
		h.update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(h.screen(), "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: view has %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := len([]rune(l)); w > size[0] {
				t.Errorf("%dx%d: line %d is %d wide: %q", size[0], size[1], i, w, l)
			}
		}
	}
	h.update(tea.WindowSizeMsg{Width: 60, Height: 20})
	if s := h.screen(); !strings.Contains(s, "at least 80x24") || !strings.Contains(s, "60x20") {
		t.Fatalf("too small: %q", s)
	}
}

func TestNoColorKeepsGlyphs(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.m.setStyles(newStyles(true, true))
	h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
	v := h.m.View().Content
	if strings.Contains(v, "\x1b[38") || strings.Contains(v, "\x1b[48") {
		t.Fatalf("NO_COLOR view has colour codes: %q", v[:200])
	}
	for _, g := range []string{style.GlyphLeader, style.GlyphOK, style.GlyphWaiting, style.GlyphPending} {
		if !strings.Contains(v, g) {
			t.Errorf("NO_COLOR view lacks glyph %s", g)
		}
	}
}

// The quit question takes its own keys whatever the machine allows: n, esc,
// enter and q keep the console open, also while a step runs and there is
// nothing to cancel.
func TestQuitQuestionKeys(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
	if h.m.machine.IsAllowed(runbook.ActCancel) {
		t.Fatalf("the machine allows cancel (%v): pick a state without", h.m.machine.Allowed())
	}
	for _, k := range []string{"n", "esc", "enter", "q"} {
		h.key("q")
		if !strings.Contains(h.screen(), "Quit in the middle of the rollout?") {
			t.Fatalf("q did not ask first:\n%s", h.screen())
		}
		if !strings.Contains(h.statusLine(), "y quit safely") {
			t.Errorf("the status bar should show the question's keys: %q", h.statusLine())
		}
		h.key(k)
		if strings.Contains(h.screen(), "Quit in the middle of the rollout?") || h.m.quitting {
			t.Fatalf("%s did not keep the console open:\n%s", k, h.screen())
		}
	}
}

// selectedRow is the node on the highlighted row of the node table.
func selectedRow(m Model) string {
	sel, _, _ := strings.Cut(m.st.Selected.Render("\x00"), "\x00")
	for _, l := range strings.Split(m.View().Content, "\n") {
		if sel != "" && strings.Contains(l, sel) {
			if f := strings.Fields(strings.Trim(ansi.Strip(l), "┃ ")); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// The node table has the focus first; its keys move the selection.
func TestNodeTableSelectionMoves(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.until("the first snapshot", func(m Model) bool { return m.machine.HaveSnapshot })
	for _, step := range []struct{ key, want string }{
		{"", "fw-a"}, {"j", "fw-b"}, {"j", "fw-c"}, {"j", "fw-c"}, {"k", "fw-b"}, {"g", "fw-a"}, {"G", "fw-c"},
	} {
		if step.key != "" {
			h.key(step.key)
		}
		if got := selectedRow(h.m); got != step.want {
			t.Fatalf("after %q the selected row is %q, want %s", step.key, got, step.want)
		}
	}
	h.key("tab") // the runbook has the keys, and the table shows no selection
	if got := selectedRow(h.m); got != "" {
		t.Errorf("the table without focus highlights %q", got)
	}
	h.key("g")
	h.key("tab")
	h.key("tab") // the log, then the table again: g moved only the runbook
	if got := selectedRow(h.m); got != "fw-c" {
		t.Errorf("back on the table the selected row is %q, want fw-c", got)
	}
}

// The console asks to be woken at the end of a holding gate's window, and
// the wake takes the sample that can pass it; a wake for a window that is
// no longer the machine's does nothing.
func TestConsoleWakesAtTheWindowsEnd(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("a stabilise gate holding", func(m Model) bool {
		g := m.machine.Gate
		return g.Open && g.Name == "stabilise" && !g.HeldSince().IsZero()
	})
	want := h.m.machine.NextWake()
	if want.IsZero() || !h.m.wakeAt.Equal(want) {
		t.Fatalf("the console sleeps until %s, the machine wants %s", h.m.wakeAt, want)
	}
	polls := func(mark int) int {
		n := 0
		for _, e := range h.d.effectsSince(mark) {
			if _, ok := e.(runbook.PollHealth); ok {
				n++
			}
		}
		return n
	}
	mark := h.d.dispatched()
	h.update(wakeMsg{at: want.Add(-time.Second)})
	if n := polls(mark); n != 0 {
		t.Fatalf("a stale wake polled %d times", n)
	}
	h.update(wakeMsg{at: want})
	if n := polls(mark); n != 1 {
		t.Fatalf("the wake polled %d times, want 1", n)
	}
}

// A SIGTERM or SIGHUP mid-rollout (no one to answer the quit question):
// the console quits as a confirmed q would, the node being upgraded is
// started again, and a second signal alone does not force the exit.
func TestStopSignalQuitsSafely(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the first upgrade's gate", func(m Model) bool {
		s, ok := m.machine.Current()
		return ok && s.Kind == runbook.StepUpgrade && m.machine.Gate.Open && m.machine.Gate.Name != runbook.GateQuorum
	})
	h.update(StopSignal{Name: "SIGHUP"})
	if !h.m.quitting || h.m.dialog.askQuit || !strings.Contains(h.screen(), "SIGHUP: quitting safely") {
		t.Fatalf("SIGHUP did not start a safe quit:\n%s", h.screen())
	}
	h.update(StopSignal{Name: "SIGTERM"})
	if h.m.forced {
		t.Fatal("a second signal forced the exit")
	}
	h.until("the end", func(m Model) bool { return m.machine.Finished })
	h.untilQuit()
	if h.m.ExitCode() != runbook.ExitFailed || !strings.Contains(strings.Join(h.m.FinalMessages(), "\n"), "nwroll resume") {
		t.Fatalf("exit %d, messages %q", h.m.ExitCode(), h.m.FinalMessages())
	}
	for _, n := range h.c.Nodes() {
		if !n.Up {
			t.Errorf("%s left down by the signal", n.Name)
		}
	}
}
