package tui

import (
	"strings"
	"testing"
)

// The demo's note (its cluster's short election timeouts) is on the
// header's second line from the first frame; a console without one shows
// nothing there.
func TestHeaderShowsTheDemoNote(t *testing.T) {
	const note = "demo: short election timeouts"
	m := New(Deps{NoColor: true, Note: note})
	m.width = 120
	lines := strings.Split(m.headerView(), "\n")
	if len(lines) != headerHeight || !strings.Contains(lines[1], note) {
		t.Errorf("header %q: want the note on its second line", lines)
	}
	m = New(Deps{NoColor: true})
	m.width = 120
	if h := m.headerView(); strings.Contains(h, "demo") {
		t.Errorf("header without a note: %q", h)
	}
}
