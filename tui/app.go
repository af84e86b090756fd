// Package tui is the console: a bubbletea program that drives the rollout
// machine with keypresses. It adds no rollout logic of its own: what may
// happen next is machine.Allowed(), what happens is the machine's effects,
// performed by the same executor.Driver as the headless runner.
package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout"
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
	// ResumeHint is the command that continues an interrupted run, shown
	// when the operator quits mid-rollout.
	ResumeHint string
	// PrepareTimeout bounds the survey (default 2m).
	PrepareTimeout time.Duration
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
	stageRefused // the survey or plan refused; nothing changed
)

// Minimum usable size.
const (
	minWidth  = 80
	minHeight = 24
)

// Model is the console's root model.
type Model struct {
	deps   Deps
	st     style.Styles
	keys   KeyMap
	help   help.Model
	isDark bool

	width, height int
	focus         focus
	showHelp      bool

	stage    stage
	eng      *engine
	machine  runbook.Machine
	seq      uint64 // dispatch batches, numbered from 1
	now      time.Time
	started  time.Time
	holder   string
	journal  string
	refused  string
	exitCode int

	lastMachTick  time.Time
	refreshing    bool
	transfers     map[string]transfer
	spin          spinner.Model
	dialogStep    runbook.StepID // the approval dialog on screen
	dialogArmed   bool
	armSeq        int
	notice        string // a one-line hint in the status bar
	lastErr       string
	askQuit       bool // the quit dialog is open
	quitting      bool // Quit fed: waiting for the machine to finish, then exit
	forceCount    int
	closing       bool
	finalMessages []string

	nodes   nodesPane
	runbook runbookPane
	log     logPane
	viewer  *viewer.Model
}

// New returns the console for deps. Nothing happens on any node until the
// operator approves a step.
func New(deps Deps) Model {
	if deps.PrepareTimeout <= 0 {
		deps.PrepareTimeout = 2 * time.Minute
	}
	m := Model{deps: deps, isDark: true, keys: DefaultKeyMap(), help: help.New(),
		transfers: map[string]transfer{}}
	m.st = style.New(m.isDark, deps.NoColor)
	m.spin = spinner.New(spinner.WithSpinner(spinner.MiniDot))
	m.nodes = newNodesPane(m.st)
	m.log = newLogPane()
	m.applyStyles()
	return m
}

// Init starts the survey, the clock and the background colour query.
func (m Model) Init() tea.Cmd {
	return tea.Batch(prepareCmd(m.deps), tickCmd(), tea.RequestBackgroundColor, m.spin.Tick)
}

// ExitCode is the run's exit code (design §1) once the program ended.
func (m Model) ExitCode() int { return m.exitCode }

// FinalMessages are the lines to print after the console closed: the
// outcome, the journal, and how to resume.
func (m Model) FinalMessages() []string { return m.finalMessages }

func (m *Model) applyStyles() {
	m.help.Styles = m.st.Help()
	m.nodes.setStyles(m.st)
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
		m.st = style.New(m.isDark, m.deps.NoColor)
		m.applyStyles()
		return m, nil
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case preparedMsg:
		return m.onPrepared(msg)
	case prepareFailedMsg:
		m.stage, m.refused, m.exitCode = stageRefused, msg.err.Error(), msg.code
		m.log = m.log.add(m.st, m.now, "", "refused: "+msg.err.Error(), true).show()
		return m, nil
	case engineMsg:
		m, cmd := m.feed(msg.ev)
		return m, tea.Batch(cmd, listenCmd(m.eng))
	case logMsg:
		for _, l := range msg.entries {
			m.log = m.log.addEntry(m.st, l)
		}
		m.log = m.log.show()
		return m, listenCmd(m.eng)
	case progressMsg:
		m.transfers = withProgress(m.transfers, msg.note)
		return m, listenCmd(m.eng)
	case refreshMsg:
		m.refreshing = false
		if m.closing || m.stage != stageRunning {
			return m, nil
		}
		return m.feed(runbook.Snapshot{Snap: msg.snap, At: msg.snap.TakenAt})
	case tickMsg:
		return m.onTick(msg)
	case armMsg:
		if msg.seq == m.armSeq && msg.step == m.dialogStep {
			m.dialogArmed = true
		}
		return m, nil
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case viewer.ClosedMsg:
		m.viewer = nil
		return m, nil
	case closedMsg:
		return m, tea.Quit
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
	m.stage = stageRunning
	m.machine, m.holder, m.journal = msg.machine, msg.holder, msg.journal
	m.now, m.started, m.lastMachTick = msg.at, msg.at, msg.at
	m.log = m.log.add(m.st, m.now, "", "journal "+m.journal, false).show()
	m.runbook = runbookPane{}
	m.layout()
	next, cmd := m.feed(runbook.Begin{At: msg.at})
	return next, tea.Batch(cmd, listenCmd(m.eng))
}

