package runbook

import (
	"fmt"
	"time"

	"github.com/nwroll/nwroll/health"
)

// Events are what the machine is fed: the start, ticks of the clock, the
// results of effects, health snapshots and the operator's actions. Every
// event carries the time it happened; the machine has no clock.
type Event interface {
	eventTime() time.Time
}

// Begin starts the run.
type Begin struct{ At time.Time }

// Tick is the executor's clock, about once a second: deadlines are judged
// on it and polls are paced by it.
type Tick struct{ Now time.Time }

// Snapshot answers PollHealth (ID is the poll's effect id). A snapshot that
// answers no poll (ID 0), for instance from the console's own refresh, is
// used as well.
type Snapshot struct {
	ID   EffectID
	Snap health.ClusterSnapshot
	At   time.Time
}

// EffectResult answers an effect that expects one (EffectNeedsResult). Err
// is nil on success; Data carries the effect's answer (see effects.go).
type EffectResult struct {
	ID   EffectID
	At   time.Time
	Err  error
	Data any
}

// Approve approves one step. It is ignored unless that step is waiting for
// approval now, so pressing y twice can never approve two steps.
type Approve struct {
	Step StepID
	By   string // user@host, for the journal
	At   time.Time
}

// Cancel declines the approval dialog, cancels a pending abort, or drops a
// rollback the operator chose but has not approved yet.
type Cancel struct{ At time.Time }

// Abort asks to abort; it takes effect only after AbortConfirm.
type Abort struct{ At time.Time }

// AbortConfirm confirms an Abort: nodes are brought to a known state (a
// stopped node is started on whatever binary is in place), the lock is
// released and the run ends with exit 1 (4 if a rollback completed).
type AbortConfirm struct{ At time.Time }

// KeepWaiting extends a timed-out gate's deadline by the gate timeout.
type KeepWaiting struct{ At time.Time }

// Retry runs a failed effect again.
type Retry struct{ At time.Time }

// Continue reopens the approval the operator declined, with a fresh check.
type Continue struct{ At time.Time }

// SysdumpNow takes a cluster sysdump now (per-node sysdumps without a leader).
type SysdumpNow struct{ At time.Time }

// RollbackNode rolls back the failing node: stop, restore .prev, start, gates.
type RollbackNode struct{ At time.Time }

// RollbackAll rolls back every upgraded node, newest first, one at a time.
type RollbackAll struct{ At time.Time }

// Quit interrupts the run: nothing new starts, effects in flight finish, a
// stopped node is started again, and the run ends with exit 1 keeping the
// lock, so `nwroll resume` continues it.
type Quit struct{ At time.Time }

func (e Begin) eventTime() time.Time        { return e.At }
func (e Tick) eventTime() time.Time         { return e.Now }
func (e Snapshot) eventTime() time.Time     { return e.At }
func (e EffectResult) eventTime() time.Time { return e.At }
func (e Approve) eventTime() time.Time      { return e.At }
func (e Cancel) eventTime() time.Time       { return e.At }
func (e Abort) eventTime() time.Time        { return e.At }
func (e AbortConfirm) eventTime() time.Time { return e.At }
func (e KeepWaiting) eventTime() time.Time  { return e.At }
func (e Retry) eventTime() time.Time        { return e.At }
func (e Continue) eventTime() time.Time     { return e.At }
func (e SysdumpNow) eventTime() time.Time   { return e.At }
func (e RollbackNode) eventTime() time.Time { return e.At }
func (e RollbackAll) eventTime() time.Time  { return e.At }
func (e Quit) eventTime() time.Time         { return e.At }

// Action is an operator action; Allowed lists the ones legal now, so the
// help bar shows only those.
type Action int

// The operator's actions.
const (
	ActApprove Action = iota + 1
	ActCancel
	ActAbort
	ActAbortConfirm
	ActKeepWaiting
	ActRetry
	ActContinue
	ActSysdump
	ActRollbackNode
	ActRollbackAll
	ActQuit
)

var actionNames = map[Action]string{
	ActApprove: "approve", ActCancel: "cancel", ActAbort: "abort", ActAbortConfirm: "confirm abort",
	ActKeepWaiting: "keep waiting", ActRetry: "retry", ActContinue: "continue", ActSysdump: "sysdump",
	ActRollbackNode: "roll back this node", ActRollbackAll: "roll back all", ActQuit: "quit",
}

func (a Action) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// ActionEvent builds the event for an action. step and by matter only for
// ActApprove: the step approved (Machine.AwaitingApproval) and who approved.
func ActionEvent(a Action, step StepID, by string, at time.Time) Event {
	switch a {
	case ActApprove:
		return Approve{Step: step, By: by, At: at}
	case ActCancel:
		return Cancel{At: at}
	case ActAbort:
		return Abort{At: at}
	case ActAbortConfirm:
		return AbortConfirm{At: at}
	case ActKeepWaiting:
		return KeepWaiting{At: at}
	case ActRetry:
		return Retry{At: at}
	case ActContinue:
		return Continue{At: at}
	case ActSysdump:
		return SysdumpNow{At: at}
	case ActRollbackNode:
		return RollbackNode{At: at}
	case ActRollbackAll:
		return RollbackAll{At: at}
	case ActQuit:
		return Quit{At: at}
	}
	return nil
}
