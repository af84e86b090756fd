package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// frame is what the panes draw and decide from: the machine as it stands,
// the console's stage and clock, and the inventory's node names (the table
// shows them before the machine knows the nodes). Model.frame makes one
// for each call, and a pane gets it on a copy of itself for that call only
// (in, updateIn): no pane keeps a frame, so nothing a pane shows or decides
// is older than the machine.
type frame struct {
	mc      *runbook.Machine
	stage   stage
	now     time.Time
	names   []string
	refused string // why the survey or the plan refused (stageRefused)
	// unfinished is the run an upgrade found unfinished (stageChoosing).
	unfinished journal.RunSummary
	locked     *rollout.LockedError  // the dead run's lock (stageLocked)
	hint       string                // the commands that continue the run on screen, or ""
	logs       map[string]serviceLog // each node's service log as the console last read it
	journal    string                // the run's journal file
}

// running is true while the machine runs and has not finished.
func (f *frame) running() bool { return f.stage == stageRunning && !f.mc.Finished }

// framed is a pane that draws from a frame.
type framed[T any] interface {
	in(f *frame) T
	Update(msg tea.Msg) (T, tea.Cmd)
}

// updateIn runs msg through a copy of p in frame f, and returns the pane
// without the frame, for the root to keep.
func updateIn[T framed[T]](p T, f *frame, msg tea.Msg) (T, tea.Cmd) {
	next, cmd := p.in(f).Update(msg)
	return next.in(nil), cmd
}
