package tui

import (
	"strings"

	"github.com/nwroll/nwroll/tui/style"
)

// endView is the end screen's box once the run finished: where the run
// left each node, from the machine (runbook.Machine.Summary, which the
// headless runner prints too), and the journal. room and h are the width
// and height the box may take (it drops blank lines, then cuts its middle,
// to fit); "" while the run goes on.
func (m Model) endView(room, h int) string {
	mc := m.machine
	if m.stage != stageRunning || !mc.Finished {
		return ""
	}
	st := m.st
	w := min(room-4, 96)
	inner := w - 4
	title := st.OK.Render(style.GlyphOK + " The run ended: where it left the cluster")
	if mc.ExitCode != 0 {
		title = st.Warn.Render(style.GlyphWarn + " The run ended: where it left the cluster")
	}
	lines := []string{st.DialogTitle.Render(title), ""}
	for _, l := range mc.Summary().Lines() {
		head, rest, _ := strings.Cut(l, ": ") // "fw-a: runs 1.0.0; …": the rest hangs under the name
		lines = append(lines, wrapHang(st.Bold.Render(head)+": ", rest, inner))
	}
	if m.journal != "" {
		lines = append(lines, "", wrapHang("", "journal: "+m.journal, inner))
	}
	keys := []string{st.Key.Render("q") + " quit"}
	if mc.LastSysdump != "" {
		keys = append(keys, st.Key.Render("v")+" view the last sysdump")
	}
	lines = append(lines, "", strings.Join(keys, "  "))
	return st.Dialog.Width(w).Render(strings.Join(fitLines(lines, h-2, 1), "\n"))
}
