package runbook

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nwroll/nwroll/health"
)

// ---- failures ----

// fail stops the current step: the first effect is a sysdump, taken before
// anything else changes; then the operator (or --yes) decides.
func (m *Machine) fail(kind FailureKind, op, reason string) {
	if m.cur < 0 {
		return
	}
	if m.stop != stopNone {
		m.failEnding(reason)
		return
	}
	s := &m.Steps[m.cur]
	node := m.ctx(s).nodeName()
	f := &Failure{Step: s.ID, Node: node, Kind: kind, Op: op, Reason: reason, At: m.Now,
		Checks: append([]health.CheckResult(nil), m.Gate.Results()...), SysdumpPending: true}
	s.Status, s.Err = StatusFailed, reason
	failing := node
	if y := m.orphanOf(*s); y != "" {
		failing = y // a replacement failed on its new instance; the old one runs as it did
	}
	if n := m.node(failing); n != nil {
		m.setNode(n, NodeFailed)
		n.Err = reason
	}
	if isRollbackKind(s.Kind) {
		m.rollbackFail = true
	}
	m.LastError = reason
	m.Failure = f
	m.Pause = &Pause{Kind: PauseFailure, Step: s.ID, Node: node, Since: m.Now, Text: reason}
	m.Gate.Open = false
	sd := TakeSysdump{EffectMeta: m.meta(s.ID), Purpose: SysdumpFailure, PerNode: !m.hasLeader(), Nodes: m.liveNames()}
	m.failSysdumpID = sd.ID
	m.launch(sd, purposeFailSysdump)
	m.record(RecordEvent, s.ID, node, "failure", reason, m.Gate.Values())
}

// failEnding: the release step failed as the run ends. Nobody is asked:
// the run ends, saying what is left (the lock, a staged file).
func (m *Machine) failEnding(reason string) {
	s := &m.Steps[m.cur]
	s.Status, s.Err, s.EndedAt = StatusFailed, reason, m.Now
	m.end(s, s.def)
	m.LastError = reason
	m.record(RecordEvent, s.ID, "", "failure", reason, nil)
	m.cur = -1
}

// refuse ends a run that has changed nothing yet (exit 3). If the lock is
// held (resume), it is released first.
func (m *Machine) refuse(reason string) {
	if m.cur >= 0 {
		m.Steps[m.cur].Status, m.Steps[m.cur].Err, m.Steps[m.cur].EndedAt = StatusFailed, reason, m.Now
	}
	m.LastError = reason
	m.Gate.Open = false
	m.record(RecordEvent, m.curID(), "", "refused", reason, m.Gate.Values())
	if m.lockHeld {
		m.beginStop(stopEnd, reason)
		m.stopExit = 3
		return
	}
	m.finish(3, reason)
}

func (m *Machine) headlessDecide() {
	f := m.Failure
	if !m.Options.NoRollback && m.canRollbackNode() {
		m.record(RecordEvent, f.Step, f.Node, "decision", "--yes: roll back "+f.Node, nil)
		m.startRollback(false)
		return
	}
	why := "stopped after the failure"
	if m.Options.NoRollback {
		why += " (--no-rollback)"
	}
	m.record(RecordEvent, f.Step, f.Node, "decision", why, nil)
	m.beginStop(stopEnd, why+": "+f.Reason)
	m.stopExit = 1
}

func (m *Machine) canRollbackNode() bool {
	f := m.Failure
	if m.Pause == nil || m.Pause.Kind != PauseFailure || f == nil || f.SysdumpPending || m.rolling || f.Node == "" {
		return false
	}
	s, ok := m.StepByID(f.Step)
	if !ok || isRollbackKind(s.Kind) {
		return false
	}
	if m.Plan.Cloud != nil {
		return m.orphanOf(s) != ""
	}
	n, _ := m.NodeByName(f.Node)
	return n.Swapped || n.PrevKept || n.Down
}

func (m *Machine) canRollbackAll() bool {
	if m.Pause == nil {
		return false
	}
	if m.Pause.Kind == PauseFailure {
		if m.Failure == nil || m.Failure.SysdumpPending {
			return false
		}
		if s, ok := m.StepByID(m.Failure.Step); ok && isRollbackKind(s.Kind) {
			return false
		}
	}
	for _, n := range m.Nodes {
		if n.Swapped || m.replaced(n) {
			return true
		}
	}
	return false
}

