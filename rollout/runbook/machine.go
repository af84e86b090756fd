package runbook

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// The machine is pure (design §2): events in, new state plus effects out.
// It has no goroutines, clock, I/O or context; time arrives in events.
//
// A step runs a small program of ops (opCode), built when the step starts
// from the node's state at that moment. An op is entered once, may emit
// effects, and is done when its results, snapshots or an approval say so.
// Gates are health's pure functions judged on Snapshot events; deadlines
// are judged on Tick events. At most one node is ever stopped: a StopService
// is emitted only when no other node is down, after a quorum gate on a fresh
// snapshot and an approval for that very step.

type opCode uint8

const (
	opConnect opCode = iota + 1
	opReadFiles
	opPreCheck
	opBaselineSysdump
	opApprove
	opLock
	opStage
	opQuorum
	opStop
	opBackup
	opVerifyBackup
	opKeepPrev
	opSwap
	opRestorePrev
	opStart
	opGate
	opValidate
	opFinalSysdump
	opUnlock
)

// NewMachine returns a machine that will walk plan once it gets Begin.
func NewMachine(plan Plan, opts MachineOptions) Machine {
	plan.Options = plan.Options.withDefaults()
	m := Machine{Plan: plan, Options: opts, cur: -1, Phase: PhaseConnect, rollbackExit: 4}
	for _, s := range plan.Steps {
		m.Steps = append(m.Steps, StepState{Step: s})
	}
	for _, n := range plan.Nodes {
		m.Nodes = append(m.Nodes, NodeState{Name: n.Name, NodeID: n.NodeID, Voter: n.Voter, Leader: n.Leader, Binary: n.Current, Previous: n.Current})
		if n.Leader {
			m.Leader = n.Name
		}
	}
	return m
}

// Next is the value form of Handle, for bubbletea's Update and for tests:
// m is not changed.
func Next(m Machine, ev Event) (Machine, []Effect) {
	c := m.Clone()
	effs := c.Handle(ev)
	return c, effs
}

// Handle applies one event and returns the effects to perform, in order.
func (m *Machine) Handle(ev Event) []Effect {
	m.out = nil
	if ev == nil || m.Finished {
		return nil
	}
	if at := ev.eventTime(); at.After(m.Now) {
		m.Now = at
	}
	if !m.started {
		switch ev.(type) {
		case Begin:
			m.started = true
			m.record(RecordIntent, "", "", RecordOpRun, fmt.Sprintf("upgrade cluster %s to %s", m.Plan.Cluster, m.Plan.Target.Label()), nil)
			m.drive()
		case Quit:
			m.finish(1, "quit before the run began")
		}
		return m.takeOut()
	}
	switch e := ev.(type) {
	case Tick:
		m.onTick()
	case Snapshot:
		m.onSnapshot(e)
	case EffectResult:
		m.onResult(e)
	case Approve:
		m.onApprove(e)
	case Cancel:
		m.onCancel()
	case Abort:
		if m.stop == stopNone && !m.AbortAsked {
			m.AbortAsked = true
		}
	case AbortConfirm:
		if m.AbortAsked {
			m.AbortAsked = false
			m.record(RecordEvent, "", "", "abort", "the operator confirmed the abort", nil)
			m.beginStop(stopAbort, "aborted by the operator")
		}
	case KeepWaiting:
		if m.IsAllowed(ActKeepWaiting) {
			m.onKeepWaiting()
		}
	case Retry:
		if m.IsAllowed(ActRetry) {
			m.onRetry()
		}
	case Continue:
		if m.IsAllowed(ActContinue) {
			m.onContinue()
		}
	case SysdumpNow:
		if m.IsAllowed(ActSysdump) {
			e := TakeSysdump{EffectMeta: m.meta(m.curID()), Purpose: SysdumpManual, PerNode: !m.hasLeader(), Nodes: m.Plan.NodeNames()}
			m.manualSysdumpID = e.ID
			m.launch(e, purposeManualSysdump)
		}
	case RollbackNode:
		if m.IsAllowed(ActRollbackNode) {
			m.startRollback(false)
		}
	case RollbackAll:
		if m.IsAllowed(ActRollbackAll) {
			m.startRollback(true)
		}
	case Quit:
		if m.stop == stopNone {
			m.AbortAsked = false
			m.record(RecordEvent, "", "", "quit", "interrupted; `nwroll resume` continues from the journal", nil)
			m.beginStop(stopQuit, "interrupted")
		}
	}
	m.drive()
	return m.takeOut()
}

func (m *Machine) takeOut() []Effect {
	out := m.out
	m.out = nil
	return out
}

// ---- the step loop ----

func (m *Machine) drive() {
	for guard := 0; guard < 10000 && !m.Finished; guard++ {
		if m.stop != stopNone {
			m.driveStop()
			return
		}
		if m.Pause != nil || m.AbortAsked {
			return
		}
		if m.cur < 0 {
			if m.pickNext() {
				continue
			}
			if m.rolling {
				m.afterRollback()
				continue
			}
			m.finish(m.successExit, m.successReason())
			return
		}
		s := &m.Steps[m.cur]
		switch {
		case s.pc >= len(s.ops):
			m.completeStep()
		case !s.entered:
			s.entered, s.done, s.opAt, s.pending, s.opErrs = true, false, m.Now, 0, nil
			m.enterOp()
		case s.done:
			s.pc++
			s.entered, s.done = false, false
		default:
			return // waiting for a result, a snapshot or the operator
		}
	}
}

func (m *Machine) pickNext() bool {
	m.reorderGroups()
	for i := range m.Steps {
		s := &m.Steps[i]
		if s.Status != StatusPending {
			continue
		}
		if m.rolling && s.Kind != StepRollback {
			continue
		}
		m.activate(i)
		return true
	}
	return false
}

func (m *Machine) activate(i int) {
	m.cur = i
	s := &m.Steps[i]
	s.Status, s.StartedAt, s.EndedAt, s.Err = StatusRunning, m.Now, time.Time{}, ""
	s.pc, s.entered, s.done, s.pending, s.opErrs = 0, false, false, 0, nil
	s.ApprovedBy, s.ApprovedAt = "", time.Time{}
	s.wasLeader, s.preStopTerm = false, 0
	if m.rolling {
		m.Phase = PhaseRollback
	} else {
		m.Phase = s.Phase
	}
	m.Gate = GateView{}
	var skip string
	s.ops, skip = m.program(s)
	if skip != "" {
		s.Status, s.Note, s.EndedAt = StatusSkipped, skip, m.Now
		m.record(RecordEvent, s.ID, s.Node, "step-skipped", skip, nil)
		m.cur = -1
		return
	}
	m.record(RecordEvent, s.ID, s.Node, "step-started", s.Title, nil)
}

