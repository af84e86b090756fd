package runbook

import (
	"slices"
	"strings"
	"testing"
)

// A node on a build that matches no release manifest (a hotfix) needs its
// own approval: its upgrade keeps that build as .prev, so a rollback
// restores it.

var mtHotfixSHA = strings.Repeat("e7", 32)

const mtHotfixShort = "e7e7e7e7e7e7"

// mtHotfixPlan: 3 nodes on 1.0.0, fw-a leads, fw-b runs the hotfix.
func mtHotfixPlan(t *testing.T, o PlanOptions) Plan {
	t.Helper()
	in := mtPlanInput(3, 0, o)
	in.Nodes[1].Current = BuildRef{SHA256: mtHotfixSHA}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mtApprovalsBy(effs []Effect) []string {
	var out []string
	for _, r := range mtOfKind[Record](effs) {
		if r.Type == RecordApproval {
			out = append(out, string(r.Step)+" by "+r.By)
		}
	}
	return out
}

func TestUnknownBuildAsksWithTheShaAndTheWarning(t *testing.T) {
	w := newWorld(t, mtHotfixPlan(t, mtOpts()), MachineOptions{Approver: "op@laptop"})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })

	s, _ := w.m.AwaitingApproval()
	if s.ID != "unknown-build" || s.Kind != StepUnknownBuild {
		t.Fatalf("the first approval is %s, want unknown-build", s.ID)
	}
	tx, _ := w.m.Text(s.ID)
	if tx.Title != "Accept fw-b's unknown build (sha256 "+mtHotfixShort+")" || !tx.Approval || !tx.ReadOnly || !tx.Refuses {
		t.Errorf("text %+v", tx)
	}
	mtEqual(t, "what it says", tx.Does, []string{
		"fw-b runs unknown (sha256 " + mtHotfixShort + "): its binary matches no release manifest nwroll knows",
		"upgrading fw-b keeps that build as /opt/neuwerk/bin/neuwerk.prev: a rollback of fw-b restores that same build, not a known release",
		"--yes refuses here unless --allow-unknown-build is given (check the build first), or its release's directory is in --releases",
	})
	if got := mtChanges(w.effects); len(got) != 0 {
		t.Fatalf("nodes changed before the approval: %v", got)
	}

	w.send(Approve{Step: s.ID, By: "op@laptop", At: w.now})
	w.autoApprove = true
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	if got := mtApprovalsBy(w.effects); got[0] != "unknown-build by op@laptop" {
		t.Errorf("approvals %v: the first is not the unknown build's, by the operator", got)
	}
	if b := w.node("fw-b"); b.bin != mtNewSHA || b.prevBin != mtHotfixSHA {
		t.Errorf("fw-b: bin %s prev %s; want the target, and the hotfix as .prev", b.bin[:4], b.prevBin)
	}
}

func TestUnknownBuildDeclinedOrAbortedChangesNothing(t *testing.T) {
	w := newWorld(t, mtHotfixPlan(t, mtOpts()), MachineOptions{Approver: "op@laptop"})
	w.autoApprove = false
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { _, ok := w.m.AwaitingApproval(); return ok })
	w.send(Cancel{At: w.now})
	if p := w.m.Pause; p == nil || p.Kind != PauseDeclined || p.Step != "unknown-build" {
		t.Fatalf("pause after declining: %+v", p)
	}
	w.send(Abort{At: w.now})
	w.send(AbortConfirm{At: w.now})
	w.runToEnd()
	if got := mtChanges(w.effects); len(got) != 0 {
		t.Fatalf("declining then aborting changed nodes: %v", got)
	}
	if w.m.LockHeld() || len(mtOfKind[LockNodes](w.effects)) != 0 {
		t.Errorf("a lock was taken")
	}
	if b := w.node("fw-b"); b.bin != mtHotfixSHA || b.newBin != "" || b.prevBin != "" {
		t.Errorf("fw-b changed: %+v", b)
	}
}

func TestUnknownBuildHeadlessRefusesWithoutTheFlag(t *testing.T) {
	w := newWorld(t, mtHotfixPlan(t, mtOpts()), MachineOptions{Headless: true, Approver: "ci@runner"})
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitRefused {
		t.Fatalf("exit %d: %s; want %d", w.m.ExitCode, w.m.Reason, ExitRefused)
	}
	for _, want := range []string{"fw-b runs an unknown build (sha256 " + mtHotfixShort + ")", "a rollback would restore that same build",
		"--allow-unknown-build", "--releases"} {
		if !strings.Contains(w.m.Reason, want) {
			t.Errorf("the refusal %q does not say %q", w.m.Reason, want)
		}
	}
	if got := mtChanges(w.effects); len(got) != 0 {
		t.Errorf("a refused run changed nodes: %v", got)
	}
	if len(mtOfKind[LockNodes](w.effects)) != 0 || len(mtApprovalsBy(w.effects)) != 0 {
		t.Errorf("a refused run took the lock or approved a step")
	}
	if s, _ := w.m.StepByID("unknown-build"); s.Status != StatusFailed {
		t.Errorf("step unknown-build: %s", s.Status)
	}
}

