// Package tui is the console: a bubbletea program that drives the rollout
// machine with keypresses. It adds no rollout logic of its own: what may
// happen next is machine.Allowed(), what happens is the machine's effects,
// performed by the same executor.Driver as the headless runner.
package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
	"github.com/nwroll/nwroll/tui/viewer"
)

// Deps is what the console needs from its caller.
type Deps struct {
	Env      rollout.Env
	Upgrade  rollout.UpgradeOptions
	Operator string // user@host, recorded with every approval
	NoColor  bool   // NO_COLOR
	// Hints say which commands continue or undo the run on screen (after a
	// quit, a kill); HintEnv is what those commands need before them (the
	// demo's XDG_STATE_HOME=…). NoHints: nothing can continue it (the
	// demo's cluster is gone when the console ends).
	HintEnv string
	NoHints bool
	// Note ends the header's second line: how the cluster differs from a
	// real one (the demo's short election timeouts).
	Note string
	// PrepareTimeout bounds the survey (default 2m).
	PrepareTimeout time.Duration
	// Mode is what the console opens on: an upgrade (Upgrade), the resume
	// of a run (Resume) or a rollback (Rollback).
	Mode     Mode
	Resume   rollout.ResumeOptions
	Rollback rollout.RollbackOptions
}

type focus int

const (
	focusNodes focus = iota
	focusRunbook
	focusLog
	focusCount
)

type stage int

const (
	stagePreparing stage = iota
	stageRunning
	stageRefused  // the survey or plan refused; nothing changed
	stageChoosing // an upgrade found an unfinished run: continue, roll back or look?
	stageLooking  // a run rebuilt to be looked at, not begun
	stageLocked   // a dead run's lock is on the nodes: take it over?
)

// Minimum usable size; from wideWidth the runbook and the log (or the
// dialog) stand side by side.
const (
	minWidth  = 80
	minHeight = 24
	wideWidth = 110
)

// Model is the console's root model. It owns the machine and the engine;
// the panes are components that draw from the machine each frame (frame)
// and keep only their own state. Keys go to the help page or the viewer
// when one is open, then to the global keys, the dialog, and the pane
// that has focus; each data message goes to the pane that owns it.
type Model struct {
	deps   Deps
	st     *style.Styles
	keys   globalKeyMap
	rkeys  recoveryKeyMap
	isDark bool

	width, height int
	focus         focus

	stage       stage
	eng         *engine
	machine     runbook.Machine
	seq         uint64 // dispatch batches, numbered from 1
	now         time.Time
	started     time.Time
	holder      string
	journal     string
	runID       string
	mode        Mode               // of the run on screen
	unfinished  journal.RunSummary // the run an upgrade found unfinished (stageChoosing)
	locked      lockedMsg          // the dead run's lock, and the run to prepare once taken over (stageLocked)
	switching   bool               // another run is being prepared (r on a node)
	refused     string             // why the survey or the plan refused
	refusedCode int

	lastMachTick time.Time
	wakeAt       time.Time // the machine's NextWake a wakeCmd is sleeping until
	refreshing   bool
	notice       string // a one-line hint in the status bar
	quitting     bool   // Quit fed: waiting for the machine to finish, then exit
	forceCount   int
	forced       bool // quit by force while effects were in flight
	closing      bool

	status  help.Model // the status bar's keys
	nodes   nodesPane
	runbook runbookPane
	log     logPane
	dialog  dialog
	help    helpPane
	detail  detailPane
	viewer  *viewer.Model
	// svcLogs are the nodes' service logs as the console last read them
	// (replaced, never changed in place: older models share it).
	svcLogs map[string]serviceLog
}