// program builds a step's ops from the node's state now, or says why the
// step is skipped.
func (m *Machine) program(s *StepState) ([]opCode, string) {
	n := m.node(s.Node)
	switch s.Kind {
	case StepConnect:
		return []opCode{opConnect}, ""
	case StepIdentify:
		return []opCode{opReadFiles}, ""
	case StepPreCheck:
		return []opCode{opPreCheck, opBaselineSysdump}, ""
	case StepLock:
		return []opCode{opApprove, opLock}, ""
	case StepStage:
		if len(m.toStage()) == 0 {
			return nil, "every node already has the target staged or in place"
		}
		return []opCode{opStage}, ""
	case StepBackupReuse:
		return []opCode{opVerifyBackup}, ""
	case StepBackup:
		if n == nil {
			return nil, "node not in the plan"
		}
		if m.Plan.Options.Backup == BackupLive {
			return []opCode{opBackup}, ""
		}
		return []opCode{opQuorum, opApprove, opQuorum, opStop, opBackup, opStart, opGate}, ""
	case StepUpgrade:
		if n == nil {
			return nil, "node not in the plan"
		}
		// Never again on a node already on the target, whoever put it
		// there: KeepPrev would overwrite .prev with the new build.
		if n.Binary.SHA256 == m.Plan.Target.SHA256 {
			if !n.Swapped {
				m.setNode(n, NodeOnTarget)
			}
			return nil, fmt.Sprintf("%s already runs %s", n.Name, m.Plan.Target.Label())
		}
		return []opCode{opQuorum, opApprove, opQuorum, opStop, opKeepPrev, opSwap, opStart, opGate}, ""
	case StepRecover:
		if n == nil {
			return nil, "node not in the plan"
		}
		if n.Down {
			return []opCode{opApprove, opStart, opGate}, ""
		}
		return []opCode{opGate}, ""
	case StepRollback:
		if n == nil {
			return nil, "node not in the plan"
		}
		if !n.Swapped && !n.PrevKept && !n.Down {
			return nil, fmt.Sprintf("%s was not changed: nothing to roll back", n.Name)
		}
		var ops []opCode
		if n.Down {
			ops = []opCode{opApprove}
		} else {
			ops = []opCode{opQuorum, opApprove, opQuorum, opStop}
		}
		if n.Swapped || n.PrevKept {
			ops = append(ops, opRestorePrev)
		}
		return append(ops, opStart, opGate), ""
	case StepValidate:
		return []opCode{opReadFiles, opValidate, opFinalSysdump}, ""
	case StepRelease:
		if !m.lockHeld {
			return nil, "the lock is not held"
		}
		return []opCode{opUnlock}, ""
	}
	return nil, "unknown step kind"
}

func (m *Machine) completeStep() {
	s := &m.Steps[m.cur]
	s.Status, s.EndedAt = StatusDone, m.Now
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, s.Node, "step-done", s.Title, nil)
	m.cur = -1
}

func (m *Machine) successReason() string {
	if m.rolling || m.successExit != 0 || len(m.RolledBack) > 0 {
		return m.rolledBackText()
	}
	return fmt.Sprintf("every node runs %s", m.Plan.Target.Label())
}

// ---- ops ----

