package tui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/internal/scroll"
	"github.com/nwroll/nwroll/tui/style"
)

// serviceLogLines is how much of a node's service log the console reads.
const serviceLogLines = 50

// serviceLog is the last lines of a node's service log as the console
// last read them over SSH: its own reading, with when, not a copy of
// anything the machine knows.
type serviceLog struct {
	lines   []string
	at      time.Time
	err     string
	loading bool
}

// detailPane is one node in full, drawn from the frame's machine each
// frame: every /ready check with its detail, /health, its stats row and
// its own /metrics with how old they are, the abort-signal counters
// against the pre-check's baseline, its binary and the .new and .prev
// beside it, its unit, the last poll errors in full, and the last lines of
// its service log. It keeps only which node is open and how far it is
// scrolled.
type detailPane struct {
	KeyMap detailKeyMap
	Scroll scroll.Keys
	st     *style.Styles
	inv    *inventory.Inventory
	node   string // "" when closed
	vp     viewport.Model
	w, h   int
	f      *frame
}

// detailKeyMap is the keys of the node detail.
type detailKeyMap struct {
	Open   key.Binding // on the node table: the selected node's detail
	Close  key.Binding
	Reload key.Binding // read the service log again
}

func defaultDetailKeyMap() detailKeyMap {
	return detailKeyMap{
		Open:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "node detail")),
		Close:  key.NewBinding(key.WithKeys("esc", "enter"), key.WithHelp("esc", "back")),
		Reload: key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "reload service log")),
	}
}

func newDetailPane(st *style.Styles, inv *inventory.Inventory) detailPane {
	p := detailPane{KeyMap: defaultDetailKeyMap(), Scroll: paneKeys(), st: st, inv: inv, vp: viewport.New()}
	p.vp.KeyMap = viewport.KeyMap{} // the pane routes keys itself
	return p
}

func (p detailPane) in(f *frame) detailPane      { p.f = f; return p }
func (p *detailPane) SetStyles(st *style.Styles) { p.st = st }
func (p *detailPane) SetSize(w, h int)           { p.w, p.h = w, h }

// Open shows node's detail from its top; Node is the node open, or "".
func (p *detailPane) Open(node string) { p.node = node; p.vp.GotoTop() }
func (p detailPane) Node() string      { return p.node }

// ShortHelp is the detail's keys for the status bar.
func (p detailPane) ShortHelp() []key.Binding {
	return []key.Binding{p.KeyMap.Close, p.KeyMap.Reload, p.Scroll.Down, p.Scroll.PageDown}
}

// Update scrolls, and closes on esc; l is the root's (it reads the log).
func (p detailPane) Update(msg tea.Msg) (detailPane, tea.Cmd) {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok || p.f == nil {
		return p, nil
	}
	if key.Matches(km, p.KeyMap.Close) {
		p.node = ""
		return p, nil
	}
	p.vp = p.viewport()
	p.Scroll.Viewport(&p.vp, km)
	return p, nil
}

// viewport is the pane's viewport at its size, holding the detail as the
// frame has it now, scrolled where the operator left it.
func (p detailPane) viewport() viewport.Model {
	vp := p.vp
	vp.SetWidth(max(1, p.w-2))
	vp.SetHeight(max(1, p.h-3))
	vp.SetContentLines(p.lines(max(10, p.w-4)))
	vp.SetYOffset(p.vp.YOffset())
	return vp
}

// View draws the detail at its size; its keys are in the status bar.
func (p detailPane) View() string {
	if p.f == nil || p.node == "" {
		return ""
	}
	vp := p.viewport()
	title := p.st.PaneTitle.Render("Node " + p.node)
	if vp.TotalLineCount() > vp.Height() {
		title += p.st.Dim.Render(fmt.Sprintf("  %d%%", int(vp.ScrollPercent()*100)))
	}
	return p.st.PaneFocused.Width(p.w).Height(p.h).Render(lipgloss.NewStyle().MaxWidth(p.w-2).Render(title) + "\n" + vp.View())
}

