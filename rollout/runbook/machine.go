package runbook

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// The machine is pure (design §2): events in, new state plus effects out.
// It has no goroutines, clock, I/O or context; time arrives in events.
//
// It keeps the loop: it picks the next step, makes its definition
// (catalogue.go) and runs the definition's operations one after the other.
// An operation is entered once, may emit effects, and is done when its
// results, snapshots or an approval say so; gates are health.Gate values
// fed snapshots and ticks. Approvals, stopping, failures and rollbacks are
// the machine's; what a step does is its definition's. At most one node is
// ever stopped: a stop is emitted only when no other node is down, after a
// quorum gate on a fresh snapshot and an approval for that very step as it
// stands.

// NewMachine returns a machine that will walk plan once it gets Begin.
func NewMachine(plan Plan, opts MachineOptions) Machine {
	plan.Options = plan.Options.withDefaults()
	m := Machine{Plan: plan, Options: opts, cur: -1, Phase: PhaseConnect, rollbackExit: ExitRolledBack}
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
		switch e := ev.(type) {
		case Begin:
			m.started = true
			m.record(RecordIntent, "", "", RecordOpRun, fmt.Sprintf("upgrade cluster %s to %s", m.Plan.Cluster, m.Plan.Target.Label()), nil)
			m.drive()
		case Quit:
			m.finish(ExitOK, "quit before the run began: nothing changed on any node")
		case Snapshot:
			m.observe(e)
			m.out = nil // looking only: nothing is recorded before the run begins
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
			e := TakeSysdump{EffectMeta: m.meta(m.curID()), Purpose: SysdumpManual, PerNode: !m.hasLeader(), Nodes: m.liveNames()}
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
			if !m.nodesTouched {
				m.record(RecordEvent, "", "", "quit", "quit before any node changed", nil)
				m.beginStop(stopQuitUntouched, "quit before any node changed: nothing changed on any node")
			} else {
				m.record(RecordEvent, "", "", "quit", "interrupted; `nwroll resume` continues from the journal", nil)
				m.beginStop(stopQuit, "interrupted")
			}
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
		if m.stop != stopNone && !m.ending() {
			if !m.driveStop() {
				return
			}
			continue
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
		case s.pc >= len(s.def.Ops):
			m.completeStep()
		case !s.entered:
			s.entered, s.done, s.opAt, s.pending, s.opErrs = true, false, m.Now, 0, nil
			o := s.def.Ops[s.pc]
			if o.changes() {
				s.touched = true
			}
			o.enter(m, m.ctx(s))
		case s.done:
			s.pc++
			s.entered, s.done, s.chainDone = false, false, 0
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
		if m.rolling && !isRollbackKind(s.Kind) {
			continue
		}
		m.activate(i)
		return true
	}
	return false
}

// activate makes step i current with its definition as it stands now, or
// skips it.
func (m *Machine) activate(i int) {
	m.cur = i
	s := &m.Steps[i]
	s.StartedAt, s.EndedAt, s.Err = m.Now, time.Time{}, ""
	s.pc, s.entered, s.done, s.pending, s.opErrs, s.touched, s.chainDone = 0, false, false, 0, nil, false, 0
	s.ApprovedBy, s.ApprovedAt = "", time.Time{}
	s.wasLeader, s.aboveTerm = false, 0
	m.Gate = OpenGate{}
	d := m.define(s)
	if d.Skip != "" {
		s.Status, s.Note, s.EndedAt = StatusSkipped, d.Skip, m.Now
		if n := m.node(s.Node); n != nil && d.SkipStatus != 0 {
			m.setNode(n, d.SkipStatus)
		}
		m.end(s, &d)
		m.record(RecordEvent, s.ID, s.Node, "step-skipped", d.Skip, nil)
		m.cur = -1
		return
	}
	s.def, s.Status = &d, StatusRunning
	if s.resumeAt > 0 && s.resumeAt < len(d.Ops) {
		s.pc, s.touched, s.resumeAt = s.resumeAt, true, 0
		s.ApprovedBy, s.ApprovedAt = "approved before the interruption", m.Now
	}
	m.Phase = d.Phase
	if m.rolling {
		m.Phase = PhaseRollback
	}
	m.record(RecordEvent, s.ID, m.ctx(s).nodeName(), "step-started", d.Title, nil)
}

func (m *Machine) completeStep() {
	s := &m.Steps[m.cur]
	s.Status, s.EndedAt = StatusDone, m.Now
	m.Gate.Open = false
	if n := m.ctx(s).node; n != nil && s.def.Done != 0 {
		m.setNode(n, s.def.Done)
	}
	if s.def.OnDone != nil {
		s.def.OnDone(m, s)
	}
	m.end(s, s.def)
	m.record(RecordEvent, s.ID, m.ctx(s).nodeName(), "step-done", s.def.Title, nil)
	m.cur = -1
	if m.pausing != "" {
		m.beginStop(stopPause, m.pausing)
	}
}

// end keeps the step's text as it ran.
func (m *Machine) end(s *StepState, d *stepDef) {
	t := d.text(m.ctxWith(s, d))
	s.final = &t
}

// redefine makes the current step's definition again when the cluster
// changed under it before it changed anything (the node became or stopped
// being the leader): a step whose text would change starts again, so its
// approval is for the step as it now stands.
func (m *Machine) redefine(s *StepState) bool {
	if s.Node == "" || s.touched || s.def == nil {
		return false
	}
	d := m.define(s)
	if sameText(d.text(m.ctxWith(s, &d)), s.def.text(m.ctx(s))) {
		return false
	}
	note := "the step changed before it started: " + d.Title
	if !s.ApprovedAt.IsZero() || s.Status == StatusWaitingApproval {
		note += "; approve it again"
	}
	s.Status, s.Note = StatusPending, note
	s.def, s.pc, s.entered, s.done = nil, 0, false, false
	s.ApprovedBy, s.ApprovedAt = "", time.Time{}
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, s.Node, "redefined", note, nil)
	m.cur = -1
	return true
}

