package runbook

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
)

// StepStatus is where a step stands.
type StepStatus int

// Step statuses.
const (
	StatusPending StepStatus = iota
	StatusWaitingApproval
	StatusRunning
	StatusDone
	StatusFailed
	StatusSkipped
	StatusRolledBack
)

var stepStatusNames = []string{"pending", "waiting for approval", "running", "done", "failed", "skipped", "rolled back"}

func (s StepStatus) String() string {
	if int(s) >= 0 && int(s) < len(stepStatusNames) {
		return stepStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// NodeStatus is a node's rollout state.
type NodeStatus int

// Node statuses.
const (
	NodePending NodeStatus = iota
	NodeStaging
	NodeStaged
	NodeBackingUp
	NodeBackedUp
	NodeStopping
	NodeSwapping
	NodeStarting
	NodeVerifying
	NodeUpgraded
	NodeOnTarget // already on the target before this run touched it
	NodeRollingBack
	NodeRolledBack
	NodeFailed
	NodeUnverified // on the target, but the run ended before its gates passed
	NodeSurging    // cloud: its replacement is being launched
	NodeJoining    // cloud: launched by this run, joining the cluster
	NodeRetiring   // cloud: being terminated
	NodeRetired    // cloud: terminated and gone from the group
)

var nodeStatusNames = []string{"pending", "staging", "staged", "backing up", "backed up", "stopping", "swapping",
	"starting", "verifying", "upgraded", "on target", "rolling back", "rolled back", "failed", "unverified",
	"surging", "joining", "retiring", "retired"}

func (s NodeStatus) String() string {
	if int(s) >= 0 && int(s) < len(nodeStatusNames) {
		return nodeStatusNames[s]
	}
	return fmt.Sprintf("node(%d)", int(s))
}

// StepState is a step of the plan with its progress.
type StepState struct {
	Step
	Status     StepStatus
	StartedAt  time.Time
	EndedAt    time.Time
	ApprovedBy string // user@host, or "<approver> (--yes)"
	ApprovedAt time.Time
	Note       string // why it was skipped, deferred, declined…
	Err        string // why it failed

	def       *stepDef  // the definition it runs, made when it started (and again before its first change if it no longer holds)
	final     *StepText // its text as it ran, once it ended
	pc        int       // the operation running
	entered   bool      // Ops[pc] has been entered
	done      bool      // Ops[pc] has finished
	opAt      time.Time // when Ops[pc] was entered
	pending   int       // results Ops[pc] still waits for
	opErrs    []string  // errors collected by a parallel operation (stage)
	chainDone int       // the operations of Ops[pc]'s chain done; a retry goes on from there
	touched   bool      // an operation that changes a node has started
	wasLeader bool      // the node led when its stop was decided
	aboveTerm uint64    // the term then
	surged    string    // cloud: the instance launched to replace the node
	// resumeAt: a resumed run continues this step at operation resumeAt
	// (cloud: its surge, join gate or retirement was under way), asking
	// the same surge again (surgeAsk) if its outcome was lost.
	resumeAt int
	surgeAsk *CloudRecord
	// observe mode: the refresh watched, when the group was last described
	refresh     string
	refreshDone bool
	describedAt time.Time
}

// NodeState is one node's rollout state and what this run knows of its
// files and service.
type NodeState struct {
	Name   string
	NodeID string
	Voter  bool
	Leader bool // per the latest snapshot with a leader
	Status NodeStatus
	Since  time.Time // of Status

	Binary   BuildRef  // the build in place, as last read or changed by this run
	BinaryAt time.Time // when Binary was last read from the node; zero when it is only what this run put there
	Previous BuildRef  // the build before this run swapped it: what a rollback restores
	Staged   bool      // <binary>.new holds the target
	PrevKept bool      // <binary>.prev holds Previous
	Swapped  bool      // this rollout put the target in place (a rollback candidate)
	Down     bool      // stopped by this run and not started since (or its stop's outcome unknown)
	// StartUnsure: it runs, but a kill cut a stop or start of it short, so
	// the journal cannot tell; a resume starts it again (a no-op if it runs).
	StartUnsure bool
	SwapSeq     int // order of swaps, from 1; rollbacks go newest first
	Err         string

	// Cloud mode: Launched by this run to replace the node Replaces, at
	// address Addr; Retired once terminated and gone from the group.
	Launched bool
	Replaces string
	Addr     string
	Retired  bool

	Backup BackupInfo // the backup this run took of the node, if any
	// Service is the node's unit (ActiveState, SubState, NRestarts) as a
	// gate last read it over SSH, and when; a zero At: not read by a gate.
	Service health.Service
}

// OpenGate is the gate of the current step: the health.Gate with its
// memory, the step and node it belongs to, and whether it is open.
type OpenGate struct {
	health.Gate
	Open   bool
	Step   StepID
	Node   string
	readID EffectID  // a read of the node's files in flight for the gate
	readAt time.Time // when the latest read for the gate was launched
}

// FailureKind says what failed.
type FailureKind int

// Failure kinds.
const (
	FailTimeout  FailureKind = iota + 1 // a gate did not hold within its timeout
	FailNoLeader                        // no leader for longer than the election window
	FailBroken                          // a soak's check failed after every check had held
	FailAbort                           // a check saw an abort condition (facts §10): waiting cannot mend it
	FailEffect                          // an effect failed (ssh error, command exit ≠ 0)
	FailInternal                        // the machine refused to break an invariant
)

func (k FailureKind) String() string {
	switch k {
	case FailTimeout:
		return "gate timeout"
	case FailNoLeader:
		return "no leader"
	case FailBroken:
		return "gate broken"
	case FailAbort:
		return "abort signal"
	case FailEffect:
		return "effect failed"
	case FailInternal:
		return "internal"
	}
	return fmt.Sprintf("failure(%d)", int(k))
}

// Failure is what stopped the run at a step.
type Failure struct {
	Step           StepID
	Node           string
	Kind           FailureKind
	Op             string // the failed effect's Kind() for FailEffect
	Reason         string
	Checks         []health.CheckResult // the gate's verdicts at the failure
	At             time.Time
	SysdumpPending bool   // the failure sysdump has not come back yet: nothing else may change
	Sysdump        string // its path
	SysdumpErr     string
}

// PauseKind says why the machine waits for the operator.
type PauseKind int

// Pause kinds.
const (
	PauseFailure    PauseKind = iota + 1 // a gate or effect failed (see Failure)
	PauseDeclined                        // the operator declined an approval
	PauseRolledBack                      // one node was rolled back; others are still upgraded
)

// Pause is set while the machine waits for the operator's decision.
type Pause struct {
	Kind  PauseKind
	Step  StepID
	Node  string
	Since time.Time
	Text  string
}

// MachineOptions are the ways a run is driven.
type MachineOptions struct {
	Headless   bool   // --yes: approve every step; on a failure roll the node back (exit 4)
	NoRollback bool   // with Headless: on a failure only stop (exit 1)
	Approver   string // user@host, recorded for --yes approvals
}

type stopMode int

const (
	stopNone          stopMode = iota
	stopAbort                  // confirmed abort: make nodes consistent, unlock, finish
	stopQuit                   // interrupted: make nodes consistent, keep the lock, finish 1
	stopQuitUntouched          // quit before any node operation: release the lock, finish 0
	stopEnd                    // the run ends after a failure or rollback: make consistent, unlock, finish
	stopPause                  // --pause-before with --yes: keep the lock, finish 5
)

// keepsLock: the run ends resumable, its lock held for `nwroll resume`.
func (s stopMode) keepsLock() bool { return s == stopQuit || s == stopPause }

type purpose int

const (
	purposeOp purpose = iota + 1
	purposePoll
	purposeGateRead
	purposeFailSysdump
	purposeManualSysdump
	purposeStopStart
	purposeStopUnlock
)

type inflightEffect struct {
	id      EffectID
	kind    string // the effect's Kind()
	op      NodeOp // for a NodeAction
	node    string
	step    StepID
	changes bool
	purpose purpose
}

// Machine is the pure rollout state machine (design §2): Handle takes an
// event and returns effects as data. Exported fields are for reading; only
// Handle and Next change a Machine.
type Machine struct {
	Plan    Plan
	Options MachineOptions
	Phase   Phase
	Steps   []StepState
	Nodes   []NodeState

	Leader       string // name of the leader in the latest snapshot that had one
	Term         uint64
	Latest       health.ClusterSnapshot
	HaveSnapshot bool
	Gate         OpenGate
	Pause        *Pause
	Failure      *Failure
	AbortAsked   bool // Abort was pressed; AbortConfirm or Cancel is next
	LastError    string
	RolledBack   []string                  // nodes rolled back in this run, in order
	LastSysdump  string                    // path of the last sysdump saved
	Sysdumps     map[SysdumpPurpose]string // the last sysdump of each purpose
	seen         map[string]time.Time      // when each node last answered a poll
	Baseline     health.ClusterSnapshot    // the snapshot the pre-check passed on: the metrics baseline
	HaveBaseline bool
	Now          time.Time

	Finished bool
	ExitCode int
	Reason   string

	started         bool
	nextID          EffectID
	cur             int // index of the current step in Steps, -1 for none
	inflight        []inflightEffect
	out             []Effect
	pollID          EffectID
	polledAt        time.Time // when the latest poll of the machine's answered
	failSysdumpID   EffectID
	manualSysdumpID EffectID
	lockHeld        bool
	nodesTouched    bool // a node operation ran in this run (a resumed run counts its earlier ones)
	undoRun         bool // `nwroll rollback`: the run undoes an earlier one
	resumeLock      bool // LockNodes takes over our own lock (resume)
	lockApproved    bool
	approvalSeq     uint64 // counts the times a step started waiting for approval

	rolling      bool // rolling back: only rollback steps run
	rollbackAll  bool
	rollbackFail bool
	saved        *savedPause
	successExit  int // exit code when every step is done (0; 4 when resuming a rollback)
	rollbackExit int // exit code when the rollback steps are done (4; 0 for `nwroll rollback`)
	swapSeq      int

	stop        stopMode
	stopExit    int
	stopReason  string
	pausing     string // a --yes run reached a pause step: why it stops once the step is done
	stopStarted bool
	stopStartID EffectID
	stopUnlock  EffectID
	stopTried   bool

	// Cloud mode: the group as last described, the template version this
	// run made, the movers it suspended (to resume), when a member removal
	// began looking.
	Group       cloud.Group
	haveGroup   bool
	newTemplate cloud.TemplateRef
	frozen      []string
	removeAt    time.Time
}

type savedPause struct {
	pause   *Pause
	failure *Failure
	cur     int
}

// Clone returns a deep copy that Handle can change without touching m.
func (m Machine) Clone() Machine {
	c := m
	c.Steps = append([]StepState(nil), m.Steps...)
	for i := range c.Steps {
		c.Steps[i].opErrs = append([]string(nil), m.Steps[i].opErrs...)
	}
	c.Nodes = append([]NodeState(nil), m.Nodes...)
	c.frozen = slices.Clone(m.frozen)
	c.Sysdumps = maps.Clone(m.Sysdumps)
	c.seen = maps.Clone(m.seen)
	c.inflight = append([]inflightEffect(nil), m.inflight...)
	c.RolledBack = append([]string(nil), m.RolledBack...)
	c.out = nil
	if m.Pause != nil {
		p := *m.Pause
		c.Pause = &p
	}
	if m.Failure != nil {
		f := *m.Failure
		f.Checks = append([]health.CheckResult(nil), m.Failure.Checks...)
		c.Failure = &f
	}
	if m.saved != nil {
		s := *m.saved
		c.saved = &s
	}
	return c
}

// Current returns the step running, waiting for approval or failed now.
func (m Machine) Current() (StepState, bool) {
	if m.cur < 0 || m.cur >= len(m.Steps) {
		return StepState{}, false
	}
	return m.Steps[m.cur], true
}

// AwaitingApproval returns the step whose approval dialog is open: its
// Title, Quorum and the Gate's checks are what the dialog shows.
func (m Machine) AwaitingApproval() (StepState, bool) {
	s, ok := m.Current()
	if !ok || s.Status != StatusWaitingApproval || m.Pause != nil || m.Finished || m.stop != stopNone {
		return StepState{}, false
	}
	return s, true
}

// ApprovalSeq numbers the approval dialogs: it grows each time a step
// starts waiting for approval, so a view can tell a new dialog from the
// one it showed (and never let a key meant for one approve the next).
func (m Machine) ApprovalSeq() uint64 { return m.approvalSeq }

// StepByID returns the step with the id.
func (m Machine) StepByID(id StepID) (StepState, bool) {
	for _, s := range m.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return StepState{}, false
}

// NodeByName returns the node's state.
func (m Machine) NodeByName(name string) (NodeState, bool) {
	for _, n := range m.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeState{}, false
}

// LockHeld reports whether this run holds the lock on the nodes.
func (m Machine) LockHeld() bool { return m.lockHeld }

// InFlight reports whether an effect of kind (its Kind(): "stage",
// "sysdump", …) is in flight on node ("" for the cluster).
func (m Machine) InFlight(node, kind string) bool {
	for _, f := range m.inflight {
		if f.kind == kind && f.node == node {
			return true
		}
	}
	return false
}

// OwnLockLeft reports whether the run this machine continues left its
// lock on the nodes (a resume takes it back at its lock step).
func (m Machine) OwnLockLeft() bool { return m.resumeLock && !m.lockHeld }

// Busy reports whether effects are in flight (other than polls).
func (m Machine) Busy() bool {
	for _, f := range m.inflight {
		if f.purpose != purposePoll {
			return true
		}
	}
	return false
}

// Allowed lists the operator's actions that are legal now, in a stable
// order; every other action is ignored.
func (m Machine) Allowed() []Action {
	switch {
	case m.Finished || !m.started:
		return []Action{ActQuit}
	case m.stop != stopNone:
		return nil
	case m.AbortAsked:
		return []Action{ActAbortConfirm, ActCancel, ActQuit}
	}
	var acts []Action
	add := func(ok bool, a Action) {
		if ok {
			acts = append(acts, a)
		}
	}
	canSysdump := m.manualSysdumpID == 0 && m.connected()
	if p := m.Pause; p != nil {
		switch p.Kind {
		case PauseFailure:
			f := m.Failure
			if f != nil && f.SysdumpPending {
				return []Action{ActAbort, ActQuit}
			}
			add(f != nil && (f.Kind == FailTimeout || f.Kind == FailNoLeader || f.Kind == FailBroken), ActKeepWaiting)
			add(f != nil && (f.Kind == FailEffect || f.Kind == FailInternal), ActRetry)
		case PauseDeclined:
			add(true, ActContinue)
		}
		add(canSysdump, ActSysdump)
		add(m.canRollbackNode(), ActRollbackNode)
		add(m.canRollbackAll(), ActRollbackAll)
		add(true, ActAbort)
		add(true, ActQuit)
		return acts
	}
	if _, ok := m.AwaitingApproval(); ok {
		add(true, ActApprove)
		add(true, ActCancel)
	} else if s, ok := m.Current(); ok && isRollbackKind(s.Kind) && s.ApprovedAt.IsZero() {
		add(true, ActCancel) // drop a rollback chosen but not approved yet
	}
	add(canSysdump, ActSysdump)
	add(true, ActAbort)
	add(true, ActQuit)
	return acts
}

// IsAllowed reports whether a is in Allowed().
func (m Machine) IsAllowed(a Action) bool {
	for _, x := range m.Allowed() {
		if x == a {
			return true
		}
	}
	return false
}

func (m Machine) connected() bool {
	for _, s := range m.Steps {
		if s.Kind == StepConnect {
			return s.Status == StatusDone
		}
	}
	return true
}
