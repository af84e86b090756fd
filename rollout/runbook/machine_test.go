package runbook

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
)

func TestMachineHappyPath(t *testing.T) {
	cases := []struct {
		name   string
		nodes  int
		leader int
		backup BackupMode
		// the node-changing effects, in order
		want []string
	}{
		{
			name: "3 nodes, leader fw-a, live backup", nodes: 3, leader: 0, backup: BackupLive,
			want: mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "backup fw-b", "backup fw-c", "backup fw-a"},
				mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"),
				[]string{"unlock"}),
		},
		{
			name: "3 nodes, leader fw-b (middle), live backup", nodes: 3, leader: 1, backup: BackupLive,
			want: mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "backup fw-a", "backup fw-c", "backup fw-b"},
				mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-b"),
				[]string{"unlock"}),
		},
		{
			name: "5 nodes, leader fw-c, live backup", nodes: 5, leader: 2, backup: BackupLive,
			want: mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "stage fw-d", "stage fw-e",
					"backup fw-a", "backup fw-b", "backup fw-d", "backup fw-e", "backup fw-c"},
				mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-d"), mtUpgradeSeq("fw-e"), mtUpgradeSeq("fw-c"),
				[]string{"unlock"}),
		},
		{
			// Quiesced backups stop the leader too: the world elects fw-b
			// (longest running), so the upgrade order is re-derived:
			// fw-c, then the old leader fw-a as a follower, then fw-b last.
			name: "3 nodes, leader fw-a, quiesced backup moves the leader", nodes: 3, leader: 0, backup: BackupQuiesced,
			want: mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c",
					"stop fw-b", "backup fw-b", "start fw-b",
					"stop fw-c", "backup fw-c", "start fw-c",
					"stop fw-a", "backup fw-a", "start fw-a"},
				mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-b"),
				[]string{"unlock"}),
		},
		{
			name: "reuse a backup set", nodes: 3, leader: 2, backup: BackupReuse,
			want: mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c"},
				mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-c"),
				[]string{"unlock"}),
		},
	}
	for _, tc := range cases {
		for _, headless := range []bool{false, true} {
			name := tc.name + map[bool]string{false: ", interactive", true: ", --yes"}[headless]
			t.Run(name, func(t *testing.T) {
				o := mtOpts()
				o.Backup, o.BackupSet = tc.backup, "set-0"
				p := mtPlan(t, tc.nodes, tc.leader, o)
				w := newWorld(t, p, MachineOptions{Headless: headless, Approver: "ci@runner"})
				w.send(Begin{At: w.now})
				w.runToEnd()

				if w.m.ExitCode != 0 {
					t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
				}
				mtEqual(t, "node-changing effects", mtChanges(w.effects), tc.want)
				if w.maxDown != 1 {
					t.Errorf("at most %d node(s) down at once, want exactly 1", w.maxDown)
				}
				for _, n := range w.m.Nodes {
					if n.Status != NodeUpgraded || n.Binary != mtNew || n.Down || !n.Swapped {
						t.Errorf("%s: %s on %s down=%v swapped=%v", n.Name, n.Status, n.Binary.Label(), n.Down, n.Swapped)
					}
					if wn := w.node(n.Name); wn.bin != mtNewSHA || wn.prevBin != mtOldSHA || !wn.up {
						t.Errorf("world %s: bin %s prev %s up %v", n.Name, wn.bin[:4], wn.prevBin, wn.up)
					}
				}
				for _, s := range w.m.Steps {
					if s.Status != StatusDone {
						t.Errorf("step %s: %s (%s)", s.ID, s.Status, s.Note)
					}
				}

				// Every step needing approval was approved, by the
				// operator or by --yes, and the journal says so.
				approvals := mtOfKind[Record](w.effects)
				var approved []string
				for _, r := range approvals {
					if r.Type == RecordApproval {
						approved = append(approved, string(r.EffectMeta.Step)+" by "+r.By)
					}
				}
				var want []string
				by := "op@laptop"
				if headless {
					by = "ci@runner (--yes)"
				}
				for _, s := range w.m.Texts() {
					if s.Approval && (s.Kind != StepBackup || tc.backup == BackupQuiesced) {
						want = append(want, string(s.ID)+" by "+by)
					}
				}
				slices.Sort(approved)
				slices.Sort(want)
				mtEqual(t, "approvals", approved, want)
				if headless && len(w.approvals) != 0 {
					t.Errorf("headless run got operator approvals: %v", w.approvals)
				}

				// Baseline then final sysdump; the run intent first and
				// its outcome before Finish.
				var purposes []string
				for _, sd := range mtOfKind[TakeSysdump](w.effects) {
					purposes = append(purposes, string(sd.Purpose))
				}
				mtEqual(t, "sysdumps", purposes, []string{"baseline", "final"})
				if r, ok := w.effects[0].(Record); !ok || r.Type != RecordIntent || r.Op != RecordOpRun {
					t.Errorf("first effect %#v, want the run intent", w.effects[0])
				}
				last := w.effects[len(w.effects)-1]
				if f, ok := last.(Finish); !ok || f.ExitCode != 0 {
					t.Errorf("last effect %#v, want Finish 0", last)
				}
				if len(mtOfKind[SaveBaseline](w.effects)) != 1 {
					t.Errorf("want one SaveBaseline")
				}
				if !slices.Equal(w.m.Allowed(), []Action{ActQuit}) {
					t.Errorf("allowed after finish: %v", w.m.Allowed())
				}
			})
		}
	}
}

