package tui

import (
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// preparedMsg: the survey is done, the plan built and the journal open.
type preparedMsg struct {
	machine runbook.Machine // not begun
	holder  string          // who the lock will name
	journal string          // the journal's path
	runID   string
	engine  *engine
	at      time.Time
	look    bool // look only: show the run, do not begin it
	mode    Mode
}

// prepareFailedMsg: the survey or the plan refused; nothing changed.
type prepareFailedMsg struct {
	err  error
	code int
}

// engineMsg is an event from the driver: an effect's answer.
type engineMsg struct {
	ev   runbook.Event
	from *engine
}

// logMsg is lines for the log pane (the EventLog's, in order).
type logMsg struct {
	entries []rollout.LogEntry
	from    *engine
}

// progressMsg is a transfer's progress (staging, backups, sysdumps).
type progressMsg struct {
	note executor.Note
	from *engine
}

// tickMsg is the console's clock.
type tickMsg struct{ at time.Time }

// wakeMsg is the end of a gate's window (Machine.NextWake) reached.
type wakeMsg struct{ at time.Time }

// refreshMsg is the console's own health poll, for the node table while
// the machine is not polling.
type refreshMsg struct {
	snap health.ClusterSnapshot
	from *engine
}

// armMsg arms approval number seq (Machine.ApprovalSeq): a keypress before
// it is ignored, so a key pressed for the previous dialog never approves
// this one.
type armMsg struct{ seq uint64 }

// closedMsg: the engine has released the nodes' connections; quit now.
type closedMsg struct{}

// serviceLogMsg is a node's service log as read over SSH (serviceLogCmd).
type serviceLogMsg struct {
	node  string
	lines []string
	err   error
	at    time.Time
	from  *engine
}

// StopSignal is a SIGTERM or SIGHUP (the terminal closed) the program got:
// the console quits as a confirmed quit would.
type StopSignal struct{ Name string }