// lines is the whole detail, w wide, from the frame.
func (p detailPane) lines(w int) []string {
	st, mc, now := p.st, p.f.mc, p.f.now
	var out []string
	add := func(l ...string) { out = append(out, l...) }
	head := func(s string) { add("", st.Bold.Render(s)) }
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return fmtAge(now.Sub(t)) + " ago"
	}
	ns, polled := mc.Latest.Node(p.node)
	var view runbook.NodeView
	var state *runbook.NodeState
	for i, v := range mc.NodeViews() {
		if v.Name == p.node {
			view, state = v, &mc.Nodes[i]
		}
	}
	if state == nil {
		return []string{"no node " + p.node + " in this run"}
	}
	add(fmt.Sprintf("%s · node_id %s · role %s · rollout: %s", p.node, state.NodeID, view.Role, nodeStateCell(st, state.Status)))

	head(fmt.Sprintf("Readiness (/health and /ready, polled %s)", ago(ns.TakenAt)))
	switch {
	case !polled:
		add("  not polled yet")
	case ns.Health != nil:
		add("  /health: " + ns.Health.Status)
	}
	if ns.Ready != nil {
		for _, c := range ns.Ready.Checks {
			line := "  " + glyphOf(st, c.OK) + " " + c.Name
			if c.Detail != nil {
				line += ": " + *c.Detail
			}
			add(wrapHang("", line, w))
		}
	}
	row, haveRow := mc.Latest.Row(state.NodeID)
	if ns.Ready != nil && haveRow && row.CaughtUp {
		for _, c := range ns.Ready.Checks {
			if c.Name == health.CheckPolicyReplication && !c.OK {
				add(st.Dim.Render(wrapHang("  note: ", "/ready's policy_replication is this node's own apply of the replicated policy; the stats row's caught up is the leader's view of its log. The node has the entries but has not applied the policy yet.", w)))
			}
		}
	}

	head(fmt.Sprintf("Raft (stats row from %s, metrics from %s, polled %s)", orDash(mc.Latest.StatsFrom), p.node, ago(ns.TakenAt)))
	if haveRow {
		add(fmt.Sprintf("  stats row: role %s, matched_index %s, lag %s, caught up %s", row.Role, optNum(row.MatchedIndex), optNum(row.LagEntries), yesNo(row.CaughtUp)))
	} else {
		add("  stats row: none" + errSuffix(mc.Latest.StatsErr))
	}
	if met := ns.Metrics; met != nil {
		add(fmt.Sprintf("  /metrics: term %d, last_log_index %d, last_applied %d, leader %s", met.CurrentTerm, met.LastLogIndex, met.LastApplied, yesNo(met.IsLeader)))
	} else {
		add("  /metrics: none" + errSuffix(ns.MetricsErr))
	}

	head("Abort signals against the pre-check's baseline")
	add(p.abortLines()...)

	head(fmt.Sprintf("Binary (read %s)", ago(state.BinaryAt)))
	bin := "<binary>"
	if p.inv != nil {
		if n, ok := p.inv.Node(p.node); ok {
			bin = n.Paths.Binary
		}
	}
	add(wrapHang("  ", fmt.Sprintf("%s: %s (sha256 %s)", bin, state.Binary.Label(), state.Binary.SHA256), w))
	newText, prevText := "none", "none"
	if state.Staged {
		newText = mc.Plan.Target.Label() + " (staged, sha256 " + mc.Plan.Target.SHA256 + ")"
	}
	if state.PrevKept {
		prevText = state.Previous.Label() + " (what a rollback restores, sha256 " + state.Previous.SHA256 + ")"
	}
	add(wrapHang("  ", ".new: "+newText, w), wrapHang("  ", ".prev: "+prevText, w))

	head("Service")
	if svc := state.Service; !svc.At.IsZero() {
		add(fmt.Sprintf("  %s, %d restarts (read %s)", svc.State(), svc.NRestarts, ago(svc.At)))
	} else if state.Down {
		add("  stopped by this run")
	} else {
		add("  not read by a gate yet")
	}

	head("Last poll errors")
	errs := 0
	for _, e := range []struct {
		what string
		err  error
	}{{"/health", ns.HealthErr}, {"/ready", ns.ReadyErr}, {"/metrics", ns.MetricsErr}} {
		if e.err != nil {
			errs++
			add(wrapHang("  "+e.what+": ", e.err.Error(), w))
		}
	}
	if errs == 0 {
		add("  none")
	}

	out = append(out, p.serviceLogLines(w)...)
	return out
}

