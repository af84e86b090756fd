package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Bugs an operator met in the console, each pinned by a test that failed
// before its fix.

// tableRows are the node table's rows on screen, by node name.
func tableRows(screen string) map[string]string {
	rows := map[string]string{}
	for _, l := range strings.Split(screen, "\n") {
		if m := regexp.MustCompile(`┃ (fw-[a-z])\s`).FindStringSubmatch(l); m != nil {
			rows[m[1]] = l
		}
	}
	return rows
}

// Moving the table's cursor keeps every row, the leader's included.
func TestNodeTableCursorKeepsEveryRow(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		h := newHarness(t, 3, 0, rollouttest.DefaultPlanOptions(), size[0], size[1])
		h.until("the first snapshot", func(m Model) bool { return m.machine.HaveSnapshot })
		for _, k := range []string{"j", "j", "j", "k", "g", "G", "k", "j"} {
			h.key(k)
			rows := tableRows(h.screen())
			if len(rows) != 3 {
				t.Fatalf("%dx%d after %q: %d node rows on screen, want 3:\n%s", size[0], size[1], k, len(rows), h.screen())
			}
			if !strings.Contains(rows["fw-a"], "★ leader") {
				t.Fatalf("%dx%d after %q: the leader row lost its mark: %q", size[0], size[1], k, rows["fw-a"])
			}
		}
		if got := h.m.nodes.cursor; got != 2 {
			t.Errorf("cursor at %d after j j j k g G k j, want 2", got)
		}
	}
}

// While the cluster elects a leader, the header never names the last
// leader as if it still led.
func TestHeaderDuringAnElection(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("the leader's backup stopping it", func(m Model) bool {
		_, leads := m.machine.Latest.Leader()
		return m.machine.HaveSnapshot && !leads && m.machine.Leader != ""
	})
	line := strings.Split(h.screen(), "\n")[0]
	if strings.Contains(line, "leader ★") || !strings.Contains(line, "no leader now (last: fw-c, term 7)") {
		t.Fatalf("the header during the election: %q", line)
	}
	h.approveUntil("a new leader", func(m Model) bool {
		_, leads := m.machine.Latest.Leader()
		return leads && m.machine.Leader != "fw-c"
	})
	if line := strings.Split(h.screen(), "\n")[0]; !regexp.MustCompile(`leader ★ fw-[ab] \(term 8\)`).MatchString(line) {
		t.Fatalf("the header after the election: %q", line)
	}
}

// The elapsed clock stops when the run ends.
func TestElapsedStopsWhenTheRunEnds(t *testing.T) {
	h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), 120, 40)
	h.approveUntil("the end", func(m Model) bool { return m.machine.Finished })
	at := regexp.MustCompile(`elapsed (\S+)`).FindStringSubmatch(h.screen())
	for range 5 {
		h.tick()
	}
	later := regexp.MustCompile(`elapsed (\S+)`).FindStringSubmatch(h.screen())
	if at == nil || later == nil || at[1] != later[1] {
		t.Fatalf("elapsed %v at the end, %v five seconds later: it must stop", at, later)
	}
	if h.m.machine.ExitCode != runbook.ExitOK {
		t.Fatalf("exit %d: %s", h.m.machine.ExitCode, h.m.machine.Reason)
	}
}

// A transfer's bar shows while its effect is in flight and goes the
// moment the effect is answered: no stuck bar, none under a later step.
func TestTransferBarsFollowTheirEffects(t *testing.T) {
	h := newHarness(t, 3, 2, rollouttest.DefaultPlanOptions(), 120, 40)
	h.approveUntil("the lock's dialog", awaiting(runbook.StepLock))
	h.arm()
	h.update(tea.KeyPressMsg{Code: 'y', Text: "y"}) // no pump: the answers go one by one below
	progress := func(node, op string) {
		h.update(progressMsg{note: executor.Note{At: h.m.now, Node: node, Kind: executor.NoteProgress, Op: op, Done: 512, Total: 2048}, from: h.m.eng})
	}
	bar := regexp.MustCompile(`fw-a\s+stage\s+\S+\s+25%`)
	for i := 0; i < 50 && !h.m.machine.InFlight("fw-a", "stage"); i++ {
		ev, ok := h.d.next()
		if !ok {
			t.Fatal("the stage effects never went out")
		}
		h.update(engineMsg{ev: ev, from: h.m.eng})
	}
	progress("fw-a", "stage")
	if !bar.MatchString(h.screen()) {
		t.Fatalf("no bar for fw-a's staging while it is in flight:\n%s", h.screen())
	}
	// On to the first backup, running: the staging is answered.
	for i := 0; i < 50; i++ {
		if cur, ok := h.m.machine.Current(); ok && cur.Kind == runbook.StepBackup {
			break
		}
		ev, ok := h.d.next()
		if !ok {
			t.Fatal("the run never reached its backups")
		}
		h.update(engineMsg{ev: ev, from: h.m.eng})
	}
	if h.m.machine.InFlight("fw-a", "stage") {
		t.Fatal("fw-a's staging still in flight at the backups")
	}
	if bar.MatchString(h.screen()) {
		t.Fatalf("fw-a's staging bar outlived its effect, under the backup step:\n%s", h.screen())
	}
	progress("cluster", "sysdump") // a late note of a sysdump already saved
	if strings.Contains(h.screen(), "sysdump ") && regexp.MustCompile(`cluster\s+sysdump\s+\S+\s+25%`).MatchString(h.screen()) {
		t.Fatalf("a bar for a sysdump no longer in flight:\n%s", h.screen())
	}
}