// feed hands one event to the machine and dispatches its effects.
func (m Model) feed(ev runbook.Event) (Model, tea.Cmd) {
	if m.stage != stageRunning {
		return m, nil
	}
	next, effs := runbook.Next(m.machine, ev)
	m.machine = next
	var cmds []tea.Cmd
	if len(effs) > 0 {
		m.seq++
		cmds = append(cmds, dispatchCmd(m.eng, m.seq, effs))
	}
	if _, ok := ev.(runbook.Snapshot); ok {
		cmds = append(cmds, gateLogCmd(m.eng, m.machine, ev))
	}
	if m.machine.LastError != "" {
		m.lastErr = m.machine.LastError
	}
	cmds = append(cmds, m.syncDialog())
	if m.machine.Finished {
		cmds = append(cmds, m.onFinished())
	}
	m.keys = m.keys.enableFrom(m.machine.Allowed())
	return m, tea.Batch(cmds...)
}

// syncDialog opens a fresh, unarmed approval dialog when the machine asks
// for a new approval; the dialog arms itself after armDelay.
func (m *Model) syncDialog() tea.Cmd {
	s, ok := m.machine.AwaitingApproval()
	if !ok {
		m.dialogStep, m.dialogArmed = "", false
		return nil
	}
	if s.ID == m.dialogStep {
		return nil
	}
	m.dialogStep, m.dialogArmed = s.ID, false
	m.armSeq++
	return armCmd(s.ID, m.armSeq)
}

func (m *Model) onFinished() tea.Cmd {
	m.exitCode = m.machine.ExitCode
	if len(m.finalMessages) == 0 {
		m.finalMessages = m.outcomeLines()
	}
	if m.quitting && !m.closing {
		m.closing = true
		return closeCmd(m.eng)
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
	if m.journal != "" {
		out = append(out, "journal: "+m.journal)
	}
	if mc.LastSysdump != "" {
		out = append(out, "last sysdump: "+mc.LastSysdump+" (open it with: nwroll view "+mc.LastSysdump+")")
	}
	if mc.ExitCode == runbook.ExitFailed && m.deps.ResumeHint != "" && !m.allDone() {
		out = append(out, "continue with: "+m.deps.ResumeHint)
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
	if m.stage != stageRunning || m.closing {
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
	m.transfers = expireTransfers(m.transfers, m.now)
	return m, tea.Batch(cmds...)
}

// ---- keys ----

func (m Model) onKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := msg.String()
	m.notice = ""
	if k == "ctrl+c" {
		return m.requestQuit(true)
	}
	if m.showHelp {
		if key.Matches(msg, m.keys.Help, m.keys.Back) || k == "q" {
			m.showHelp = false
		}
		return m, nil
	}
	if m.viewer != nil {
		if !m.viewer.Capturing() && key.Matches(msg, m.keys.Help) {
			m.showHelp = true
			return m, nil
		}
		v, cmd := m.viewer.Update(msg)
		m.viewer = &v
		return m, cmd
	}
	if m.askQuit {
		switch {
		case k == "y":
			m.askQuit = false
			return m.quitNow()
		case key.Matches(msg, m.keys.Cancel), k == "enter", k == "q":
			m.askQuit = false
		}
		return m, nil
	}
	if m.stage == stageRunning && !m.machine.Finished {
		if next, cmd, handled := m.onRolloutKey(msg); handled {
			return next, cmd
		}
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m.requestQuit(false)
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
	case key.Matches(msg, m.keys.NextPane):
		m.focus = (m.focus + 1) % focusCount
		m.layout()
	case key.Matches(msg, m.keys.PrevPane):
		m.focus = (m.focus + focusCount - 1) % focusCount
		m.layout()
	case key.Matches(msg, m.keys.View):
		return m.openViewer()
	default:
		m.scrollFocused(msg)
	}
	return m, nil
}

// onRolloutKey handles the keys that act on the machine. An action the
// machine does not allow now is ignored, with a word why.
func (m Model) onRolloutKey(msg tea.KeyPressMsg) (Model, tea.Cmd, bool) {
	k := msg.String()
	mc := m.machine
	act := func(a runbook.Action, step runbook.StepID) (Model, tea.Cmd, bool) {
		if !mc.IsAllowed(a) {
			m.notice = fmt.Sprintf("%s is not possible now", a)
			return m, nil, true
		}
		next, cmd := m.feed(runbook.ActionEvent(a, step, m.deps.Operator, m.now))
		return next, cmd, true
	}
	if mc.AbortAsked {
		switch {
		case k == "y":
			return act(runbook.ActAbortConfirm, "")
		case key.Matches(msg, m.keys.Cancel), k == "enter":
			return act(runbook.ActCancel, "")
		}
		return m, nil, k != "q" && k != "?"
	}
	if s, ok := mc.AwaitingApproval(); ok {
		switch {
		case k == "y":
			if msg.IsRepeat || !m.dialogArmed || s.ID != m.dialogStep {
				m.notice = "this dialog has just opened: read it, then press y"
				return m, nil, true
			}
			return act(runbook.ActApprove, s.ID)
		case key.Matches(msg, m.keys.Cancel), k == "enter":
			return act(runbook.ActCancel, "")
		}
	}
	switch {
	case key.Matches(msg, m.keys.Abort):
		return act(runbook.ActAbort, "")
	case key.Matches(msg, m.keys.KeepWaiting) && mc.Pause != nil:
		return act(runbook.ActKeepWaiting, "")
	case key.Matches(msg, m.keys.Retry) && mc.Pause != nil:
		return act(runbook.ActRetry, "")
	case key.Matches(msg, m.keys.Continue) && mc.Pause != nil:
		return act(runbook.ActContinue, "")
	case key.Matches(msg, m.keys.Sysdump):
		return act(runbook.ActSysdump, "")
	case key.Matches(msg, m.keys.RollbackNode):
		return act(runbook.ActRollbackNode, "")
	case key.Matches(msg, m.keys.RollbackAll):
		return act(runbook.ActRollbackAll, "")
	case k == "esc" && mc.IsAllowed(runbook.ActCancel):
		return act(runbook.ActCancel, "")
	}
	return m, nil, false
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
			m.finalMessages = append(m.finalMessages, "nwroll: forced to quit while effects were in flight; check the nodes with `nwroll status` and continue with: "+m.deps.ResumeHint)
			m.exitCode = runbook.ExitFailed
			return m, tea.Quit
		}
		m.notice = "finishing the operations in flight so no node is left stopped; ctrl+c again to force"
		return m, nil
	case m.quitting:
		return m, nil
	case running && (m.machine.Busy() || m.machine.LockHeld() || m.machine.Phase > runbook.PhaseLock):
		m.askQuit = true
		return m, nil
	case running:
		return m.quitNow()
	}
	m.closing = true
	if m.stage == stageRefused {
		m.finalMessages = []string{"nwroll: " + m.refused}
	}
	return m, closeCmd(m.eng)
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
	v := viewer.New(m.st, viewer.Options{Path: path, Baseline: base, NodeNames: names, Embedded: true})
	v.SetSize(m.width, m.bodyHeight())
	m.viewer = &v
	return m, v.Init()
}

