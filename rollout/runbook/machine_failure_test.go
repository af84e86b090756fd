package runbook

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// mtFailing runs a 3-node rollout (leader fw-a; order fw-b, fw-c, fw-a)
// in which the target never becomes ready on the nodes in bad, until the
// first failure pause has its sysdump back.
func mtFailing(t *testing.T, mo MachineOptions, bad ...string) *mtWorld {
	t.Helper()
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), mo)
	for _, n := range bad {
		w.badNew[n] = true
	}
	w.send(Begin{At: w.now})
	w.untilPaused()
	return w
}

// changesSince returns the node-changing effects from effect index i on.
func (w *mtWorld) changesSince(i int) []string { return mtChanges(w.effects[i:]) }

func TestMachineGateFailureTakesSysdumpFirst(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.badNew["fw-b"] = true
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Failure != nil })

	// The batch that failed the gate starts with the failure sysdump.
	batch := w.batches[len(w.batches)-1]
	sd, ok := batch[0].(TakeSysdump)
	if !ok || sd.Purpose != SysdumpFailure || sd.PerNode || sd.Step != "upgrade/fw-b" {
		t.Fatalf("first effect of the failing batch: %#v", batch[0])
	}
	f := w.m.Failure
	if f.Kind != FailTimeout || f.Node != "fw-b" || !strings.Contains(f.Reason, "fw-b: /ready check policy_replication failing") {
		t.Fatalf("failure %+v", f)
	}
	if !w.m.Failure.SysdumpPending || !slices.Equal(w.m.Allowed(), []Action{ActAbort, ActQuit}) {
		t.Fatalf("while the sysdump runs: pending %v allowed %v", f.SysdumpPending, w.m.Allowed())
	}
	// Nothing changes before the sysdump is back, not even on abort.
	mark := len(w.effects)
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	if got := w.changesSince(mark); len(got) != 0 {
		t.Fatalf("changes while the failure sysdump runs: %v", got)
	}
	w.runToEnd()
	if w.m.ExitCode != 1 || w.m.LastSysdump == "" {
		t.Fatalf("exit %d sysdump %q", w.m.ExitCode, w.m.LastSysdump)
	}
	// The abort removes the staged target from the nodes that never got it.
	mtEqual(t, "after the sysdump", w.changesSince(mark), []string{"unstage fw-a", "unstage fw-c", "unlock"})
}

func TestMachineFailureOffers(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	want := []Action{ActKeepWaiting, ActSysdump, ActRollbackNode, ActRollbackAll, ActAbort, ActQuit}
	if got := w.m.Allowed(); !slices.Equal(got, want) {
		t.Fatalf("allowed %v, want %v", got, want)
	}
	if w.m.Failure.Sysdump == "" || w.m.Pause.Kind != PauseFailure {
		t.Fatalf("failure %+v pause %+v", w.m.Failure, w.m.Pause)
	}
	if s, _ := w.m.StepByID("upgrade/fw-b"); s.Status != StatusFailed {
		t.Fatalf("step %s", s.Status)
	}
	if n, _ := w.m.NodeByName("fw-b"); n.Status != NodeFailed || !n.Swapped || n.Down {
		t.Fatalf("node %+v", n)
	}
	// Actions that are not offered do nothing.
	for _, ev := range []Event{Retry{At: w.now}, Continue{At: w.now}, Approve{Step: "upgrade/fw-b", At: w.now}, Approve{Step: "upgrade/fw-c", At: w.now}} {
		if effs := w.send(ev); len(effs) != 0 {
			t.Fatalf("%T produced %v", ev, effs)
		}
	}
	for i := 0; i < 120; i++ { // the pause waits as long as it takes
		w.tick()
		if effs := w.send(Tick{Now: w.now}); len(effs) != 0 {
			t.Fatalf("tick during the pause produced %v", effs)
		}
	}
}

