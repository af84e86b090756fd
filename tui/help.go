package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// helpPane is the full help: every key with what it does, and what the
// glyphs mean. It lists the bindings of the other key maps, so a key is
// written down once; while it is open it takes every key: each of its own
// closes it, the scroll keys scroll it when it is taller than the screen.
type helpPane struct {
	KeyMap     helpKeyMap
	Scroll     scroll.Keys
	st         *style.Styles
	rollout    []key.Binding
	navigation []key.Binding
	open       bool
	offset     int // first line in view
	w, h       int
}

// newHelpPane lists rollout and navigation under their headings.
func newHelpPane(st *style.Styles, rollout, navigation []key.Binding) helpPane {
	return helpPane{KeyMap: defaultHelpKeyMap(), Scroll: paneKeys(), st: st, rollout: rollout, navigation: navigation}
}

func (p *helpPane) SetStyles(st *style.Styles) { p.st = st }
func (p *helpPane) SetSize(w, h int)           { p.w, p.h = w, h }

// Open shows the page; Visible reports whether it is on screen.
func (p *helpPane) Open()        { p.open, p.offset = true, 0 }
func (p helpPane) Visible() bool { return p.open }

// Update closes the page on any of its keys and scrolls it on the others.
func (p helpPane) Update(msg tea.Msg) (helpPane, tea.Cmd) {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return p, nil
	}
	if key.Matches(km, p.KeyMap.Close, p.KeyMap.Back, p.KeyMap.Quit) {
		p.open = false
		return p, nil
	}
	p.offset, _ = p.Scroll.Move(km, p.offset, p.room(), max(0, len(p.lines())-p.room()))
	return p, nil
}

// room is how many lines of the page show under its title.
func (p helpPane) room() int { return max(1, p.h-4) }

// lines is the page under its title, at its width.
func (p helpPane) lines() []string {
	st := p.st
	section := func(title string, bs []key.Binding) []string {
		lines := []string{st.Bold.Render(title)}
		for _, b := range bs {
			h := b.Help()
			lines = append(lines, "  "+st.Key.Render(padRight(h.Key, 10))+" "+h.Desc)
		}
		return append(lines, "")
	}
	var left []string
	left = append(left, section("Rollout (live only when the runbook allows them)", p.rollout)...)
	left = append(left, section("Navigation", p.navigation)...)
	right := []string{st.Bold.Render("Glyphs")}
	for _, g := range [][2]string{
		{style.GlyphOK, "done, ready, holds"}, {style.GlyphFail, "failed, not ready"},
		{style.GlyphLeader, "the Raft leader"}, {style.GlyphRunning, "running"}, {style.GlyphWaiting, "waiting for you"},
		{style.GlyphPending, "pending"}, {style.GlyphSkipped, "skipped"}, {style.GlyphRollback, "rolled back"}, {style.GlyphWarn, "warning"},
	} {
		right = append(right, "  "+g[0]+"  "+g[1])
	}
	how := wrap("Every step that changes a node opens a dialog: read what it does and the gate values (a dialog taller than the screen scrolls, and y waits until you reached its end), then press y. "+
		"A new dialog ignores keys for a moment, so a key pressed twice never approves two steps. "+
		"Gates must hold for the stabilisation window after each restart. On a failure nwroll stops and asks; "+
		"it never carries on by itself. Quitting mid-rollout leaves every node in a known state; continue with `nwroll resume`.", 50)
	right = append(right, "", st.Bold.Render("How it works"), how)
	leftText := strings.Join(left, "\n")
	if p.w-4-lipgloss.Width(leftText)-4 >= 50 {
		return strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, leftText, "    ", strings.Join(right, "\n")), "\n")
	}
	// Too narrow for two columns: one under the other.
	return strings.Split(strings.Join(append(left, right...), "\n"), "\n")
}

// View draws the page at the size given to SetSize, scrolled.
func (p helpPane) View() string {
	st := p.st
	lines := p.lines()
	room := p.room()
	off := max(0, min(p.offset, len(lines)-room))
	end := min(len(lines), off+room)
	title := st.Title.Render("nwroll help") + st.Dim.Render("  (? or esc closes)")
	if len(lines) > room {
		title += st.Warn.Render(fmt.Sprintf("  ↑/↓ pgup/pgdn scroll · lines %d–%d of %d", off+1, end, len(lines)))
	}
	return st.Pane.Width(p.w).Height(p.h).Render(title + "\n\n" + strings.Join(lines[off:end], "\n"))
}
