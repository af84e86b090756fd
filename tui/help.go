package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/style"
)

// helpPane is the full help: every key with what it does, and what the
// glyphs mean. It lists the bindings of the other key maps, so a key is
// written down once; while it is open it takes every key, and each of its
// own closes it.
type helpPane struct {
	KeyMap     helpKeyMap
	st         *style.Styles
	rollout    []key.Binding
	navigation []key.Binding
	open       bool
	w, h       int
}

// newHelpPane lists rollout and navigation under their headings.
func newHelpPane(st *style.Styles, rollout, navigation []key.Binding) helpPane {
	return helpPane{KeyMap: defaultHelpKeyMap(), st: st, rollout: rollout, navigation: navigation}
}

func (p *helpPane) SetStyles(st *style.Styles) { p.st = st }
func (p *helpPane) SetSize(w, h int)           { p.w, p.h = w, h }

// Open shows the page; Visible reports whether it is on screen.
func (p *helpPane) Open()        { p.open = true }
func (p helpPane) Visible() bool { return p.open }

// Update closes the page on any of its keys.
func (p helpPane) Update(msg tea.Msg) (helpPane, tea.Cmd) {
	if msg, ok := msg.(tea.KeyPressMsg); ok && key.Matches(msg, p.KeyMap.Close, p.KeyMap.Back, p.KeyMap.Quit) {
		p.open = false
	}
	return p, nil
}

// View draws the page at the size given to SetSize.
func (p helpPane) View() string {
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
	if colW := p.w - 4 - lipgloss.Width(strings.Join(left, "\n")) - 4; colW >= 30 {
		right = append(right, "", st.Bold.Render("How it works"),
			wrap("Every step that changes a node opens a dialog: read what it does and the gate values, then press y. "+
				"A new dialog ignores keys for a moment, so a key pressed twice never approves two steps. "+
				"Gates must hold for the stabilisation window after each restart. On a failure nwroll stops and asks; "+
				"it never carries on by itself. Quitting mid-rollout leaves every node in a known state; continue with `nwroll resume`.", min(colW, 50)))
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(left, "\n"), "    ", strings.Join(right, "\n"))
	title := st.Title.Render("nwroll help") + st.Dim.Render("  (? or esc closes)")
	return st.Pane.Width(p.w).Height(p.h).Render(title + "\n\n" + body)
}
