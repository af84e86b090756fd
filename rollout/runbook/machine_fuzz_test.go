package runbook

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The machine's invariants under arbitrary event sequences: effects
// answered in any order or with errors, ticks of any size, approvals of
// any step, cancels, aborts, quits, leader moves and nodes that stop being
// ready. Checked after every event:
//   - never two nodes stopped at once;
//   - every node-changing effect preceded by its journal intent (send);
//   - interactive: no node-changing effect without an approval of its own
//     step (lock and stage: of the lock step), except starting a stopped
//     node after an abort or quit, and removing a staged .new, which a
//     confirmed abort or an approved rollback covers;
//   - an action not in Allowed() produces no effect; nothing after Finish;
//   - the machine counts every stopped node as down, and a finished run
//     leaves none stopped unless its reason says so;
//   - exit codes are 0, 1, 3 or 4; no panic.

var mtFuzzRunHook func(*mtWorld) // tests may observe the world of a run

type mtBytes struct {
	data []byte
	i    int
}

func (b *mtBytes) more() bool { return b.i < len(b.data) }

func (b *mtBytes) next() int {
	if b.i >= len(b.data) {
		return 0
	}
	b.i++
	return int(b.data[b.i-1])
}

func mtFuzzRun(t *testing.T, data []byte) {
	r := &mtBytes{data: data}
	nodes := 3 + r.next()%3
	o := mtOpts()
	o.Backup, o.BackupSet = BackupMode(r.next()%3), "set-1"
	mo := MachineOptions{Headless: r.next()%4 == 0, NoRollback: r.next()%2 == 0}
	p := mtPlan(t, nodes, r.next()%nodes, o)
	w := newWorld(t, p, mo)
	w.autoApprove = false
	if mtFuzzRunHook != nil {
		mtFuzzRunHook(w)
	}

	down := map[string]bool{}
	endAsked := false // an abort was confirmed or quit sent
	aborted := false  // an abort was confirmed
	w.send(Begin{At: w.now})
	for steps := 0; steps < 400 && r.more(); steps++ {
		var ev Event
		action := Action(0)
		switch c := r.next() % 16; {
		case c <= 4: // answer a queued effect
			if len(w.queue) == 0 {
				w.tick()
				ev = Tick{Now: w.now}
				break
			}
			i := mtChainHead(w.queue, r.next()%len(w.queue)) // a chain runs in order
			e := w.queue[i]
			w.queue = append(w.queue[:i:i], w.queue[i+1:]...)
			switch r.next() % 10 {
			case 9: // failed without doing anything
				ev = EffectResult{ID: e.Meta().ID, At: w.now, Err: errors.New("injected")}
				if a, ok := e.(NodeAction); ok {
					w.failChain(a)
				}
			case 8: // done, but reported as failed
				w.answer(e)
				ev = EffectResult{ID: e.Meta().ID, At: w.now, Err: errors.New("injected after the fact")}
				if a, ok := e.(NodeAction); ok {
					w.failChain(a)
				}
			default:
				ev = w.answer(e)
			}
		case c <= 6:
			for range 1 + r.next()%8 {
				w.tick()
			}
			ev = Tick{Now: w.now}
		case c == 7:
			action = ActApprove
			if s, ok := w.m.AwaitingApproval(); ok {
				ev = Approve{Step: s.ID, By: "fuzz", At: w.now}
			} else {
				ev = Approve{Step: w.m.Steps[r.next()%len(w.m.Steps)].ID, By: "fuzz", At: w.now}
			}
		case c == 8:
			action = ActApprove
			ev = Approve{Step: w.m.Steps[r.next()%len(w.m.Steps)].ID, By: "fuzz", At: w.now}
		case c <= 12:
			action = []Action{ActCancel, ActAbort, ActAbortConfirm, ActKeepWaiting, ActRetry, ActContinue,
				ActSysdump, ActRollbackNode, ActRollbackAll, ActCancel, ActAbortConfirm, ActKeepWaiting}[r.next()%12]
			ev = ActionEvent(action, "", "fuzz", w.now)
		case c == 13: // the world misbehaves
			n := w.nodes[r.next()%len(w.nodes)]
			switch r.next() % 4 {
			case 0:
				if n.up {
					w.moveLeader(n.name)
				}
			case 1:
				n.neverReady = !n.neverReady
			case 2:
				w.badNew[n.name] = !w.badNew[n.name]
			case 3:
				n.peerErrs++
			}
			w.tick()
			ev = Tick{Now: w.now}
		case c == 14: // a snapshot nobody asked for, maybe stale
			snap := w.snapshot()
			snap.TakenAt = snap.TakenAt.Add(-time.Duration(r.next()%5) * time.Second)
			ev = Snapshot{Snap: snap, At: w.now}
		default:
			if r.next()%6 == 0 {
				action = ActQuit
				ev = Quit{At: w.now}
			} else {
				ev = EffectResult{ID: EffectID(r.next()), At: w.now} // unknown or stale id
			}
		}

		before := w.m
		wasAllowed := action == 0 || before.IsAllowed(action)
		if _, ok := ev.(Approve); ok {
			s, waiting := before.AwaitingApproval()
			wasAllowed = waiting && s.ID == ev.(Approve).Step
		}
		if before.AbortAsked && action == ActAbortConfirm || action == ActQuit && wasAllowed && !before.Finished {
			endAsked = true
		}
		if before.AbortAsked && action == ActAbortConfirm {
			aborted = true
		}
		effs := w.send(ev)

		if before.Finished && len(effs) > 0 {
			t.Fatalf("effects after Finish: %v", effs)
		}
		if !wasAllowed && len(effs) > 0 {
			t.Fatalf("%T not allowed (allowed %v) but produced %v", ev, before.Allowed(), mtChanges(effs))
		}
		if er, ok := ev.(EffectResult); ok && er.Err == nil {
			for _, e := range w.effects {
				if s, ok := e.(NodeAction); ok && s.Op == OpStart && s.ID == er.ID {
					delete(down, s.Node)
				}
			}
		}
		for _, e := range effs {
			if s, ok := e.(NodeAction); ok && s.Op == OpStop {
				for n := range down {
					if n != s.Node {
						t.Fatalf("stop %s while %s is stopped", s.Node, n)
					}
				}
				down[s.Node] = true
			}
			if !mo.Headless && EffectChangesNode(e) {
				mtCheckApproved(t, w, e, o, endAsked, aborted)
			}
			if f, ok := e.(Finish); ok && f.ExitCode != 0 && f.ExitCode != 1 && f.ExitCode != 3 && f.ExitCode != 4 {
				t.Fatalf("exit code %d", f.ExitCode)
			}
		}
		// The machine never believes a stopped node is up, and a finished
		// run leaves no node stopped unless it says so.
		for _, n := range w.nodes {
			if n.up {
				continue
			}
			if ns, _ := w.m.NodeByName(n.name); !ns.Down {
				t.Fatalf("%s is stopped but the machine counts it up", n.name)
			}
			if w.m.Finished && !strings.Contains(w.m.Reason, n.name+" may still be stopped") {
				t.Fatalf("finished (exit %d: %s) with %s stopped", w.m.ExitCode, w.m.Reason, n.name)
			}
		}
	}
}