// The pre-check's countdown is the pre-check's own: it refuses when the
// countdown says it will.
func TestPreCheckCountdownIsTheRefusalsClock(t *testing.T) {
	c := rollouttest.NewCluster(3, 2)
	c.NotReady("fw-b")
	h := newHarnessOn(t, c, rollouttest.DefaultPlanOptions(), 120, 40)
	left := regexp.MustCompile(`gate pre-check: waiting \S+ on \d+ of \d+ checks · (\S+) left`)
	m := left.FindStringSubmatch(h.screen())
	if m == nil {
		t.Fatalf("no pre-check countdown on screen:\n%s", h.screen())
	}
	if m[1] != fmtDuration(runbook.PreCheckSettle) {
		t.Fatalf("the pre-check counts down from %s, but it refuses after %s", m[1], runbook.PreCheckSettle)
	}
	ticks := 0
	for ; !h.m.machine.Finished && ticks < 60; ticks++ {
		h.tick()
	}
	if h.m.machine.ExitCode != runbook.ExitRefused || time.Duration(ticks)*time.Second > runbook.PreCheckSettle+2*time.Second {
		t.Fatalf("refused after %d ticks with exit %d (countdown said %s)", ticks, h.m.machine.ExitCode, m[1])
	}
}

// At 80x24 an approval taller than its room scrolls between its title and
// its keys, and y approves it only once it was read to its end; the status
// bar keeps ? help and q quit however many keys it lists.
func TestDialogScrollsAndYWaitsForItsEnd(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 80, 24)
	h.approveUntil("the first upgrade dialog", awaiting(runbook.StepUpgrade))
	h.arm()
	s, _ := h.m.machine.AwaitingApproval()
	scr := h.screen()
	if !strings.Contains(scr, "Approve step") || !strings.Contains(scr, "more below") || !strings.Contains(scr, "y approve") {
		t.Fatalf("the cut dialog should keep its title and keys and say more is below:\n%s", scr)
	}
	status := strings.Split(scr, "\n")[22]
	if !strings.HasSuffix(strings.TrimSpace(status), "? help • q quit") {
		t.Errorf("the status bar lost ? help or q quit: %q", status)
	}
	h.key("y")
	if st, _ := h.m.machine.StepByID(s.ID); !st.ApprovedAt.IsZero() {
		t.Fatalf("y approved a dialog whose end was not seen")
	}
	if !strings.Contains(h.screen(), "read the whole step first") {
		t.Errorf("y on an unread dialog should say why nothing happened:\n%s", h.screen())
	}
	before := dialogUnseen(h.m)
	h.key("down")
	if got := dialogUnseen(h.m); got != before-1 {
		t.Errorf("↓ left %d lines below, want %d", got, before-1)
	}
	if h.m.nodes.cursor != 0 {
		t.Errorf("↓ on a dialog moved the node table's cursor to %d", h.m.nodes.cursor)
	}
	h.key("pgdown")
	h.key("G")
	if got := dialogUnseen(h.m); got != 0 {
		t.Fatalf("G left %d lines below", got)
	}
	if scr := h.screen(); !strings.Contains(scr, "neuwerk.service on fw-b active") || strings.Contains(scr, "more below") {
		t.Errorf("at its end the dialog should show its last check and nothing below:\n%s", scr)
	}
	h.key("y")
	if st, _ := h.m.machine.StepByID(s.ID); st.ApprovedAt.IsZero() {
		t.Fatalf("y did not approve the dialog read to its end:\n%s", h.screen())
	}
}

// At 80x24 the help page scrolls: its end (how it works) is reachable,
// and its title says where it is.
func TestHelpScrollsAt80x24(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 80, 24)
	h.key("?")
	if scr := h.screen(); !strings.Contains(scr, "scroll · lines 1–") || strings.Contains(scr, "How it works") {
		t.Fatalf("the help's top at 80x24 should say it scrolls, its end below:\n%s", scr)
	}
	h.key("G")
	scr := h.screen()
	if !strings.Contains(scr, "How it works") || !strings.Contains(scr, "nwroll resume") {
		t.Fatalf("G should show the help's end:\n%s", scr)
	}
	if !h.m.help.Visible() {
		t.Fatalf("a scroll key closed the help")
	}
	h.key("esc")
	if h.m.help.Visible() {
		t.Fatalf("esc did not close the help")
	}
}

// Paths, file names and releases never break at their hyphens when a
// line wraps; other words still may.
func TestWrapKeepsPathsWhole(t *testing.T) {
	got := wrap("backup /var/backups/neuwerk/neuwerk-fw-a-c309c069.tar.gz of 1.1.1-never-ready, a well-known re-read", 60)
	for _, l := range strings.Split(got, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, "-") && !strings.HasSuffix(l, "well-") && !strings.HasSuffix(l, "re-") {
			t.Errorf("a path or release broke at a hyphen:\n%s", got)
		}
	}
	if !strings.Contains(got, "/var/backups/neuwerk/neuwerk-fw-a-c309c069.tar.gz") || !strings.Contains(got, "1.1.1-never-ready") {
		t.Errorf("the path or the release is not whole on one line:\n%s", got)
	}
}