func TestUnknownBuildHeadlessProceedsWithTheFlag(t *testing.T) {
	o := mtOpts()
	o.AllowUnknownBuild = true
	w := newWorld(t, mtHotfixPlan(t, o), MachineOptions{Headless: true, Approver: "ci@runner"})
	if tx, _ := w.m.Text("unknown-build"); !slices.Contains(tx.Does, "--yes accepts it: --allow-unknown-build was given") {
		t.Errorf("the step does not say the flag accepts it: %v", tx.Does)
	}
	w.send(Begin{At: w.now})
	w.runToEnd()
	if w.m.ExitCode != ExitOK {
		t.Fatalf("exit %d: %s", w.m.ExitCode, w.m.Reason)
	}
	if got := mtApprovalsBy(w.effects); !slices.Contains(got, "unknown-build by ci@runner (--yes) with --allow-unknown-build") {
		t.Errorf("approvals %v lack the unknown build's, by --allow-unknown-build", got)
	}
	if b := w.node("fw-b"); b.bin != mtNewSHA || b.prevBin != mtHotfixSHA {
		t.Errorf("fw-b: bin %s prev %s", b.bin[:4], b.prevBin)
	}
}

func TestUnknownBuildStepOnlyWhenAPlanSeesOne(t *testing.T) {
	if _, ok := mtPlan(t, 3, 0, mtOpts()).Step("unknown-build"); ok {
		t.Error("a plan of known builds asks to accept an unknown one")
	}
	p := mtHotfixPlan(t, mtOpts())
	var ids []string
	for _, s := range p.Steps[:4] {
		ids = append(ids, string(s.ID))
	}
	mtEqual(t, "first steps", ids, []string{"connect", "identify", "unknown-build", "precheck"})
	if !slices.Contains(p.Describe(), "  3. Accept fw-b's unknown build (sha256 "+mtHotfixShort+") [read-only, approval]") {
		t.Errorf("the plan does not list the step:\n%s", strings.Join(p.Describe(), "\n"))
	}
}

// mtReplanKnowing is the plan a resumed run builds: the journal's builds
// are known to it, but a build without a version is still unknown.
func (w *mtWorld) mtReplanKnowing(t *testing.T, o PlanOptions, journal []BuildRef) Plan {
	t.Helper()
	in := PlanInput{Cluster: "lab", Target: mtNew, Known: append([]BuildRef{mtOld, mtNew}, journal...), Options: o}
	for _, n := range w.nodes {
		in.Nodes = append(in.Nodes, PlanNode{Name: n.name, NodeID: n.id, Voter: n.voter, Leader: n.name == w.leader, Current: BuildRef{SHA256: n.bin}})
	}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A resumed run does not ask again once the run approved the unknown
// build; one whose run never approved it asks (and --yes refuses).
func TestUnknownBuildResumeAsksOnlyIfNeverApproved(t *testing.T) {
	journal := []BuildRef{mtOld, {SHA256: mtHotfixSHA}}
	w := newWorld(t, mtHotfixPlan(t, mtOpts()), MachineOptions{Approver: "op@laptop"})
	w.send(Begin{At: w.now})
	w.runUntil(func() bool { return w.node("fw-a").newBin != "" }) // killed while staging
	done := []StepID{"connect", "identify", "unknown-build", "precheck", "lock"}
	resume := func(done []StepID) *mtWorld {
		facts := ResumeFacts{Files: w.real(), DoneSteps: done, Builds: journal, LockHeld: true}
		m, err := ResumeState(w.mtReplanKnowing(t, mtOpts(), journal), facts, MachineOptions{Headless: true, Approver: "ci@runner"})
		if err != nil {
			t.Fatal(err)
		}
		w.restart(m)
		w.send(Begin{At: w.now})
		w.runToEnd()
		return w
	}

	r := resume(slices.Delete(slices.Clone(done), 2, 3))
	if got := mtChanges(r.effects); !slices.Equal(got, []string{"lock", "unlock"}) {
		t.Errorf("the refused resume changed %v; want only the lock taken over and released", got)
	}
	if r.m.ExitCode != ExitRefused || !strings.Contains(r.m.Reason, "fw-b runs an unknown build (sha256 "+mtHotfixShort+")") {
		t.Fatalf("resume of a run that never approved the build: exit %d: %s", r.m.ExitCode, r.m.Reason)
	}
	r = resume(done)
	if r.m.ExitCode != ExitOK {
		t.Fatalf("resume of a run that approved the build: exit %d: %s", r.m.ExitCode, r.m.Reason)
	}
	if s, _ := r.m.StepByID("unknown-build"); s.Status != StatusDone || !s.ApprovedAt.IsZero() {
		t.Errorf("resumed unknown-build: %s, approved at %v; want done before, not asked again", s.Status, s.ApprovedAt)
	}
	if b := w.node("fw-b"); b.bin != mtNewSHA || b.prevBin != mtHotfixSHA {
		t.Errorf("fw-b: bin %s prev %s", b.bin[:4], b.prevBin)
	}
}

func TestUnknownBuildsOnTwoNodesAreOneApproval(t *testing.T) {
	in := mtPlanInput(3, 0, mtOpts())
	in.Nodes[1].Current = BuildRef{SHA256: mtHotfixSHA}
	in.Nodes[2].Current = BuildRef{SHA256: strings.Repeat("e8", 32)}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, p, MachineOptions{Headless: true, Approver: "ci@runner"})
	if tx, _ := w.m.Text("unknown-build"); tx.Title != "Accept the unknown builds on fw-b, fw-c" ||
		!slices.Contains(tx.Does, "upgrading each keeps its build as /opt/neuwerk/bin/neuwerk.prev: a rollback of fw-b, fw-c restores that same build, not a known release") {
		t.Errorf("text %q: %v", tx.Title, tx.Does)
	}
	w.send(Begin{At: w.now})
	w.runToEnd()
	want := "fw-b runs an unknown build (sha256 " + mtHotfixShort + ") and fw-c runs an unknown build (sha256 e8e8e8e8e8e8), matching no release manifest"
	if w.m.ExitCode != ExitRefused || !strings.HasPrefix(w.m.Reason, want) {
		t.Errorf("exit %d: %q; want %d naming both", w.m.ExitCode, w.m.Reason, ExitRefused)
	}
}
