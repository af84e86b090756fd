package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

// Recovery in the console: it opens on an upgrade, on the resume of an
// unfinished run (`nwroll resume`) or on a rollback (`nwroll rollback`).
// An upgrade that finds an unfinished run never buries it: the console
// names the run and offers to continue it, roll it back, or look only.
// Once no run is under way, r on an upgraded node in the table rolls that
// node back. Each is a run prepared anew (prepareCmd); its steps are
// approved like any other.

// Mode is what the console opens on.
type Mode int

// Modes.
const (
	ModeUpgrade  Mode = iota // a new run to Deps.Upgrade's release
	ModeResume               // continue Deps.Resume's run
	ModeRollback             // undo Deps.Rollback's run (or one node of it)
)

// prepareRequest is the run to prepare: the mode and its options; look
// prepares it to be shown, not begun.
type prepareRequest struct {
	mode     Mode
	resume   rollout.ResumeOptions
	rollback rollout.RollbackOptions
	look     bool
	// breakLock takes over a dead run's lock, once the operator confirmed.
	breakLock bool
}

func (d Deps) request() prepareRequest {
	return prepareRequest{mode: d.Mode, resume: d.Resume, rollback: d.Rollback}
}

// prepare surveys the cluster (read-only) and prepares the run, not begun.
func (r prepareRequest) prepare(deps Deps) (*rollout.PreparedRun, error) {
	env := deps.Env
	env.Out = io.Discard
	ctx, cancel := context.WithTimeout(context.Background(), deps.PrepareTimeout)
	defer cancel()
	mo := runbook.MachineOptions{Approver: deps.Operator}
	switch r.mode {
	case ModeResume:
		r.resume.BreakLock = r.resume.BreakLock || r.breakLock
		return rollout.PrepareResume(ctx, env, r.resume, mo)
	case ModeRollback:
		r.rollback.BreakLock = r.rollback.BreakLock || r.breakLock
		return rollout.PrepareRollback(ctx, env, r.rollback, mo)
	}
	up := deps.Upgrade
	up.BreakLock = up.BreakLock || r.breakLock
	return rollout.PrepareUpgrade(ctx, env, up, mo)
}

// commandOf is the headless command a console run stands for.
func commandOf(mode Mode) string {
	switch mode {
	case ModeResume:
		return "resume"
	case ModeRollback:
		return "rollback"
	}
	return "upgrade"
}

// unfinishedMsg: an upgrade found an unfinished run; nothing changed.
type unfinishedMsg struct{ run journal.RunSummary }

// lockedMsg: a dead run of this host holds the lock; the console asks
// before taking it over (req again, with breakLock).
type lockedMsg struct {
	err *rollout.LockedError
	req prepareRequest
}

// switchFailedMsg: a run asked for from the console (r on a node) could
// not be prepared; the console stays as it was.
type switchFailedMsg struct{ err error }

// prepareCmd prepares req and starts its driver.
func prepareCmd(deps Deps, req prepareRequest) tea.Cmd {
	return func() tea.Msg { return prepared(deps, req) }
}

func prepared(deps Deps, req prepareRequest) tea.Msg {
	run, err := req.prepare(deps)
	var unfinished *rollout.UnfinishedRunError
	var locked *rollout.LockedError
	switch {
	case errors.As(err, &unfinished):
		return unfinishedMsg{run: unfinished.Run}
	case errors.As(err, &locked) && locked.Gone && !req.breakLock:
		return lockedMsg{err: locked, req: req}
	case err != nil:
		return prepareFailedMsg{err: err, code: rollout.ExitCodeOf(err)}
	}
	e := newEngine(run.Executor.Poll, run.Close)
	e.serviceLog = run.Executor.ServiceLog
	if ev := deps.Env.Events; ev != nil {
		env, command, id := deps.Env, commandOf(req.mode), run.Journal.RunID()
		e.events = ev
		e.summarize = func(m runbook.Machine) { ev.Summarize(rollout.ReportOf(env, command, id, m), nil) }
	}
	e.driver = executor.NewDriver(context.Background(), run.Executor, e.elog.Hooks())
	run.Executor.SetNoteHandler(e.onNote)
	h := run.Executor.Holder()
	return preparedMsg{machine: run.Machine, holder: fmt.Sprintf("%s@%s (run %.8s)", h.User, h.Host, h.RunID),
		journal: run.Journal.Path(), runID: run.Journal.RunID(), engine: e, at: time.Now(), look: req.look, mode: req.mode}
}

// switchCmd prepares req while the old engine stays; only once the new run
// is ready is the old one closed. A refusal leaves the console as it was.
func switchCmd(deps Deps, req prepareRequest, old *engine, through uint64, final runbook.Machine) tea.Cmd {
	return func() tea.Msg {
		msg := prepared(deps, req)
		if f, ok := msg.(prepareFailedMsg); ok {
			return switchFailedMsg{err: f.err}
		}
		if old != nil {
			old.stop(through, final)
		}
		return msg
	}
}

// recoveryKeyMap is the keys that choose a run: on an unfinished run
// found at start, while looking, and on a node once no run is under way.
type recoveryKeyMap struct {
	Continue     key.Binding // resume the unfinished run
	RollbackAll  key.Binding // roll the unfinished run back
	Look         key.Binding // look only: the rebuilt run, not begun
	RollbackNode key.Binding // roll back the node selected in the table
	TakeOver     key.Binding // take over a gone run's lock
}

func defaultRecoveryKeyMap() recoveryKeyMap {
	return recoveryKeyMap{
		Continue:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "continue the run")),
		RollbackAll:  key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "roll the run back")),
		Look:         key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "look only")),
		RollbackNode: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roll back selected node")),
		TakeOver:     key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "take the lock over")),
	}
}