// New returns the console for deps. Nothing happens on any node until the
// operator approves a step.
func New(deps Deps) Model {
	if deps.PrepareTimeout <= 0 {
		deps.PrepareTimeout = 2 * time.Minute
	}
	m := Model{deps: deps, isDark: true, keys: defaultGlobalKeyMap(), rkeys: defaultRecoveryKeyMap(), status: help.New()}
	m.st = newStyles(m.isDark, deps.NoColor)
	m.nodes = newNodesPane(m.st)
	m.runbook = newRunbookPane(m.st)
	m.log = newLogPane(m.st)
	m.dialog = newDialog(m.st, deps.Env.Inventory)
	m.detail = newDetailPane(m.st, deps.Env.Inventory)
	m.help = newHelpPane(m.st, m.helpRollout(), m.helpNavigation())
	m.status.Styles = m.st.Help()
	m.setFocus(focusNodes)
	return m
}

// helpRollout and helpNavigation are the help page's two lists of keys,
// from the key maps of the dialog, the panes, the help page and the root.
func (m Model) helpRollout() []key.Binding {
	return append(slices.Concat(m.dialog.FullHelp()...), m.keys.View)
}

func (m Model) helpNavigation() []key.Binding {
	return slices.Concat([]key.Binding{m.keys.NextPane, m.keys.PrevPane}, slices.Concat(m.log.KeyMap.FullHelp()...),
		[]key.Binding{m.log.Filter, m.keys.Detail, m.detail.KeyMap.Reload},
		[]key.Binding{defaultHelpKeyMap().Back, m.keys.Help, m.keys.Quit})
}

// Init starts the survey, the clock, the spinner and the background colour
// query.
func (m Model) Init() tea.Cmd {
	return tea.Batch(prepareCmd(m.deps, m.deps.request()), tickCmd(), tea.RequestBackgroundColor, m.runbook.Init())
}

// ExitCode is the run's exit code (design §1) once the program ended.
func (m Model) ExitCode() int {
	switch {
	case m.forced:
		return runbook.ExitFailed
	case m.stage == stageRefused:
		return m.refusedCode
	case m.machine.Finished:
		return m.machine.ExitCode
	}
	return 0
}

// FinalMessages are the lines to print after the console closed: the
// outcome, the journal, and how to resume.
func (m Model) FinalMessages() []string {
	var out []string
	switch {
	case m.stage == stageRefused:
		out = append(out, "nwroll: "+m.refused)
	case m.stage == stageLocked:
		out = append(out, "nwroll: nothing changed on any node; "+m.locked.err.Error())
	case m.stage == stageChoosing || m.stage == stageLooking:
		inv := "INVENTORY"
		if m.deps.Env.Inventory != nil {
			inv = m.deps.Env.Inventory.Path
		}
		id := m.unfinished.ID
		if id == "" {
			id = m.runID
		}
		out = append(out, fmt.Sprintf("nwroll: nothing changed on any node; run %s is still unfinished: `nwroll resume -i %s` continues it, `nwroll rollback -i %s` undoes it", id, inv, inv))
	case m.machine.Finished:
		out = m.outcomeLines()
	}
	if m.forced {
		out = append(out, "nwroll: forced to quit while effects were in flight; check the nodes with `nwroll status` and continue with: "+m.continueHint())
	}
	return out
}

// frame is the machine as it stands now, for the panes (see frame).
func (m Model) frame() frame {
	mc := m.machine // its own copy, so m need not live on the heap
	return frame{mc: &mc, stage: m.stage, now: m.now, names: m.nodeNames(), refused: m.refused, unfinished: m.unfinished, locked: m.locked.err, hint: m.continueHint(), logs: m.svcLogs, journal: m.journal}
}

func (m *Model) setStyles(st *style.Styles) {
	m.st = st
	m.status.Styles = st.Help()
	m.nodes.SetStyles(st)
	m.runbook.SetStyles(st)
	m.log.SetStyles(st)
	m.dialog.SetStyles(st)
	m.help.SetStyles(st)
	m.detail.SetStyles(st)
}

// newStyles are the styles every pane shares: they are never changed,
// only replaced (setStyles), so one copy serves them all.
func newStyles(isDark, noColor bool) *style.Styles {
	st := style.New(isDark, noColor)
	return &st
}