// startRollback inserts rollback steps after the current one: the failing
// node first, then (all) every other upgraded node, newest swap first.
func (m *Machine) startRollback(all bool) {
	if m.Plan.Cloud != nil {
		m.startCloudRollback(all)
		return
	}
	var nodes []string
	failing := ""
	if m.Pause != nil && m.Pause.Kind == PauseFailure && m.Failure != nil {
		failing = m.Failure.Node
	}
	if n := m.node(failing); n != nil && (n.Swapped || n.PrevKept || n.Down) {
		nodes = append(nodes, failing)
	}
	if all {
		var swapped []NodeState
		for _, n := range m.Nodes {
			if n.Swapped && n.Name != failing {
				swapped = append(swapped, n)
			}
		}
		sort.Slice(swapped, func(a, b int) bool { return swapped[a].SwapSeq > swapped[b].SwapSeq })
		for _, n := range swapped {
			nodes = append(nodes, n.Name)
		}
	}
	var steps []Step
	for _, name := range nodes {
		steps = append(steps, Step{Kind: StepRollback, Node: name})
	}
	m.insertRollback(steps, all, strings.Join(nodes, ", "))
}

// insertRollback puts the rollback steps in the runbook and starts running
// them: they go last, before the step that ends the run (the runbook reads
// in the order it runs, and its phases keep their order).
func (m *Machine) insertRollback(add []Step, all bool, what string) {
	if len(add) == 0 {
		return
	}
	m.saved = &savedPause{pause: m.Pause, failure: m.Failure, cur: m.cur}
	if m.cur >= 0 && (m.Steps[m.cur].Status == StatusWaitingApproval || m.Pause != nil && m.Pause.Kind == PauseDeclined) {
		m.Steps[m.cur].Status = StatusPending
	}
	at := len(m.Steps)
	if i := slices.IndexFunc(m.Steps, func(s StepState) bool { return isEndKind(s.Kind) && s.Status != StatusDone }); i >= 0 {
		at = i
	}
	var steps []StepState
	for _, s := range add {
		s.ID = m.uniqueStepID(StepIDFor(s.Kind, s.Node))
		steps = append(steps, StepState{Step: s})
	}
	m.Steps = append(m.Steps[:at], append(steps, m.Steps[at:]...)...)
	m.Pause, m.Failure = nil, nil
	m.rolling, m.rollbackAll = true, all
	m.cur = -1
	m.Phase = PhaseRollback
	m.record(RecordEvent, "", "", "rollback-planned", "roll back "+what+" (newest first)", nil)
}

func (m *Machine) uniqueStepID(base StepID) StepID {
	id := base
	for k := 2; ; k++ {
		if _, taken := m.StepByID(id); !taken {
			return id
		}
		id = StepID(fmt.Sprintf("%s#%d", base, k))
	}
}

// cancelRollback drops the rollback steps not started yet and returns to
// the decision the operator came from.
func (m *Machine) cancelRollback() {
	var kept []StepState
	doneAny := false
	for i, s := range m.Steps {
		if isRollbackKind(s.Kind) && (s.Status == StatusPending || i == m.cur) {
			continue
		}
		if isRollbackKind(s.Kind) && s.Status == StatusDone {
			doneAny = true
		}
		kept = append(kept, s)
	}
	m.Steps = kept
	m.cur = -1
	m.Gate.Open = false
	m.record(RecordEvent, "", "", "rollback-cancelled", "the operator cancelled the rollback", nil)
	if doneAny || m.saved == nil {
		m.Pause = &Pause{Kind: PauseRolledBack, Since: m.Now, Text: m.rolledBackText()}
		return
	}
	sv := m.saved
	m.saved = nil
	m.rolling = false
	m.Pause, m.Failure, m.cur = sv.pause, sv.failure, sv.cur
	if m.cur >= 0 && m.cur < len(m.Steps) && m.Pause != nil && m.Pause.Kind == PauseFailure {
		m.Steps[m.cur].Status = StatusFailed
	}
	if m.Pause != nil {
		if d := m.Steps[max(m.cur, 0)].def; d != nil {
			m.Phase = d.Phase
		}
	}
}

func (m *Machine) rolledBackText() string {
	var left []string
	for _, n := range m.Nodes {
		if n.Swapped {
			left = append(left, n.Name)
		}
	}
	t := "rolled back: " + machOrNone(strings.Join(m.RolledBack, ", "))
	if len(left) > 0 {
		t += "; still on " + m.Plan.Target.Label() + ": " + strings.Join(left, ", ")
	}
	return t
}

