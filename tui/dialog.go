package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// dialog is the dialog on screen: the refusal, the quit and abort
// questions, the approval of a step, and the choices after a failure. What
// it shows and which keys act come from the frame's machine; the dialog
// keeps only the console's own state: whether the quit question is open,
// and which approval (Machine.ApprovalSeq) it showed and armed.
//
// A key on the dialog becomes a decision (Decision) that the root acts on
// in the same Update, so no later key can land between the two: a y
// pressed twice never approves two steps.
type dialog struct {
	KeyMap dialogKeyMap
	st     *style.Styles
	inv    *inventory.Inventory // the nodes' own paths, for the commands shown
	w, h   int                  // the room: the screen's width and the lines it may take

	Scroll      scroll.Keys // scroll a dialog taller than its room
	offset      int         // how far the dialog named scrolledFor is scrolled
	scrolledFor string

	askQuit bool   // the quit question is open
	shown   uint64 // the approval on screen: its keys arm armDelay after it opened
	armed   uint64 // the approval whose keys are armed
	decided decision
	f       *frame
}

// decision is what a key on the dialog asks of the console.
type decision struct {
	taken  bool           // the key was the dialog's: nothing else sees it
	act    runbook.Action // an action to feed the machine, if any
	step   runbook.StepID // the step waiting for approval, if any (an approval approves it)
	quit   bool           // quit safely (the quit question's y)
	notice string         // a word for the status bar
}

func newDialog(st *style.Styles, inv *inventory.Inventory) dialog {
	return dialog{KeyMap: defaultDialogKeyMap(), Scroll: paneKeys(), st: st, inv: inv}
}

func (d dialog) in(f *frame) dialog { d.f = f; return d }

func (d *dialog) SetStyles(st *style.Styles) { d.st = st }

// SetSize gives the dialog the screen's width and the lines it may take.
func (d *dialog) SetSize(w, h int) { d.w, d.h = w, h }

// AskQuit opens the quit question.
func (d *dialog) AskQuit() { d.askQuit = true }

// Decision is what the last key passed to Update decided.
func (d dialog) Decision() decision { return d.decided }

// Follow opens the approval the machine waits for now: a new approval
// shows unarmed, and its keys arm after armDelay (armCmd). An approval
// that left the screen (a pause, a decline) arms anew when it is back.
func (d dialog) Follow(mc *runbook.Machine) (dialog, tea.Cmd) {
	if _, ok := mc.AwaitingApproval(); !ok {
		d.shown, d.armed = 0, 0
		return d, nil
	}
	seq := mc.ApprovalSeq()
	if seq == d.shown {
		return d, nil
	}
	d.shown, d.armed = seq, 0
	return d, armCmd(seq)
}

// Update arms the approval on screen (armMsg), and turns a key into a
// decision.
func (d dialog) Update(msg tea.Msg) (dialog, tea.Cmd) {
	d.decided = decision{}
	switch msg := msg.(type) {
	case armMsg:
		if msg.seq == d.shown {
			d.armed = msg.seq
		}
	case tea.KeyPressMsg:
		if d.f != nil {
			d.decided = d.onKey(msg)
		}
	}
	return d, nil
}

// armedNow reports whether the approval on screen takes y.
func (d dialog) armedNow() bool {
	_, ok := d.f.mc.AwaitingApproval()
	return ok && d.armed != 0 && d.armed == d.f.mc.ApprovalSeq()
}

// asking is true while a question (quit, abort) is open: it takes every
// key it knows, and the status bar shows only its own.
func (d dialog) asking() bool { return d.askQuit || d.f.running() && d.f.mc.AbortAsked }

