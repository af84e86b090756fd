package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/style"
)

const statusHeight = 2

// statusView: the keys live right now (help.Model leaves out the disabled
// ones), and the last notice or the machine's last error.
func (m Model) statusView() string {
	keys, pinned := m.statusKeys()
	line1 := m.status.ShortHelpView(keys)
	if len(pinned) > 0 {
		// ? help and q quit stay whatever else is cut.
		tail := m.status.ShortHelpView(pinned)
		hm := m.status
		hm.SetWidth(max(1, m.width-lipgloss.Width(tail)-lipgloss.Width(hm.ShortSeparator)))
		line1 = hm.ShortHelpView(keys) + hm.Styles.ShortSeparator.Render(hm.ShortSeparator) + tail
		if len(keys) == 0 {
			line1 = tail
		}
	}
	var line2 string
	switch {
	case m.notice != "":
		line2 = m.st.Warn.Render(style.GlyphWarn + " " + m.notice)
	case m.machine.LastError != "":
		line2 = m.st.Error.Render(style.GlyphFail + " last error: " + m.machine.LastError)
	}
	w := lipgloss.NewStyle().MaxWidth(m.width)
	return w.Render(line1) + "\n" + w.Render(line2)
}

// statusKeys are the keys of what has the keyboard: the help page, the
// viewer, or the dialog's (its question's alone while one is open) and
// then the global keys; pinned are the keys never cut from the bar (help
// and quit, while they work).
func (m Model) statusKeys() (keys, pinned []key.Binding) {
	switch {
	case m.help.Visible():
		return append(m.help.KeyMap.ShortHelp(), m.help.Scroll.Down, m.help.Scroll.PageDown), nil
	case m.detail.Node() != "":
		return m.detail.ShortHelp(), m.keys.Pinned()
	case m.log.Typing():
		return []key.Binding{m.log.FilterKeep, m.log.FilterClear}, nil
	case m.viewer != nil:
		return m.viewer.ShortHelp(), []key.Binding{m.keys.Help}
	}
	f := m.frame()
	d := m.dialog.in(&f)
	keys = d.ShortHelp()
	if d.asking() {
		return keys, nil
	}
	g := m.keys
	g.View.SetEnabled(m.machine.LastSysdump != "")
	keys = append(keys, m.recoveryKeys().ShortHelp()...)
	return append(keys, g.ShortHelp()...), g.Pinned()
}