func sameText(a, b StepText) bool {
	a.Quorum, b.Quorum = "", ""
	if a.Title != b.Title || strings.Join(a.Does, "\n") != strings.Join(b.Does, "\n") || (a.Gate == nil) != (b.Gate == nil) {
		return false
	}
	return a.Gate == nil || strings.Join(a.Gate.Checks, "\n") == strings.Join(b.Gate.Checks, "\n")
}

// successReason says how the run ended well, from what the nodes run.
func (m *Machine) successReason() string {
	if m.undoRun && len(m.RolledBack) == 0 {
		return "rolled back: no node was left upgraded; " + m.runs()
	}
	if m.rolling || m.successExit != 0 || len(m.RolledBack) > 0 {
		return m.rolledBackText()
	}
	for _, n := range m.Nodes {
		if !n.Retired && (n.Binary.SHA256 != m.Plan.Target.SHA256 || n.Binary.Image != m.Plan.Target.Image) {
			return "nothing left to do: " + m.runs()
		}
	}
	return fmt.Sprintf("every node runs %s", m.Plan.Target.Label())
}

// runs is what each node runs, by build: "1.1.0 on fw-a, fw-b; 1.0.0 on fw-c".
func (m *Machine) runs() string {
	var order []string
	on := map[string][]string{}
	for _, n := range m.Nodes {
		if n.Retired {
			continue
		}
		l := n.Binary.Label()
		if _, ok := on[l]; !ok {
			order = append(order, l)
		}
		on[l] = append(on[l], n.Name)
	}
	parts := make([]string, len(order))
	for i, l := range order {
		parts[i] = l + " on " + strings.Join(on[l], ", ")
	}
	return strings.Join(parts, "; ")
}

func (m *Machine) ctx(s *StepState) stepCtx { return m.ctxWith(s, s.def) }