// afterRollback runs when no rollback step is left. A run that rolled
// back does not go on: the steps it did not run are skipped.
func (m *Machine) afterRollback() {
	m.skipUnrun("not run: the run rolled back", append(slices.Clone(rollbackKinds), endKinds...)...)
	left := false
	for _, n := range m.Nodes {
		if n.Swapped || m.replaced(n) {
			left = true
		}
	}
	if m.Options.Headless || m.rollbackAll || !left {
		m.beginStop(stopEnd, m.rolledBackText())
		m.stopExit = m.rollbackExit
		return
	}
	m.Pause = &Pause{Kind: PauseRolledBack, Since: m.Now, Text: m.rolledBackText()}
}

// ---- ending ----

// beginStop ends the run once nodes are consistent: effects in flight and
// the failure sysdump finish first, a stopped node is started on whatever
// binary is in place (always a known release: swaps are atomic), then the
// lock is released (not on quit), then Finish.
func (m *Machine) beginStop(mode stopMode, reason string) {
	if m.stop != stopNone {
		return
	}
	m.stop, m.stopReason = mode, reason
	m.stopExit = -1
	if mode == stopPause {
		m.stopExit = ExitPaused
	}
	m.Pause = nil
	m.AbortAsked = false
	m.Gate.Open = false
	if m.cur >= 0 {
		s := &m.Steps[m.cur]
		switch {
		case mode == stopAbort && s.Status == StatusWaitingApproval:
			s.Status = StatusPending // it never ran: skipped below
		case s.Status == StatusRunning || s.Status == StatusWaitingApproval:
			s.Status, s.EndedAt = StatusFailed, m.Now
			if s.Err == "" {
				s.Err = reason
			}
		}
	}
	if mode == stopAbort {
		m.skipUnrun("not run: the run was aborted", StepRelease)
	}
}

// It reports whether it made the release step current: the machine then
// runs that step's operations as the run's end.
func (m *Machine) driveStop() bool {
	for _, f := range m.inflight {
		if f.changes || f.purpose == purposeFailSysdump {
			return false // let it finish: its outcome says what state the node is in
		}
	}
	if down := m.downNode(); down != nil && !m.stopStarted {
		m.stopStarted = true
		e := NodeAction{EffectMeta: m.meta(m.curID()), Node: down.Name, Op: OpStart}
		m.stopStartID = e.ID
		m.record(RecordEvent, m.curID(), down.Name, "make-consistent", "start "+down.Name+" on the binary in place ("+down.Binary.Label()+")", nil)
		m.launch(e, purposeStopStart)
		return false
	}
	if m.stopStartID != 0 || m.stopUnlock != 0 {
		return false
	}
	if !m.stop.keepsLock() && !m.stopTried && m.downNode() == nil {
		m.stopTried = true
		if m.endWithRelease() {
			return true
		}
		if m.lockHeld { // a runbook without a release step
			e := UnlockNodes{EffectMeta: m.meta(m.curID()), Nodes: m.Plan.NodeNames()}
			m.stopUnlock = e.ID
			m.launch(e, purposeStopUnlock)
			return false
		}
	}
	exit := m.stopExit
	reason := m.stopReason
	if exit < 0 && m.stop == stopQuitUntouched && !m.lockHeld {
		exit = ExitOK
	}
	if exit < 0 {
		exit = 1
		if m.stop == stopAbort && len(m.RolledBack) > 0 && !m.rollbackFail {
			exit = 4
		}
	}
	if down := m.downNode(); down != nil {
		exit = 1
		reason += fmt.Sprintf("; %s may still be stopped: start it by hand (%s)", down.Name, down.Err)
	}
	if m.lockHeld && !m.stop.keepsLock() {
		reason += "; the lock is still held"
	}
	m.finish(exit, reason)
	return false
}

// endWithRelease makes the release step current to end the run, unless it
// is done already: it removes what a rollback or an abort leaves staged,
// then releases the lock. It reports whether the step runs now.
func (m *Machine) endWithRelease() bool {
	i := slices.IndexFunc(m.Steps, func(s StepState) bool { return isEndKind(s.Kind) && s.Status != StatusDone })
	if i < 0 {
		return false
	}
	m.activate(i)
	return m.cur == i
}

