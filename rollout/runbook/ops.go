package runbook

import (
	"fmt"
	"strings"

	"github.com/nwroll/nwroll/health"
)

// The operations steps are made of, typed. Each says what it does in words
// (lines), whether it changes a node, and how the machine runs it (enter,
// and optionally result, snapshot and tick). A step definition lists them
// in order; the machine runs them one after the other.

type op interface {
	// lines are what the operation does, as the plan and dialog print it.
	lines(c stepCtx) []string
	// changes reports whether it changes anything on a node.
	changes() bool
	// enter starts it: it launches effects or opens a gate.
	enter(m *Machine, c stepCtx)
}

// resultOp handles the results of the effects it launched; without it a
// result is done on success and a failure of the step otherwise.
type resultOp interface {
	result(m *Machine, c stepCtx, f inflightEffect, e EffectResult)
}

// snapshotOp judges health snapshots while it runs.
type snapshotOp interface {
	snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot)
}

// tickOp judges the clock while it runs.
type tickOp interface {
	tick(m *Machine, c stepCtx)
}

// ---- cluster operations ----

// connectOp: SSH to every node, pin the CA, get a token, map node ids.
type connectOp struct{}

func (connectOp) changes() bool { return false }
func (connectOp) lines(c stepCtx) []string {
	o := c.opts()
	out := []string{"ssh to " + strings.Join(c.m.Plan.NodeNames(), ", ") + " in parallel; verify host keys against known_hosts, stop on a mismatch"}
	if o.CAFromFile {
		out = append(out, "pin the API CA from the given CA file")
	} else {
		out = append(out, "fetch the API CA "+o.DataRoot+"/http-tls/ca.crt over ssh and pin it")
	}
	if o.TokenFromEnv {
		out = append(out, "use the admin token from NEUWERK_TOKEN")
	} else {
		out = append(out, "mint a short-lived admin token over ssh (neuwerk auth token mint)")
	}
	return append(out, "read "+o.DataRoot+"/node_id on each node and map its UUID to the decimal API id")
}
func (connectOp) enter(m *Machine, c stepCtx) {
	m.launch(ConnectNodes{EffectMeta: m.meta(c.step.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
}

// readFilesOp: the sha256 of every node's binary and its .new and .prev.
// identify also records what each node ran before this run.
type readFilesOp struct{ identify bool }

func (readFilesOp) changes() bool { return false }
func (o readFilesOp) lines(c stepCtx) []string {
	if !o.identify {
		return []string{"re-read the sha256 of every binary"}
	}
	var now []string
	for _, n := range c.m.Nodes {
		now = append(now, n.Name+" "+n.Binary.Label())
	}
	return []string{"sha256 of " + c.opts().Binary + " on each node, matched against the known release manifests",
		"now: " + strings.Join(now, ", ")}
}
func (readFilesOp) enter(m *Machine, c stepCtx) {
	m.launch(ReadNodeFiles{EffectMeta: m.meta(c.step.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
}
func (o readFilesOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	if m.applyFiles(c, e, o.identify) {
		c.step.done = true
	}
}

// sysdumpOp: a cluster sysdump (per-node ones without a leader).
type sysdumpOp struct{ purpose SysdumpPurpose }

func (sysdumpOp) changes() bool { return false }
func (o sysdumpOp) lines(stepCtx) []string {
	if o.purpose == SysdumpBaseline {
		return []string{"save a baseline cluster sysdump"}
	}
	return []string{"save a post-upgrade cluster sysdump"}
}
func (o sysdumpOp) enter(m *Machine, c stepCtx) {
	m.launch(TakeSysdump{EffectMeta: m.meta(c.step.ID), Purpose: o.purpose, PerNode: !m.hasLeader(), Nodes: m.liveNames()}, purposeOp)
}
func (o sysdumpOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.noteSysdump(o.purpose, e.Data)
	c.step.done = true
}

// lockOp: the lock on every node, naming this run.
type lockOp struct{}

func (lockOp) changes() bool { return true }
func (lockOp) lines(c stepCtx) []string {
	return []string{"write the lock file on " + strings.Join(c.m.Plan.NodeNames(), ", ") + " naming this operator; refuse if another holder is present"}
}
func (lockOp) enter(m *Machine, c stepCtx) {
	m.launch(LockNodes{EffectMeta: m.meta(c.step.ID), Nodes: m.Plan.NodeNames(), Resume: m.resumeLock}, purposeOp)
}
func (lockOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.lockHeld = true
	c.step.done = true
}

// unlockOp: release the lock.
type unlockOp struct{}

func (unlockOp) changes() bool { return true }
func (unlockOp) lines(c stepCtx) []string {
	return []string{"remove the lock file on " + strings.Join(c.m.Plan.NodeNames(), ", ")}
}
func (unlockOp) enter(m *Machine, c stepCtx) {
	m.launch(UnlockNodes{EffectMeta: m.meta(c.step.ID), Nodes: m.Plan.NodeNames()}, purposeOp)
}
func (unlockOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	if e.Err != nil {
		m.opFailed(c, f, e)
		return
	}
	m.lockHeld = false
	c.step.done = true
}

// verifyBackupOp: an existing backup set is on every node, intact.
type verifyBackupOp struct{}

func (verifyBackupOp) changes() bool { return false }
func (verifyBackupOp) lines(c stepCtx) []string {
	return []string{"verify that set " + c.opts().BackupSet + " exists on every node with matching checksums; no new backup"}
}
func (verifyBackupOp) enter(m *Machine, c stepCtx) {
	m.launch(VerifyBackupSet{EffectMeta: m.meta(c.step.ID), Set: m.Plan.Options.BackupSet, Nodes: m.Plan.NodeNames()}, purposeOp)
}

// stageOp: upload the target to <binary>.new on every node that lacks it,
// in parallel.
type stageOp struct{}

func (stageOp) changes() bool { return true }
func (stageOp) lines(c stepCtx) []string {
	return []string{
		"check free disk, then upload the binary to " + c.opts().Binary + ".new on every node in parallel",
		"verify its sha256 " + ShortSHA(c.m.Plan.Target.SHA256) + " on each node",
	}
}
func (stageOp) enter(m *Machine, c stepCtx) {
	for _, name := range m.toStage() {
		m.setNode(m.node(name), NodeStaging)
		m.launch(NodeAction{EffectMeta: m.meta(c.step.ID), Node: name, Op: OpStage, SHA256: m.Plan.Target.SHA256}, purposeOp)
		c.step.pending++
	}
	if c.step.pending == 0 {
		c.step.done = true
	}
}
func (stageOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	s := c.step
	n := m.node(f.node)
	s.pending--
	if e.Err != nil {
		s.opErrs = append(s.opErrs, fmt.Sprintf("%s: %v", f.node, e.Err))
		m.setNode(n, NodeFailed)
	} else {
		m.applyNodeFacts(f, e)
		m.setNode(n, NodeStaged)
	}
	if s.pending > 0 {
		return
	}
	if len(s.opErrs) > 0 {
		m.fail(FailEffect, OpStage.String(), "stage failed: "+strings.Join(s.opErrs, "; "))
		return
	}
	s.done = true
}

// unstageOp: remove <binary>.new from nodes that have the target staged
// but never got it in place, in parallel, as a run that rolls back or
// aborts ends. It asks for no approval of its own: the rollback's or the
// abort's covers it, and is recorded as this step's. A node whose file
// could not be removed stays staged, and the run says so; the lock is
// still released.
type unstageOp struct{ nodes []string }

func (unstageOp) changes() bool { return true }
func (o unstageOp) lines(c stepCtx) []string {
	_, what, covered := c.m.unwindApproval()
	remove := "remove " + c.opts().Binary + ".new (" + c.m.Plan.Target.Label() + ", staged and never put in place) from " +
		strings.Join(o.nodes, ", ") + " in parallel"
	if !covered {
		return []string{remove} // approved in this step
	}
	return []string{remove, "no approval of its own: " + what + " covers it"}
}
func (o unstageOp) enter(m *Machine, c stepCtx) {
	s := c.step
	by, what, _ := m.unwindApproval()
	if s.ApprovedAt.IsZero() { // else approved in this step (approveOp)
		s.ApprovedBy, s.ApprovedAt = by, m.Now
		m.emit(Record{EffectMeta: m.meta(s.ID), Type: RecordApproval, Op: s.Kind.String(), By: by,
			Detail: "remove the staged " + m.Plan.Target.Label() + " from " + strings.Join(o.nodes, ", ") + ": covered by " + what})
	}
	for _, name := range o.nodes {
		m.launch(NodeAction{EffectMeta: m.meta(s.ID), Node: name, Op: OpUnstage, SHA256: m.Plan.Target.SHA256}, purposeOp)
		s.pending++
	}
	if s.pending == 0 {
		s.done = true
	}
}
func (unstageOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	s := c.step
	s.pending--
	if e.Err != nil {
		s.opErrs = append(s.opErrs, fmt.Sprintf("%s: %v", f.node, e.Err))
	} else {
		m.applyNodeFacts(f, e)
	}
	if s.pending > 0 {
		return
	}
	if len(s.opErrs) > 0 {
		why := "the staged release stays where it could not be removed: " + strings.Join(s.opErrs, "; ")
		m.LastError = why
		m.record(RecordEvent, s.ID, "", "unstage-failed", why, nil)
	}
	s.done = true
}

// noteOp is a line a definition adds to what its step does, with nothing
// to run.
type noteOp []string

func (noteOp) changes() bool               { return false }
func (o noteOp) lines(stepCtx) []string    { return o }
func (noteOp) enter(_ *Machine, c stepCtx) { c.step.done = true }

// ---- approval ----

// approveOp waits for the operator's y (--yes approves at once). While it
// waits, the step's quorum arithmetic and its node's role stay live.
type approveOp struct {
	// headless, when set, decides for --yes instead: who approves, or why
	// the run is refused.
	headless func(c stepCtx) (by, refusal string)
	// pause: --yes does not approve; the run stops once the step is done
	// (exit 5), and `nwroll resume` is the approval.
	pause bool
}

func (approveOp) changes() bool          { return false }
func (approveOp) lines(stepCtx) []string { return nil }
func (o approveOp) enter(m *Machine, c stepCtx) {
	if m.Options.Headless && o.pause {
		m.pausing = strings.Replace(c.step.def.Title, "Pause before", "paused before", 1) + ": `nwroll resume --yes` continues"
		m.record(RecordEvent, c.step.ID, c.nodeName(), "paused", c.step.def.Title, nil)
		c.step.done = true
		return
	}
	if m.Options.Headless {
		by, refusal := m.headlessApprover(), ""
		if o.headless != nil {
			by, refusal = o.headless(c)
		}
		if refusal != "" {
			m.refuse(refusal)
			return
		}
		m.approve(c.step, by)
		return
	}
	c.step.Status = StatusWaitingApproval
	m.approvalSeq++
	if m.Gate.Step == c.step.ID && m.Gate.Name == GateQuorum {
		// The quorum gate stays open for the dialog, with no deadline: an
		// approval waits as long as the operator likes.
		m.Gate.Gate.Timeout = 0
		m.Gate.Gate, m.Gate.Open = m.Gate.Gate.Extend(m.Now), true
	}
}
func (approveOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	if c.step.Status != StatusWaitingApproval || m.Gate.Step != c.step.ID || m.Gate.Name != GateQuorum {
		return
	}
	m.Gate.Gate = m.Gate.Gate.Extend(snap.TakenAt).Observe(health.Sample{Snap: snap})
}

// ---- quorum ----

// quorumOp: stopping the node keeps quorum and every other voter is up,
// judged on a fresh snapshot. The final one (right before the stop)
// records whether the node leads, for the gates after its start.
type quorumOp struct{ final bool }

func (quorumOp) changes() bool          { return false }
func (quorumOp) lines(stepCtx) []string { return nil }

// arithmetic is the quorum arithmetic of the stop: live while this step's
// quorum gate has judged a snapshot, else with every voter up.
func (quorumOp) arithmetic(c stepCtx) string {
	if g := c.m.Gate; g.Step == c.step.ID && g.Name == GateQuorum && g.Summary() != "" {
		return g.Summary()
	}
	return health.QuorumOf(c.node.Name, c.m.Plan.Voters(), !c.node.Voter).String()
}

// GateQuorum is the name of the quorum gate before a stop.
const GateQuorum = "quorum"

func (o quorumOp) enter(m *Machine, c stepCtx) {
	g := health.Gate{Name: GateQuorum, Checks: []health.Check{health.QuorumHolds{Node: c.ref()}}, Timeout: m.Plan.Options.GateTimeout}
	m.openFresh(c, g, o.snapshot)
}
func (o quorumOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	if !m.judgeFresh(c, snap) {
		return
	}
	if o.final {
		m.gatePassed(c, m.Gate.Summary())
	}
	c.step.done = true
}

// openFresh opens g for the step, judged on a fresh snapshot: the latest,
// if it is young enough (FreshFor), else the next poll's.
func (m *Machine) openFresh(c stepCtx, g health.Gate, judge func(*Machine, stepCtx, health.ClusterSnapshot)) {
	m.openGate(c, g, m.Now.Add(-m.Plan.Options.FreshFor))
	if m.HaveSnapshot {
		judge(m, c, m.Latest)
		if c.step.done || m.cur < 0 || m.Pause != nil {
			return
		}
	}
	m.pollNow()
}

// judgeFresh judges snap for a gate opened with openFresh (a node that
// became the leader is deferred first) and reports whether it passed; it
// then records whether the step's node leads, and the term.
func (m *Machine) judgeFresh(c stepCtx, snap health.ClusterSnapshot) bool {
	if m.deferIfLeader(c.step) {
		return false
	}
	m.Gate.Gate = m.Gate.Gate.Observe(health.Sample{Snap: snap})
	if m.Gate.Outcome() != health.Passed {
		return false
	}
	s := c.step
	s.wasLeader, s.aboveTerm = false, 0
	if l, ok := snap.Leader(); ok {
		s.wasLeader = l.NodeID == c.node.NodeID
		s.aboveTerm = snap.Stats.Cluster.CurrentTerm
	}
	return true
}
func (quorumOp) tick(m *Machine, c stepCtx) { m.tickGate(c) }

// ---- node operations ----

// nodeOp is one typed operation on the step's node (nodeops.go): a chain
// of one.
func nodeOp(op NodeOp) chainOp { return chainOp{[]NodeOp{op}} }

// stopRefused: op stops the node while another is still stopped (one node
// at a time), and the step fails. Otherwise a stop counts the node down.
func (m *Machine) stopRefused(c stepCtx, op NodeOp) bool {
	n := c.node
	if op != OpStop {
		return false
	}
	for i := range m.Nodes {
		if m.Nodes[i].Down && m.Nodes[i].Name != n.Name {
			m.fail(FailInternal, OpStop.String(), fmt.Sprintf("refusing to stop %s: %s is still stopped (one node at a time)", n.Name, m.Nodes[i].Name))
			return true
		}
	}
	n.Down = true
	return false
}

// action is op on the step's node, place pos of a chain of length.
func (op NodeOp) action(m *Machine, c stepCtx, pos, length int) NodeAction {
	e := NodeAction{EffectMeta: m.meta(c.step.ID), Node: c.node.Name, Op: op, Backup: m.Plan.Options.Backup, ChainPos: pos, ChainLen: length}
	switch op {
	case OpSwap:
		e.SHA256 = m.Plan.Target.SHA256
	case OpRestorePrev:
		e.SHA256 = c.node.Previous.SHA256
	}
	return e
}

// chainOp is consecutive typed operations on the step's node done in one
// round trip (a restart: stop, keep .prev, swap, start). Every operation keeps
// its own intent and outcome in the journal, and every intent is written
// before the first of them starts; the executor runs them in order in one
// command and stops at the first that fails (those after it answer "not
// run"). Each answer is taken as it comes, like a nodeOp's.
type chainOp struct{ ops []NodeOp }

func (chainOp) changes() bool { return true }
func (o chainOp) lines(c stepCtx) []string {
	var out []string
	for _, op := range o.ops {
		out = append(out, op.line(c))
	}
	return out
}
func (o chainOp) enter(m *Machine, c stepCtx) {
	ops := o.ops[c.step.chainDone:] // a retry goes on from the operation that failed
	if len(ops) == 0 {
		c.step.done = true
		return
	}
	if m.stopRefused(c, ops[0]) {
		return
	}
	m.setNode(c.node, c.busy(ops[0].def().busy))
	for i, op := range ops {
		m.launch(op.action(m, c, i, len(ops)), purposeOp)
	}
	c.step.pending = len(ops)
}
func (o chainOp) result(m *Machine, c stepCtx, f inflightEffect, e EffectResult) {
	s := c.step
	s.pending--
	if len(s.opErrs) > 0 {
		// An earlier operation of the chain failed and the step with it;
		// one that ran all the same (a backup's record failed after the
		// chain ran) still tells what the node is.
		if e.Err == nil {
			m.applyNodeFacts(f, e)
		}
		return
	}
	if e.Err != nil {
		s.opErrs = append(s.opErrs, e.Err.Error())
		m.opFailed(c, f, e)
		return
	}
	m.applyNodeFacts(f, e)
	s.chainDone++
	if s.chainDone < len(o.ops) {
		m.setNode(c.node, c.busy(o.ops[s.chainDone].def().busy))
	}
	if s.pending == 0 {
		s.done = true
	}
}

// busy is the node's status while the step runs an operation: the step's
// own (a backup is "backing up" while it stops) or the operation's.
func (c stepCtx) busy(own NodeStatus) NodeStatus {
	if c.step.def != nil && c.step.def.Busy != 0 {
		return c.step.def.Busy
	}
	return own
}

// ---- gates ----

// gateOp opens a gate of health checks and is done when it passes. gate
// builds it from the step as it stands; readBinary reads the node's files
// again when it opens and every gateReread while it is open (the gate
// judges its binary and its unit); saveBaseline keeps the snapshot it passed on
// as the metrics baseline.
type gateOp struct {
	gate         func(c stepCtx) health.Gate
	readBinary   bool
	saveBaseline bool
	// line, when set, is what the step does at this gate, for a step
	// with more than one gate (a replacement's join and settle gates).
	line func(c stepCtx) string
	// explain, when set, adds the likely cause to a failure's reason.
	explain func(c stepCtx, g health.Gate) string
}

func (gateOp) changes() bool { return false }
func (o gateOp) lines(c stepCtx) []string {
	if o.saveBaseline {
		return []string{"save the baseline /metrics of every node"}
	}
	if o.line != nil {
		return []string{o.line(c)}
	}
	return nil
}
func (o gateOp) enter(m *Machine, c stepCtx) {
	m.openGate(c, o.gate(c), m.Now)
	if c.node != nil {
		m.setNode(c.node, c.busy(NodeVerifying))
	}
	if o.readBinary {
		m.readGateFiles(c)
	}
	m.pollNow()
}
func (o gateOp) snapshot(m *Machine, c stepCtx, snap health.ClusterSnapshot) {
	m.Gate.Gate = m.Gate.Gate.Observe(m.sample(snap))
	m.afterGate(c, func() {
		if o.saveBaseline {
			m.Baseline, m.HaveBaseline = snap, true
			m.emit(SaveBaseline{EffectMeta: m.meta(c.step.ID), Snap: snap})
		}
	})
}
func (o gateOp) tick(m *Machine, c stepCtx) {
	m.tickGate(c)
	if o.readBinary && m.Gate.Open && m.Gate.Step == c.step.ID && m.gateReadDue() {
		m.readGateFiles(c)
	}
}