// ctxWith is the context of s under definition d: the step's node, or the
// one d chose.
func (m *Machine) ctxWith(s *StepState, d *stepDef) stepCtx {
	name := s.Node
	if name == "" && d != nil {
		name = d.Node
	}
	return stepCtx{m: m, step: s, node: m.node(name)}
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

// ---- approvals ----

func (m *Machine) approve(s *StepState, by string) {
	s.Status, s.ApprovedBy, s.ApprovedAt = StatusRunning, by, m.Now
	if s.Kind == StepLock {
		m.lockApproved = true
	}
	detail := s.def.Title
	if m.Gate.Step == s.ID && m.Gate.Name == GateQuorum && m.Gate.Summary() != "" {
		detail += "; " + m.Gate.Summary()
	}
	m.emit(Record{EffectMeta: m.meta(s.ID), Type: RecordApproval, Node: s.Node, Op: s.Kind.String(), By: by,
		Detail: detail, GateValues: m.Gate.Values()})
	s.done = true
}

func (m *Machine) headlessApprover() string {
	who := m.Options.Approver
	if who == "" {
		who = "headless"
	}
	return who + " (--yes)"
}

func (m *Machine) onApprove(e Approve) {
	if m.Pause != nil || m.AbortAsked || m.stop != stopNone || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if s.ID != e.Step || s.Status != StatusWaitingApproval || !s.entered {
		return
	}
	if _, ok := s.def.Ops[s.pc].(approveOp); !ok {
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
	if isRollbackKind(s.Kind) && s.ApprovedAt.IsZero() {
		m.cancelRollback()
		return
	}
	if s.Status != StatusWaitingApproval {
		return
	}
	s.Status, s.Note = StatusPending, "declined by the operator"
	m.record(RecordEvent, s.ID, s.Node, "declined", s.def.Title, nil)
	m.Gate.Open = false
	m.Pause = &Pause{Kind: PauseDeclined, Step: s.ID, Node: s.Node, Since: m.Now, Text: "declined: " + s.def.Title}
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
	m.Gate.Gate = m.Gate.Gate.Extend(m.Now)
	m.Gate.Open = true
	if n := m.ctx(s).node; n != nil {
		m.setNode(n, m.ctx(s).busy(NodeVerifying))
		n.Err = ""
	}
	m.record(RecordEvent, s.ID, s.Node, "keep-waiting", "deadline extended to "+m.Gate.Deadline().UTC().Format(time.RFC3339), nil)
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
	if n := m.ctx(s).node; n != nil {
		n.Err = ""
	}
	m.record(RecordEvent, s.ID, s.Node, "retry", f.Op, nil)
}

// ---- clock and snapshots ----

func (m *Machine) onTick() {
	if m.stop != stopNone && !m.ending() || m.Pause != nil || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if s.entered && !s.done {
		if t, ok := s.def.Ops[s.pc].(tickOp); ok {
			t.tick(m, m.ctx(s))
		}
	}
	if m.wantsPoll() {
		m.pollNow()
	}
}

// wantsPoll: a gate is open, or an approval of a node step keeps its
// quorum arithmetic and the leader live.
func (m *Machine) wantsPoll() bool {
	if m.cur < 0 || m.Pause != nil || m.stop != stopNone {
		return false
	}
	s := &m.Steps[m.cur]
	if !s.entered || s.done {
		return false
	}
	switch s.def.Ops[s.pc].(type) {
	case gateOp, quorumOp, replaceQuorumOp, removeMemberOp, watchOp:
		return true
	case approveOp:
		return s.Node != ""
	}
	return false
}

func (m *Machine) pollNow() {
	if m.pollID != 0 {
		return
	}
	e := PollHealth{EffectMeta: m.meta(m.curID()), Nodes: m.liveNames()}
	m.pollID = e.ID
	m.launch(e, purposePoll)
}

func (m *Machine) onSnapshot(e Snapshot) {
	if e.ID != 0 {
		m.dropInflight(e.ID)
		if e.ID == m.pollID {
			m.pollID, m.polledAt = 0, m.Now
		}
	}
	snap := e.Snap
	if snap.TakenAt.IsZero() {
		snap.TakenAt = e.At
	}
	if !m.observe(Snapshot{Snap: snap, At: e.At}) {
		return // older than what we judged already
	}
	if m.Pause != nil || m.stop != stopNone && !m.ending() || m.cur < 0 {
		return
	}
	s := &m.Steps[m.cur]
	if !s.entered || s.done {
		return
	}
	if m.deferIfLeader(s) || m.redefine(s) {
		return
	}
	if so, ok := s.def.Ops[s.pc].(snapshotOp); ok {
		so.snapshot(m, m.ctx(s), snap)
	}
	if w := m.NextWake(); !w.IsZero() && !w.After(m.Now) && m.wantsPoll() {
		// The window has ended while this sample was in flight: the
		// sample that closes it is taken now, not a clock period later.
		m.pollNow()
	}
}

// gateSampleEvery is how soon after a sample a gate waiting for its
// checks to hold takes the next: a restarted node that turns ready is seen
// within this much (and one poll), without polling a slow cluster back to
// back.
const gateSampleEvery = 100 * time.Millisecond

// NextWake is when the machine wants a Tick ahead of its clock: while an
// open gate's checks do not all hold, gateSampleEvery after the latest
// sample came back; while they hold, the end of the window, when a sample
// taken can pass it. Zero when nothing is due (or a poll is in flight).
func (m Machine) NextWake() time.Time {
	g := m.Gate
	if !g.Open || g.Outcome() != health.Waiting || m.Finished || m.Pause != nil || m.stop != stopNone {
		return time.Time{}
	}
	if g.Hold > 0 && !g.HeldSince().IsZero() {
		return g.HeldSince().Add(g.Hold)
	}
	if m.pollID != 0 || m.polledAt.IsZero() {
		return time.Time{}
	}
	return m.polledAt.Add(gateSampleEvery)
}

// ---- effect results ----

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
		if b, ok := e.Data.(BackupInfo); ok && e.Err == nil {
			rec.Backup = &b
		}
		if f.op == OpSwap && e.Err == nil {
			t := m.Plan.Target
			rec.Build = &t
		}
		if e.Err == nil {
			s, _ := m.StepByID(f.step)
			rec.Cloud = cloudOutcome(f, e.Data, s.Node)
		}
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
				m.Failure.Sysdump = info.Path
				m.noteSysdump(SysdumpFailure, info)
			}
			if m.Options.Headless && m.stop == stopNone {
				m.headlessDecide()
			}
		}
	case purposeManualSysdump:
		m.manualSysdumpID = 0
		if e.Err != nil {
			m.LastError = "sysdump: " + e.Err.Error()
		} else {
			m.noteSysdump(SysdumpManual, e.Data)
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

func (m *Machine) onOpResult(f inflightEffect, e EffectResult) {
	var s *StepState
	if m.cur >= 0 {
		s = &m.Steps[m.cur]
	}
	if m.stop != stopNone && !m.ending() || s == nil || s.ID != f.step || !s.entered || s.done {
		// Ending, or the step is no longer current (aborted or
		// withdrawn): only what the effect did to its node matters.
		if n := m.node(f.node); n != nil && e.Err != nil && f.op.stopsOrStarts() && m.stop != stopNone {
			n.Down = true
		}
		m.applyNodeFacts(f, e)
		return
	}
	c := m.ctx(s)
	if r, ok := s.def.Ops[s.pc].(resultOp); ok {
		r.result(m, c, f, e)
		return
	}
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.applyNodeFacts(f, e)
	s.done = true
}

// opFailed: an operation's effect failed. Before the lock nothing changed,
// so the run is refused; after it the step fails and the operator decides.
func (m *Machine) opFailed(c stepCtx, f inflightEffect, e EffectResult) {
	if c.step.def.Refuses {
		m.refuse(fmt.Sprintf("%s: %v", f.kind, e.Err))
		return
	}
	if n := m.node(f.node); n != nil && f.op.stopsOrStarts() {
		n.Down = true // the node may be down either way; keep it counted as down
	}
	m.fail(FailEffect, f.kind, fmt.Sprintf("%s%s failed: %v", f.kind, onNode(f.node), e.Err))
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on " + node
}

// applyNodeFacts records what a node operation did to its node, whatever
// step it belonged to.
func (m *Machine) applyNodeFacts(f inflightEffect, e EffectResult) {
	n := m.node(f.node)
	if n == nil || e.Err != nil || f.op == 0 {
		return
	}
	if ok := f.op.def().ok; ok != nil {
		ok(m, n, e.Data)
	}
}

// applyFiles takes ReadNodeFiles' answer. In Identify it can refuse.
func (m *Machine) applyFiles(c stepCtx, e EffectResult, identify bool) bool {
	files, _ := e.Data.([]NodeFiles)
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
		n.Binary, n.BinaryAt = m.identify(f.SHA256), e.At
		n.Staged = f.NewPresent && NormSHA(f.NewSHA256) == m.Plan.Target.SHA256
		if identify && !n.Swapped {
			n.Previous = n.Binary
			if n.Binary.SHA256 == m.Plan.Target.SHA256 {
				m.setNode(n, NodeOnTarget)
			}
		}
	}
	if len(problems) > 0 {
		msg := strings.Join(problems, "; ")
		if identify {
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

func (m *Machine) noteSysdump(p SysdumpPurpose, data any) {
	info, ok := data.(SysdumpInfo)
	if !ok || info.Path == "" {
		return
	}
	if m.Sysdumps == nil {
		m.Sysdumps = map[SysdumpPurpose]string{}
	}
	m.Sysdumps[p] = info.Path
	m.LastSysdump = info.Path
}

// ---- leadership ----

// observe takes a snapshot as the latest, unless an older one: who
// answered, and who leads.
func (m *Machine) observe(e Snapshot) bool {
	snap := e.Snap
	if snap.TakenAt.IsZero() {
		snap.TakenAt = e.At
	}
	if m.HaveSnapshot && snap.TakenAt.Before(m.Latest.TakenAt) {
		return false
	}
	m.Latest, m.HaveSnapshot = snap, true
	m.learnIDs(snap)
	m.noteSeen(snap)
	m.observeLeader(snap)
	return true
}

// learnIDs takes the node id of a node that had none (an instance this
// run launched) from the snapshot, once the poller matched its address to
// a Raft member.
func (m *Machine) learnIDs(snap health.ClusterSnapshot) {
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if n.NodeID != "" {
			continue
		}
		if s, ok := snap.Node(n.Name); ok && s.NodeID != "" {
			n.NodeID = s.NodeID
		}
		if mem, ok := snap.Member(n.NodeID); ok && n.NodeID != "" {
			n.Voter = mem.IsVoter
		}
	}
}

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
// their group.
func (m *Machine) reorderGroups() {
	for _, kind := range leaderLastKinds {
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
		}
	}
	m.placePauses()
}

// deferIfLeader withdraws the current backup or upgrade step when its node
// has become the leader before the step changed anything while other nodes
// of the group are still pending: the leader goes last. The step needs a
// fresh approval when it comes back.
func (m *Machine) deferIfLeader(s *StepState) bool {
	if !slices.Contains(leaderLastKinds, s.Kind) || s.Node != m.Leader || s.touched {
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
	s.def, s.pc, s.entered, s.done = nil, 0, false, false
	s.ApprovedBy, s.ApprovedAt = "", time.Time{}
	m.Gate.Open = false
	m.record(RecordEvent, s.ID, s.Node, "deferred", s.Note, nil)
	m.cur = -1
	m.reorderGroups()
	return true
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
	var op NodeOp
	if a, ok := e.(NodeAction); ok {
		op = a.Op
	}
	if changes && op != 0 {
		m.nodesTouched = true
	}
	if changes {
		rec := Record{EffectMeta: m.meta(meta.Step), Type: RecordIntent, For: meta.ID, Node: EffectNode(e), Op: e.Kind()}
		if s, ok := m.StepByID(meta.Step); ok {
			rec.By = s.ApprovedBy
		}
		if op == OpStop {
			rec.GateValues = m.Gate.Values()
		}
		rec.Cloud = m.cloudIntent(e)
		m.emit(rec)
	}
	m.emit(e)
	m.inflight = append(m.inflight, inflightEffect{id: meta.ID, kind: e.Kind(), op: op, node: EffectNode(e), step: meta.Step, changes: changes, purpose: p})
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
