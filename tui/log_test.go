package tui

import (
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/style"
)

// logPaneLines is the log pane's text on screen: what follows "Log" in
// the pane's border, line by line, up to the border's end.
func logPaneLines(screen string) []string {
	var out []string
	col := -1
	for _, l := range strings.Split(screen, "\n") {
		r := []rune(l)
		if col < 0 {
			i := strings.Index(l, "│Log")
			if i < 0 {
				i = strings.Index(l, "┃Log") // focused
			}
			if i >= 0 {
				col = len([]rune(l[:i]))
			} else {
				continue
			}
		}
		if col >= len(r) || !strings.ContainsRune("│┃", r[col]) {
			break
		}
		out = append(out, strings.TrimRight(strings.TrimSuffix(strings.TrimRight(string(r[col+1:]), " "), "│"), " "))
	}
	return out
}

// While a gate waits, the log's last line is the wait itself, drawn from
// the machine each frame: it changes in place (one line, never a new one
// per poll) and goes when the gate closes.
func TestLogLiveGateLine(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
	live := func() []string {
		var out []string
		for _, l := range logPaneLines(h.screen()) {
			if strings.Contains(l, style.GlyphRunning+" gate stabilise") {
				out = append(out, l)
			}
		}
		return out
	}
	first := live()
	if len(first) != 1 || !strings.Contains(first[0], "fw-a") {
		t.Fatalf("want one live line of fw-a's gate in the log, got %q:\n%s", first, h.screen())
	}
	h.tick()
	h.tick()
	again := live()
	if len(again) != 1 || again[0] == first[0] {
		t.Errorf("the live line should change in place: before %q, after %q", first, again)
	}
	h.until("the gate closed", func(m Model) bool { return !m.machine.Gate.Open })
	if l := live(); len(l) != 0 {
		t.Errorf("the live line stays after the gate closed: %q", l)
	}
}

// / filters the log by any text; the pane's title names the filter and
// how many lines it keeps; esc in the prompt clears it. Typing q in the
// prompt filters, it does not quit.
func TestLogFilter(t *testing.T) {
	h := newHarness(t, 3, 2, quiescedOpts(), 120, 40)
	h.approveUntil("fw-a's stabilise gate", inStabiliseGate("fw-a"))
	withLogLines(h)
	for _, k := range []string{"/", "k", "e", "e", "p"} {
		h.key(k)
	}
	h.key("enter")
	lines := logPaneLines(h.screen())
	if len(lines) == 0 || !strings.Contains(lines[0], "filter: keep (1 of") {
		t.Fatalf("the title should name the filter and its count:\n%s", strings.Join(lines, "\n"))
	}
	var shown []string
	for _, l := range lines[1:] {
		if strings.Contains(l, ":") && !strings.Contains(l, style.GlyphRunning+" gate") {
			shown = append(shown, l)
		}
	}
	if len(shown) != 1 || !strings.Contains(shown[0], "keep-prev") {
		t.Errorf("the filter keep should keep the keep-prev line alone, got %q", shown)
	}
	h.key("/")
	h.key("q")
	if h.m.quitting || h.m.dialog.askQuit {
		t.Fatalf("q typed in the filter asked to quit")
	}
	h.key("esc")
	lines = logPaneLines(h.screen())
	if strings.Contains(lines[0], "filter:") || !strings.Contains(strings.Join(lines, "\n"), "swap") {
		t.Errorf("esc should clear the filter and show every line again:\n%s", strings.Join(lines, "\n"))
	}
	if _, ok := h.m.machine.Current(); !ok || h.m.machine.Phase == runbook.PhaseDone {
		t.Errorf("the filter changed the run")
	}
}