// recoveryKeys is the map with each key enabled only while it acts.
func (m Model) recoveryKeys() recoveryKeyMap {
	k := m.rkeys
	choosing, looking := m.stage == stageChoosing, m.stage == stageLooking
	idle := looking || m.stage == stageRunning && m.machine.Finished && !m.closing && !m.quitting
	k.Continue.SetEnabled(choosing || looking)
	k.RollbackAll.SetEnabled(choosing || looking)
	k.Look.SetEnabled(choosing)
	k.RollbackNode.SetEnabled(idle && m.focus == focusNodes && m.selectedUpgraded() != "")
	k.TakeOver.SetEnabled(m.stage == stageLocked)
	return k
}

func (k recoveryKeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.TakeOver, k.Continue, k.RollbackAll, k.Look, k.RollbackNode}
}

// selectedUpgraded is the node selected in the table when it runs
// something other than what it ran before this run, else "".
func (m Model) selectedUpgraded() string {
	i := m.nodes.cursor
	if i < 0 || i >= len(m.machine.Nodes) {
		return ""
	}
	n := m.machine.Nodes[i]
	if !n.Swapped {
		return ""
	}
	return n.Name
}

// onRecoveryKey acts on a recovery key; ok is false when key is not one.
func (m Model) onRecoveryKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	k := m.recoveryKeys()
	runID := m.runID
	if m.stage == stageChoosing {
		runID = m.unfinished.ID
	}
	var req prepareRequest
	switch {
	case key.Matches(msg, k.TakeOver):
		req = m.locked.req
		req.breakLock = true
		m.stage = stagePreparing
		return m, prepareCmd(m.deps, req), true
	case key.Matches(msg, k.Continue) && m.stage == stageLooking:
		m.stage = stageRunning
		next, cmd := m.feed(runbook.Begin{At: m.now})
		return next, cmd, true
	case key.Matches(msg, k.Continue):
		req = prepareRequest{mode: ModeResume, resume: rollout.ResumeOptions{Run: runID, BreakLock: m.deps.Upgrade.BreakLock}}
	case key.Matches(msg, k.RollbackAll):
		req = prepareRequest{mode: ModeRollback, rollback: rollout.RollbackOptions{Run: runID, BreakLock: m.deps.Upgrade.BreakLock}}
	case key.Matches(msg, k.Look):
		req = prepareRequest{mode: ModeResume, resume: rollout.ResumeOptions{Run: runID}, look: true}
	case key.Matches(msg, k.RollbackNode):
		node := m.selectedUpgraded()
		m.notice = "preparing the rollback of " + node + " …"
		req = prepareRequest{mode: ModeRollback, rollback: rollout.RollbackOptions{Run: runID, Node: node}}
	default:
		return m, nil, false
	}
	next, cmd := m.switchTo(req)
	return next, cmd, true
}

// switchTo prepares another run; the screen says so until it is ready.
func (m Model) switchTo(req prepareRequest) (Model, tea.Cmd) {
	if m.stage == stageChoosing {
		m.stage = stagePreparing
		return m, prepareCmd(m.deps, req)
	}
	m.switching = true
	return m, switchCmd(m.deps, req, m.eng, m.seq, m.machine.Clone())
}

// lockedLines asks to take over the lock of a run that is gone.
func (d dialog) lockedLines(e *rollout.LockedError, w int) []string {
	h := e.Holder
	return []string{
		d.st.DialogTitle.Render(style.GlyphWarn + " The rollout lock is held by a run that is gone"), "",
		wrap(fmt.Sprintf("Node %s is locked by run %s of %s@%s, started %s: pid %d on this host is no longer running, so that run cannot finish by itself.",
			e.Node, h.RunID, h.User, h.Host, h.StartedAt.Local().Format("2006-01-02 15:04"), h.PID), w), "",
		wrap("Take the lock over for this run? Nothing else changes until you approve each step; `nwroll runs` shows what that run did.", w), "",
		d.hint("y", "take the lock over", "q", "quit"),
	}
}

// unfinishedLines is the question asked when an upgrade found an
// unfinished run.
func (d dialog) unfinishedLines(s journal.RunSummary, w int) []string {
	return []string{
		d.st.DialogTitle.Render(style.GlyphWarn + " This cluster has an unfinished rollout"), "",
		wrap(fmt.Sprintf("%s. It changed: %s.", upperFirst(s.Describe()), s.ChangesText()), w), "",
		wrap("Nothing was started and nothing on any node changed. Continue the run (every step asks for your y), "+
			"roll it back (newest upgrade first), or look at where it stands.", w), "",
		d.hint("c", "continue the run", "R", "roll it back", "l", "look only", "q", "quit"),
	}
}

// continueHint is the commands that continue the run on screen (and undo
// it), quoted, for the quit question and the final lines; "" when the
// caller gave none.
func (m Model) continueHint() string {
	if m.deps.NoHints {
		return ""
	}
	inv := "INVENTORY"
	if m.deps.Env.Inventory != nil {
		inv = m.deps.Env.Inventory.Path
	}
	env := ""
	if m.deps.HintEnv != "" {
		env = m.deps.HintEnv + " "
	}
	resume := fmt.Sprintf("%snwroll resume -i %s --run %s", env, inv, m.runID)
	rollback := fmt.Sprintf("%snwroll rollback -i %s --run %s", env, inv, m.runID)
	if m.mode == ModeRollback {
		return "`" + rollback + "`"
	}
	return "`" + resume + "` (or `" + rollback + "` to undo it)"
}
