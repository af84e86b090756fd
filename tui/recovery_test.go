package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
)

// The console's questions before any run begins. Update is pure, so the
// keys are checked on the model they return and the Cmd they ask for; the
// Cmds (a survey over SSH) are the walk's to run (TestTmuxRecoveryWalk).

func askedModel(t *testing.T, msg tea.Msg) Model {
	t.Helper()
	m := New(Deps{Operator: "op@test"})
	next, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	next, _ = next.(Model).Update(msg)
	return next.(Model)
}

func press(t *testing.T, m Model, k string) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(tea.KeyPressMsg{Code: []rune(k)[0], Text: k})
	return next.(Model), cmd
}

func TestUnfinishedRunQuestion(t *testing.T) {
	run := journal.RunSummary{ID: "92f398ea", StartedBy: "root@vm", Started: time.Date(2026, 12, 3, 9, 22, 0, 0, time.Local),
		Outcome: journal.OutcomeInterrupted, Unfinished: true, Stopped: []string{"fw-c"},
		Changes: []journal.NodeChanges{{Node: "fw-c", Ops: []string{"stop", "keep-prev", "swap"}}}}
	m := askedModel(t, unfinishedMsg{run: run})
	screen := dialogText(ansi.Strip(m.View().Content))
	for _, want := range []string{"This cluster has an unfinished rollout", "Run 92f398ea by root@vm, 2026-12-03 09:22, interrupted with fw-c stopped",
		"It changed: fw-c: stop, keep-prev, swap.", "c continue the run", "R roll it back", "l look only"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the question lacks %q:\n%s", want, screen)
		}
	}
	if header := strings.Split(ansi.Strip(m.View().Content), "\n")[0]; !strings.Contains(header, "run 92f398ea is unfinished: nothing started") {
		t.Errorf("the header: %q", header)
	}
	for _, k := range []string{"c", "R", "l"} {
		next, cmd := press(t, m, k)
		if next.stage != stagePreparing || cmd == nil {
			t.Errorf("%s: stage %v, cmd %v: want the run prepared", k, next.stage, cmd != nil)
		}
	}
	// A key that is not the question's prepares nothing.
	if next, cmd := press(t, m, "y"); next.stage != stageChoosing || cmd != nil {
		t.Errorf("y on the question: stage %v, cmd %v", next.stage, cmd != nil)
	}
	// Quitting changes nothing and says how to go on.
	next, _ := press(t, m, "q")
	msgs := strings.Join(next.FinalMessages(), "\n")
	if next.ExitCode() != 0 || !strings.Contains(msgs, "nothing changed on any node; run 92f398ea is still unfinished") {
		t.Errorf("quit at the question: exit %d, %q", next.ExitCode(), msgs)
	}
}

func TestGoneRunsLockQuestion(t *testing.T) {
	locked := &rollout.LockedError{Node: "fw-b", Gone: true,
		Holder: executor.LockHolder{User: "root", Host: "vm", PID: 4605, RunID: "0dead0ed", StartedAt: time.Date(2026, 12, 3, 9, 0, 0, 0, time.Local)}}
	m := askedModel(t, lockedMsg{err: locked, req: prepareRequest{mode: ModeResume}})
	screen := dialogText(ansi.Strip(m.View().Content))
	for _, want := range []string{"The rollout lock is held by a run that is gone", "Node fw-b is locked by run 0dead0ed of root@vm",
		"pid 4605 on this host is no longer running", "y take the lock over"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the question lacks %q:\n%s", want, screen)
		}
	}
	next, cmd := press(t, m, "y")
	if next.stage != stagePreparing || cmd == nil {
		t.Fatalf("y: stage %v, cmd %v: want the run prepared again", next.stage, cmd != nil)
	}
	if c, _ := press(t, m, "c"); c.stage != stageLocked {
		t.Errorf("c on the lock's question changed the stage to %v", c.stage)
	}
	next, _ = press(t, m, "q")
	if msgs := strings.Join(next.FinalMessages(), "\n"); next.ExitCode() != 0 || !strings.Contains(msgs, "nothing changed on any node; node fw-b is locked by run 0dead0ed") {
		t.Errorf("quit at the lock's question: exit %d, %q", next.ExitCode(), msgs)
	}
}