// AbortEnd is the release step as a confirmed abort would run it now:
// what the abort dialog says the run's end does (remove the target it
// staged and never put in place, release the lock).
func (m Machine) AbortEnd() (StepText, bool) {
	c := m.Clone()
	c.stop = stopAbort
	for i := range c.Steps {
		if s := &c.Steps[i]; isEndKind(s.Kind) && s.Status != StatusDone {
			d := c.define(s)
			return d.text(c.ctxWith(s, &d)), true
		}
	}
	return StepText{}, false
}

// ending reports whether the release step runs as the run's end now.
func (m *Machine) ending() bool {
	s, ok := m.Current()
	return ok && m.stop != stopNone && isEndKind(s.Kind) && s.Status == StatusRunning
}

// unwinding: the run ends in a rollback or an abort, so the target it
// staged and never put in place goes too.
func (m *Machine) unwinding() bool {
	if m.stop == stopAbort || m.undoRun {
		return true
	}
	return slices.ContainsFunc(m.Steps, func(s StepState) bool { return isRollbackKind(s.Kind) && !s.ApprovedAt.IsZero() })
}

// unwindApproval is who approved the end that unwinds the run, and what
// approval it was: the confirmed abort, or the first rollback approved.
// covered is false when neither was given (`nwroll rollback` with no node
// to roll back): the release step then asks for its own.
func (m *Machine) unwindApproval() (by, what string, covered bool) {
	if m.stop == stopAbort {
		return m.operator(), "the confirmed abort", true
	}
	for _, s := range m.Steps {
		if isRollbackKind(s.Kind) && !s.ApprovedAt.IsZero() {
			return s.ApprovedBy, "the approval of " + string(s.ID), true
		}
	}
	return m.operator(), "", false
}

// operator is who drives the run: the console's operator, or --yes.
func (m *Machine) operator() string {
	switch {
	case m.Options.Headless:
		return m.headlessApprover()
	case m.Options.Approver != "":
		return m.Options.Approver
	}
	return "operator"
}

// toUnstage are the nodes whose <binary>.new holds the target that is not
// in place: what a run that unwinds removes.
func (m *Machine) toUnstage() []string {
	var out []string
	for _, n := range m.Nodes {
		if n.Staged && n.Binary.SHA256 != m.Plan.Target.SHA256 {
			out = append(out, n.Name)
		}
	}
	return out
}

// skipUnrun marks the steps that have not run, and now never will, as
// skipped with why; steps of the kinds in keep may still run.
func (m *Machine) skipUnrun(why string, keep ...StepKind) {
	for i := range m.Steps {
		s := &m.Steps[i]
		if s.Status != StatusPending || slices.Contains(keep, s.Kind) {
			continue
		}
		d := m.define(s)
		d.Ops, d.Skip = nil, why
		s.Status, s.Note, s.EndedAt = StatusSkipped, why, m.Now
		m.end(s, &d)
		m.record(RecordEvent, s.ID, s.Node, "step-skipped", why, nil)
	}
}

func (m *Machine) downNode() *NodeState {
	for i := range m.Nodes {
		if m.Nodes[i].Down {
			return &m.Nodes[i]
		}
	}
	return nil
}

func (m *Machine) finish(code int, reason string) {
	if m.Finished {
		return
	}
	m.Finished, m.ExitCode, m.Reason = true, code, reason
	m.Phase = PhaseDone
	m.settleNodes()
	m.Gate.Open = false
	m.cur = -1
	m.emit(Record{EffectMeta: m.meta(""), Type: RecordOutcome, Op: RecordOpRun, OK: code == 0, Detail: reason, ExitCode: &code,
		Error: map[bool]string{true: "", false: reason}[code == 0]})
	m.emit(Finish{EffectMeta: m.meta(""), ExitCode: code, Reason: reason})
}

// settleNodes: when the run ends, no node reads as busy. A node caught in
// the middle of an operation reads what it is left as.
func (m *Machine) settleNodes() {
	for i := range m.Nodes {
		n := &m.Nodes[i]
		switch n.Status {
		case NodeStaging, NodeBackingUp, NodeStopping, NodeSwapping, NodeStarting, NodeVerifying, NodeRollingBack:
		default:
			continue
		}
		switch {
		case n.Swapped:
			m.setNode(n, NodeUnverified)
		case n.Status == NodeRollingBack:
			m.setNode(n, NodeRolledBack)
		case n.Staged:
			m.setNode(n, NodeStaged)
		default:
			m.setNode(n, NodePending)
		}
	}
}
