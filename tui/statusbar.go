package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/style"
)

const statusHeight = 2

// statusView: the keys live right now, and the last error or notice.
func (m Model) statusView() string {
	var keys []key.Binding
	switch {
	case m.showHelp:
		keys = []key.Binding{m.keys.Help, m.keys.Back}
	case m.viewer != nil:
		keys = append(m.viewer.ShortHelp(), m.keys.Help)
	default:
		keys = m.liveKeys()
	}
	line1 := m.help.ShortHelpView(keys)
	var line2 string
	switch {
	case m.notice != "":
		line2 = m.st.Warn.Render(style.GlyphWarn + " " + m.notice)
	case m.lastErr != "":
		line2 = m.st.Error.Render(style.GlyphFail + " last error: " + m.lastErr)
	}
	w := lipgloss.NewStyle().MaxWidth(m.width)
	return w.Render(line1) + "\n" + w.Render(line2)
}

// liveKeys are the enabled keys, rollout keys first (from Allowed).
func (m Model) liveKeys() []key.Binding {
	k := m.keys
	var out []key.Binding
	if m.askQuit {
		return []key.Binding{key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "quit safely")), key.NewBinding(key.WithKeys("n"), key.WithHelp("n/esc", "stay"))}
	}
	if m.machine.AbortAsked {
		return []key.Binding{key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "abort")), key.NewBinding(key.WithKeys("n"), key.WithHelp("n/esc", "keep going"))}
	}
	if m.stage == stageRunning && !m.machine.Finished {
		if _, ok := m.machine.AwaitingApproval(); ok && !m.dialogArmed {
			k.Approve.SetEnabled(false) // not yet: the dialog arms in a moment
		}
		for _, b := range []key.Binding{k.Approve, k.Cancel, k.KeepWaiting, k.Retry, k.Continue, k.RollbackNode, k.RollbackAll, k.Sysdump, k.Abort} {
			if b.Enabled() {
				out = append(out, b)
			}
		}
	}
	if m.machine.LastSysdump != "" {
		out = append(out, k.View)
	}
	return append(out, k.NextPane, k.Help, k.Quit)
}