func mtCheckApproved(t *testing.T, w *mtWorld, e Effect, o PlanOptions, endAsked, aborted bool) {
	t.Helper()
	step := e.Meta().Step
	approved := func(id StepID) bool {
		s, ok := w.m.StepByID(id)
		return w.approvals[id] && ok && !s.ApprovedAt.IsZero()
	}
	a, _ := e.(NodeAction)
	switch {
	case e.Kind() == "unlock":
		return
	case e.Kind() == "lock" || a.Op == OpStage:
		if !w.approvals["lock"] {
			t.Fatalf("%s %s before the lock step was approved", e.Kind(), EffectNode(e))
		}
	case a.Op == OpBackup:
		if a.Backup == BackupLive {
			if !w.approvals["lock"] {
				t.Fatalf("live backup before the lock step was approved")
			}
			return
		}
		if !approved(step) {
			t.Fatalf("backup %s: step %s not approved", a.Node, step)
		}
	case a.Op == OpUnstage:
		rolledBack := false
		for _, s := range w.m.Steps {
			rolledBack = rolledBack || s.Kind == StepRollback && approved(s.ID)
		}
		if !aborted && !rolledBack {
			t.Fatalf("unstage %s with no confirmed abort and no approved rollback", a.Node)
		}
		if s, _ := w.m.StepByID(step); s.ApprovedBy == "" {
			t.Fatalf("unstage %s: its step %s records no approver", a.Node, step)
		}
	case a.Op == OpStart:
		if !approved(step) && !endAsked {
			t.Fatalf("start %s: step %s not approved and no abort or quit", a.Node, step)
		}
	default:
		if !approved(step) {
			t.Fatalf("%s %s: step %s not approved", e.Kind(), EffectNode(e), step)
		}
	}
}

func FuzzMachine(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		b := make([]byte, 600)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 1, 0, 0})
	f.Fuzz(mtFuzzRun)
}

// TestMachineRandomEvents runs the fuzz body on many random inputs in a
// plain `go test`. Inputs are biased towards progress (answers, ticks,
// approvals): every other run only lightly, so operator actions and
// injected errors are frequent; the others heavily, so most runs get
// through stops and swaps to a rollback or the end (measured: of 300 such
// runs about 250 stop a node, 230 swap one, 150 finish with exit 0).
func TestMachineRandomEvents(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 40
	}
	rng := rand.New(rand.NewPCG(20260404, 3))
	for i := range runs {
		b := make([]byte, 1200)
		for j := range b {
			b[j] = byte(rng.IntN(256))
			if j > 6 && rng.IntN([]int{3, 25}[i%2]) > 0 {
				b[j] = []byte{0, 1, 2, 3, 5, 7, 7}[rng.IntN(7)] // answer, tick, approve
			}
		}
		t.Run("", func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("run %d panicked: %v", i, r)
				}
			}()
			mtFuzzRun(t, b)
		})
	}
}

// mtChainHead is the queued effect to answer for queue[i]: the first
// queued operation of its chain, if it is one (the executor runs a chain
// in order, in one command).
func mtChainHead(queue []Effect, i int) int {
	a, ok := queue[i].(NodeAction)
	if !ok || a.ChainLen < 2 {
		return i
	}
	for j, e := range queue {
		if b, ok := e.(NodeAction); ok && b.ChainLen > 1 && b.Node == a.Node && b.Step == a.Step && b.ChainPos < a.ChainPos && j != i {
			return mtChainHead(queue, j)
		}
	}
	return i
}