// The leader's step waits for a new leader in a new term and requires
// leadership stable; its stop is preceded by the quorum verdict values.
func TestMachineLeaderStepGates(t *testing.T) {
	p := mtPlan(t, 3, 0, mtOpts())
	w := newWorld(t, p, MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		s, ok := w.m.Current()
		return ok && s.ID == "upgrade/fw-a" && w.m.Gate.Name == "stabilise" && w.m.Gate.Open
	})
	s, _ := w.m.Current()
	if !s.wasLeader || s.aboveTerm != 7 {
		t.Fatalf("leader step: wasLeader %v term before the stop %d", s.wasLeader, s.aboveTerm)
	}
	// Until the world elects (3 s) the gate shows no leader and holds nothing.
	w.runUntil(func() bool {
		return w.m.Gate.JudgedAt().After(w.m.Gate.Opened()) || w.m.Gate.JudgedAt().Equal(w.m.Gate.Opened())
	})
	if w.m.Gate.OK() || w.m.Gate.LeaderlessSince().IsZero() {
		t.Fatalf("gate right after stopping the leader: ok %v leaderless since %v", w.m.Gate.OK(), w.m.Gate.LeaderlessSince())
	}
	w.runUntil(func() bool { s, _ := w.m.Current(); return s.ID != "upgrade/fw-a" })
	passed := mtRecords(w.effects, "gate-passed")
	last := passed[len(passed)-1]
	vals := map[string]string{}
	for _, v := range last.GateValues {
		vals[v.Name] = v.Value.String()
	}
	if vals["new leader.term"] != "8" || vals["new leader.term_before_stop"] != "7" || vals["leader stable.ok"] != "true" {
		t.Fatalf("leader gate values: %v", vals)
	}
	if w.m.Leader != "fw-b" {
		t.Fatalf("leader %q, want fw-b", w.m.Leader)
	}
	// The stop of fw-a was journalled with the quorum arithmetic shown.
	for _, r := range mtOfKind[Record](w.effects) {
		if r.Type == RecordIntent && r.Op == "stop" && r.Node == "fw-a" {
			if !mtHasValue(r.GateValues, "quorum kept.summary", "stopping fw-a: voters up 3→2, quorum 2, failure tolerance 1→0") || r.By != "op@laptop" {
				t.Fatalf("stop intent: by %q values %v", r.By, r.GateValues)
			}
			return
		}
	}
	t.Fatal("no stop intent for fw-a")
}

