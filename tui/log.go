package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// maxLogLines bounds the log pane; the journal keeps everything.
const maxLogLines = 5000

// logPane streams engine events and remote output: the lines are its own
// (the EventLog's, as logMsg brings them). It follows the tail until the
// operator scrolls up, and again from G. Lines are wrapped once, when added
// (and again on a resize or a new filter), so a long log costs nothing per
// frame. Under them, while a gate waits, one live line drawn from the
// frame's machine says how the wait stands: it changes in place, and the
// log keeps only the gate's changes. / filters the lines by any text (a
// node's name, a check's).
type logPane struct {
	KeyMap      scroll.Keys
	Filter      key.Binding // / starts a filter
	FilterKeep  key.Binding // in the prompt: keep the filter
	FilterClear key.Binding // in the prompt: clear it
	st          *style.Styles
	vp          viewport.Model
	lines       []string // as added
	wrapped     []string // the lines the filter keeps, wrapped to the pane's width
	kept        int      // how many lines the filter keeps
	input       textinput.Model
	typing      bool   // the filter's prompt takes the keys
	query       string // the filter, lower case; "" shows every line
	follow      bool
	focused     bool
	w, h        int
	f           *frame
}

func newLogPane(st *style.Styles) logPane {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "filter: a node, a check, any text"
	p := logPane{KeyMap: paneKeys(), st: st, vp: viewport.New(), follow: true, input: in,
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter the log")),
		FilterKeep:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep the filter")),
		FilterClear: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear it"))}
	p.vp.KeyMap = viewport.KeyMap{} // the pane routes keys itself
	return p
}

func (p logPane) in(f *frame) logPane { p.f = f; return p }

// Typing is true while the filter's prompt takes every key.
func (p logPane) Typing() bool { return p.typing }

// StartFilter opens the filter's prompt on the current filter.
func (p *logPane) StartFilter() tea.Cmd {
	p.typing = true
	p.input.SetValue(p.query)
	p.input.CursorEnd()
	return p.input.Focus()
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
	p.input.SetWidth(max(10, w-12))
	if rewrap {
		p.refilter()
	}
	if p.follow {
		p.vp.GotoBottom()
	}
}

// refilter wraps again the lines the filter keeps.
func (p *logPane) refilter() {
	p.wrapped, p.kept = nil, 0
	for _, l := range p.lines {
		p.keep(l)
	}
	p.vp.SetContentLines(p.wrapped)
}

// keep adds line to what is shown when the filter keeps it.
func (p *logPane) keep(line string) {
	if p.query != "" && !strings.Contains(strings.ToLower(ansi.Strip(line)), p.query) {
		return
	}
	p.kept++
	p.wrapped = append(p.wrapped, p.wrap(line)...)
}

// Update scrolls, types the filter, and adds the lines of a logMsg.
func (p logPane) Update(msg tea.Msg) (logPane, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if p.typing {
			return p.onFilterKey(msg)
		}
		if key.Matches(msg, p.Filter) {
			return p, p.StartFilter()
		}
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

// onFilterKey types into the filter: it applies as it is typed; enter
// keeps it, esc clears it.
func (p logPane) onFilterKey(msg tea.KeyPressMsg) (logPane, tea.Cmd) {
	switch {
	case key.Matches(msg, p.FilterKeep):
		p.typing = false
		p.input.Blur()
		return p, nil
	case key.Matches(msg, p.FilterClear):
		p.typing = false
		p.input.Blur()
		p.input.SetValue("")
	}
	var cmd tea.Cmd
	if p.typing {
		p.input, cmd = p.input.Update(msg)
	}
	if q := strings.ToLower(strings.TrimSpace(p.input.Value())); q != p.query {
		p.query = q
		p.refilter()
		p.vp.GotoBottom()
		p.follow = true
	}
	return p, cmd
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
	p.keep(line)
	if len(p.lines) > maxLogLines {
		p.lines = append([]string(nil), p.lines[len(p.lines)-maxLogLines:]...)
		p.refilter()
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

// View draws the log in its border: its title (with the filter), the
// lines, and the live line of a waiting gate.
func (p logPane) View() string {
	st := p.st
	title := st.PaneTitle.Render("Log")
	switch {
	case p.typing:
		title += "  " + p.input.View()
	case p.query != "":
		title += st.Key.Render("  filter: "+p.query) + st.Dim.Render(fmt.Sprintf(" (%d of %d lines · / changes, esc in it clears)", p.kept, len(p.lines)))
	}
	if !p.follow {
		title += st.Dim.Render("  scrolled — G follows the tail")
	}
	border := st.Pane
	if p.focused {
		border = st.PaneFocused
	}
	body := p.vp.View()
	if live := p.liveLine(); live != "" {
		vp := p.vp
		vp.SetHeight(max(1, vp.Height()-1))
		if p.follow {
			vp.GotoBottom()
		}
		body = vp.View() + "\n" + live
	}
	return border.Width(p.w).Height(p.h).Render(ansi.Truncate(title, max(1, p.w-2), "…") + "\n" + body)
}

// liveLine is the gate waiting now, in one line that changes in place:
// how long, how many checks hold, which fail; "" when no gate is open.
func (p logPane) liveLine() string {
	if p.f == nil || !p.f.running() || !p.f.mc.Gate.Open || len(p.f.mc.Gate.Results()) == 0 {
		return ""
	}
	st, mc := p.st, p.f.mc
	who := mc.Gate.Node
	if who == "" {
		who = "cluster"
	}
	line := st.Dim.Render(p.f.now.Local().Format("15:04:05")+" ") + padRight(who, 7) + " " + style.GlyphRunning + " " + gateHead(st, mc, p.f.now)
	if failing := failingChecks(mc.Gate.Results()); len(failing) > 0 {
		line += st.Dim.Render(" — " + strings.Join(failing, ", "))
	}
	return ansi.Truncate(line, max(1, p.w-2), "…")
}

func padRight(s string, n int) string {
	w := lipgloss.Width(s)
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}
