package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/style"
)

// helpView is the full help: every key with what it does, and what the
// glyphs mean.
func (m Model) helpView() string {
	st := m.st
	k := DefaultKeyMap()
	section := func(title string, bs ...key.Binding) []string {
		lines := []string{st.Bold.Render(title)}
		for _, b := range bs {
			h := b.Help()
			lines = append(lines, "  "+st.Key.Render(padRight(h.Key, 10))+" "+h.Desc)
		}
		return append(lines, "")
	}
	var left []string
	left = append(left, section("Rollout (live only when the runbook allows them)",
		k.Approve, k.Cancel, k.Abort, k.KeepWaiting, k.Retry, k.Continue, k.RollbackNode, k.RollbackAll, k.Sysdump, k.View)...)
	left = append(left, section("Navigation",
		k.NextPane, k.PrevPane, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Back, k.Help, k.Quit)...)
	right := []string{st.Bold.Render("Glyphs")}
	for _, g := range [][2]string{
		{style.GlyphOK, "done, ready, holds"}, {style.GlyphFail, "failed, not ready"},
		{style.GlyphLeader, "the Raft leader"}, {style.GlyphRunning, "running"}, {style.GlyphWaiting, "waiting for you"},
		{style.GlyphPending, "pending"}, {style.GlyphSkipped, "skipped"}, {style.GlyphRollback, "rolled back"}, {style.GlyphWarn, "warning"},
	} {
		right = append(right, "  "+g[0]+"  "+g[1])
	}
	if colW := m.width - 4 - lipgloss.Width(strings.Join(left, "\n")) - 4; colW >= 30 {
		right = append(right, "", st.Bold.Render("How it works"),
			wrap("Every step that changes a node opens a dialog: read what it does and the gate values, then press y. "+
				"A new dialog ignores keys for a moment, so a key pressed twice never approves two steps. "+
				"Gates must hold for the stabilisation window after each restart. On a failure nwroll stops and asks; "+
				"it never carries on by itself. Quitting mid-rollout leaves every node in a known state; continue with `nwroll resume`.", min(colW, 50)))
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, strings.Join(left, "\n"), "    ", strings.Join(right, "\n"))
	title := st.Title.Render("nwroll help") + st.Dim.Render("  (? or esc closes)")
	return st.Pane.Width(m.width).Height(m.bodyHeight()).Render(title + "\n\n" + body)
}