func (m *Model) scrollFocused(msg tea.KeyPressMsg) {
	switch m.focus {
	case focusNodes:
		m.nodes = m.nodes.scroll(m.keys, msg)
	case focusRunbook:
		m.runbook = m.runbook.scroll(m.keys, msg)
	case focusLog:
		m.log = m.log.scroll(m.keys, msg)
	}
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
	m.nodes.setSize(m.st, m.width, tableH, m.focus == focusNodes)
	if m.wide() {
		rbW := m.width * 55 / 100
		m.runbook = m.runbook.setSize(rbW, rest)
		m.log = m.log.setSize(m.width-rbW, rest)
	} else {
		rbH := rest * 3 / 5
		m.runbook = m.runbook.setSize(m.width, rbH)
		m.log = m.log.setSize(m.width, rest-rbH)
	}
	if m.viewer != nil {
		m.viewer.SetSize(m.width, body)
	}
	m.help.SetWidth(m.width)
}

func (m Model) wide() bool { return m.width >= 110 }

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
	case m.showHelp:
		body = m.helpView()
	case m.viewer != nil:
		body = m.viewer.View()
	default:
		body = m.bodyView()
	}
	return header + "\n" + fitHeight(body, m.bodyHeight()) + "\n" + status
}

func (m Model) bodyView() string {
	table := m.nodes.view(m.st, m.tableRows(), m.focus == focusNodes)
	h := m.bodyHeight() - lipgloss.Height(table)
	rb := func(w, h int) string {
		return m.runbook.setSize(w, h).view(m.st, m.machine, m.now, m.transfers, m.spin.View(), m.focus == focusRunbook)
	}
	var lower string
	d := m.dialogView(h)
	if d != "" && lipgloss.Height(d) > h || h < 8 {
		// Not enough room under the table: the dialog takes the whole body.
		if full := m.dialogView(m.bodyHeight()); full != "" {
			return lipgloss.Place(m.width, m.bodyHeight(), lipgloss.Center, lipgloss.Center, full)
		}
	}
	switch {
	case d != "" && m.wide() && m.stage == stageRunning:
		// The runbook stays in view beside the dialog.
		rbW := m.width - lipgloss.Width(d) - 2
		lower = lipgloss.JoinHorizontal(lipgloss.Top, rb(rbW, h), lipgloss.Place(m.width-rbW, h, lipgloss.Center, lipgloss.Center, d))
	case d != "":
		lower = lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, d)
	case m.wide():
		lower = lipgloss.JoinHorizontal(lipgloss.Top, rb(m.runbook.w, m.runbook.h), m.log.view(m.st, m.focus == focusLog))
	default:
		lower = lipgloss.JoinVertical(lipgloss.Left, rb(m.runbook.w, m.runbook.h), m.log.view(m.st, m.focus == focusLog))
	}
	return lipgloss.JoinVertical(lipgloss.Left, table, lower)
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

// hint renders "key action" pairs for dialogs and the status bar.
func (m Model) hint(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, m.st.Key.Render(pairs[i])+" "+pairs[i+1])
	}
	return strings.Join(parts, "  ")
}
