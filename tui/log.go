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

// logPane streams engine events and remote output. It follows the tail
// until the operator scrolls up, and again from G. Lines are wrapped once,
// when added (and again on a resize), so a long log costs nothing per frame.
type logPane struct {
	vp      viewport.Model
	lines   []string // as added
	wrapped []string // lines wrapped to the pane's width
	follow  bool
	w, h    int
}

func newLogPane() logPane {
	return logPane{vp: viewport.New(), follow: true}
}

func (p logPane) setSize(w, h int) logPane {
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
	return p
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
func (p logPane) show() logPane {
	p.vp.SetContentLines(p.wrapped)
	if p.follow {
		p.vp.GotoBottom()
	}
	return p
}

// add appends one line, "15:04:05 fw-b  text"; show puts it on screen.
func (p logPane) add(st style.Styles, at time.Time, node, text string, isErr bool) logPane {
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
	return p
}

// addEntry appends a line of the engine's EventLog.
func (p logPane) addEntry(st style.Styles, l rollout.LogEntry) logPane {
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
	return p.add(st, l.TS, l.Node, b.String(), false)
}

func (p logPane) scroll(k KeyMap, msg tea.KeyPressMsg) logPane {
	scroll.Keys{Up: k.Up, Down: k.Down, PageUp: k.PageUp, PageDown: k.PageDown, Top: k.Top, Bottom: k.Bottom}.Viewport(&p.vp, msg)
	p.follow = p.vp.AtBottom()
	return p
}

func (p logPane) view(st style.Styles, focused bool) string {
	title := st.PaneTitle.Render("Log")
	if !p.follow {
		title += st.Dim.Render("  scrolled — G follows the tail")
	}
	border := st.Pane
	if focused {
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