// setFocus gives the keys to one pane.
func (m *Model) setFocus(f focus) {
	m.focus = f
	m.nodes.Blur()
	m.runbook.Blur()
	m.log.Blur()
	switch f {
	case focusNodes:
		m.nodes.Focus()
	case focusRunbook:
		m.runbook.Focus()
	case focusLog:
		m.log.Focus()
	}
}

// Update is pure: every remote call, file read and clock read is a Cmd.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.BackgroundColorMsg:
		m.isDark = msg.IsDark()
		m.setStyles(newStyles(m.isDark, m.deps.NoColor))
		return m, nil
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case preparedMsg:
		return m.onPrepared(msg)
	case unfinishedMsg:
		m.stage, m.unfinished = stageChoosing, msg.run
		m.log.AddLine(m.now, "", "unfinished: "+msg.run.Describe(), true)
		return m, nil
	case lockedMsg:
		m.stage, m.locked = stageLocked, msg
		m.log.AddLine(m.now, "", "locked: "+msg.err.Error(), true)
		return m, nil
	case switchFailedMsg:
		m.switching = false
		m.notice = msg.err.Error()
		m.log.AddLine(m.now, "", "refused: "+msg.err.Error(), true)
		return m, nil
	case prepareFailedMsg:
		m.stage, m.refused, m.refusedCode = stageRefused, msg.err.Error(), msg.code
		m.log.AddLine(m.now, "", "refused: "+msg.err.Error(), true)
		return m, nil
	case engineMsg:
		if msg.from != m.eng {
			return m, nil // a run the console left
		}
		m, cmd := m.feed(msg.ev)
		return m, tea.Batch(cmd, listenCmd(m.eng))
	case logMsg:
		if msg.from != m.eng {
			return m, nil
		}
		m.log, _ = m.log.Update(msg)
		return m, listenCmd(m.eng)
	case progressMsg:
		if msg.from != m.eng {
			return m, nil
		}
		m.runbook, _ = m.runbook.Update(msg)
		return m, listenCmd(m.eng)
	case refreshMsg:
		m.refreshing = false
		if m.closing || msg.from != m.eng {
			return m, nil
		}
		snap := runbook.Snapshot{Snap: msg.snap, At: msg.snap.TakenAt}
		if m.stage == stageLooking {
			m.machine, _ = runbook.Next(m.machine, snap) // not begun: it only takes the snapshot
			return m, nil
		}
		return m.feed(snap)
	case tickMsg:
		m.runbook, _ = m.runbook.Update(msg)
		return m.onTick(msg)
	case wakeMsg:
		if !msg.at.Equal(m.wakeAt) || m.stage != stageRunning || m.closing || m.switching {
			return m, nil
		}
		return m.feed(runbook.Tick{Now: msg.at})
	case armMsg:
		f := m.frame()
		m.dialog, _ = updateIn(m.dialog, &f, msg)
		return m, nil
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.runbook, cmd = m.runbook.Update(msg)
		return m, cmd
	case serviceLogMsg:
		if msg.from != m.eng {
			return m, nil
		}
		sl := serviceLog{lines: msg.lines, at: msg.at}
		if msg.err != nil {
			sl.err = msg.err.Error()
		}
		m.setServiceLog(msg.node, sl)
		return m, nil
	case viewer.ClosedMsg:
		m.viewer = nil
		return m, nil
	case closedMsg:
		return m, tea.Quit
	case StopSignal:
		return m.onStopSignal(msg)
	}
	if m.viewer != nil {
		v, cmd := m.viewer.Update(msg)
		m.viewer = &v
		return m, cmd
	}
	return m, nil
}

