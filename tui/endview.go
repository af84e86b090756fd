package tui

import (
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/tui/style"
)

// endLines are the end screen's box once the run finished, w wide inside
// its border: where the run left each node, from the machine
// (runbook.Machine.Summary, which the headless runner prints too), and the
// journal. It is a dialog like the others, so it scrolls when the screen
// is short.
func (d dialog) endLines(w int) (lipgloss.Style, []string) {
	st, mc := d.st, d.f.mc
	border, title := st.Dialog, st.OK.Render(style.GlyphOK+" The run ended: where it left the cluster")
	if mc.ExitCode != 0 {
		title = st.Warn.Render(style.GlyphWarn + " The run ended: where it left the cluster")
	}
	lines := []string{st.DialogTitle.Render(title), ""}
	for _, l := range mc.Summary().Lines() {
		head, rest, _ := strings.Cut(l, ": ") // "fw-a: runs 1.0.0; …": the rest hangs under the name
		// Long paths lose their leading directories, never a name's middle;
		// the lines printed on exit have them whole.
		lines = append(lines, wrapHang(st.Bold.Render(head)+": ", style.ShortPaths(rest, w-lipgloss.Width(head)-2), w))
	}
	if d.f.journal != "" {
		lines = append(lines, "", wrapHang("", "journal: "+style.ShortPath(d.f.journal, w-9), w))
	}
	keys := []string{st.Key.Render("q") + " quit"}
	if mc.LastSysdump != "" {
		keys = append(keys, st.Key.Render("v")+" view the last sysdump")
	}
	return border, append(lines, "", strings.Join(keys, "  "))
}