func (d *dialog) onKey(msg tea.KeyPressMsg) decision {
	k := d.keys()
	if d.askQuit {
		switch {
		case key.Matches(msg, k.QuitYes):
			d.askQuit = false
			return decision{taken: true, quit: true}
		case key.Matches(msg, k.QuitNo):
			d.askQuit = false
		}
		return decision{taken: true}
	}
	if d.onScrollKey(msg) {
		return decision{taken: true}
	}
	mc := d.f.mc
	s, awaiting := mc.AwaitingApproval()
	if key.Matches(msg, k.Approve) && (msg.IsRepeat || !d.armedNow()) {
		return decision{taken: true, notice: "this dialog has just opened: read it, then press y"}
	}
	if n := d.unseen(); n > 0 && awaiting && key.Matches(msg, k.Approve) {
		return decision{taken: true, notice: fmt.Sprintf("read the whole step first: %d more lines below (↓/pgdn, G for the end)", n)}
	}
	for _, a := range k.actions(mc.AbortAsked, awaiting) {
		if key.Matches(msg, *a.b) {
			return decision{taken: true, act: a.act, step: s.ID}
		}
	}
	return decision{}
}

// onScrollKey scrolls a dialog taller than its room; it reports whether
// the key was a scroll key and the dialog scrolls.
func (d *dialog) onScrollKey(msg tea.KeyPressMsg) bool {
	v, ok := d.scrolled()
	if !ok || !v.scrolls() {
		return false
	}
	off, ok := d.Scroll.Move(msg, v.off, max(1, v.room-1), len(v.body)-v.room)
	if ok {
		d.offset, d.scrolledFor = off, d.identity()
	}
	return ok
}

// keys is the key map with each binding enabled only while it acts: the
// quit question's keys while it is open; else, while the machine runs,
// those of the actions it allows now (actions).
func (d dialog) keys() dialogKeyMap {
	k := d.KeyMap
	for _, b := range k.all() {
		b.SetEnabled(false)
	}
	switch {
	case d.askQuit:
		k.QuitYes.SetEnabled(true)
		k.QuitNo.SetEnabled(true)
		return k
	case !d.f.running():
		return k
	}
	mc := d.f.mc
	_, awaiting := mc.AwaitingApproval()
	for _, a := range k.actions(mc.AbortAsked, awaiting) {
		a.b.SetEnabled(a.when && mc.IsAllowed(a.act))
	}
	return k
}

// ShortHelp is the keys that act now; y only once the approval armed.
func (d dialog) ShortHelp() []key.Binding {
	k := d.keys()
	if !d.armedNow() {
		k.Approve.SetEnabled(false)
	}
	return k.ShortHelp()
}

// FullHelp is every rollout key.
func (d dialog) FullHelp() [][]key.Binding { return d.KeyMap.FullHelp() }

// View is the dialog on screen, or "" when none is, as wide as its room
// allows (96 at most) and no taller than the height given to SetSize. One
// too long for its room scrolls between its title and its keys, which
// always stay, with a line that says where it is and what is below.
func (d dialog) View() string {
	v, ok := d.scrolled()
	if !ok {
		return ""
	}
	lines := append([]string{v.head}, v.body[v.off:v.off+v.room]...)
	if v.scrolls() {
		lines = append(lines, d.scrollHint(v))
	}
	lines = append(lines, v.tail...)
	return v.border.Width(d.boxWidth()).Render(strings.Join(lines, "\n"))
}

// dialogView is the open dialog cut in three: its title, the body that
// scrolls (room lines of it in view from off) and the keys.
type dialogView struct {
	border    lipgloss.Style
	head      string
	body      []string
	tail      []string
	off, room int
	squeezed  bool // its blank lines left out, to fit
}

func (v dialogView) scrolls() bool { return len(v.body) > v.room }

// below is how many lines of the body are below the view.
func (v dialogView) below() int { return len(v.body) - v.off - v.room }