func mtHasValue(vs []health.GateValue, name, value string) bool {
	for _, v := range vs {
		if v.Name == name && v.Value.String() == value {
			return true
		}
	}
	return false
}

// Nothing changes on a node until its own dialog is approved, and an
// approval for any other step is ignored.
func TestMachineApprovalPerStep(t *testing.T) {
	p := mtPlan(t, 3, 0, mtOpts())
	w := newWorld(t, p, MachineOptions{})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	s, _ := w.m.AwaitingApproval()
	if s.ID != "lock" {
		t.Fatalf("first dialog %s, want lock", s.ID)
	}
	if got := mtChanges(w.effects); len(got) != 0 {
		t.Fatalf("changes before any approval: %v", got)
	}
	if !slices.Equal(w.m.Allowed(), []Action{ActApprove, ActCancel, ActSysdump, ActAbort, ActQuit}) {
		t.Fatalf("allowed at the dialog: %v", w.m.Allowed())
	}
	// Ticks while the dialog is open change nothing.
	for range 30 {
		w.tick()
		w.send(Tick{Now: w.now})
		for len(w.queue) > 0 {
			e := w.queue[0]
			w.queue = w.queue[1:]
			w.send(w.answer(e))
		}
	}
	if got := mtChanges(w.effects); len(got) != 0 {
		t.Fatalf("changes while waiting: %v", got)
	}
	for _, wrong := range []StepID{"upgrade/fw-b", "stage", "", "LOCK"} {
		if effs := w.send(Approve{Step: wrong, By: "op", At: w.now}); len(effs) != 0 {
			t.Fatalf("approval of %q produced %v", wrong, effs)
		}
	}
	effs := w.send(Approve{Step: "lock", By: "op", At: w.now})
	if got := mtChanges(effs); !slices.Equal(got, []string{"lock"}) {
		t.Fatalf("after approving lock: %v", got)
	}
	if effs := w.send(Approve{Step: "lock", By: "op", At: w.now}); len(effs) != 0 {
		t.Fatalf("second approval of lock produced %v", effs)
	}
	// Staging and backups (live) run on; the next dialog is fw-b's upgrade.
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	s, _ = w.m.AwaitingApproval()
	if tx, _ := w.m.Text(s.ID); s.ID != "upgrade/fw-b" || tx.Quorum != "stopping fw-b: voters up 3→2, quorum 2, failure tolerance 1→0" || w.m.Gate.Summary() != tx.Quorum {
		t.Fatalf("dialog %s, quorum %q, gate summary %q", s.ID, tx.Quorum, w.m.Gate.Summary())
	}
	before := len(w.effects)
	// Approving a later step, or the same step twice: one restart of fw-b
	// (its operations go out together, as one chain).
	w.send(Approve{Step: "upgrade/fw-c", By: "op", At: w.now})
	w.send(Approve{Step: "upgrade/fw-b", By: "op", At: w.now})
	w.send(Approve{Step: "upgrade/fw-b", By: "op", At: w.now})
	w.send(Approve{Step: "upgrade/fw-c", By: "op", At: w.now})
	got := mtChanges(w.effects[before:])
	if !slices.Equal(got, mtUpgradeSeq("fw-b")) {
		t.Fatalf("after the approvals: %v", got)
	}
	// fw-c's dialog opens only after fw-b passed its gates, and the
	// earlier approval of fw-c does not count.
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	s, _ = w.m.AwaitingApproval()
	if s.ID != "upgrade/fw-c" {
		t.Fatalf("next dialog %s", s.ID)
	}
	if b, _ := w.m.StepByID("upgrade/fw-b"); b.Status != StatusDone || b.ApprovedBy != "op" {
		t.Fatalf("fw-b: %s by %q", b.Status, b.ApprovedBy)
	}
}

