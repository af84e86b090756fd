package tui

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// runbookPane lists every phase and step with its glyph and duration; the
// current step is highlighted with its live gate and transfers. It draws
// the steps from the frame's machine; it owns the spinner, the transfers
// in progress (the executor's notes) and where the operator scrolled to.
type runbookPane struct {
	KeyMap    scroll.Keys
	st        *style.Styles
	spin      spinner.Model
	transfers map[string]transfer // copied on write: an earlier pane never sees a later change
	w, h      int
	offset    int  // first line shown
	manual    bool // the operator scrolled: stop following the current step
	focused   bool
	f         *frame
}

func newRunbookPane(st *style.Styles) runbookPane {
	return runbookPane{KeyMap: paneKeys(), st: st, spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)), transfers: map[string]transfer{}}
}

func (p runbookPane) in(f *frame) runbookPane { p.f = f; return p }

// Init starts the spinner.
func (p runbookPane) Init() tea.Cmd { return p.spin.Tick }

func (p *runbookPane) SetStyles(st *style.Styles) { p.st = st }
func (p *runbookPane) SetSize(w, h int)           { p.w, p.h = w, h }
func (p *runbookPane) Focus()                     { p.focused = true }
func (p *runbookPane) Blur()                      { p.focused = false }

// Follow scrolls back to the current step and keeps it in view.
func (p *runbookPane) Follow() { p.offset, p.manual = 0, false }

// Update scrolls, turns the spinner, and keeps the transfers: a progress
// note updates one, a tick drops those silent for a few seconds.
func (p runbookPane) Update(msg tea.Msg) (runbookPane, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		p.scroll(msg)
	case spinner.TickMsg:
		var cmd tea.Cmd
		p.spin, cmd = p.spin.Update(msg)
		return p, cmd
	case progressMsg:
		p.transfers = withProgress(p.transfers, msg.note)
	case tickMsg:
		p.transfers = expireTransfers(p.transfers, msg.at)
	}
	return p, nil
}

func (p *runbookPane) scroll(msg tea.KeyPressMsg) {
	k := p.KeyMap
	switch {
	case key.Matches(msg, k.Up):
		p.offset, p.manual = max(0, p.offset-1), true
	case key.Matches(msg, k.Down):
		p.offset, p.manual = p.offset+1, true
	case key.Matches(msg, k.PageUp):
		p.offset, p.manual = max(0, p.offset-p.h/2), true
	case key.Matches(msg, k.PageDown):
		p.offset, p.manual = p.offset+p.h/2, true
	case key.Matches(msg, k.Top):
		p.offset, p.manual = 0, true
	case key.Matches(msg, k.Bottom):
		p.manual = false // follow the current step again
	}
}

// View draws the steps of the frame's machine.
func (p runbookPane) View() string {
	if p.f == nil {
		return ""
	}
	st := p.st
	innerW, innerH := max(10, p.w-2), max(1, p.h-3)
	lines, cur := runbookLines(st, p.f.mc, p.f.now, p.transfers, p.spin.View(), innerW)
	lines, cur = splitLines(lines, cur)
	off := p.offset
	switch {
	case !p.manual && cur >= 0:
		off = max(0, cur-innerH/3)
	case !p.manual && p.f.mc.Finished:
		off = len(lines) // a finished run shows how it ended
	}
	off = min(off, max(0, len(lines)-innerH))
	end := min(len(lines), off+innerH)
	shown := lines[off:end]
	title := st.PaneTitle.Render("Runbook")
	if len(lines) > innerH {
		title += st.Dim.Render(fmt.Sprintf("  lines %d–%d of %d", off+1, end, len(lines)))
	}
	border := st.Pane
	if p.focused {
		border = st.PaneFocused
	}
	body := title + "\n" + strings.Join(shown, "\n")
	return border.Width(p.w).Height(p.h).Render(lipgloss.NewStyle().MaxWidth(innerW).Render(body))
}

// splitLines makes every entry one screen line, keeping cur on its line.
func splitLines(lines []string, cur int) ([]string, int) {
	out := make([]string, 0, len(lines))
	newCur := -1
	for i, l := range lines {
		if i == cur {
			newCur = len(out)
		}
		out = append(out, strings.Split(l, "\n")...)
	}
	return out, newCur
}