// scrolled is the open dialog at its size, scrolled to its offset (kept
// only for the dialog it was scrolled on).
func (d dialog) scrolled() (dialogView, bool) {
	if d.f == nil {
		return dialogView{}, false
	}
	w := d.boxWidth() - 4
	border, lines, ok := d.content(w)
	if !ok {
		return dialogView{}, false
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = wrap(l, w) // a title or a key line longer than the box
		}
	}
	lines = explodeLines(lines)
	tail := 1
	if d.f.mc.Pause != nil && !d.asking() {
		tail = len(d.pauseChoices()) + 1
	}
	tail = min(tail, len(lines)-1)
	v := dialogView{border: border, head: lines[0], body: lines[1 : len(lines)-tail], tail: lines[len(lines)-tail:]}
	v.room = len(v.body)
	if h := d.h - 2; h > 0 && 1+len(v.body)+len(v.tail) > h {
		v.body = slices.DeleteFunc(v.body, func(l string) bool { return strings.TrimSpace(ansiStrip(l)) == "" })
		v.room, v.squeezed = len(v.body), true
		if 1+len(v.body)+len(v.tail) > h {
			v.room = max(1, h-1-len(v.tail)-1) // the scroll hint takes a line
		}
	}
	if d.scrolledFor == d.identity() {
		v.off = max(0, min(d.offset, len(v.body)-v.room))
	}
	return v, true
}

// scrollHint says which lines are in view and how to see the others.
func (d dialog) scrollHint(v dialogView) string {
	where := fmt.Sprintf("lines %d–%d of %d", v.off+1, v.off+v.room, len(v.body))
	if n := v.below(); n > 0 {
		return d.st.Warn.Render(fmt.Sprintf("↓ %d more below (↓/pgdn) · %s", n, where))
	}
	return d.st.Dim.Render("↑/pgup scrolls back · " + where)
}

// identity names the dialog open now, so a scroll belongs to it alone.
func (d dialog) identity() string {
	mc := d.f.mc
	var pause string
	if p := mc.Pause; p != nil {
		pause = fmt.Sprint(p.Kind, p.Text)
	}
	return fmt.Sprint(d.f.stage, d.askQuit, mc.AbortAsked, mc.ApprovalSeq(), pause)
}

// unseen is how many lines of the open dialog are below its view.
func (d dialog) unseen() int {
	if v, ok := d.scrolled(); ok && v.scrolls() {
		return v.below()
	}
	return 0
}

// fits reports whether the dialog shows whole at its size: unscrolled,
// its blank lines kept.
func (d dialog) fits() bool {
	v, ok := d.scrolled()
	return ok && !v.scrolls() && !v.squeezed
}

func (d dialog) boxWidth() int { return min(d.w-4, 96) }

// content is the open dialog's border and lines, w wide inside the
// border: its title first and its keys last. ok is false when no dialog
// is open.
func (d dialog) content(w int) (border lipgloss.Style, lines []string, ok bool) {
	st, mc := d.st, d.f.mc
	switch {
	case d.f.stage == stageRefused:
		return st.DialogDanger, []string{
			st.DialogTitle.Render(style.GlyphFail + " nwroll refused to start; nothing on any node was changed"), "",
			wrap(d.f.refused, w), "",
			d.hint("q", "quit")}, true
	case d.f.stage == stageChoosing:
		return st.DialogDanger, d.unfinishedLines(d.f.unfinished, w), true
	case d.f.stage == stageLocked:
		return st.DialogDanger, d.lockedLines(d.f.locked, w), true
	case d.askQuit:
		return st.DialogDanger, []string{
			st.DialogTitle.Render("Quit in the middle of the rollout?"), "",
			wrap("Operations in flight finish first, and a node this run stopped is started again. The lock stays on the nodes so you can continue later"+
				resumeSuffix(d.f.hint)+".", w), "",
			d.hint("y", "quit safely", "n/esc", "stay (default)")}, true
	case mc.AbortAsked:
		return st.DialogDanger, append(append([]string{
			st.DialogTitle.Render("Abort the rollout?"), "",
			wrap("Nothing new starts. Operations in flight finish, a stopped node is started again and passes its gates, "+
				"then the lock is released. Upgraded nodes stay upgraded; `nwroll rollback` undoes them later.", w), ""},
			d.abortEndLines(w)...),
			d.hint("y", "abort", "n/esc", "keep going (default)")), true
	}
	if s, ok := mc.AwaitingApproval(); ok {
		return st.Dialog, d.approvalLines(s, w), true
	}
	if p := mc.Pause; p != nil {
		return st.DialogDanger, d.pauseLines(*p, w), true
	}
	if d.f.stage == stageRunning && mc.Finished {
		border, lines := d.endLines(w)
		return border, lines, true
	}
	return lipgloss.Style{}, nil, false
}