func TestMachineDeclineAndContinue(t *testing.T) {
	p := mtPlan(t, 3, 0, mtOpts())
	w := newWorld(t, p, MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.Kind == StepUpgrade })
	w.autoApprove = false
	effs := w.send(Cancel{At: w.now})
	if len(mtChanges(effs)) != 0 || w.m.Pause == nil || w.m.Pause.Kind != PauseDeclined {
		t.Fatalf("after cancel: pause %+v effects %v", w.m.Pause, mtChanges(effs))
	}
	if !slices.Equal(w.m.Allowed(), []Action{ActContinue, ActSysdump, ActAbort, ActQuit}) {
		t.Fatalf("allowed after declining: %v", w.m.Allowed())
	}
	if effs := w.send(Approve{Step: "upgrade/fw-b", By: "op", At: w.now}); len(effs) != 0 {
		t.Fatalf("approval while declined produced %v", effs)
	}
	w.send(Continue{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	if s, _ := w.m.AwaitingApproval(); s.ID != "upgrade/fw-b" {
		t.Fatalf("after continue: %s", s.ID)
	}
	w.autoApprove = true
	w.runToEnd()
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
}

// Leadership moves to a pending node in the middle of the rollout: the new
// leader goes last and the old one is upgraded as a follower.
func TestMachineLeadershipMoves(t *testing.T) {
	for _, headless := range []bool{false, true} {
		t.Run(map[bool]string{false: "interactive", true: "--yes"}[headless], func(t *testing.T) {
			p := mtPlan(t, 3, 0, mtOpts()) // planned: fw-b, fw-c, fw-a
			w := newWorld(t, p, MachineOptions{Headless: headless})
			w.send(Begin{At: w.now})
			w.runUntil(func() bool {
				s, ok := w.m.Current()
				return ok && s.ID == "upgrade/fw-b" && w.m.Gate.Name == "stabilise"
			})
			w.moveLeader("fw-c") // e.g. `sim kill` of the leader during fw-b's gate wait
			w.runToEnd()
			if w.m.ExitCode != 0 {
				t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
			}
			want := mtJoin(
				[]string{"lock", "stage fw-a", "stage fw-b", "stage fw-c", "backup fw-b", "backup fw-c", "backup fw-a"},
				mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-c"), []string{"unlock"})
			mtEqual(t, "changes", mtChanges(w.effects), want)
			if w.maxDown != 1 {
				t.Errorf("max down %d", w.maxDown)
			}
			if len(mtRecords(w.effects, "leader-changed")) == 0 {
				t.Error("no leader-changed record")
			}
			if a, _ := w.m.Text("upgrade/fw-a"); a.Phase != PhaseFollowers {
				t.Errorf("fw-a's step is in %s, want followers", a.Phase)
			}
			if c, _ := w.m.Text("upgrade/fw-c"); c.Phase != PhaseLeader || !strings.Contains(c.Title, "(leader)") {
				t.Errorf("fw-c's step: %s %q", c.Phase, c.Title)
			}
		})
	}
}

// The leader moves to the node whose dialog is open: the dialog is
// withdrawn, that approval no longer counts, and the node goes last.
func TestMachineLeaderMovesDuringDialog(t *testing.T) {
	p := mtPlan(t, 3, 0, mtOpts())
	w := newWorld(t, p, MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.ID == "upgrade/fw-b" })
	w.autoApprove = false
	w.moveLeader("fw-b")
	w.runUntil(func() bool { s, ok := w.m.AwaitingApproval(); return ok && s.ID != "upgrade/fw-b" })
	s, _ := w.m.AwaitingApproval()
	if s.ID != "upgrade/fw-c" {
		t.Fatalf("dialog %s, want fw-c", s.ID)
	}
	b, _ := w.m.StepByID("upgrade/fw-b")
	if b.Status != StatusPending || !strings.Contains(b.Note, "became the leader") {
		t.Fatalf("fw-b step: %s %q", b.Status, b.Note)
	}
	before := len(w.effects)
	if effs := w.send(Approve{Step: "upgrade/fw-b", By: "op", At: w.now}); len(effs) != 0 {
		t.Fatalf("stale approval produced %v", effs)
	}
	w.autoApprove = true
	w.runToEnd()
	want := mtJoin(mtUpgradeSeq("fw-c"), mtUpgradeSeq("fw-a"), mtUpgradeSeq("fw-b"), []string{"unlock"})
	mtEqual(t, "changes after the move", mtChanges(w.effects[before:]), want)
	if w.m.ExitCode != 0 {
		t.Fatalf("exit %d", w.m.ExitCode)
	}
}

func TestMachinePreCheckRefused(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(w *mtWorld)
		want   []string // substrings of the reason
	}{
		{"a follower stopped", func(w *mtWorld) { w.node("fw-c").up = false }, []string{"fw-c: /health failed", "fw-c: /ready failed"}},
		{"a follower not ready", func(w *mtWorld) { w.node("fw-b").neverReady = true }, []string{"fw-b: /ready check policy_replication failing: policy replication not caught up"}},
		{"a follower behind", func(w *mtWorld) { w.node("fw-b").neverReady = true; w.index += 50 }, []string{"fw-b: not caught up"}},
		{"no leader", func(w *mtWorld) { w.leader = "" }, []string{"cluster: /api/v1/stats failed"}},
		{"two voters", func(w *mtWorld) { w.node("fw-c").voter = false }, []string{"only 2 voter(s)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mtPlan(t, 3, 0, mtOpts())
			w := newWorld(t, p, MachineOptions{Headless: true})
			tc.break_(w)
			w.send(Begin{At: w.now})
			w.runToEnd()
			if w.m.ExitCode != 3 {
				t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.m.Reason, s) {
					t.Errorf("reason %q lacks %q", w.m.Reason, s)
				}
			}
			if got := mtChanges(w.effects); len(got) != 0 {
				t.Fatalf("node changes on a refused run: %v", got)
			}
			if s, _ := w.m.StepByID("precheck"); s.Status != StatusFailed {
				t.Errorf("precheck step %s", s.Status)
			}
			if len(mtOfKind[TakeSysdump](w.effects)) != 0 || len(mtOfKind[SaveBaseline](w.effects)) != 0 {
				t.Error("a refused pre-check saved a baseline")
			}
		})
	}
}