func (m Model) onPrepared(msg preparedMsg) (tea.Model, tea.Cmd) {
	m.eng = msg.engine
	m.stage, m.switching, m.refreshing = stageRunning, false, false
	m.seq = 0 // a new driver numbers its batches from 1
	m.mode = msg.mode
	m.machine, m.holder, m.journal, m.runID = msg.machine, msg.holder, msg.journal, msg.runID
	m.now, m.started, m.lastMachTick = msg.at, msg.at, msg.at
	m.dialog = newDialog(m.st, m.deps.Env.Inventory)
	m.log.AddLine(m.now, "", "journal "+m.journal, false)
	m.runbook.Follow()
	m.layout()
	if msg.look {
		m.stage = stageLooking
		m.notice = "looking only: nothing runs until you press c (continue) or R (roll back)"
		return m, listenCmd(m.eng)
	}
	next, cmd := m.feed(runbook.Begin{At: msg.at})
	return next, tea.Batch(cmd, listenCmd(m.eng))
}

// feed hands one event to the machine and dispatches its effects.
func (m Model) feed(ev runbook.Event) (Model, tea.Cmd) {
	if m.stage != stageRunning {
		return m, nil
	}
	paused, nodes := m.machine.Pause != nil, len(m.machine.Nodes)
	next, effs := runbook.Next(m.machine, ev)
	m.machine = next
	if len(m.machine.Nodes) != nodes {
		m.layout() // an instance launched (cloud mode): the table grows
	}
	var cmds []tea.Cmd
	if len(effs) > 0 {
		m.seq++
		cmds = append(cmds, dispatchCmd(m.eng, m.seq, effs))
	}
	if _, ok := ev.(runbook.Snapshot); ok {
		cmds = append(cmds, gateLogCmd(m.eng, m.machine, ev))
	}
	var arm tea.Cmd
	m.dialog, arm = m.dialog.Follow(&m.machine)
	cmds = append(cmds, arm)
	if arm != nil || !paused && m.machine.Pause != nil {
		m.detail.Open("") // a new question is never out of sight
	}
	if m.machine.Finished {
		cmds = append(cmds, m.onFinished())
	}
	if w := m.machine.NextWake(); !w.Equal(m.wakeAt) {
		m.wakeAt = w
		if !w.IsZero() {
			// The machine's clock is the latest event's time.
			cmds = append(cmds, wakeCmd(w.Sub(m.machine.Now), w))
		}
	}
	if f := m.machine.Failure; f != nil && f.Node != "" && m.machine.Pause != nil {
		// The failure dialog shows the node's last service log lines.
		if sl := m.svcLogs[f.Node]; !sl.loading && sl.at.Before(f.At) {
			cmds = append(cmds, m.readServiceLog(f.Node))
		}
	}
	return m, tea.Batch(cmds...)
}

// readServiceLog marks node's log as being read and returns the read;
// nothing while a read of it is under way.
func (m *Model) readServiceLog(node string) tea.Cmd {
	if m.eng == nil || m.svcLogs[node].loading {
		return nil
	}
	sl := m.svcLogs[node]
	sl.loading = true
	m.setServiceLog(node, sl)
	return serviceLogCmd(m.eng, node)
}

// setServiceLog replaces the logs with node's set to sl.
func (m *Model) setServiceLog(node string, sl serviceLog) {
	next := make(map[string]serviceLog, len(m.svcLogs)+1)
	for k, v := range m.svcLogs {
		next[k] = v
	}
	next[node] = sl
	m.svcLogs = next
}

// openDetail opens a node's detail and reads its service log: the
// failing node's while a failure waits for a choice (its dialog points
// there), else the one selected in the table.
func (m Model) openDetail() (tea.Model, tea.Cmd) {
	names := m.nodeNames()
	if m.stage != stageRunning && m.stage != stageLooking || len(names) == 0 {
		m.notice = "no node to show yet"
		return m, nil
	}
	node := names[min(m.nodes.cursor, len(names)-1)]
	if f := m.machine.Failure; f != nil && f.Node != "" && m.machine.Pause != nil {
		node = f.Node
	}
	m.detail.Open(node)
	return m, m.readServiceLog(node)
}

