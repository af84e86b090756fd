package tui

import (
	"fmt"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

// dialogView is the dialog on screen, or "" when none is: the refusal,
// the quit and abort questions, the approval of a step, and the choices
// after a failure. It fits in maxH lines: blank lines go first, then the
// middle is cut, but the title and the keys always stay.
func (m Model) dialogView(maxH int) string {
	st := m.st
	w := min(m.width-4, 96)
	if m.wide() && m.stage == stageRunning {
		w = min(w, m.width/2)
	}
	box := func(border lipgloss.Style, lines ...string) string {
		tail := 1
		if m.machine.Pause != nil && !m.askQuit && !m.machine.AbortAsked {
			tail = len(m.pauseChoices()) + 1
		}
		return border.Width(w).Render(strings.Join(fitLines(lines, maxH-2, tail), "\n"))
	}
	mc := m.machine
	switch {
	case m.stage == stageRefused:
		return box(st.DialogDanger,
			st.DialogTitle.Render(style.GlyphFail+" nwroll refused to start; nothing on any node was changed"), "",
			wrap(m.refused, w-4), "",
			m.hint("q", "quit"))
	case m.askQuit:
		return box(st.DialogDanger,
			st.DialogTitle.Render("Quit in the middle of the rollout?"), "",
			wrap("Operations in flight finish first, and a node this run stopped is started again. The lock stays on the nodes so you can continue later"+
				resumeSuffix(m.deps.ResumeHint)+".", w-4), "",
			m.hint("y", "quit safely", "n/esc", "stay (default)"))
	case mc.AbortAsked:
		return box(st.DialogDanger,
			st.DialogTitle.Render("Abort the rollout?"), "",
			wrap("Nothing new starts. Operations in flight finish, a stopped node is started again and passes its gates, "+
				"then the lock is released. Upgraded nodes stay upgraded; `nwroll rollback` undoes them later.", w-4), "",
			m.hint("y", "abort", "n/esc", "keep going (default)"))
	}
	if s, ok := mc.AwaitingApproval(); ok {
		lines := m.approvalLines(s, w-4, false)
		if len(fitLines(lines, 0, 0)) > maxH-2 {
			lines = m.approvalLines(s, w-4, true) // the quorum line, and the checks' count, not each check
		}
		return box(st.Dialog, lines...)
	}
	if p := mc.Pause; p != nil {
		return box(st.DialogDanger, m.pauseLines(*p, w-4)...)
	}
	return ""
}

// fitLines keeps lines within maxH: it drops blank lines, then cuts the
// middle, keeping the first line and the last tail lines.
func fitLines(lines []string, maxH, tail int) []string {
	var split []string
	for _, l := range lines {
		split = append(split, strings.Split(l, "\n")...)
	}
	if len(split) <= maxH || maxH <= 0 {
		return split
	}
	var compact []string
	for _, l := range split {
		if strings.TrimSpace(ansiStrip(l)) != "" {
			compact = append(compact, l)
		}
	}
	if len(compact) <= maxH {
		return compact
	}
	tail = min(tail, len(compact)-1)
	keep := maxH - tail - 1 // the "…" line
	if keep < 1 {
		return compact[len(compact)-maxH:]
	}
	out := append([]string(nil), compact[:keep]...)
	out = append(out, "… (a taller terminal shows the rest)")
	return append(out, compact[len(compact)-tail:]...)
}

// approvalLines: what will happen, on which node, with which commands;
// the gate values that justify it; the quorum arithmetic; the checks that
// must pass afterwards. Every word comes from the step's definition as it
// stands now (rollout's Machine.Text).
func (m Model) approvalLines(s runbook.StepState, w int, compact bool) []string {
	st := m.st
	mc := m.machine
	tx, _ := mc.Text(s.ID)
	title := fmt.Sprintf("Approve step %d of %d: %s", stepNumber(mc, s.ID), len(mc.Steps), tx.Title)
	lines := []string{st.DialogTitle.Render(title), ""}
	if tx.Quorum != "" {
		lines = append(lines, wrapHang(st.Bold.Render("Quorum: "), tx.Quorum, w), "")
	}
	if tx.Node != "" {
		lines = append(lines, st.Bold.Render("On "+tx.Node+":"))
	} else {
		lines = append(lines, st.Bold.Render("What happens:"))
	}
	for _, d := range tx.Does {
		lines = append(lines, wrapHang("  - ", m.concretePaths(d, tx.Node), w))
	}
	if g := mc.Gate; g.Open && g.Step == s.ID && len(g.Results()) > 0 && !compact {
		lines = append(lines, "", st.Bold.Render(fmt.Sprintf("Gate %s, now:", g.Name)))
		for _, c := range g.Results() {
			lines = append(lines, checkLine(st, c, w))
		}
	}
	if g := tx.Gate; g != nil && compact {
		lines = append(lines, "", st.Dim.Render(wrap(upperFirst(g.Heading())+".", w)))
	} else if g != nil {
		lines = append(lines, "", st.Dim.Render(upperFirst(g.Heading())+":"))
		for _, c := range g.Checks {
			lines = append(lines, st.Dim.Render(wrapHang("  · ", m.concretePaths(c, tx.Node), w)))
		}
	}
	lines = append(lines, "")
	if m.dialogArmed {
		lines = append(lines, m.hint("y", "approve", "n/esc/enter", "cancel (default)", "a", "abort"))
	} else {
		lines = append(lines, st.Dim.Render("read the step; the keys arm in a moment…"))
	}
	return lines
}

func (m Model) pauseLines(p runbook.Pause, w int) []string {
	st := m.st
	mc := m.machine
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
			for _, c := range f.Checks {
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
		}
		lines = append(lines, "", st.Dim.Render("nwroll never carries on by itself. Choose:"))
	case runbook.PauseDeclined:
		lines = append(lines, st.DialogTitle.Render(upperFirst(p.Text)), "", "Nothing was done. Choose:")
	case runbook.PauseRolledBack:
		lines = append(lines, st.DialogTitle.Render(style.GlyphRollback+" "+p.Text), "", "Choose:")
	default:
		lines = append(lines, st.DialogTitle.Render(p.Text))
	}
	lines = append(lines, m.pauseChoices()...)
	return lines
}

// stepNumber is the step's position in the runbook as it stands (the
// machine moves a node that became the leader to the end of its phase).
func stepNumber(mc runbook.Machine, id runbook.StepID) int {
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
func (m Model) pauseChoices() []string {
	k := m.keys
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
		if m.machine.IsAllowed(c.act) {
			out = append(out, "  "+m.st.Key.Render(c.key)+"  "+c.text)
		}
	}
	return out
}

func checkLine(st style.Styles, c health.CheckResult, w int) string {
	return indentedCheck(st, c, "  ", w)
}

// indentedCheck is a check's glyph and text after indent, wrapped to w.
func indentedCheck(st style.Styles, c health.CheckResult, indent string, w int) string {
	glyph := st.OK.Render(style.GlyphOK)
	if !c.OK {
		glyph = st.Fail.Render(style.GlyphFail)
	}
	return wrapHang(indent+glyph+" ", c.Gate+": "+checkText(c), w)
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
func (m Model) concretePaths(s, node string) string {
	inv := m.deps.Env.Inventory
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
	return " with `" + hint + "`"
}

func wrap(s string, w int) string {
	return lipgloss.NewStyle().Width(max(10, w)).Render(s)
}

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