// runbookLines renders the steps; cur is the line of the current step.
func runbookLines(st *style.Styles, mc *runbook.Machine, now time.Time, transfers map[string]transfer, spin string, w int) ([]string, int) {
	var lines []string
	cur := -1
	curStep, hasCur := mc.Current()
	var phase runbook.Phase
	phases := 0 // numbered in the order the runbook shows them, as `nwroll plan` does
	texts := mc.Texts()
	for i, s := range mc.Steps {
		tx := texts[i]
		if tx.Phase != phase {
			phase = tx.Phase
			phases++
			lines = append(lines, st.Dim.Render(fmt.Sprintf("Phase %d · %s", phases, phase)))
		}
		isCur := hasCur && s.ID == curStep.ID
		glyph := stepGlyph(st, s.Status, spin)
		dur := stepDuration(s, now)
		title := fmt.Sprintf("%2d. %s", i+1, tx.Title)
		if tx.Approval && s.Status == runbook.StatusPending {
			title += st.Dim.Render(" [approval]")
		}
		line := fmt.Sprintf(" %s %s", glyph, title)
		if dur != "" {
			pad := w - lipgloss.Width(line) - lipgloss.Width(dur) - 1
			if pad > 0 {
				line += strings.Repeat(" ", pad) + st.Dim.Render(dur)
			}
		}
		if isCur {
			cur = len(lines)
			line = st.Highlight.Render(style.GlyphCursor) + line[1:]
		}
		lines = append(lines, line)
		if s.Err != "" && (s.Status == runbook.StatusFailed || isCur) {
			lines = append(lines, wrapIndent(st.Fail.Render(style.GlyphFail+" "+s.Err), w, 6)...)
		} else if s.Note != "" && (isCur || s.Status == runbook.StatusSkipped) {
			lines = append(lines, wrapIndent(st.Dim.Render(s.Note), w, 6)...)
		}
		if isCur {
			lines = append(lines, gateLines(st, mc, now, w)...)
			lines = append(lines, transferLines(st, inFlight(mc, transfers), now, w)...)
		}
	}
	return lines, cur
}

func stepGlyph(st *style.Styles, s runbook.StepStatus, spin string) string {
	switch s {
	case runbook.StatusDone:
		return st.OK.Render(style.GlyphOK)
	case runbook.StatusFailed:
		return st.Fail.Render(style.GlyphFail)
	case runbook.StatusRunning:
		return st.Running.Render(spinOr(spin))
	case runbook.StatusWaitingApproval:
		return st.Warn.Render(style.GlyphWaiting)
	case runbook.StatusSkipped:
		return st.Dim.Render(style.GlyphSkipped)
	case runbook.StatusRolledBack:
		return st.Warn.Render(style.GlyphRollback)
	}
	return st.Dim.Render(style.GlyphPending)
}

// spinOr keeps a glyph in place of a spinner frame that is blank.
func spinOr(spin string) string {
	if strings.TrimSpace(spin) == "" {
		return style.GlyphRunning
	}
	return spin
}

func stepDuration(s runbook.StepState, now time.Time) string {
	switch {
	case s.StartedAt.IsZero():
		return ""
	case !s.EndedAt.IsZero():
		return fmtDuration(s.EndedAt.Sub(s.StartedAt))
	}
	return fmtDuration(now.Sub(s.StartedAt))
}

// gateLines: the open gate, which checks hold and which don't, and the time
// left: of the window while every check holds, else to the deadline.
func gateLines(st *style.Styles, mc *runbook.Machine, now time.Time, w int) []string {
	if !mc.Gate.Open {
		return nil
	}
	lines := []string{"      " + gateHead(st, mc, now)}
	for _, c := range mc.Gate.Results() {
		lines = append(lines, indentedCheck(st, c, "      ", w))
	}
	return lines
}