// onDetailKey: the detail takes the keys while open; q and ? still work,
// and nothing else (no dialog key acts on a dialog out of sight).
func (m Model) onDetailKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Quit):
		m.detail.Open("")
		return m.requestQuit(false)
	case key.Matches(msg, m.keys.Help):
		m.help.Open()
		return m, nil
	case key.Matches(msg, m.detail.KeyMap.Reload):
		return m, m.readServiceLog(m.detail.Node())
	}
	f := m.frame()
	d := m.detail
	d.SetSize(m.width, m.bodyHeight())
	m.detail, _ = updateIn(d, &f, msg)
	return m, nil
}

func (m *Model) onFinished() tea.Cmd {
	if m.quitting && !m.closing {
		m.closing = true
		return closeCmd(m.eng, m.seq, m.machine.Clone())
	}
	return nil
}

func (m Model) outcomeLines() []string {
	mc := m.machine
	var out []string
	switch mc.ExitCode {
	case runbook.ExitOK:
		out = append(out, fmt.Sprintf("nwroll: cluster %s: %s", mc.Plan.Cluster, mc.Reason))
	default:
		out = append(out, fmt.Sprintf("nwroll: cluster %s: exit %d: %s", mc.Plan.Cluster, mc.ExitCode, mc.Reason))
	}
	for _, l := range mc.Summary().Lines() {
		out = append(out, "  "+l)
	}
	if m.journal != "" {
		out = append(out, "journal: "+m.journal)
	}
	if mc.LastSysdump != "" {
		out = append(out, "last sysdump: "+mc.LastSysdump+" (open it with: nwroll view "+mc.LastSysdump+")")
	}
	if mc.ExitCode == runbook.ExitFailed && m.continueHint() != "" && !m.allDone() {
		out = append(out, "continue with: "+m.continueHint())
	}
	return out
}

func (m Model) allDone() bool {
	for _, s := range m.machine.Steps {
		if s.Status != runbook.StatusDone && s.Status != runbook.StatusSkipped {
			return false
		}
	}
	return true
}

func (m Model) onTick(msg tickMsg) (tea.Model, tea.Cmd) {
	m.now = msg.at
	cmds := []tea.Cmd{tickCmd()}
	if m.stage == stageLooking && !m.refreshing && !m.closing && m.now.Sub(m.machine.Latest.TakenAt) >= machineTick {
		m.refreshing = true
		cmds = append(cmds, refreshCmd(m.eng))
	}
	if m.stage != stageRunning || m.closing || m.switching {
		return m, tea.Batch(cmds...)
	}
	if !m.machine.Finished && (m.machine.Gate.Open || m.now.Sub(m.lastMachTick) >= machineTick-tickEvery/2) {
		m.lastMachTick = m.now
		var cmd tea.Cmd
		m, cmd = m.feed(runbook.Tick{Now: m.now})
		cmds = append(cmds, cmd)
	}
	if !m.refreshing && m.now.Sub(m.machine.Latest.TakenAt) >= machineTick {
		m.refreshing = true
		cmds = append(cmds, refreshCmd(m.eng))
	}
	if node := m.detail.Node(); node != "" && tailing(&m.machine, node) {
		// Tail the log of a node that is restarting.
		if sl := m.svcLogs[node]; !sl.loading && m.now.Sub(sl.at) >= tailEvery {
			cmds = append(cmds, m.readServiceLog(node))
		}
	}
	return m, tea.Batch(cmds...)
}

// ---- keys ----