// abortEndLines are the run's last step as the abort would run it, from
// its definition: the staged target it removes (this confirmation covers
// it), the lock it releases.
func (d dialog) abortEndLines(w int) []string {
	end, ok := d.f.mc.AbortEnd()
	if !ok || len(end.Does) == 0 {
		return nil
	}
	lines := []string{d.st.Bold.Render("Then: " + end.Title)}
	for _, l := range end.Does {
		lines = append(lines, wrapHang("  - ", l, w))
	}
	return append(lines, "")
}

// explodeLines splits multi-line entries into lines.
func explodeLines(lines []string) []string {
	var split []string
	for _, l := range lines {
		split = append(split, strings.Split(l, "\n")...)
	}
	return split
}

// approvalLines: what will happen, on which node, with which commands;
// the gate values that justify it; the quorum arithmetic; the checks that
// must pass afterwards. Every word comes from the step's definition as it
// stands now (rollout's Machine.Text).
func (d dialog) approvalLines(s runbook.StepState, w int) []string {
	st, mc := d.st, d.f.mc
	tx, _ := mc.Text(s.ID)
	title := fmt.Sprintf("Approve step %d of %d: %s", stepNumber(mc, s.ID), len(mc.Steps), tx.Title)
	lines := []string{st.DialogTitle.Render(title), ""}
	g := mc.Gate
	live := g.Open && g.Step == s.ID && len(g.Results()) > 0
	quorumLive := live && g.Name == runbook.GateQuorum && len(g.Results()) == 1
	switch {
	case quorumLive:
		// The live quorum check is this line: its glyph, and why not.
		c := g.Results()[0]
		lines = append(lines, wrapHang(st.Bold.Render("Quorum: ")+glyphOf(st, c.OK)+" ", tx.Quorum, w))
		if !c.OK {
			for _, r := range c.Reasons {
				lines = append(lines, wrapHang("  ", st.Fail.Render(strings.TrimPrefix(r, c.Summary+": ")), w))
			}
		}
		lines = append(lines, "")
	case tx.Quorum != "":
		lines = append(lines, wrapHang(st.Bold.Render("Quorum: "), tx.Quorum, w), "")
	}
	if tx.Node != "" {
		lines = append(lines, st.Bold.Render("On "+tx.Node+":"))
	} else {
		lines = append(lines, st.Bold.Render("What happens:"))
	}
	for _, line := range tx.Does {
		lines = append(lines, wrapHang("  - ", d.concretePaths(line, tx.Node), w))
	}
	if live && !quorumLive {
		lines = append(lines, "", st.Bold.Render(fmt.Sprintf("Gate %s, now:", g.Name)))
		for _, c := range g.Results() {
			lines = append(lines, checkLine(st, c, w))
		}
	}
	if g := tx.Gate; g != nil {
		lines = append(lines, "", st.Dim.Render(upperFirst(g.Heading())+":"))
		for _, c := range g.Checks {
			lines = append(lines, st.Dim.Render(wrapHang("  · ", d.concretePaths(c, tx.Node), w)))
		}
	}
	lines = append(lines, "")
	if d.armedNow() {
		lines = append(lines, d.hint("y", "approve", "n/esc/enter", "cancel (default)", "a", "abort"))
	} else {
		lines = append(lines, st.Dim.Render("read the step; the keys arm in a moment…"))
	}
	return lines
}