func TestMachineKeepWaiting(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	mark := len(w.effects)
	w.send(KeepWaiting{At: w.now})
	if w.m.Pause != nil || !w.m.Gate.Open || !w.m.Gate.Deadline().Equal(w.now.Add(60*time.Second)) {
		t.Fatalf("after keep waiting: pause %+v gate open %v deadline %v", w.m.Pause, w.m.Gate.Open, w.m.Gate.Deadline())
	}
	if s, _ := w.m.Current(); s.ID != "upgrade/fw-b" || s.Status != StatusRunning {
		t.Fatalf("current %s %s", s.ID, s.Status)
	}
	w.untilPaused() // still never ready: a second timeout, a second sysdump
	if got := w.changesSince(mark); len(got) != 0 {
		t.Fatalf("keep waiting changed nodes: %v", got)
	}
	var failures int
	for _, sd := range mtOfKind[TakeSysdump](w.effects) {
		if sd.Purpose == SysdumpFailure {
			failures++
		}
	}
	if failures != 2 {
		t.Fatalf("%d failure sysdumps, want 2", failures)
	}
	// Now the release is fixed in place (e.g. a slow warm-up ended).
	w.badNew["fw-b"] = false
	w.node("fw-b").neverReady = false
	w.send(KeepWaiting{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}

func TestMachineSysdumpNow(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	effs := w.send(SysdumpNow{At: w.now})
	sds := mtOfKind[TakeSysdump](effs)
	if len(effs) != 1 || len(sds) != 1 || sds[0].Purpose != SysdumpManual {
		t.Fatalf("sysdump now: %v", effs)
	}
	if w.m.IsAllowed(ActSysdump) {
		t.Fatal("a second sysdump offered while one runs")
	}
	if effs := w.send(SysdumpNow{At: w.now}); len(effs) != 0 {
		t.Fatalf("second sysdump: %v", effs)
	}
	w.step() // answer it
	if !w.m.IsAllowed(ActSysdump) || w.m.Pause == nil || !strings.HasPrefix(w.m.LastSysdump, "sysdump-manual-") {
		t.Fatalf("after the sysdump: allowed %v pause %+v last %q", w.m.Allowed(), w.m.Pause, w.m.LastSysdump)
	}
}

func TestMachineRollbackNode(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	w.autoApprove = false
	mark := len(w.effects)
	w.send(RollbackNode{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	s, _ := w.m.AwaitingApproval()
	if tx, _ := w.m.Text(s.ID); s.ID != "rollback/fw-b" || tx.Title != "Roll back fw-b: 1.1.0 → 1.0.0" || w.m.Phase != PhaseRollback {
		t.Fatalf("dialog %s %q phase %s", s.ID, tx.Title, w.m.Phase)
	}
	if got := w.changesSince(mark); len(got) != 0 {
		t.Fatalf("rollback ran before its approval: %v", got)
	}
	w.send(Approve{Step: s.ID, By: "op", At: w.now})
	w.runToEnd()
	mtEqual(t, "rollback", w.changesSince(mark), []string{"stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-c", "unlock"})
	if w.m.ExitCode != 4 || !slices.Equal(w.m.RolledBack, []string{"fw-b"}) {
		t.Fatalf("exit %d rolled back %v: %s", w.m.ExitCode, w.m.RolledBack, w.m.Reason)
	}
	if n := w.node("fw-b"); n.bin != mtOldSHA || !n.up {
		t.Fatalf("world fw-b on %s up %v", n.bin[:4], n.up)
	}
	if s, _ := w.m.StepByID("upgrade/fw-b"); s.Status != StatusRolledBack {
		t.Fatalf("upgrade step %s", s.Status)
	}
	// The rollback's gates judged the previous release.
	judged := 0
	for _, r := range mtRecords(w.effects, "gate-passed") {
		if r.Step == "rollback/fw-b" && strings.HasPrefix(r.Detail, "held for") {
			judged++
			if !mtHasValue(r.GateValues, "binary matches.target_sha256", mtOldSHA) || !mtHasValue(r.GateValues, "binary matches.sha256", mtOldSHA) {
				t.Fatalf("rollback gate values %v", r.GateValues)
			}
		}
	}
	if judged != 1 {
		t.Fatalf("%d stabilise gates passed for the rollback, want 1", judged)
	}
	for _, n := range []string{"fw-a", "fw-c"} {
		if w.node(n).bin != mtOldSHA || w.node(n).newBin != "" {
			t.Fatalf("%s: binary %s, .new %q: want 1.0.0 and no .new", n, w.node(n).bin[:4], w.node(n).newBin)
		}
	}
}

func TestMachineRollbackAllReverseOrder(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-c") // fw-b upgraded fine, fw-c fails
	if !w.m.IsAllowed(ActRollbackAll) {
		t.Fatalf("allowed %v", w.m.Allowed())
	}
	mark := len(w.effects)
	w.send(RollbackAll{At: w.now})
	var dialogs []StepID
	w.autoApprove = false
	for !w.m.Finished {
		if s, ok := w.m.AwaitingApproval(); ok {
			dialogs = append(dialogs, s.ID)
			w.send(Approve{Step: s.ID, By: "op", At: w.now})
			continue
		}
		w.step()
	}
	if !slices.Equal(dialogs, []StepID{"rollback/fw-c", "rollback/fw-b"}) {
		t.Fatalf("dialogs %v", dialogs)
	}
	mtEqual(t, "rollback all", w.changesSince(mark), []string{
		"stop fw-c", "rollback fw-c", "start fw-c", "stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unlock"})
	if w.m.ExitCode != 4 || !slices.Equal(w.m.RolledBack, []string{"fw-c", "fw-b"}) {
		t.Fatalf("exit %d rolled back %v", w.m.ExitCode, w.m.RolledBack)
	}
	for _, n := range w.nodes {
		if n.bin != mtOldSHA || !n.up {
			t.Fatalf("%s on %s up %v", n.name, n.bin[:4], n.up)
		}
	}
	if w.maxDown != 1 {
		t.Fatalf("max down %d", w.maxDown)
	}
	if s, _ := w.m.StepByID("upgrade/fw-a"); s.Status != StatusSkipped || s.Note != "not run: the run rolled back" {
		t.Fatalf("fw-a's upgrade %s (%q), want skipped: it never ran", s.Status, s.Note)
	}
}

// One node rolled back while another stays upgraded: the operator is
// asked again, and can then roll back the rest.
func TestMachineRollbackNodeThenAll(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-c")
	mark := len(w.effects)
	w.send(RollbackNode{At: w.now})
	w.runUntil(func() bool { return w.m.Pause != nil })
	if w.m.Pause.Kind != PauseRolledBack || !strings.Contains(w.m.Pause.Text, "still on 1.1.0: fw-b") {
		t.Fatalf("pause %+v", w.m.Pause)
	}
	if got := w.m.Allowed(); !slices.Equal(got, []Action{ActSysdump, ActRollbackAll, ActAbort, ActQuit}) {
		t.Fatalf("allowed %v", got)
	}
	w.send(RollbackAll{At: w.now})
	w.runToEnd()
	mtEqual(t, "changes", w.changesSince(mark), []string{
		"stop fw-c", "rollback fw-c", "start fw-c", "stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unlock"})
	if w.m.ExitCode != 4 {
		t.Fatalf("exit %d", w.m.ExitCode)
	}
}

func TestMachineCancelRollbackDialog(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	w.autoApprove = false
	w.send(RollbackNode{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	w.send(Cancel{At: w.now})
	if w.m.Pause == nil || w.m.Pause.Kind != PauseFailure || w.m.Failure == nil || w.m.Failure.Node != "fw-b" {
		t.Fatalf("after cancel: pause %+v failure %+v", w.m.Pause, w.m.Failure)
	}
	if _, ok := w.m.StepByID("rollback/fw-b"); ok {
		t.Fatal("the cancelled rollback step is still listed")
	}
	want := []Action{ActKeepWaiting, ActSysdump, ActRollbackNode, ActRollbackAll, ActAbort, ActQuit}
	if got := w.m.Allowed(); !slices.Equal(got, want) {
		t.Fatalf("allowed %v", got)
	}
	if s, _ := w.m.Current(); s.ID != "upgrade/fw-b" || s.Status != StatusFailed {
		t.Fatalf("current %s %s", s.ID, s.Status)
	}
}

func TestMachineAbortConfirm(t *testing.T) {
	w := mtFailing(t, MachineOptions{}, "fw-b")
	mark := len(w.effects)
	if effs := w.send(Abort{At: w.now}); len(effs) != 0 {
		t.Fatalf("abort without confirm: %v", effs)
	}
	if got := w.m.Allowed(); !slices.Equal(got, []Action{ActAbortConfirm, ActCancel, ActQuit}) {
		t.Fatalf("allowed %v", got)
	}
	w.send(Cancel{At: w.now})
	if w.m.AbortAsked || w.m.Pause == nil || !w.m.IsAllowed(ActRollbackNode) {
		t.Fatal("cancel did not return to the offer")
	}
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	mtEqual(t, "abort", w.changesSince(mark), []string{"unstage fw-a", "unstage fw-c", "unlock"})
	if w.m.ExitCode != 1 || w.m.LockHeld() {
		t.Fatalf("exit %d lock %v", w.m.ExitCode, w.m.LockHeld())
	}
	// fw-b is left running the target: a known release.
	if n := w.node("fw-b"); n.bin != mtNewSHA || !n.up {
		t.Fatalf("fw-b %s up %v", n.bin[:4], n.up)
	}
}

// An effect fails while the node is stopped: abort starts it again on the
// binary in place, then releases the lock.
func TestMachineAbortWithNodeStopped(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.failOn["swap fw-b"] = errors.New("rename: read-only file system")
	w.send(Begin{At: w.now})
	w.untilPaused()
	f := w.m.Failure
	if f.Kind != FailEffect || f.Op != "swap" || f.Reason != "swap on fw-b failed: rename: read-only file system" {
		t.Fatalf("failure %+v", f)
	}
	if got := w.m.Allowed(); !slices.Equal(got, []Action{ActRetry, ActSysdump, ActRollbackNode, ActAbort, ActQuit}) {
		t.Fatalf("allowed %v", got)
	}
	mark := len(w.effects)
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	// fw-b's swap failed: its .new is still the target, never in place.
	mtEqual(t, "abort", w.changesSince(mark), []string{"start fw-b", "unstage fw-a", "unstage fw-b", "unstage fw-c", "unlock"})
	if n := w.node("fw-b"); !n.up || n.bin != mtOldSHA {
		t.Fatalf("fw-b up %v on %s", n.up, n.bin[:4])
	}
	if w.m.ExitCode != 1 {
		t.Fatalf("exit %d", w.m.ExitCode)
	}
}

func TestMachineRetry(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.failOn["swap fw-b"] = errors.New("ssh: connection lost")
	w.send(Begin{At: w.now})
	w.untilPaused()
	mark := len(w.effects)
	w.send(Retry{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	got := w.changesSince(mark)
	if !slices.Equal(got[:2], []string{"swap fw-b", "start fw-b"}) {
		t.Fatalf("after retry: %v", got)
	}
}

func TestMachineHeadlessFailure(t *testing.T) {
	cases := []struct {
		name       string
		noRollback bool
		fail       string // effect to fail instead of a never-ready release
		want       []string
		exit       int
	}{
		{"gate timeout rolls back", false, "", []string{"stop fw-b", "rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-c", "unlock"}, 4},
		{"gate timeout with --no-rollback stops", true, "", []string{"unlock"}, 1},
		{"start fails, rolls back", false, "start fw-b", []string{"rollback fw-b", "start fw-b", "unstage fw-a", "unstage fw-c", "unlock"}, 4},
		{"start fails with --no-rollback: started again, stops", true, "start fw-b", []string{"start fw-b", "unlock"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true, NoRollback: tc.noRollback})
			if tc.fail != "" {
				w.failOn[tc.fail] = errors.New("exit status 1")
			} else {
				w.badNew["fw-b"] = true
			}
			w.send(Begin{At: w.now})
			w.runUntil(func() bool { return w.m.Failure != nil })
			mark := len(w.effects)
			w.runToEnd()
			mtEqual(t, "after the failure", w.changesSince(mark), tc.want)
			if w.m.ExitCode != tc.exit {
				t.Fatalf("exit %d, want %d: %s", w.m.ExitCode, tc.exit, w.m.Reason)
			}
			if len(mtRecords(w.effects[mark:], "decision")) != 1 {
				t.Fatal("the --yes decision is not journalled")
			}
			if !w.node("fw-b").up {
				t.Fatal("fw-b left stopped")
			}
			for _, n := range []string{"fw-a", "fw-c"} {
				if w.node(n).bin != mtOldSHA {
					t.Fatalf("%s was upgraded after a failure", n)
				}
			}
		})
	}
}

// After the leader stops, "no leader" is tolerated only within the
// election window; then it is a failure, with per-node sysdumps.
func TestMachineNoLeaderWindow(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		s, ok := w.m.Current()
		return ok && s.ID == "upgrade/fw-a" && w.m.Gate.Name == "stabilise"
	})
	w.electAt = w.now.Add(time.Hour) // the election never ends
	opened := w.m.Gate.Opened()
	w.runUntil(func() bool { return w.m.Failure != nil })
	f := w.m.Failure
	if f.Kind != FailNoLeader || !strings.HasPrefix(f.Reason, "no leader for 21s (tolerated: 20s)") {
		t.Fatalf("failure %+v", f)
	}
	if d := f.At.Sub(opened); d < 20*time.Second || d > 23*time.Second {
		t.Fatalf("failed %s after the gate opened", d)
	}
	batch := w.batches[len(w.batches)-1]
	if sd, ok := batch[0].(TakeSysdump); !ok || !sd.PerNode || len(sd.Nodes) != 3 {
		t.Fatalf("first effect %#v, want per-node sysdumps", batch[0])
	}
}

// Quit (Ctrl-C) in the middle of a step: the restart in flight (one
// command on the node: stop, keep .prev, swap, start) finishes, nothing
// new starts, the lock is kept for resume (which gates fw-b), exit 1.
func TestMachineQuitMidStep(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "stop"
	})
	mark := len(w.effects)
	if effs := w.send(Quit{At: w.now}); len(mtChanges(effs)) != 0 {
		t.Fatalf("quit started something: %v", effs)
	}
	if got := w.m.Allowed(); len(got) != 0 {
		t.Fatalf("allowed while ending: %v", got)
	}
	w.runToEnd()
	mtEqual(t, "after quit", w.changesSince(mark), nil)
	if w.m.ExitCode != 1 || !w.m.LockHeld() || !strings.Contains(w.m.Reason, "interrupted") {
		t.Fatalf("exit %d lock %v reason %q", w.m.ExitCode, w.m.LockHeld(), w.m.Reason)
	}
	if n := w.node("fw-b"); !n.up || n.bin != mtNewSHA || n.prevBin != mtOldSHA {
		t.Fatalf("fw-b up %v on %s", n.up, n.bin[:4])
	}
}

// Quit while the stop of a restart is in flight and the stop fails: the
// rest of the chain does not run, and the machine starts fw-b again on
// the build it had before it ends.
func TestMachineQuitMidStepStopFails(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
	w.failOn["stop fw-b"] = errors.New("ssh: connection lost")
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		return len(w.queue) > 0 && w.queue[0].Kind() == "stop"
	})
	mark := len(w.effects)
	w.send(Quit{At: w.now})
	w.runToEnd()
	mtEqual(t, "after quit", w.changesSince(mark), []string{"start fw-b"})
	if n := w.node("fw-b"); !n.up || n.bin != mtOldSHA {
		t.Fatalf("fw-b up %v on %s", n.up, n.bin[:4])
	}
	if w.m.ExitCode != 1 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}

