package tui

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

const headerHeight = 2

// headerView: the cluster; the leader and term; current → target release;
// the phase; the elapsed time; the lock holder.
func (m Model) headerView() string {
	st := m.st
	mc := m.machine
	name := m.clusterName()
	left := st.Title.Render("nwroll") + "  " + st.Bold.Render("cluster "+name)
	var parts []string
	switch {
	case m.stage == stagePreparing:
		parts = append(parts, st.Running.Render("surveying the cluster over SSH (read-only)…"))
	case m.stage == stageRefused:
		parts = append(parts, st.Fail.Render(style.GlyphFail+" refused before any change"))
	case m.stage == stageLocked:
		parts = append(parts, st.Warn.Render(style.GlyphWarn+" locked by run "+m.locked.err.Holder.RunID+", which is gone: nothing started"))
	case m.stage == stageChoosing:
		parts = append(parts, st.Warn.Render(style.GlyphWarn+" run "+m.unfinished.ID+" is unfinished: nothing started"))
	default:
		_, leads := mc.Latest.Leader()
		switch {
		case mc.Leader != "" && (leads || !mc.HaveSnapshot):
			parts = append(parts, fmt.Sprintf("leader %s %s (term %d)", style.GlyphLeader, st.Leader.Render(mc.Leader), mc.Term))
		case mc.Leader != "":
			// The latest poll found no leader: an election, or a cluster
			// that cannot answer. Never the last leader as if it still led.
			parts = append(parts, st.Warn.Render(fmt.Sprintf("%s no leader now (last: %s, term %d)", style.GlyphWarn, mc.Leader, mc.Term)))
		default:
			parts = append(parts, st.Warn.Render(style.GlyphWarn+" no leader"))
		}
		parts = append(parts, releaseLine(st, mc))
	}
	line1 := left + "   " + strings.Join(parts, "   ")

	var info []string
	if m.stage == stageRunning || m.stage == stageLooking {
		phase := mc.Phase.String()
		switch {
		case m.stage == stageLooking:
			phase = st.Warn.Render(style.GlyphWarn+" looking only") + st.Dim.Render(" — nothing runs until you press c or R")
		case mc.Finished && mc.ExitCode == runbook.ExitOK:
			phase = st.OK.Render(style.GlyphOK + " finished: " + mc.Reason)
		case mc.Finished:
			phase = st.Fail.Render(fmt.Sprintf("%s ended (exit %d): %s", style.GlyphFail, mc.ExitCode, mc.Reason))
		case mc.Pause != nil:
			phase = st.Warn.Render(style.GlyphWarn+" paused in "+phase) + st.Dim.Render(" — waiting for your decision")
		default:
			phase = "phase " + st.Bold.Render(phase)
		}
		end := m.now
		if mc.Finished && !mc.Now.IsZero() {
			end = mc.Now // the clock stops with the run
		}
		info = append(info, phase, "elapsed "+fmtDuration(end.Sub(m.started)))
		switch {
		case mc.LockHeld():
			info = append(info, "lock held by "+m.holder)
		case mc.OwnLockLeft() && !mc.Finished:
			info = append(info, st.Warn.Render("lock left by run "+m.runID))
		default:
			info = append(info, st.Dim.Render("no lock held"))
		}
	}
	if m.deps.Note != "" {
		info = append(info, st.Dim.Render(m.deps.Note))
	}
	line2 := strings.Join(info, st.Dim.Render("  │  "))
	w := lipgloss.NewStyle().MaxWidth(m.width)
	return w.Render(line1) + "\n" + w.Render(line2)
}

// releaseLine is the release the cluster runs now, read from the
// machine's nodes each frame: "1.0.0" when every node runs one release;
// "1.0.0 → 1.1.0 (2 of 3)" while a run takes the nodes to its target (2
// of 3 on it), "1.1.0 → 1.0.0 (2 of 3)" while it rolls them back (2 of 3
// back); and "1.0.0 ×1, 1.1.0 ×2" when a run ended between the two.
func releaseLine(st *style.Styles, mc runbook.Machine) string {
	target := mc.Plan.Target
	on := 0
	var others, back []string
	for _, n := range mc.Nodes {
		if n.Binary.SHA256 == target.SHA256 {
			on++
		} else if l := n.Binary.Label(); !slices.Contains(others, l) {
			others = append(others, l)
		}
		if l := n.Previous.Label(); n.Swapped && !slices.Contains(back, l) {
			back = append(back, l)
		}
	}
	switch {
	case on == len(mc.Nodes):
		return st.Bold.Render(target.Label())
	case on == 0 && len(others) == 1 && mc.Finished:
		return others[0]
	case mc.Finished:
		return releaseCounts(mc)
	case mc.Phase == runbook.PhaseRollback:
		for _, l := range others {
			if !slices.Contains(back, l) {
				back = append(back, l)
			}
		}
		return target.Label() + " → " + st.Bold.Render(strings.Join(back, ", ")) + fmt.Sprintf(" (%d of %d)", len(mc.Nodes)-on, len(mc.Nodes))
	}
	return strings.Join(others, ", ") + " → " + st.Bold.Render(target.Label()) + fmt.Sprintf(" (%d of %d)", on, len(mc.Nodes))
}

// releaseCounts is how many nodes run each release: "1.0.0 ×2, 1.1.0 ×1".
func releaseCounts(mc runbook.Machine) string {
	count := map[string]int{}
	for _, n := range mc.Nodes {
		count[n.Binary.Label()]++
	}
	labels := make([]string, 0, len(count))
	for l := range count {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for i, l := range labels {
		labels[i] = fmt.Sprintf("%s ×%d", l, count[l])
	}
	return strings.Join(labels, ", ")
}

// fmtDuration: "4.2s", "1m05s", "1h02m".
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