func TestMachineRefusals(t *testing.T) {
	cases := []struct {
		name, fail, want string
	}{
		{"host key mismatch", "connect", "connect: host key mismatch for fw-b"},
		{"lock held", "lock", "lock: held by alice@ops"},
		{"binary unreadable", "read-files", "read-files: sha256sum: permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{Headless: true})
			w.failOn[tc.fail] = errors.New(strings.TrimPrefix(tc.want, tc.fail+": "))
			w.send(Begin{At: w.now})
			w.runToEnd()
			if w.m.ExitCode != 3 || w.m.Reason != tc.want {
				t.Fatalf("exit %d %q", w.m.ExitCode, w.m.Reason)
			}
			for _, c := range mtChanges(w.effects) {
				if c != "lock" {
					t.Fatalf("changes on a refused run: %v", mtChanges(w.effects))
				}
			}
		})
	}
}

func TestMachineSkipsNodesOnTarget(t *testing.T) {
	in := mtPlanInput(3, 0, mtOpts())
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, p, MachineOptions{Headless: true})
	w.node("fw-c").bin = mtNewSHA // upgraded by someone before
	w.send(Begin{At: w.now})
	w.runToEnd()
	want := mtJoin([]string{"lock", "stage fw-a", "stage fw-b", "backup fw-b", "backup fw-c", "backup fw-a"},
		mtUpgradeSeq("fw-b"), mtUpgradeSeq("fw-a"), []string{"unlock"})
	mtEqual(t, "changes", mtChanges(w.effects), want)
	if s, _ := w.m.StepByID("upgrade/fw-c"); s.Status != StatusSkipped || w.m.ExitCode != 0 {
		t.Fatalf("fw-c step %s, exit %d", s.Status, w.m.ExitCode)
	}
	if n, _ := w.m.NodeByName("fw-c"); n.Status != NodeOnTarget || n.Swapped {
		t.Fatalf("fw-c %s swapped %v", n.Status, n.Swapped)
	}
}

