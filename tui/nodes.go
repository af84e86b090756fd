package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/table"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// nodesPane is the live node table: one row per inventory node, built
// from the machine's view of each node every frame. The pane keeps only
// which row is selected.
type nodesPane struct {
	KeyMap  scroll.Keys
	st      *style.Styles
	table   table.Model // columns, size and styles; its rows are set for each View
	cursor  int         // the selected row
	w, h    int
	focused bool
	f       *frame
}

func newNodesPane(st *style.Styles) nodesPane {
	p := nodesPane{KeyMap: paneKeys(), table: table.New(table.WithFocused(true))}
	p.SetStyles(st)
	return p
}

func (p nodesPane) in(f *frame) nodesPane { p.f = f; return p }

// SetStyles sets the styles; the selected row stands out only with focus.
func (p *nodesPane) SetStyles(st *style.Styles) {
	p.st = st
	selected := lipgloss.NewStyle()
	if p.focused {
		selected = st.Selected
	}
	p.table.SetStyles(table.Styles{Header: st.Bold.Padding(0, 1), Cell: lipgloss.NewStyle().Padding(0, 1), Selected: selected})
}

// Focus and Blur say whether the pane takes the keys.
func (p *nodesPane) Focus() { p.focused = true; p.table.Focus(); p.SetStyles(p.st) }
func (p *nodesPane) Blur()  { p.focused = false; p.table.Blur(); p.SetStyles(p.st) }

// SetSize fits the table inside a border of w×h.
func (p *nodesPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.table.SetWidth(max(10, w-2))
	p.table.SetHeight(max(2, h-2))
}

// nodeColumns are the table's titles, the widest each may grow, and the
// readiness column, which takes what the others leave: failing check
// names and errors are the longest cells (the detail pane shows them whole).
var nodeColumns = []struct {
	title string
	most  int
}{{"NODE", 19}, {"ROLE", 12}, {"RELEASE", 26}, {"READY", 0}, {"LAG", 7}, {"SEEN", 8}, {"ROLLOUT", 18}}

const readyColumn = 3

// columnsFor sizes each column to its widest cell (title included) within
// w: the readiness column gets the rest, never less than 6.
func columnsFor(w int, rows []table.Row) []table.Column {
	cols := make([]table.Column, len(nodeColumns))
	used := 0
	for i, c := range nodeColumns {
		width := lipgloss.Width(c.title)
		for _, r := range rows {
			width = max(width, lipgloss.Width(r[i]))
		}
		if c.most > 0 {
			width = min(width, c.most)
			used += width + 2 // cell padding
		}
		cols[i] = table.Column{Title: c.title, Width: width}
	}
	cols[readyColumn].Width = max(6, min(cols[readyColumn].Width, w-used-2))
	return cols
}

// Update moves the selection.
func (p nodesPane) Update(msg tea.Msg) (nodesPane, tea.Cmd) {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok || p.f == nil {
		return p, nil
	}
	p.cursor, _ = p.KeyMap.Move(km, p.cursor, max(1, p.h-3), len(p.rows())-1)
	return p, nil
}

// View draws the table with the rows of the frame.
func (p nodesPane) View() string {
	t := p.table
	rows := p.rows()
	t.SetColumns(columnsFor(max(10, p.w-2), rows))
	t.SetRows(rows)
	t.MoveDown(p.cursor) // from the top, so the selected row is in view
	border := p.st.Pane
	if p.focused {
		border = p.st.PaneFocused
	}
	return border.Width(p.w).Height(p.h).Render(t.View())
}

// rows builds the node table from the machine's view of each node.
func (p nodesPane) rows() []table.Row {
	if p.f == nil {
		return nil
	}
	st, mc := p.st, p.f.mc
	var rows []table.Row
	if p.f.stage != stageRunning && p.f.stage != stageLooking {
		state := "connecting…"
		switch p.f.stage {
		case stageRefused, stageChoosing, stageLocked:
			state = "untouched"
		}
		for _, name := range p.f.names {
			rows = append(rows, table.Row{name, "", "", "", "", "", state})
		}
		return rows
	}
	target := mc.Plan.Target
	for _, v := range mc.NodeViews() {
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
		case !mc.HaveSnapshot:
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
		if now := p.f.now; !v.LastSeen.IsZero() {
			seen = fmtAge(now.Sub(v.LastSeen))
			if now.Sub(v.LastSeen) > 5*time.Second {
				seen = st.Warn.Render(seen)
			}
		}
		if v.Status == runbook.NodeRetired {
			// Terminated and gone from the group: it answers nothing now.
			role, ready, lag, seen = st.Dim.Render("—"), st.Dim.Render("—"), st.Dim.Render("—"), st.Dim.Render("—")
		}
		state := nodeStateCell(st, v.Status)
		switch v.Status {
		case runbook.NodePending, runbook.NodeStaged, runbook.NodeBackedUp, runbook.NodeUpgraded, runbook.NodeOnTarget, runbook.NodeRolledBack:
			if v.Down { // stopped by this run (or one it continues), no operation on it now
				state = st.Fail.Render(style.GlyphFail + " stopped")
			}
		}
		rows = append(rows, table.Row{v.Name, role, release, ready, lag, seen, state})
	}
	return rows
}

// nodeStateCell is the rollout state with its glyph.
func nodeStateCell(st *style.Styles, status runbook.NodeStatus) string {
	s := status.String()
	switch status {
	case runbook.NodePending, runbook.NodeRetired:
		return st.Dim.Render(style.GlyphPending + " " + s)
	case runbook.NodeUpgraded, runbook.NodeOnTarget, runbook.NodeBackedUp, runbook.NodeStaged:
		return st.OK.Render(style.GlyphOK + " " + s)
	case runbook.NodeFailed:
		return st.Fail.Render(style.GlyphFail + " " + s)
	case runbook.NodeRolledBack:
		return st.Warn.Render(style.GlyphRollback + " " + s)
	case runbook.NodeUnverified:
		return st.Warn.Render(style.GlyphWarn + " " + s)
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