// gateHead is the open gate in one line: how many checks hold, for how
// long, and the time left.
func gateHead(st *style.Styles, mc *runbook.Machine, now time.Time) string {
	g := mc.Gate
	var head string
	switch {
	case g.OK() && g.Hold > 0 && !g.HeldSince().IsZero():
		head = st.OK.Render(fmt.Sprintf("gate %s: %s for %s of %s", g.Name, allHold(len(g.Results())), fmtDuration(now.Sub(g.HeldSince())), g.Hold))
	case g.OK():
		head = st.OK.Render(fmt.Sprintf("gate %s: %s", g.Name, allHold(len(g.Results()))))
	default:
		head = st.Warn.Render(fmt.Sprintf("gate %s: waiting %s on %d of %d checks", g.Name, fmtDuration(now.Sub(g.Opened())), len(failingChecks(g.Results())), len(g.Results())))
	}
	switch {
	case g.OK() && g.Hold > 0 && !g.HeldSince().IsZero():
		// Holding: the window decides now, not the deadline.
		head += st.Dim.Render(" · " + fmtDuration(g.Hold-now.Sub(g.HeldSince())) + " to go")
	case !g.Deadline().IsZero():
		head += st.Dim.Render(" · " + fmtDuration(g.Deadline().Sub(now)) + " left")
	}
	if !g.LeaderlessSince().IsZero() {
		head += st.Warn.Render(" · no leader for " + fmtDuration(now.Sub(g.LeaderlessSince())))
	}
	return head
}

// failingChecks names the checks that do not hold, with the /ready checks
// that fail when the check says which: "node healthy (dhcp_lease)".
func failingChecks(results []health.CheckResult) []string {
	var out []string
	for _, c := range results {
		if c.OK {
			continue
		}
		name := c.Gate
		for _, v := range c.Values {
			if v.Name == "failing" {
				name += " (" + health.ShortValue(v.Value) + ")"
			}
		}
		out = append(out, name)
	}
	return out
}

// allHold is "all 5 checks hold", or "its check holds" for one.
func allHold(n int) string {
	if n == 1 {
		return "its check holds"
	}
	return fmt.Sprintf("all %d checks hold", n)
}

// wrapIndent wraps s to w columns, indenting every line by indent.
func wrapIndent(s string, w, indent int) []string {
	width := max(10, w-indent)
	wrapped := lipgloss.NewStyle().Width(width).Render(s)
	pad := strings.Repeat(" ", indent)
	var out []string
	for _, l := range strings.Split(wrapped, "\n") {
		out = append(out, pad+strings.TrimRight(l, " "))
	}
	return out
}

// ---- transfers ----

// transfer is one node's upload, backup or download in progress.
type transfer struct {
	node, op    string
	done, total int64
	first, last time.Time
	firstDone   int64
}

func withProgress(ts map[string]transfer, n executor.Note) map[string]transfer {
	out := maps.Clone(ts)
	k := n.Node + "|" + n.Op
	t, ok := out[k]
	if !ok || n.Done < t.done {
		t = transfer{node: n.Node, op: n.Op, first: n.At, firstDone: n.Done}
	}
	t.done, t.total, t.last = n.Done, n.Total, n.At
	out[k] = t
	return out
}

// inFlight keeps the transfers whose effect the machine still has in
// flight: a bar goes the moment its effect is answered, and never shows
// under a later step.
func inFlight(mc *runbook.Machine, ts map[string]transfer) map[string]transfer {
	out := map[string]transfer{}
	for k, t := range ts {
		node := t.node
		if node == "cluster" {
			node = ""
		}
		if mc.InFlight(node, t.op) {
			out[k] = t
		}
	}
	return out
}

// expireTransfers drops transfers silent for a few seconds.
func expireTransfers(ts map[string]transfer, now time.Time) map[string]transfer {
	out := maps.Clone(ts)
	maps.DeleteFunc(out, func(_ string, t transfer) bool { return now.Sub(t.last) > 5*time.Second })
	return out
}

func transferLines(st *style.Styles, ts map[string]transfer, now time.Time, w int) []string {
	if len(ts) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	barW := max(10, min(30, w-50))
	bar := progress.New(progress.WithWidth(barW), progress.WithoutPercentage(), progress.WithColors(st.AccentColor))
	var lines []string
	for _, k := range keys {
		t := ts[k]
		pct := 0.0
		if t.total > 0 {
			pct = float64(t.done) / float64(t.total)
		}
		size := rollout.HumanBytes(t.done)
		if t.total > 0 {
			size += " / " + rollout.HumanBytes(t.total)
		}
		rate := ""
		if s := t.last.Sub(t.first).Seconds(); s > 0.2 {
			rate = fmt.Sprintf("  %s/s", rollout.HumanBytes(int64(float64(t.done-t.firstDone)/s)))
		}
		label := fmt.Sprintf("%-6s %-8s", t.node, t.op)
		lines = append(lines, fmt.Sprintf("      %s %s %3.0f%%  %s%s", label, bar.ViewAs(pct), pct*100, size, rate))
	}
	return lines
}