func (m *Machine) enterOp() {
	s := &m.Steps[m.cur]
	n := m.node(s.Node)
	o := m.Plan.Options
	switch s.ops[s.pc] {
	case opConnect:
		m.launch(ConnectNodes{EffectMeta: m.meta(s.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
	case opReadFiles:
		m.launch(ReadNodeFiles{EffectMeta: m.meta(s.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
	case opPreCheck:
		m.openGate(s, "pre-check", o.GateTimeout)
		m.pollNow()
	case opBaselineSysdump:
		m.launch(TakeSysdump{EffectMeta: m.meta(s.ID), Purpose: SysdumpBaseline, PerNode: !m.hasLeader(), Nodes: m.Plan.NodeNames()}, purposeOp)
	case opFinalSysdump:
		m.launch(TakeSysdump{EffectMeta: m.meta(s.ID), Purpose: SysdumpFinal, PerNode: !m.hasLeader(), Nodes: m.Plan.NodeNames()}, purposeOp)
	case opApprove:
		if m.Options.Headless {
			m.approve(s, m.headlessApprover())
			return
		}
		s.Status = StatusWaitingApproval
		m.Gate.Deadline = time.Time{} // an approval waits as long as the operator likes
	case opLock:
		m.launch(LockNodes{EffectMeta: m.meta(s.ID), Nodes: m.Plan.NodeNames(), Resume: m.resumeLock}, purposeOp)
	case opStage:
		for _, name := range m.toStage() {
			m.setNode(m.node(name), NodeStaging)
			m.launch(StageBinary{EffectMeta: m.meta(s.ID), Node: name, SHA256: m.Plan.Target.SHA256}, purposeOp)
			s.pending++
		}
		if s.pending == 0 {
			s.done = true
		}
	case opVerifyBackup:
		m.launch(VerifyBackupSet{EffectMeta: m.meta(s.ID), Set: o.BackupSet, Nodes: m.Plan.NodeNames()}, purposeOp)
	case opQuorum:
		m.openGate(s, "quorum", o.GateTimeout)
		if m.HaveSnapshot && m.Now.Sub(m.Latest.TakenAt) <= o.FreshFor {
			m.evalQuorum(s, m.Latest)
			if s.done || m.cur < 0 || m.Pause != nil {
				return
			}
		}
		m.pollNow()
	case opStop:
		for i := range m.Nodes {
			if m.Nodes[i].Down && m.Nodes[i].Name != n.Name {
				m.fail(FailInternal, "stop", fmt.Sprintf("refusing to stop %s: %s is still stopped (one node at a time)", n.Name, m.Nodes[i].Name))
				return
			}
		}
		n.Down = true
		m.setNode(n, m.nodeStatusFor(s, NodeStopping))
		m.launch(StopService{EffectMeta: m.meta(s.ID), Node: n.Name}, purposeOp)
	case opBackup:
		m.setNode(n, NodeBackingUp)
		m.launch(BackupNode{EffectMeta: m.meta(s.ID), Node: n.Name, Mode: o.Backup}, purposeOp)
	case opKeepPrev:
		m.setNode(n, NodeSwapping)
		m.launch(KeepPrev{EffectMeta: m.meta(s.ID), Node: n.Name}, purposeOp)
	case opSwap:
		m.setNode(n, NodeSwapping)
		m.launch(SwapBinary{EffectMeta: m.meta(s.ID), Node: n.Name, SHA256: m.Plan.Target.SHA256}, purposeOp)
	case opRestorePrev:
		m.setNode(n, NodeRollingBack)
		m.launch(RestorePrev{EffectMeta: m.meta(s.ID), Node: n.Name, SHA256: n.Previous.SHA256}, purposeOp)
	case opStart:
		m.setNode(n, m.nodeStatusFor(s, NodeStarting))
		m.launch(StartService{EffectMeta: m.meta(s.ID), Node: n.Name}, purposeOp)
	case opGate:
		m.openGate(s, "stabilise", o.GateTimeout)
		m.Gate.Window = o.Window
		m.Gate.Target = m.gateTarget(s, n)
		m.setNode(n, m.nodeStatusFor(s, NodeVerifying))
		m.readGateBinary(s)
		m.pollNow()
	case opValidate:
		m.openGate(s, "validate", o.GateTimeout)
		m.pollNow()
	case opUnlock:
		m.launch(UnlockNodes{EffectMeta: m.meta(s.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
	}
}

// nodeStatusFor maps a generic node status to the step's flavour: every
// op of a backup is "backing up", of a rollback "rolling back".
func (m *Machine) nodeStatusFor(s *StepState, st NodeStatus) NodeStatus {
	switch s.Kind {
	case StepBackup:
		return NodeBackingUp
	case StepRollback:
		return NodeRollingBack
	}
	return st
}

func (m *Machine) gateTarget(s *StepState, n *NodeState) BuildRef {
	switch s.Kind {
	case StepUpgrade:
		return m.Plan.Target
	case StepRollback:
		return n.Previous
	}
	return n.Binary
}

func (m *Machine) toStage() []string {
	var out []string
	for _, n := range m.Nodes {
		if n.Binary.SHA256 == m.Plan.Target.SHA256 || n.Staged {
			continue
		}
		out = append(out, n.Name)
	}
	return out
}

func (m *Machine) approve(s *StepState, by string) {
	s.Status, s.ApprovedBy, s.ApprovedAt = StatusRunning, by, m.Now
	if s.Kind == StepLock {
		m.lockApproved = true
	}
	m.emit(Record{EffectMeta: m.meta(s.ID), Type: RecordApproval, Node: s.Node, Op: s.Kind.String(), By: by,
		Detail: s.Title + m.quorumNote(), GateValues: gateValuesOf(m.Gate.Checks)})
	s.done = true
}

func (m *Machine) quorumNote() string {
	if m.Gate.Name == "quorum" && m.Gate.Summary != "" {
		return "; " + m.Gate.Summary
	}
	return ""
}

func (m *Machine) headlessApprover() string {
	who := m.Options.Approver
	if who == "" {
		who = "headless"
	}
	return who + " (--yes)"
}

// ---- events ----

func (m *Machine) onApprove(e Approve) {
	if m.Pause != nil || m.AbortAsked || m.stop != stopNone || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if s.ID != e.Step || s.Status != StatusWaitingApproval || !s.entered || s.ops[s.pc] != opApprove {
		return
	}
	by := e.By
	if by == "" {
		by = "operator"
	}
	m.approve(s, by)
}

func (m *Machine) onCancel() {
	if m.AbortAsked {
		m.AbortAsked = false
		return
	}
	if m.Pause != nil || m.stop != stopNone || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if s.Kind == StepRollback && s.ApprovedAt.IsZero() {
		m.cancelRollback()
		return
	}
	if s.Status != StatusWaitingApproval {
		return
	}
	s.Status, s.Note = StatusPending, "declined by the operator"
	m.record(RecordEvent, s.ID, s.Node, "declined", s.Title, nil)
	m.Gate.Open = false
	m.Pause = &Pause{Kind: PauseDeclined, Step: s.ID, Node: s.Node, Since: m.Now, Text: "declined: " + s.Title}
}

func (m *Machine) onContinue() {
	p := m.Pause
	m.Pause = nil
	if p == nil || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	s.Status, s.Note = StatusRunning, ""
	s.pc, s.entered, s.done = 0, false, false
	m.record(RecordEvent, s.ID, s.Node, "continue", "reopened with a fresh check", nil)
}

func (m *Machine) onKeepWaiting() {
	f := m.Failure
	m.Pause, m.Failure = nil, nil
	if m.cur < 0 || f == nil {
		return
	}
	s := &m.Steps[m.cur]
	s.Status, s.Err = StatusRunning, ""
	g := &m.Gate
	g.Open, g.Deadline, g.HeldSince, g.LeaderlessSince = true, m.Now.Add(m.Plan.Options.GateTimeout), time.Time{}, time.Time{}
	if n := m.node(s.Node); n != nil {
		m.setNode(n, m.nodeStatusFor(s, NodeVerifying))
		n.Err = ""
	}
	m.record(RecordEvent, s.ID, s.Node, "keep-waiting", "deadline extended to "+g.Deadline.UTC().Format(time.RFC3339), nil)
	if s.ops[s.pc] == opGate && g.BinarySHA256 == "" {
		m.readGateBinary(s)
	}
	m.pollNow()
}

func (m *Machine) onRetry() {
	f := m.Failure
	m.Pause, m.Failure = nil, nil
	if m.cur < 0 || f == nil {
		return
	}
	s := &m.Steps[m.cur]
	s.Status, s.Err, s.entered, s.done = StatusRunning, "", false, false
	if n := m.node(s.Node); n != nil {
		n.Err = ""
	}
	m.record(RecordEvent, s.ID, s.Node, "retry", f.Op, nil)
}

func (m *Machine) onTick() {
	if m.stop != stopNone || m.Pause != nil {
		return
	}
	g := &m.Gate
	if g.Open && m.cur >= 0 {
		s := &m.Steps[m.cur]
		switch {
		case !g.Deadline.IsZero() && m.Now.After(g.Deadline):
			why := failingReasons(g.Checks)
			if g.OK && !g.HeldSince.IsZero() {
				why = fmt.Sprintf("every check holds now, but only since %s, not for the %s window", g.HeldSince.UTC().Format(time.RFC3339), g.Window)
			}
			m.fail(FailTimeout, g.Name, fmt.Sprintf("%s gate did not hold within %s: %s", g.Name, m.Plan.Options.GateTimeout, why))
			return
		case g.Name == "stabilise" && !g.LeaderlessSince.IsZero() && m.Now.Sub(g.LeaderlessSince) > m.Plan.Options.ElectionWindow:
			m.fail(FailNoLeader, g.Name, fmt.Sprintf("no leader for %s (tolerated: %s)", m.Now.Sub(g.LeaderlessSince).Round(time.Second), m.Plan.Options.ElectionWindow))
			return
		}
		if s.entered && s.ops[s.pc] == opGate && g.BinarySHA256 == "" && g.readID == 0 {
			m.readGateBinary(s)
		}
	}
	if m.wantsPoll() {
		m.pollNow()
	}
}

func (m *Machine) wantsPoll() bool {
	if m.cur < 0 || m.Pause != nil || m.stop != stopNone {
		return false
	}
	s := &m.Steps[m.cur]
	if !s.entered || s.done {
		return false
	}
	switch s.ops[s.pc] {
	case opPreCheck, opQuorum, opGate, opValidate:
		return true
	case opApprove:
		return s.Kind != StepLock // keep the quorum arithmetic and the leader live in the dialog
	}
	return false
}

func (m *Machine) pollNow() {
	if m.pollID != 0 {
		return
	}
	e := PollHealth{EffectMeta: m.meta(m.curID()), Nodes: m.Plan.NodeNames()}
	m.pollID = e.ID
	m.launch(e, purposePoll)
}

func (m *Machine) onSnapshot(e Snapshot) {
	if e.ID != 0 {
		m.dropInflight(e.ID)
		if e.ID == m.pollID {
			m.pollID = 0
		}
	}
	snap := e.Snap
	if snap.TakenAt.IsZero() {
		snap.TakenAt = e.At
	}
	if m.HaveSnapshot && snap.TakenAt.Before(m.Latest.TakenAt) {
		return // older than what we judged already
	}
	m.Latest, m.HaveSnapshot = snap, true
	m.observeLeader(snap)
	if m.Pause != nil || m.stop != stopNone || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if !s.entered || s.done {
		return
	}
	switch s.ops[s.pc] {
	case opQuorum:
		m.evalQuorum(s, snap)
	case opApprove:
		if s.Status == StatusWaitingApproval && s.Node != "" {
			if m.deferIfLeader(s) {
				return
			}
			v := health.QuorumKept(snap, m.node(s.Node).NodeID)
			m.setChecks(snap.TakenAt, v)
			m.Gate.Summary = v.Summary
		}
	case opPreCheck:
		m.evalPreCheck(s, snap)
	case opGate:
		m.evalStabilise(s, snap)
	case opValidate:
		m.evalValidate(s, snap)
	}
}

func (m *Machine) onResult(e EffectResult) {
	f, ok := m.takeInflight(e.ID)
	if !ok {
		return // not ours, or answered already
	}
	if f.changes {
		rec := Record{EffectMeta: m.meta(f.step), Type: RecordOutcome, For: f.id, Node: f.node, Op: f.kind, OK: e.Err == nil}
		if e.Err != nil {
			rec.Error = e.Err.Error()
		}
		rec.Extra = resultExtra(f.kind, e.Data, m.Plan.Target)
		m.emit(rec)
	}
	switch f.purpose {
	case purposePoll:
		if e.ID == m.pollID {
			m.pollID = 0
		}
	case purposeGateRead:
		m.onGateRead(e)
	case purposeFailSysdump:
		m.failSysdumpID = 0
		if m.Failure != nil {
			m.Failure.SysdumpPending = false
			if e.Err != nil {
				m.Failure.SysdumpErr = e.Err.Error()
			} else if info, ok := e.Data.(SysdumpInfo); ok {
				m.Failure.Sysdump, m.LastSysdump = info.Path, info.Path
			}
			if m.Options.Headless && m.stop == stopNone {
				m.headlessDecide()
			}
		}
	case purposeManualSysdump:
		m.manualSysdumpID = 0
		if e.Err != nil {
			m.LastError = "sysdump: " + e.Err.Error()
		} else if info, ok := e.Data.(SysdumpInfo); ok {
			m.LastSysdump = info.Path
		}
	case purposeStopStart:
		m.stopStartID = 0
		if n := m.node(f.node); n != nil && e.Err == nil {
			n.Down = false
		} else if n != nil {
			n.Err = "start failed: " + e.Err.Error()
			m.LastError = n.Name + ": " + n.Err
		}
	case purposeStopUnlock:
		m.stopUnlock = 0
		if e.Err == nil {
			m.lockHeld = false
		} else {
			m.LastError = "unlock: " + e.Err.Error()
		}
	case purposeOp:
		m.onOpResult(f, e)
	}
}

func resultExtra(kind string, data any, target BuildRef) map[string]string {
	switch d := data.(type) {
	case BackupInfo:
		return map[string]string{"backup_set": d.Set, "path": d.Path, "sha256": d.SHA256}
	case SysdumpInfo:
		return map[string]string{"path": d.Path}
	}
	if kind == RecordOpSwap {
		return map[string]string{"sha256": target.SHA256, "release": target.Label()}
	}
	return nil
}

func (m *Machine) onOpResult(f inflightEffect, e EffectResult) {
	if m.stop != stopNone {
		// Ending: only what the effect did to its node matters now.
		if n := m.node(f.node); n != nil && e.Err != nil && (f.kind == "stop" || f.kind == "start") {
			n.Down = true
		}
		m.applyNodeFacts(f, e)
		return
	}
	if m.cur < 0 || m.Steps[m.cur].ID != f.step {
		// A result for a step that is no longer current (aborted or
		// withdrawn): only the node facts matter.
		m.applyNodeFacts(f, e)
		return
	}
	s := &m.Steps[m.cur]
	if !s.entered || s.done {
		m.applyNodeFacts(f, e)
		return
	}
	n := m.node(f.node)
	op := s.ops[s.pc]
	if op == opStage {
		s.pending--
		if e.Err != nil {
			s.opErrs = append(s.opErrs, fmt.Sprintf("%s: %v", f.node, e.Err))
			m.setNode(n, NodeFailed)
		} else {
			n.Staged = true
			m.setNode(n, NodeStaged)
		}
		if s.pending > 0 || m.stop != stopNone {
			return
		}
		if len(s.opErrs) > 0 {
			m.fail(FailEffect, "stage", "stage failed: "+strings.Join(s.opErrs, "; "))
			return
		}
		s.done = true
		return
	}
	if e.Err != nil {
		switch op {
		case opConnect, opReadFiles, opLock, opBaselineSysdump:
			if s.Kind != StepValidate {
				m.refuse(fmt.Sprintf("%s: %v", f.kind, e.Err))
				return
			}
		}
		if op == opStop || op == opStart {
			// The node may be down either way; keep it counted as down.
			n.Down = true
		}
		m.applyNodeFacts(f, e)
		m.fail(FailEffect, f.kind, fmt.Sprintf("%s%s failed: %v", f.kind, onNode(f.node), e.Err))
		return
	}
	m.applyNodeFacts(f, e)
	switch op {
	case opReadFiles:
		if !m.applyFiles(s, e.Data) {
			return
		}
	case opLock:
		m.lockHeld = true
	case opBackup:
		if s.ops[len(s.ops)-1] == opBackup { // live: no restart, no gate
			m.setNode(n, NodeBackedUp)
		}
	case opUnlock:
		m.lockHeld = false
	case opBaselineSysdump, opFinalSysdump:
		if info, ok := e.Data.(SysdumpInfo); ok {
			m.LastSysdump = info.Path
		}
	}
	s.done = true
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on " + node
}

// applyNodeFacts records what a node effect did to the node, whatever step
// it belonged to.
func (m *Machine) applyNodeFacts(f inflightEffect, e EffectResult) {
	n := m.node(f.node)
	if n == nil || e.Err != nil {
		return
	}
	switch f.kind {
	case "start":
		n.Down = false
	case "keep-prev":
		n.PrevKept = true
	case RecordOpSwap:
		n.Binary, n.Swapped, n.Staged = m.Plan.Target, true, false
		m.swapSeq++
		n.SwapSeq = m.swapSeq
	case RecordOpRollback:
		n.Binary, n.Swapped, n.PrevKept = n.Previous, false, false
	case "stage":
		n.Staged = true
	}
}

// applyFiles takes ReadNodeFiles' answer. In Identify it can refuse.
func (m *Machine) applyFiles(s *StepState, data any) bool {
	files, _ := data.([]NodeFiles)
	byName := map[string]NodeFiles{}
	for _, f := range files {
		byName[f.Node] = f
	}
	var problems []string
	for i := range m.Nodes {
		n := &m.Nodes[i]
		f, ok := byName[n.Name]
		if !ok {
			problems = append(problems, n.Name+": no answer for its binary")
			continue
		}
		if NormSHA(f.SHA256) == "" {
			problems = append(problems, n.Name+": "+m.Plan.Options.Binary+" is missing")
			continue
		}
		n.Binary = m.identify(f.SHA256)
		n.Staged = f.NewPresent && NormSHA(f.NewSHA256) == m.Plan.Target.SHA256
		if s.Kind == StepIdentify && !n.Swapped {
			n.Previous = n.Binary
			if n.Binary.SHA256 == m.Plan.Target.SHA256 {
				m.setNode(n, NodeOnTarget)
			}
		}
	}
	if len(problems) > 0 {
		msg := strings.Join(problems, "; ")
		if s.Kind == StepIdentify {
			m.refuse("identify: " + msg)
		} else {
			m.fail(FailEffect, "read-files", msg)
		}
		return false
	}
	return true
}

func (m *Machine) identify(sha string) BuildRef {
	b := m.Plan.Identify(sha)
	if b.Known() {
		return b
	}
	for _, n := range m.Nodes {
		if n.Previous.SHA256 == b.SHA256 && n.Previous.Known() {
			return n.Previous
		}
	}
	return b
}

// ---- gates ----

func (m *Machine) openGate(s *StepState, name string, timeout time.Duration) {
	keep := m.Gate
	m.Gate = GateView{Open: true, Step: s.ID, Node: s.Node, Name: name, OpenedAt: m.Now, Deadline: m.Now.Add(timeout)}
	if keep.Name == name && keep.Step == s.ID {
		m.Gate.Checks, m.Gate.Summary = keep.Checks, keep.Summary // the dialog's values stay visible
	}
}

// setChecks replaces the gate's checks, keeping each one's "holds since".
func (m *Machine) setChecks(at time.Time, vs ...health.Verdict) bool {
	old := map[string]time.Time{}
	for _, c := range m.Gate.Checks {
		old[c.Gate] = c.Since
	}
	checks := make([]GateCheck, 0, len(vs))
	all := true
	for _, v := range vs {
		c := GateCheck{Verdict: v}
		if v.OK {
			c.Since = old[v.Gate]
			if c.Since.IsZero() {
				c.Since = at
			}
		} else {
			all = false
		}
		checks = append(checks, c)
	}
	m.Gate.Checks, m.Gate.OK, m.Gate.SnapshotAt = checks, all, at
	return all
}

func (m *Machine) evalQuorum(s *StepState, snap health.ClusterSnapshot) {
	if m.deferIfLeader(s) {
		return
	}
	n := m.node(s.Node)
	v := health.QuorumKept(snap, n.NodeID)
	m.Gate.Summary = v.Summary
	if !m.setChecks(snap.TakenAt, v) {
		return
	}
	if l, ok := snap.Leader(); ok {
		s.wasLeader = l.NodeID == n.NodeID
		s.preStopTerm = snap.Stats.Cluster.CurrentTerm
	}
	if s.pc+1 < len(s.ops) && s.ops[s.pc+1] == opStop {
		m.Gate.Open = false
		m.record(RecordEvent, s.ID, s.Node, "gate-passed", v.Summary, gateValuesOf(m.Gate.Checks))
	}
	s.done = true
}

// PreCheckSettle is how long the pre-check may keep failing before the run
// is refused; a truly degraded cluster is refused after it.
const PreCheckSettle = 10 * time.Second

func (m *Machine) evalPreCheck(s *StepState, snap health.ClusterSnapshot) {
	if snap.TakenAt.Before(s.opAt) {
		return // judge a snapshot taken for the pre-check, not an older one
	}
	v := health.PreCheck(snap, m.Plan.NodeIDs())
	m.setChecks(snap.TakenAt, v)
	if !v.OK {
		// The leader writes all the time, so one sample can catch a healthy
		// follower an entry behind: refuse only if it persists.
		if snap.TakenAt.Sub(s.opAt) < PreCheckSettle {
			return
		}
		m.refuse("pre-check refused: " + strings.Join(v.Reasons, "; "))
		return
	}
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, "", "gate-passed", "pre-check", gateValuesOf(m.Gate.Checks))
	m.emit(SaveBaseline{EffectMeta: m.meta(s.ID), Snap: snap})
	s.done = true
}

func (m *Machine) evalValidate(s *StepState, snap health.ClusterSnapshot) {
	if snap.TakenAt.Before(s.opAt) {
		return
	}
	vs := make([]health.Verdict, 0, 2*len(m.Nodes)+1)
	for _, n := range m.Nodes {
		ns, ok := snap.NodeByID(n.NodeID)
		if !ok {
			vs = append(vs, missingNodeVerdict(n.Name))
		} else {
			v := health.NodeHealthy(ns)
			v.Gate = n.Name + " healthy"
			vs = append(vs, v)
		}
		b := health.BinaryMatches(n.Name, n.Binary.SHA256, m.Plan.Target.SHA256)
		b.Gate = n.Name + " binary"
		vs = append(vs, b)
	}
	vs = append(vs, health.ClusterHealthy(snap, m.Plan.NodeIDs()))
	if !m.setChecks(snap.TakenAt, vs...) {
		return
	}
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, "", "gate-passed", "validate", gateValuesOf(m.Gate.Checks))
	s.done = true
}

// evalStabilise judges the post-start gates (design §3 step 6) and, for a
// node that led when it was stopped, that a new leader was elected and
// leadership is stable. All must hold for the window.
func (m *Machine) evalStabilise(s *StepState, snap health.ClusterSnapshot) {
	g := &m.Gate
	if snap.TakenAt.Before(g.OpenedAt) {
		return // taken before the start: says nothing about the restarted node
	}
	n := m.node(s.Node)
	leader, hasLeader := snap.Leader()
	var vs []health.Verdict

	if !hasLeader {
		if g.LeaderlessSince.IsZero() {
			g.LeaderlessSince = snap.TakenAt
		}
		vs = append(vs, failVerdict("leader", "cluster: no leader yet (leader-proxied calls answer 502/503 during an election): "+StatsErrText(snap)))
	} else {
		g.LeaderlessSince = time.Time{}
	}
	term := uint64(0)
	if hasLeader {
		term = snap.Stats.Cluster.CurrentTerm
	}
	if s.wasLeader {
		nv := health.Verdict{Gate: "new leader", OK: hasLeader && term > s.preStopTerm}
		nv.Values = []health.GateValue{{Name: "term_before_stop", Value: fmt.Sprint(s.preStopTerm)}, {Name: "term", Value: fmt.Sprint(term)}}
		if !nv.OK {
			nv.Reasons = []string{fmt.Sprintf("cluster: no leader elected after %s stopped (term %d, before the stop %d)", n.Name, term, s.preStopTerm)}
		} else {
			nv.Summary = "leader " + snap.NameOf(leader.NodeID)
		}
		vs = append(vs, nv)
		if g.prev != nil {
			vs = append(vs, health.LeaderStable(*g.prev, snap))
		} else {
			vs = append(vs, failVerdict(health.GateLeaderStable, "cluster: need two samples to judge leadership stable"))
		}
	}
	if !g.IndexSampled && hasLeader && (!s.wasLeader || term > s.preStopTerm) {
		g.SinceIndex, g.IndexSampled = snap.Stats.Cluster.LastLogIndex, true
	}

	if ns, ok := snap.NodeByID(n.NodeID); ok {
		vs = append(vs, health.NodeHealthy(ns))
	} else {
		vs = append(vs, missingNodeVerdict(n.Name))
	}
	if g.IndexSampled {
		// Once sampled, the index to reach follows the leader: it is the
		// leader's last_log_index as of a sample at least applyGrace older
		// (same leader). A node whose apply loop stalls after turning
		// ready (1.1.1-stall) falls behind it within seconds, while a
		// healthy follower's usual apply lag stays well inside the grace.
		idx := g.SinceIndex
		for i := len(g.idxHist) - 1; i >= 0 && hasLeader; i-- {
			h := g.idxHist[i]
			if snap.TakenAt.Sub(h.at) < applyGrace {
				continue
			}
			if h.leader == leader.NodeID && h.index > idx {
				idx = h.index
			}
			break
		}
		vs = append(vs, health.CaughtUpSince(caughtUpTo(snap, n.NodeID, idx), n.NodeID, idx))
	} else {
		vs = append(vs, failVerdict(health.GateCaughtUp, n.Name+": waiting for a leader to sample its last_log_index"))
	}
	if hasLeader {
		// Copy on write: a Clone shares the old slice.
		keep := g.idxHist
		for len(keep) > 0 && snap.TakenAt.Sub(keep[0].at) > 4*applyGrace {
			keep = keep[1:]
		}
		g.idxHist = append(append([]indexSample(nil), keep...), indexSample{at: snap.TakenAt, index: snap.Stats.Cluster.LastLogIndex, leader: leader.NodeID})
	}
	var leaderMet *health.Metrics
	if hasLeader {
		if ls, ok := snap.NodeByID(leader.NodeID); ok {
			leaderMet = ls.Metrics
		}
	}
	switch {
	case !hasLeader:
		vs = append(vs, failVerdict(health.GatePeerErrorsSteady, n.Name+": no leader to read raft_peer_errors_total from"))
	case leader.NodeID == n.NodeID:
		vs = append(vs, health.Verdict{Gate: health.GatePeerErrorsSteady, OK: true, Summary: n.Name + " leads: no peer errors towards itself"})
	case g.prevLeaderID != leader.NodeID || g.prevLeaderMet == nil:
		vs = append(vs, failVerdict(health.GatePeerErrorsSteady, n.Name+": need two /metrics samples from the same leader"))
	default:
		vs = append(vs, health.PeerErrorsSteady(n.Name, n.NodeID, g.prevLeaderMet, leaderMet))
	}
	g.prevLeaderID, g.prevLeaderMet = "", nil
	if hasLeader {
		g.prevLeaderID, g.prevLeaderMet = leader.NodeID, leaderMet
	}
	vs = append(vs, health.BinaryMatches(n.Name, g.BinarySHA256, g.Target.SHA256))

	cp := snap
	g.prev = &cp
	if !m.setChecks(snap.TakenAt, vs...) {
		g.HeldSince = time.Time{}
		return
	}
	if g.HeldSince.IsZero() {
		g.HeldSince = snap.TakenAt
	}
	if snap.TakenAt.Sub(g.HeldSince) < g.Window {
		return
	}
	m.gatePassed(s, n)
}

// caughtUpTo returns snap with nodeID's stats row counted as caught up
// when its matched_index has reached idx. In a cluster that writes all the
// time a follower is an entry or two behind at almost any instant (lag 1
// while an append is in flight), so "lag 0 in this very sample" would
// reset the stabilisation window at random; having matched what the leader
// had applyGrace ago is the caught-up that can hold for a window. snap is
// not changed (its Stats are shared).
func caughtUpTo(snap health.ClusterSnapshot, nodeID string, idx uint64) health.ClusterSnapshot {
	row, ok := snap.Row(nodeID)
	if !ok || row.CaughtUp || row.MatchedIndex == nil || *row.MatchedIndex < idx {
		return snap
	}
	st := *snap.Stats
	st.Cluster.Nodes = append([]health.NodeCatchup(nil), st.Cluster.Nodes...)
	for i := range st.Cluster.Nodes {
		if st.Cluster.Nodes[i].NodeID == nodeID {
			st.Cluster.Nodes[i].CaughtUp = true
		}
	}
	snap.Stats = &st
	return snap
}

func (m *Machine) gatePassed(s *StepState, n *NodeState) {
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, s.Node, "gate-passed", fmt.Sprintf("held for %s", m.Gate.Window), gateValuesOf(m.Gate.Checks))
	switch s.Kind {
	case StepUpgrade:
		m.setNode(n, NodeUpgraded)
	case StepBackup:
		m.setNode(n, NodeBackedUp)
	case StepRollback:
		m.setNode(n, NodeRolledBack)
		m.RolledBack = append(m.RolledBack, n.Name)
		for i := range m.Steps {
			if m.Steps[i].Kind == StepUpgrade && m.Steps[i].Node == n.Name && (m.Steps[i].Status == StatusDone || m.Steps[i].Status == StatusFailed) {
				m.Steps[i].Status = StatusRolledBack
			}
		}
	case StepRecover:
		if n.Binary.SHA256 == m.Plan.Target.SHA256 {
			m.setNode(n, NodeUpgraded)
			for i := range m.Steps {
				if m.Steps[i].Kind == StepUpgrade && m.Steps[i].Node == n.Name && m.Steps[i].Status == StatusPending {
					m.Steps[i].Status, m.Steps[i].Note = StatusDone, "recovered on resume"
				}
			}
		} else if n.Staged {
			m.setNode(n, NodeStaged)
		} else {
			m.setNode(n, NodePending)
		}
	}
	s.done = true
}

func (m *Machine) readGateBinary(s *StepState) {
	e := ReadNodeFiles{EffectMeta: m.meta(s.ID), Nodes: []string{s.Node}}
	m.Gate.readID = e.ID
	m.launch(e, purposeGateRead)
}

func (m *Machine) onGateRead(e EffectResult) {
	if e.ID != m.Gate.readID {
		return
	}
	m.Gate.readID = 0
	if e.Err != nil {
		m.LastError = "read binary: " + e.Err.Error()
		return // read again on the next tick
	}
	files, _ := e.Data.([]NodeFiles)
	for _, f := range files {
		if f.Node == m.Gate.Node {
			m.Gate.BinarySHA256 = NormSHA(f.SHA256)
			if n := m.node(f.Node); n != nil && m.Gate.BinarySHA256 != "" {
				n.Binary = m.identify(m.Gate.BinarySHA256)
			}
		}
	}
}

func failVerdict(gate, reason string) health.Verdict {
	return health.Verdict{Gate: gate, Reasons: []string{reason}}
}

func missingNodeVerdict(name string) health.Verdict {
	return failVerdict(health.GateNodeHealthy, name+": not in the snapshot")
}

// StatsErrText says why a snapshot has no leader stats row.
func StatsErrText(snap health.ClusterSnapshot) string {
	if snap.StatsErr != nil {
		return snap.StatsErr.Error()
	}
	return "no stats row has role leader"
}

func failingReasons(checks []GateCheck) string {
	var rs []string
	for _, c := range checks {
		if !c.OK {
			rs = append(rs, c.Reasons...)
		}
	}
	if len(rs) == 0 {
		return "no snapshot judged"
	}
	return strings.Join(rs, "; ")
}

func gateValuesOf(checks []GateCheck) []health.GateValue {
	var out []health.GateValue
	for _, c := range checks {
		if c.Summary != "" {
			out = append(out, health.GateValue{Name: c.Gate + ".summary", Value: c.Summary})
		}
		out = append(out, health.GateValue{Name: c.Gate + ".ok", Value: fmt.Sprint(c.OK)})
		for _, v := range c.Values {
			out = append(out, health.GateValue{Name: c.Gate + "." + v.Name, Value: v.Value})
		}
	}
	return out
}

// ---- leadership ----

func (m *Machine) observeLeader(snap health.ClusterSnapshot) {
	l, ok := snap.Leader()
	if !ok {
		return
	}
	name := l.NodeID
	for _, n := range m.Nodes {
		if n.NodeID == l.NodeID {
			name = n.Name
		}
	}
	m.Term = snap.Stats.Cluster.CurrentTerm
	if name == m.Leader {
		return
	}
	m.record(RecordEvent, "", name, "leader-changed", fmt.Sprintf("leader %s → %s (term %d)", machOrNone(m.Leader), name, m.Term), nil)
	m.Leader = name
	for i := range m.Nodes {
		m.Nodes[i].Leader = m.Nodes[i].Name == name
	}
	m.reorderGroups()
}

func (m *Machine) hasLeader() bool {
	if !m.HaveSnapshot {
		return m.Leader != ""
	}
	_, ok := m.Latest.Leader()
	return ok
}

// reorderGroups keeps the leader's pending backup and upgrade steps last in
// their group, and relabels pending upgrade steps as follower or leader.
func (m *Machine) reorderGroups() {
	for _, kind := range []StepKind{StepBackup, StepUpgrade} {
		var idx []int
		for i, s := range m.Steps {
			if s.Kind == kind && s.Status == StatusPending {
				idx = append(idx, i)
			}
		}
		group := make([]StepState, len(idx))
		for j, i := range idx {
			group[j] = m.Steps[i]
		}
		sort.SliceStable(group, func(a, b int) bool {
			la, lb := group[a].Node == m.Leader, group[b].Node == m.Leader
			if la != lb {
				return lb
			}
			return group[a].Index < group[b].Index
		})
		for j, i := range idx {
			m.Steps[i] = group[j]
			if kind == StepUpgrade {
				m.relabelUpgrade(&m.Steps[i])
			}
		}
	}
}

func (m *Machine) relabelUpgrade(s *StepState) {
	n := m.node(s.Node)
	if n == nil {
		return
	}
	role, phase := "follower", PhaseFollowers
	if n.Name == m.Leader {
		role, phase = "leader", PhaseLeader
	}
	if !n.Voter {
		role += ", learner"
	}
	s.Phase = phase
	s.Title = fmt.Sprintf("Upgrade %s (%s): %s → %s", n.Name, role, n.Previous.Label(), m.Plan.Target.Label())
}

// deferIfLeader withdraws the current backup or upgrade step when its node
// has become the leader while other nodes of the group are still pending:
// the leader goes last. The step needs a fresh approval when it comes back.
func (m *Machine) deferIfLeader(s *StepState) bool {
	if (s.Kind != StepBackup && s.Kind != StepUpgrade) || s.Node != m.Leader {
		return false
	}
	other := false
	for _, o := range m.Steps {
		if o.Kind == s.Kind && o.Status == StatusPending && o.Node != m.Leader {
			other = true
		}
	}
	if !other {
		return false
	}
	s.Status, s.Note = StatusPending, s.Node+" became the leader: it goes last"
	s.pc, s.entered, s.done = 0, false, false
	s.ApprovedBy, s.ApprovedAt = "", time.Time{}
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, s.Node, "deferred", s.Note, nil)
	m.cur = -1
	m.reorderGroups()
	return true
}

// ---- failures ----

// fail stops the current step: the first effect is a sysdump, taken before
// anything else changes; then the operator (or --yes) decides.
func (m *Machine) fail(kind FailureKind, op, reason string) {
	if m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	f := &Failure{Step: s.ID, Node: s.Node, Kind: kind, Op: op, Reason: reason, At: m.Now,
		Checks: append([]GateCheck(nil), m.Gate.Checks...), SysdumpPending: true}
	s.Status, s.Err = StatusFailed, reason
	if n := m.node(s.Node); n != nil {
		m.setNode(n, NodeFailed)
		n.Err = reason
	}
	if s.Kind == StepRollback {
		m.rollbackFail = true
	}
	m.LastError = reason
	m.Failure = f
	m.Pause = &Pause{Kind: PauseFailure, Step: s.ID, Node: s.Node, Since: m.Now, Text: reason}
	m.Gate.Open = false
	sd := TakeSysdump{EffectMeta: m.meta(s.ID), Purpose: SysdumpFailure, PerNode: !m.hasLeader(), Nodes: m.Plan.NodeNames()}
	m.failSysdumpID = sd.ID
	m.launch(sd, purposeFailSysdump)
	m.record(RecordEvent, s.ID, s.Node, "failure", reason, gateValuesOf(f.Checks))
}

// refuse ends a run that has changed nothing yet (exit 3). If the lock is
// held (resume), it is released first.
func (m *Machine) refuse(reason string) {
	if m.cur >= 0 {
		m.Steps[m.cur].Status, m.Steps[m.cur].Err, m.Steps[m.cur].EndedAt = StatusFailed, reason, m.Now
	}
	m.LastError = reason
	m.Gate.Open = false
	m.record(RecordEvent, m.curID(), "", "refused", reason, gateValuesOf(m.Gate.Checks))
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
	if !ok || (s.Kind != StepUpgrade && s.Kind != StepBackup && s.Kind != StepRecover) {
		return false
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
		if s, ok := m.StepByID(m.Failure.Step); ok && s.Kind == StepRollback {
			return false
		}
	}
	for _, n := range m.Nodes {
		if n.Swapped {
			return true
		}
	}
	return false
}

// startRollback inserts rollback steps after the current one: the failing
// node first, then (all) every other upgraded node, newest swap first.
func (m *Machine) startRollback(all bool) {
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
	if len(nodes) == 0 {
		return
	}
	m.saved = &savedPause{pause: m.Pause, failure: m.Failure, cur: m.cur}
	at := len(m.Steps)
	if m.cur >= 0 {
		at = m.cur + 1
		if m.Steps[m.cur].Status == StatusWaitingApproval || m.Pause != nil && m.Pause.Kind == PauseDeclined {
			m.Steps[m.cur].Status = StatusPending
		}
	} else {
		for i, s := range m.Steps {
			if s.Status == StatusPending {
				at = i
				break
			}
		}
	}
	var steps []StepState
	for _, name := range nodes {
		id := m.uniqueStepID(StepIDFor(StepRollback, name))
		n := m.node(name)
		steps = append(steps, StepState{Step: Step{ID: id, Phase: PhaseRollback, Kind: StepRollback, Node: name, Approval: true,
			Title: fmt.Sprintf("Roll back %s: %s → %s", name, n.Binary.Label(), n.Previous.Label())}})
	}
	m.Steps = append(m.Steps[:at], append(steps, m.Steps[at:]...)...)
	m.Pause, m.Failure = nil, nil
	m.rolling, m.rollbackAll = true, all
	m.cur = -1
	m.Phase = PhaseRollback
	m.record(RecordEvent, "", "", "rollback-planned", "roll back "+strings.Join(nodes, ", ")+" (newest first)", nil)
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
		if s.Kind == StepRollback && (s.Status == StatusPending || i == m.cur) {
			continue
		}
		if s.Kind == StepRollback && s.Status == StatusDone {
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
		m.Phase = m.Steps[max(m.cur, 0)].Phase
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

// afterRollback runs when no rollback step is left.
func (m *Machine) afterRollback() {
	left := false
	for _, n := range m.Nodes {
		if n.Swapped {
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
	m.Pause = nil
	m.AbortAsked = false
	m.Gate.Open = false
	if m.cur >= 0 {
		s := &m.Steps[m.cur]
		if s.Status == StatusRunning || s.Status == StatusWaitingApproval {
			s.Status, s.EndedAt = StatusFailed, m.Now
			if s.Err == "" {
				s.Err = reason
			}
		}
	}
}

func (m *Machine) driveStop() {
	for _, f := range m.inflight {
		if f.changes || f.purpose == purposeFailSysdump {
			return // let it finish: its outcome says what state the node is in
		}
	}
	if down := m.downNode(); down != nil && !m.stopStarted {
		m.stopStarted = true
		e := StartService{EffectMeta: m.meta(m.curID()), Node: down.Name}
		m.stopStartID = e.ID
		m.record(RecordEvent, m.curID(), down.Name, "make-consistent", "start "+down.Name+" on the binary in place ("+down.Binary.Label()+")", nil)
		m.launch(e, purposeStopStart)
		return
	}
	if m.stopStartID != 0 || m.stopUnlock != 0 {
		return
	}
	if m.stop != stopQuit && m.lockHeld && !m.stopTried && m.downNode() == nil {
		m.stopTried = true
		e := UnlockNodes{EffectMeta: m.meta(m.curID()), Nodes: m.Plan.NodeNames()}
		m.stopUnlock = e.ID
		m.launch(e, purposeStopUnlock)
		return
	}
	exit := m.stopExit
	reason := m.stopReason
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
	if m.lockHeld && m.stop != stopQuit {
		reason += "; the lock is still held"
	}
	m.finish(exit, reason)
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
	m.Gate.Open = false
	m.cur = -1
	m.emit(Record{EffectMeta: m.meta(""), Type: RecordOutcome, Op: RecordOpRun, OK: code == 0, Detail: fmt.Sprintf("exit %d: %s", code, reason),
		Error: map[bool]string{true: "", false: reason}[code == 0]})
	m.emit(Finish{EffectMeta: m.meta(""), ExitCode: code, Reason: reason})
}

// ---- helpers ----

func (m *Machine) meta(step StepID) EffectMeta {
	m.nextID++
	return EffectMeta{ID: m.nextID, Step: step}
}

func (m *Machine) emit(e Effect) { m.out = append(m.out, e) }

func (m *Machine) record(kind RecordKind, step StepID, node, op, detail string, gv []health.GateValue) {
	m.emit(Record{EffectMeta: m.meta(step), Type: kind, Node: node, Op: op, Detail: detail, GateValues: gv})
}

// launch emits an asynchronous effect, preceded by its journal intent when
// it changes a node, and tracks it until its result.
func (m *Machine) launch(e Effect, p purpose) {
	meta := e.Meta()
	changes := EffectChangesNode(e)
	if changes {
		rec := Record{EffectMeta: m.meta(meta.Step), Type: RecordIntent, For: meta.ID, Node: effectNode(e), Op: e.Kind()}
		if s, ok := m.StepByID(meta.Step); ok {
			rec.By = s.ApprovedBy
		}
		if _, isStop := e.(StopService); isStop {
			rec.GateValues = gateValuesOf(m.Gate.Checks)
		}
		m.emit(rec)
	}
	m.emit(e)
	m.inflight = append(m.inflight, inflightEffect{id: meta.ID, kind: e.Kind(), node: effectNode(e), step: meta.Step, changes: changes, purpose: p})
}

func (m *Machine) takeInflight(id EffectID) (inflightEffect, bool) {
	for i, f := range m.inflight {
		if f.id == id {
			m.inflight = append(m.inflight[:i:i], m.inflight[i+1:]...)
			return f, true
		}
	}
	return inflightEffect{}, false
}

func (m *Machine) dropInflight(id EffectID) { m.takeInflight(id) }

func (m *Machine) curID() StepID {
	if m.cur < 0 || m.cur >= len(m.Steps) {
		return ""
	}
	return m.Steps[m.cur].ID
}

func (m *Machine) node(name string) *NodeState {
	if name == "" {
		return nil
	}
	for i := range m.Nodes {
		if m.Nodes[i].Name == name {
			return &m.Nodes[i]
		}
	}
	return nil
}

func (m *Machine) setNode(n *NodeState, st NodeStatus) {
	if n == nil || n.Status == st {
		return
	}
	n.Status, n.Since = st, m.Now
}

func machOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