// Next is pure: the machine passed in is not changed.
func TestMachineNextIsPure(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	before := w.m
	s, _ := before.AwaitingApproval()
	after, effs := Next(before, Approve{Step: s.ID, By: "op", At: w.now})
	if len(effs) == 0 {
		t.Fatal("approval produced nothing")
	}
	if b, _ := before.StepByID(s.ID); b.Status != StatusWaitingApproval {
		t.Fatalf("Next changed its input: %s", b.Status)
	}
	if a, _ := after.StepByID(s.ID); a.Status == StatusWaitingApproval {
		t.Fatalf("Next did not apply: %s", a.Status)
	}
	// The same event on the same state gives the same effects.
	_, again := Next(before, Approve{Step: s.ID, By: "op", At: w.now})
	if len(again) != len(effs) {
		t.Fatalf("replay gave %d effects, first %d", len(again), len(effs))
	}
	for i := range effs {
		if effs[i].Kind() != again[i].Kind() || effs[i].Meta() != again[i].Meta() {
			t.Fatalf("effect %d differs: %#v vs %#v", i, effs[i], again[i])
		}
	}
}

// An abort while a node's gate is open leaves no node reading busy: the
// node on the target whose gates never passed reads unverified, and the
// release step is done, not pending.
func TestAbortWhileVerifyingSettlesTheNodes(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.m.Gate.Open && w.m.Gate.Node == "fw-b" && w.node("fw-b").bin == mtNewSHA })
	if n := w.m.Nodes[1]; n.Name != "fw-b" || n.Status != NodeVerifying {
		t.Fatalf("fw-b is %s, want verifying before the abort", n.Status)
	}
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	for _, n := range w.m.Nodes {
		switch n.Status {
		case NodeStaging, NodeBackingUp, NodeStopping, NodeSwapping, NodeStarting, NodeVerifying, NodeRollingBack:
			t.Errorf("%s still reads %s after the run ended", n.Name, n.Status)
		}
	}
	if n := w.m.Nodes[1]; n.Status != NodeUnverified {
		t.Errorf("fw-b reads %s, want unverified", n.Status)
	}
	for _, s := range w.m.Steps {
		if s.Kind == StepRelease && s.Status != StatusDone {
			t.Errorf("the release step is %s after the abort released the lock", s.Status)
		}
	}
}
