package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

// nodesPane is the live node table: one row per inventory node.
type nodesPane struct {
	table table.Model
	w, h  int
}

func newNodesPane(st style.Styles) nodesPane {
	p := nodesPane{table: table.New(table.WithFocused(true))}
	p.setStyles(st)
	return p
}

func (p *nodesPane) setStyles(st style.Styles) {
	p.table.SetStyles(table.Styles{
		Header:   st.Bold.Padding(0, 1),
		Cell:     lipgloss.NewStyle().Padding(0, 1),
		Selected: lipgloss.NewStyle(),
	})
}

// setSize fits the table inside a border of w×h.
func (p *nodesPane) setSize(st style.Styles, w, h int, focused bool) {
	p.w, p.h = w, h
	inner := max(10, w-2)
	p.table.SetColumns(nodeColumns(inner))
	p.table.SetWidth(inner)
	p.table.SetHeight(max(2, h-2))
	if focused {
		p.table.Focus()
		p.setStylesSelected(st)
	} else {
		p.table.Blur()
		p.setStyles(st)
	}
}

// nodeColumns share the width; the readiness column takes what is left,
// because failing check names and errors are the longest cells.
func nodeColumns(w int) []table.Column {
	cols := []table.Column{{Title: "NODE", Width: 10}, {Title: "ROLE", Width: 12}, {Title: "RELEASE", Width: 16},
		{Title: "READY", Width: 0}, {Title: "LAG", Width: 7}, {Title: "SEEN", Width: 8}, {Title: "ROLLOUT", Width: 17}}
	if w < 110 {
		cols = []table.Column{{Title: "NODE", Width: 8}, {Title: "ROLE", Width: 10}, {Title: "RELEASE", Width: 12},
			{Title: "READY", Width: 0}, {Title: "LAG", Width: 5}, {Title: "SEEN", Width: 6}, {Title: "ROLLOUT", Width: 14}}
	}
	used := 0
	for _, c := range cols {
		used += c.Width + 2 // cell padding
	}
	cols[3].Width = max(6, w-used)
	return cols
}

func (p nodesPane) scroll(k KeyMap, msg tea.KeyPressMsg) nodesPane {
	switch {
	case key.Matches(msg, k.Up):
		p.table.MoveUp(1)
	case key.Matches(msg, k.Down):
		p.table.MoveDown(1)
	case key.Matches(msg, k.Top):
		p.table.GotoTop()
	case key.Matches(msg, k.Bottom):
		p.table.GotoBottom()
	}
	return p
}

func (p nodesPane) view(st style.Styles, rows []table.Row, focused bool) string {
	p.table.SetRows(rows)
	border := st.Pane
	if focused {
		border = st.PaneFocused
	}
	return border.Width(p.w).Height(p.h).Render(p.table.View())
}

func (p *nodesPane) setStylesSelected(st style.Styles) {
	p.table.SetStyles(table.Styles{
		Header:   st.Bold.Padding(0, 1),
		Cell:     lipgloss.NewStyle().Padding(0, 1),
		Selected: st.Selected,
	})
}

// tableRows builds the node table from the machine's view of each node.
func (m Model) tableRows() []table.Row {
	st := m.st
	var rows []table.Row
	if m.stage != stageRunning {
		state := "connecting…"
		if m.stage == stageRefused {
			state = "untouched"
		}
		for _, name := range m.nodeNames() {
			rows = append(rows, table.Row{name, "", "", "", "", "", state})
		}
		return rows
	}
	target := m.machine.Plan.Target
	for _, v := range m.machine.NodeViews() {
		role := v.Role
		switch role {
		case "leader":
			role = st.Leader.Render(style.GlyphLeader + " leader")
		case "unknown":
			role = st.Dim.Render("? unknown")
		}
		release := v.Binary.Label()
		if v.Binary == target {
			release = st.OK.Render(release)
		}
		if v.Staged && v.Binary.SHA256 != target.SHA256 {
			release += st.Dim.Render(" +new")
		}
		ready := st.OK.Render(style.GlyphOK)
		switch {
		case !m.machine.HaveSnapshot:
			ready = st.Dim.Render("…")
		case v.Unreachable != "":
			ready = st.Fail.Render(style.GlyphFail + " " + v.Unreachable)
		case !v.Ready:
			ready = st.Fail.Render(style.GlyphFail + " " + strings.Join(v.Failing, ", "))
		}
		lag := "—"
		if v.Lag != nil {
			lag = fmt.Sprint(*v.Lag)
		}
		seen := "never"
		if !v.LastSeen.IsZero() {
			seen = fmtAge(m.now.Sub(v.LastSeen))
			if m.now.Sub(v.LastSeen) > 5*time.Second {
				seen = st.Warn.Render(seen)
			}
		}
		rows = append(rows, table.Row{v.Name, role, release, ready, lag, seen, nodeStateCell(st, v.Status)})
	}
	return rows
}

// nodeStateCell is the rollout state with its glyph.
func nodeStateCell(st style.Styles, status runbook.NodeStatus) string {
	s := status.String()
	switch status {
	case runbook.NodePending:
		return st.Dim.Render(style.GlyphPending + " " + s)
	case runbook.NodeUpgraded, runbook.NodeOnTarget, runbook.NodeBackedUp, runbook.NodeStaged:
		return st.OK.Render(style.GlyphOK + " " + s)
	case runbook.NodeFailed:
		return st.Fail.Render(style.GlyphFail + " " + s)
	case runbook.NodeRolledBack:
		return st.Warn.Render(style.GlyphRollback + " " + s)
	}
	return st.Running.Render(style.GlyphRunning + " " + s)
}

// fmtAge: "0.4s ago"-style ages without the "ago".
func fmtAge(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1fs", max(0, d.Seconds()))
	}
	return fmtDuration(d)
}