// onKey routes a key: ctrl+c first, whatever is open; the help page or
// the viewer take every other key while one is open. Then the global keys
// (while a question is open only q and ?, and none for the quit question,
// whose q means stay), the dialog's, and last the focused pane's.
func (m Model) onKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	m.notice = ""
	switch {
	case key.Matches(msg, m.keys.ForceQuit):
		return m.requestQuit(true)
	case m.help.Visible():
		m.help, _ = m.help.Update(msg)
		return m, nil
	case m.detail.Node() != "":
		return m.onDetailKey(msg)
	case m.log.Typing():
		var cmd tea.Cmd
		m.log, cmd = m.log.Update(msg)
		return m, cmd
	case m.viewer != nil:
		if !m.viewer.Capturing() && key.Matches(msg, m.keys.Help) {
			m.help.Open()
			return m, nil
		}
		v, cmd := m.viewer.Update(msg)
		m.viewer = &v
		return m, cmd
	}
	f := m.frame()
	asking := m.dialog.in(&f).asking()
	if !asking || !m.dialog.askQuit && key.Matches(msg, m.keys.Quit, m.keys.Help) {
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m.requestQuit(false)
		case key.Matches(msg, m.keys.Help):
			m.help.Open()
			return m, nil
		case key.Matches(msg, m.keys.NextPane):
			m.setFocus((m.focus + 1) % focusCount)
			return m, nil
		case key.Matches(msg, m.keys.PrevPane):
			m.setFocus((m.focus + focusCount - 1) % focusCount)
			return m, nil
		case key.Matches(msg, m.keys.View):
			return m.openViewer()
		case key.Matches(msg, m.log.Filter):
			m.setFocus(focusLog)
			return m, m.log.StartFilter()
		case key.Matches(msg, m.keys.Detail):
			return m.openDetail()
		}
		if !m.switching {
			if next, cmd, ok := m.onRecoveryKey(msg); ok {
				return next, cmd
			}
		}
	}
	placed, _ := m.placeDialog(&f, lipgloss.Height(m.nodes.in(&f).View()))
	m.dialog.SetSize(placed.w, placed.h)
	m.dialog, _ = updateIn(m.dialog, &f, msg)
	if d := m.dialog.Decision(); d.taken {
		return m.decide(d)
	}
	if asking {
		return m, nil
	}
	var cmd tea.Cmd
	switch m.focus {
	case focusNodes:
		if key.Matches(msg, m.detail.KeyMap.Open) {
			return m.openDetail()
		}
		m.nodes, cmd = updateIn(m.nodes, &f, msg)
	case focusRunbook:
		m.runbook, cmd = m.runbook.Update(msg)
	case focusLog:
		m.log, cmd = m.log.Update(msg)
	}
	return m, cmd
}

// decide acts on what a key on the dialog decided.
func (m Model) decide(d decision) (tea.Model, tea.Cmd) {
	switch {
	case d.quit:
		return m.quitNow()
	case d.act != 0:
		if !m.machine.IsAllowed(d.act) {
			m.notice = fmt.Sprintf("%s is not possible now", d.act)
			return m, nil
		}
		return m.feed(runbook.ActionEvent(d.act, d.step, m.deps.Operator, m.now))
	}
	m.notice = d.notice
	return m, nil
}

// requestQuit quits at once when nothing is under way, and asks first
// while a rollout is. A third ctrl+c while the machine winds down forces
// the exit; the journal still says where it stopped.
func (m Model) requestQuit(ctrlC bool) (tea.Model, tea.Cmd) {
	running := m.stage == stageRunning && !m.machine.Finished
	switch {
	case m.closing:
		return m, nil
	case m.quitting && ctrlC:
		m.forceCount++
		if m.forceCount >= 2 {
			m.forced = true
			return m, tea.Quit
		}
		m.notice = "finishing the operations in flight so no node is left stopped; ctrl+c again to force"
		return m, nil
	case m.quitting:
		return m, nil
	case running && (m.machine.Busy() || m.machine.LockHeld() || m.machine.Phase > runbook.PhaseLock):
		m.dialog.AskQuit()
		return m, nil
	case running:
		return m.quitNow()
	}
	m.closing = true
	return m, closeCmd(m.eng, m.seq, m.machine.Clone())
}

