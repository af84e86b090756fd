// Package scroll is the key map that scrolls a pane, shared by the
// console's panes and the sysdump viewer.
package scroll

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
)

// Keys are the bindings that move through a pane: a line, a page, to the
// top or the bottom.
type Keys struct {
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
}

// ShortHelp is the line keys, for a help bar.
func (k Keys) ShortHelp() []key.Binding { return []key.Binding{k.Up, k.Down} }

// FullHelp is every key, in one column.
func (k Keys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}}
}

// Viewport moves vp for msg; it reports whether msg was one of the keys.
func (k Keys) Viewport(vp *viewport.Model, msg tea.KeyPressMsg) bool {
	switch {
	case key.Matches(msg, k.Up):
		vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		vp.PageUp()
	case key.Matches(msg, k.PageDown):
		vp.PageDown()
	case key.Matches(msg, k.Top):
		vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		vp.GotoBottom()
	default:
		return false
	}
	return true
}

// Move is where pos goes for msg among the positions 0..last, a page
// being page positions; ok is false when msg is none of the keys.
func (k Keys) Move(msg tea.KeyPressMsg, pos, page, last int) (next int, ok bool) {
	switch {
	case key.Matches(msg, k.Up):
		pos--
	case key.Matches(msg, k.Down):
		pos++
	case key.Matches(msg, k.PageUp):
		pos -= page
	case key.Matches(msg, k.PageDown):
		pos += page
	case key.Matches(msg, k.Top):
		pos = 0
	case key.Matches(msg, k.Bottom):
		pos = last
	default:
		return pos, false
	}
	return max(0, min(pos, last)), true
}
