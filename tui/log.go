package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// maxLogLines bounds the log pane; the journal keeps everything.
const maxLogLines = 5000

// logPane streams engine events and remote output: the lines are its own
// (the EventLog's, as logMsg brings them). It follows the tail until the
// operator scrolls up, and again from G. Lines are wrapped once, when added
// (and again on a resize), so a long log costs nothing per frame.
type logPane struct {
	KeyMap  scroll.Keys
	st      *style.Styles
	vp      viewport.Model
	lines   []string // as added
	wrapped []string // lines wrapped to the pane's width
	follow  bool
	focused bool
	w, h    int
}

func newLogPane(st *style.Styles) logPane {
	return logPane{KeyMap: paneKeys(), st: st, vp: viewport.New(), follow: true}
}

func (p *logPane) SetStyles(st *style.Styles) { p.st = st }
func (p *logPane) Focus()                     { p.focused = true }
func (p *logPane) Blur()                      { p.focused = false }

// SetSize fits the log inside a border of w×h, wrapping it again when the
// width changed.
func (p *logPane) SetSize(w, h int) {
	rewrap := w != p.w
	p.w, p.h = w, h
	p.vp.SetWidth(max(1, w-2))
	p.vp.SetHeight(max(1, h-3))
	if rewrap {
		p.wrapped = nil
		for _, l := range p.lines {
			p.wrapped = append(p.wrapped, p.wrap(l)...)
		}
		p.vp.SetContentLines(p.wrapped)
	}
	if p.follow {
		p.vp.GotoBottom()
	}
}

// Update scrolls, and adds the lines of a logMsg.
func (p logPane) Update(msg tea.Msg) (logPane, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		p.KeyMap.Viewport(&p.vp, msg)
		p.follow = p.vp.AtBottom()
	case logMsg:
		for _, l := range msg.entries {
			p.addEntry(l)
		}
		p.show()
	}
	return p, nil
}

// wrap breaks a line to the pane's width, indenting continuations.
func (p logPane) wrap(line string) []string {
	w := max(10, p.w-2)
	if p.w == 0 || lipgloss.Width(line) <= w {
		return []string{line}
	}
	return strings.Split(wrapHang("", line, w), "\n")
}

// show puts the lines added since the last show on screen.
func (p *logPane) show() {
	p.vp.SetContentLines(p.wrapped)
	if p.follow {
		p.vp.GotoBottom()
	}
}

// AddLine adds one line of the console's own, "15:04:05 fw-b  text", and
// shows it.
func (p *logPane) AddLine(at time.Time, node, text string, isErr bool) {
	p.add(at, node, text, isErr)
	p.show()
}

// add appends one line; show puts it on screen.
func (p *logPane) add(at time.Time, node, text string, isErr bool) {
	st := p.st
	ts := ""
	if !at.IsZero() {
		ts = at.Local().Format("15:04:05") + " "
	}
	who := node
	if who == "" {
		who = "cluster"
	}
	body := text
	if isErr {
		body = st.Fail.Render(style.GlyphFail + " " + text)
	}
	line := st.Dim.Render(ts) + padRight(who, 7) + " " + body
	p.lines = append(p.lines, line)
	p.wrapped = append(p.wrapped, p.wrap(line)...)
	if len(p.lines) > maxLogLines {
		p.lines = append([]string(nil), p.lines[len(p.lines)-maxLogLines:]...)
		p.wrapped = nil
		for _, l := range p.lines {
			p.wrapped = append(p.wrapped, p.wrap(l)...)
		}
	}
}

// addEntry appends a line of the engine's EventLog.
func (p *logPane) addEntry(l rollout.LogEntry) {
	st := p.st
	var b strings.Builder
	b.WriteString(l.Op)
	if l.Status != "" {
		b.WriteString(": ")
		switch l.Status {
		case "ok":
			b.WriteString(st.OK.Render(style.GlyphOK + " ok"))
		case "failed":
			b.WriteString(st.Fail.Render(style.GlyphFail + " failed"))
		default:
			b.WriteString(l.Status)
		}
	}
	if l.Detail != "" {
		b.WriteString(" " + l.Detail)
	}
	if l.Error != "" {
		b.WriteString(": " + st.Fail.Render(l.Error))
	}
	if l.Seconds > 0 {
		b.WriteString(st.Dim.Render(" (" + fmtDuration(time.Duration(l.Seconds*float64(time.Second))) + ")"))
	}
	p.add(l.TS, l.Node, b.String(), false)
}

// View draws the log in its border.
func (p logPane) View() string {
	st := p.st
	title := st.PaneTitle.Render("Log")
	if !p.follow {
		title += st.Dim.Render("  scrolled — G follows the tail")
	}
	border := st.Pane
	if p.focused {
		border = st.PaneFocused
	}
	return border.Width(p.w).Height(p.h).Render(title + "\n" + p.vp.View())
}

func padRight(s string, n int) string {
	w := lipgloss.Width(s)
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}