// onStopSignal: nobody may be there to answer the quit question, so the
// console quits as a confirmed q would: effects in flight finish, a stopped
// node is started, the journal says where the run stopped. Two more
// signals while it winds down force the exit.
func (m Model) onStopSignal(s StopSignal) (tea.Model, tea.Cmd) {
	if m.quitting {
		return m.requestQuit(true)
	}
	if m.stage == stageRunning && !m.machine.Finished {
		m.dialog.askQuit = false
		m.notice = s.Name + ": quitting safely: finishing the operations in flight so no node is left stopped"
		return m.quitNow()
	}
	return m.requestQuit(false)
}

// quitNow feeds Quit: effects in flight finish, a stopped node is started,
// the lock stays for resume, and the program exits once the machine is done.
func (m Model) quitNow() (tea.Model, tea.Cmd) {
	m.quitting = true
	next, cmd := m.feed(runbook.ActionEvent(runbook.ActQuit, "", m.deps.Operator, m.now))
	return next, cmd
}

func (m Model) openViewer() (tea.Model, tea.Cmd) {
	path := m.machine.LastSysdump
	if path == "" {
		m.notice = "no sysdump in this run yet: press s to take one"
		return m, nil
	}
	names := map[string]string{}
	for _, n := range m.machine.Plan.Nodes {
		names[n.NodeID] = n.Name
	}
	base := m.machine.Sysdumps[runbook.SysdumpBaseline]
	if base == path {
		base = ""
	}
	v := viewer.New(*m.st, viewer.Options{Path: path, Baseline: base, NodeNames: names, Embedded: true})
	v.SetSize(m.width, m.bodyHeight())
	m.viewer = &v
	return m, v.Init()
}

// ---- layout and view ----

func (m Model) tooSmall() bool { return m.width < minWidth || m.height < minHeight }

// bodyHeight is the height between the header and the status bar.
func (m Model) bodyHeight() int { return max(0, m.height-headerHeight-statusHeight) }

// layout pushes sizes into the panes: the node table on top, the runbook
// and the log side by side when wide, stacked when not.
func (m *Model) layout() {
	if m.width == 0 {
		return
	}
	body := m.bodyHeight()
	tableH := min(len(m.nodeNames())+3, max(6, body/3))
	rest := max(4, body-tableH)
	m.nodes.SetSize(m.width, tableH)
	if m.wide() {
		rbW := m.width * 55 / 100
		m.runbook.SetSize(rbW, rest)
		m.log.SetSize(m.width-rbW, rest)
	} else {
		rbH := rest * 3 / 5
		m.runbook.SetSize(m.width, rbH)
		m.log.SetSize(m.width, rest-rbH)
	}
	m.help.SetSize(m.width, body)
	if m.viewer != nil {
		m.viewer.SetSize(m.width, body)
	}
	m.status.SetWidth(m.width)
}

func (m Model) wide() bool { return m.width >= wideWidth }

// nodeNames are the inventory's nodes, in its order.
func (m Model) nodeNames() []string {
	if len(m.machine.Nodes) > 0 {
		out := make([]string, len(m.machine.Nodes))
		for i, n := range m.machine.Nodes {
			out[i] = n.Name
		}
		return out
	}
	if inv := m.deps.Env.Inventory; inv != nil {
		var out []string
		for _, n := range inv.Nodes() {
			out = append(out, n.Name)
		}
		return out
	}
	return nil
}

// View draws the whole screen.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "nwroll " + m.clusterName()
	return v
}

func (m Model) render() string {
	if m.width == 0 {
		return ""
	}
	if m.tooSmall() {
		return fmt.Sprintf("nwroll needs a terminal of at least %dx%d; this one is %dx%d. Enlarge it, or press q to quit.",
			minWidth, minHeight, m.width, m.height)
	}
	header := m.headerView()
	status := m.statusView()
	var body string
	switch {
	case m.help.Visible():
		body = m.help.View()
	case m.viewer != nil:
		body = m.viewer.View()
	case m.detail.Node() != "":
		f := m.frame()
		d := m.detail.in(&f)
		d.SetSize(m.width, m.bodyHeight())
		body = d.View()
	default:
		body = m.bodyView()
	}
	return header + "\n" + fitHeight(body, m.bodyHeight()) + "\n" + status
}