// abortLines are the abort-signal counters now, at the baseline and the
// difference (facts §10).
func (p detailPane) abortLines() []string {
	mc := p.f.mc
	ns, _ := mc.Latest.Node(p.node)
	now := ns.Metrics
	var base *health.Metrics
	if b, ok := mc.Baseline.Node(p.node); ok && mc.HaveBaseline {
		base = b.Metrics
	}
	if now == nil {
		return []string{"  no /metrics sample"}
	}
	id := ""
	for _, n := range mc.Nodes {
		if n.Name == p.node {
			id = n.NodeID
		}
	}
	var peerNow, peerBase *float64
	if l, ok := mc.Latest.Leader(); ok {
		if ls, ok := mc.Latest.NodeByID(l.NodeID); ok && ls.Metrics != nil {
			v := ls.Metrics.PeerErrors(id)
			peerNow = &v
		}
	}
	if l, ok := mc.Baseline.Leader(); ok && mc.HaveBaseline {
		if ls, ok := mc.Baseline.NodeByID(l.NodeID); ok && ls.Metrics != nil {
			v := ls.Metrics.PeerErrors(id)
			peerBase = &v
		}
	}
	counter := func(name string, v float64, b *float64) string {
		if b == nil {
			return fmt.Sprintf("  %-38s %g (no baseline)", name, v)
		}
		return fmt.Sprintf("  %-38s %g (baseline %g, %+g)", name, v, *b, v-*b)
	}
	ptr := func(m *health.Metrics, f func(*health.Metrics) float64) *float64 {
		if m == nil {
			return nil
		}
		v := f(m)
		return &v
	}
	lease := func(m *health.Metrics) float64 {
		if m.DHCPLeaseActive {
			return 1
		}
		return 0
	}
	out := []string{
		counter("svc_fail_closed_total", now.FailClosedTotal(), ptr(base, (*health.Metrics).FailClosedTotal)),
		counter("dhcp_lease_active", lease(now), ptr(base, lease)),
		counter(`http_auth_total{outcome="deny"}`, now.AuthDenies(), ptr(base, (*health.Metrics).AuthDenies)),
	}
	if peerNow != nil {
		out = append(out, counter("leader's raft_peer_errors_total for it", *peerNow, peerBase))
	}
	return out
}

// serviceLogLines is the node's service log as last read.
func (p detailPane) serviceLogLines(w int) []string {
	st := p.st
	sl := p.f.logs[p.node]
	status := "not read yet"
	switch {
	case sl.loading:
		status = "reading…"
	case !sl.at.IsZero():
		status = "read " + fmtAge(p.f.now.Sub(sl.at)) + " ago"
	}
	out := []string{"", st.Bold.Render(fmt.Sprintf("Service log (journalctl -u neuwerk.service -n %d, %s)", serviceLogLines, status))}
	if sl.err != "" {
		out = append(out, st.Fail.Render(wrapHang("  ", sl.err, w)))
	}
	if len(sl.lines) == 0 && sl.err == "" && !sl.at.IsZero() {
		out = append(out, "  (empty)")
	}
	for _, l := range sl.lines {
		out = append(out, wrapHang("  ", l, w))
	}
	return out
}

// tailing reports whether the node's log is worth reading again by itself:
// the run is stopping, starting or gating it, or it does not answer.
func tailing(mc *runbook.Machine, node string) bool {
	for _, v := range mc.NodeViews() {
		if v.Name != node {
			continue
		}
		switch v.Status {
		case runbook.NodeStopping, runbook.NodeSwapping, runbook.NodeStarting, runbook.NodeVerifying, runbook.NodeRollingBack:
			return true
		}
		return v.Down || !v.Answered || mc.Gate.Open && mc.Gate.Node == node
	}
	return false
}

func optNum(v *uint64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprint(*v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