func (d dialog) pauseLines(p runbook.Pause, w int) []string {
	st, mc := d.st, d.f.mc
	var lines []string
	switch p.Kind {
	case runbook.PauseFailure:
		f := mc.Failure
		lines = append(lines, st.DialogTitle.Render(style.GlyphFail+" "+pauseTitle(f)), "")
		if f != nil {
			reason := f.Reason
			if head, _, ok := strings.Cut(reason, ": "); ok && len(f.Checks) > 0 {
				reason = head + ":" // the failing checks below say why
			}
			lines = append(lines, wrap(reason, w))
			// The failing checks first: on a short screen the cut takes
			// the ones that hold.
			checks := slices.Clone(f.Checks)
			slices.SortStableFunc(checks, func(a, b health.CheckResult) int { return cmp.Compare(btoi(a.OK), btoi(b.OK)) })
			for _, c := range checks {
				lines = append(lines, checkLine(st, c, w))
			}
			switch {
			case f.SysdumpPending:
				lines = append(lines, "", st.Running.Render("taking a sysdump of the failure first…"))
			case f.Sysdump != "":
				lines = append(lines, "", "sysdump: "+f.Sysdump+st.Dim.Render("  (v opens it)"))
			case f.SysdumpErr != "":
				lines = append(lines, "", st.Warn.Render("sysdump failed: "+f.SysdumpErr))
			}
			lines = append(lines, d.failureLogLines(f.Node, w)...)
		}
		lines = append(lines, "", st.Dim.Render("nwroll never carries on by itself. Choose:"))
	case runbook.PauseDeclined:
		lines = append(lines, st.DialogTitle.Render(upperFirst(p.Text)), "", "Nothing was done. Choose:")
	case runbook.PauseRolledBack:
		lines = append(lines, st.DialogTitle.Render(style.GlyphRollback+" "+p.Text), "", "Choose:")
	default:
		lines = append(lines, st.DialogTitle.Render(p.Text))
	}
	lines = append(lines, d.pauseChoices()...)
	return lines
}

// failureLogTail is how many lines of the failing node's service log the
// failure dialog shows; its detail (i) shows them all.
const failureLogTail = 8

// failureLogLines are the failing node's last service log lines, so "why
// won't it become ready" has an answer on the screen.
func (d dialog) failureLogLines(node string, w int) []string {
	if node == "" {
		return nil
	}
	st, sl := d.st, d.f.logs[node]
	head := fmt.Sprintf("%s's service log", node)
	switch {
	case sl.at.IsZero():
		return []string{"", st.Dim.Render(head + ": reading…")}
	case sl.err != "":
		return []string{"", st.Dim.Render(head + ": "), st.Warn.Render(wrapHang("  ", sl.err, w))}
	}
	tail := sl.lines[max(0, len(sl.lines)-failureLogTail):]
	out := []string{"", st.Bold.Render(fmt.Sprintf("%s, its last %d lines", head, len(tail))) + st.Dim.Render(" (i shows more)")}
	for _, l := range tail {
		out = append(out, st.Dim.Render(wrapHang("  ", l, w)))
	}
	return out
}

// stepNumber is the step's position in the runbook as it stands (the
// machine moves a node that became the leader to the end of its phase).
func stepNumber(mc *runbook.Machine, id runbook.StepID) int {
	for i, s := range mc.Steps {
		if s.ID == id {
			return i + 1
		}
	}
	return 0
}