// bodyView is the node table over the runbook and the log, side by side
// when wide. A dialog takes the log's place beside the runbook (the log
// stays under it when there is room); one that would not show whole there
// (an approval's checks) goes under the table across the screen, and
// scrolls when even that is too short.
func (m Model) bodyView() string {
	f := m.frame()
	table := m.nodes.in(&f).View()
	dlg, place := m.placeDialog(&f, lipgloss.Height(table))
	if place == placeWhole {
		if full := dlg.View(); full != "" {
			return lipgloss.Place(m.width, m.bodyHeight(), lipgloss.Center, lipgloss.Center, full)
		}
	}
	h := dlg.h
	d := dlg.View()
	rb := m.runbook.in(&f)
	var lower string
	switch {
	case d != "" && place == placeBeside:
		// The runbook stays in view beside the dialog, and the log under
		// the dialog when there is room for a few of its lines.
		rbW := m.width - lipgloss.Width(d) - 2
		rb.SetSize(rbW, h)
		right := lipgloss.Place(m.width-rbW, h, lipgloss.Center, lipgloss.Center, d)
		if logH := h - lipgloss.Height(d); logH >= minLogUnderDialog {
			lg := m.log.in(&f)
			lg.SetSize(m.width-rbW, logH)
			right = lipgloss.JoinVertical(lipgloss.Left, lipgloss.PlaceHorizontal(m.width-rbW, lipgloss.Center, d), lg.View())
		}
		lower = lipgloss.JoinHorizontal(lipgloss.Top, rb.View(), right)
	case d != "":
		lower = lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, d)
	case m.wide():
		lower = lipgloss.JoinHorizontal(lipgloss.Top, rb.View(), m.log.in(&f).View())
	default:
		lower = lipgloss.JoinVertical(lipgloss.Left, rb.View(), m.log.in(&f).View())
	}
	return lipgloss.JoinVertical(lipgloss.Left, table, lower)
}

// minLogUnderDialog is the least height worth giving the log under a
// dialog beside the runbook.
const minLogUnderDialog = 8

// dialogPlace is where the dialog goes.
type dialogPlace int

const (
	placeUnder  dialogPlace = iota // under the table, across the screen
	placeBeside                    // beside the runbook, in the log's place
	placeWhole                     // the whole body: no room under the table
)

// placeDialog sizes the dialog for the body under a table tableH high:
// beside the runbook when wide and it shows whole in half the screen (or
// nowhere whole anyway), else under the table across the screen. Keys and
// the view both place it here, so a scroll key moves what is on screen.
func (m Model) placeDialog(f *frame, tableH int) (dialog, dialogPlace) {
	h := m.bodyHeight() - tableH
	dlg := m.dialog.in(f)
	if h < 8 {
		dlg.SetSize(m.width, m.bodyHeight())
		return dlg, placeWhole
	}
	place := placeUnder
	room := m.width
	if m.wide() && m.stage == stageRunning {
		half := m.width/2 + 4 // a box half the screen wide
		fitsIn := func(w int) bool { c := dlg; c.SetSize(w, h); return c.fits() }
		if fitsIn(half) || !fitsIn(m.width) {
			room, place = half, placeBeside
		}
	}
	dlg.SetSize(room, h)
	return dlg, place
}

func (m Model) clusterName() string {
	if m.machine.Plan.Cluster != "" {
		return m.machine.Plan.Cluster
	}
	if inv := m.deps.Env.Inventory; inv != nil {
		return inv.Cluster
	}
	return ""
}

// fitHeight pads or cuts s to exactly h lines.
func fitHeight(s string, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