// What a UI reads while a node is being verified.
func TestMachineObservableState(t *testing.T) {
	w := newWorld(t, mtPlan(t, 3, 0, mtOpts()), MachineOptions{})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool {
		s, ok := w.m.Current()
		return ok && s.ID == "upgrade/fw-b" && w.m.Gate.Name == "stabilise" && w.m.Gate.Open && len(w.m.Gate.Results()) > 0
	})
	g := w.m.Gate
	var names []string
	for _, c := range g.Results() {
		names = append(names, c.Gate)
	}
	mtEqual(t, "checks", names, []string{health.GateNodeHealthy, health.GateCaughtUp, health.GateApplied, health.GatePeerErrorsSteady, health.GateBinaryMatches, health.GateServiceUp, health.GateNoAbortSignals})
	if tx, _ := w.m.Text("upgrade/fw-b"); tx.Gate == nil || len(tx.Gate.Checks) != len(names) {
		t.Fatalf("the step's text promises %v, the machine judges %v", tx.Gate, names)
	}
	if g.OK() || !g.HeldSince().IsZero() || g.Results()[0].OK || !g.Results()[0].Since.IsZero() {
		t.Fatalf("right after the start fw-b cannot be ready: %+v", g.Results()[0])
	}
	if !g.Deadline().Equal(g.Opened().Add(60*time.Second)) || g.Hold != 5*time.Second || g.Node != "fw-b" {
		t.Fatalf("gate %+v", g)
	}
	s, _ := w.m.Current()
	n, _ := w.m.NodeByName("fw-b")
	if s.Status != StatusRunning || s.StartedAt.IsZero() || s.ApprovedBy != "op@laptop" || n.Status != NodeVerifying || w.m.Phase != PhaseFollowers {
		t.Fatalf("step %s started %v by %q, node %s, phase %s", s.Status, s.StartedAt, s.ApprovedBy, n.Status, w.m.Phase)
	}
	if got := w.m.Allowed(); !slices.Equal(got, []Action{ActSysdump, ActAbort, ActQuit}) {
		t.Fatalf("allowed %v", got)
	}
	// Once every check holds, "since" stays put while the window runs.
	w.runUntil(func() bool { return !w.m.Gate.HeldSince().IsZero() })
	held := w.m.Gate.HeldSince()
	since := w.m.Gate.Results()[0].Since
	w.runUntil(func() bool { return w.m.Gate.JudgedAt().After(held.Add(2 * time.Second)) })
	if !w.m.Gate.HeldSince().Equal(held) || !w.m.Gate.Results()[0].Since.Equal(since) || since.After(held) {
		t.Fatalf("held since %v → %v, node healthy since %v → %v", held, w.m.Gate.HeldSince(), since, w.m.Gate.Results()[0].Since)
	}
	w.runUntil(func() bool { n, _ := w.m.NodeByName("fw-b"); return n.Status == NodeUpgraded })
	if s, _ := w.m.StepByID("upgrade/fw-b"); s.Status != StatusDone || s.EndedAt.Sub(held) < 5*time.Second {
		t.Fatalf("step %s ended %v, held since %v", s.Status, s.EndedAt, held)
	}
	for _, name := range []string{"fw-a", "fw-c"} {
		if n, _ := w.m.NodeByName(name); n.Status != NodeBackedUp || !n.Staged {
			t.Fatalf("%s: %s staged %v", name, n.Status, n.Staged)
		}
	}
}