func pauseTitle(f *runbook.Failure) string {
	if f == nil {
		return "The rollout is paused"
	}
	node := ""
	if f.Node != "" {
		node = " on " + f.Node
	}
	return fmt.Sprintf("%s%s at step %s", upperFirst(f.Kind.String()), node, f.Step)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// pauseChoices lists the allowed decisions, one per line.
func (d dialog) pauseChoices() []string {
	k := d.KeyMap
	var out []string
	for _, c := range []struct {
		act  runbook.Action
		key  string
		text string
	}{
		{runbook.ActKeepWaiting, k.KeepWaiting.Help().Key, "keep waiting: the gate gets another timeout"},
		{runbook.ActRetry, k.Retry.Help().Key, "retry the operation that failed"},
		{runbook.ActContinue, k.Continue.Help().Key, "ask for the approval again"},
		{runbook.ActSysdump, k.Sysdump.Help().Key, "take a cluster sysdump now"},
		{runbook.ActRollbackNode, k.RollbackNode.Help().Key, "roll this node back to its previous binary"},
		{runbook.ActRollbackAll, k.RollbackAll.Help().Key, "roll back every upgraded node, newest first"},
		{runbook.ActAbort, k.Abort.Help().Key, "abort: leave every node in a known state"},
	} {
		if d.f.mc.IsAllowed(c.act) {
			out = append(out, "  "+d.st.Key.Render(c.key)+"  "+c.text)
		}
	}
	return out
}

func checkLine(st *style.Styles, c health.CheckResult, w int) string {
	return indentedCheck(st, c, "  ", w)
}

// indentedCheck is a check's glyph and text after indent, wrapped to w.
func indentedCheck(st *style.Styles, c health.CheckResult, indent string, w int) string {
	return wrapHang(indent+glyphOf(st, c.OK)+" ", c.Gate+": "+checkText(c), w)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// glyphOf is ✓ for a check that holds, ✗ for one that fails.
func glyphOf(st *style.Styles, ok bool) string {
	if ok {
		return st.OK.Render(style.GlyphOK)
	}
	return st.Fail.Render(style.GlyphFail)
}

// checkText is why a check fails, or what it saw when it holds.
func checkText(c health.CheckResult) string {
	switch {
	case !c.OK && len(c.Reasons) > 0:
		return strings.Join(c.Reasons, "; ")
	case c.Summary != "":
		return c.Summary
	}
	vals := make([]string, 0, len(c.Values))
	for _, v := range c.Values {
		vals = append(vals, v.Name+" "+health.ShortValue(v.Value))
	}
	return strings.Join(vals, ", ")
}

// concretePaths replaces the plan's per-node placeholders with the node's
// own paths from the inventory.
func (d dialog) concretePaths(s, node string) string {
	inv := d.inv
	if inv == nil || node == "" {
		return s
	}
	n, ok := inv.Node(node)
	if !ok {
		return s
	}
	return strings.NewReplacer("<binary>", n.Paths.Binary, "<data_root>", n.Paths.DataRoot, "<backup_dir>", n.Paths.BackupDir).Replace(s)
}

func resumeSuffix(hint string) string {
	if hint == "" {
		return ""
	}
	return " with " + hint
}

// wrap wraps s to w columns, at spaces and hyphens, but never at a hyphen
// inside a path, a file name or a release ("sysdump-failure-2.tar.gz",
// "1.1.1-never-ready"): those break only between words.
func wrap(s string, w int) string {
	words := strings.Split(s, " ")
	for i, word := range words {
		if strings.ContainsAny(word, "/.") {
			words[i] = strings.ReplaceAll(word, "-", nbHyphen)
		}
	}
	out := lipgloss.NewStyle().Width(max(10, w)).Render(strings.Join(words, " "))
	return strings.ReplaceAll(out, nbHyphen, "-")
}

// nbHyphen stands in for a path's hyphens while wrapping (one cell wide,
// not a break point).
const nbHyphen = "\u2011"

func ansiStrip(s string) string { return ansi.Strip(s) }

// wrapHang wraps text after a prefix, aligning continuation lines under it.
func wrapHang(prefix, text string, w int) string {
	pw := lipgloss.Width(prefix)
	body := wrap(text, w-pw)
	lines := strings.Split(body, "\n")
	pad := strings.Repeat(" ", pw)
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
		if i == 0 {
			lines[i] = prefix + lines[i]
		} else {
			lines[i] = pad + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// hint renders "key action" pairs.
func (d dialog) hint(pairs ...string) string {
	var parts []string
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, d.st.Key.Render(pairs[i])+" "+pairs[i+1])
	}
	return strings.Join(parts, "  ")
}
