package viewer

import (
	"charm.land/bubbles/v2/key"

	"github.com/nwroll/nwroll/tui/internal/scroll"
)

// viewerKeyMap is the sysdump viewer's keys. Bindings that do nothing in
// the current state are disabled, so help shows only live keys.
type viewerKeyMap struct {
	scroll.Keys             // the tree's cursor, or the content
	Open        key.Binding // enter: open a member and read it, or expand
	Expand      key.Binding // space/right: open or expand, focus stays in the tree
	Collapse    key.Binding
	Left        key.Binding // content: scroll left
	Right       key.Binding // content: scroll right
	Focus       key.Binding
	FocusBack   key.Binding
	Search      key.Binding
	Next        key.Binding
	Prev        key.Binding
	Diff        key.Binding
	AllFields   key.Binding // a: a diff shows volatile fields too, or hides them again
	Back        key.Binding
	// Prompt keys, live only while the search prompt takes typing.
	Run    key.Binding
	Cancel key.Binding
}

func defaultViewerKeyMap() viewerKeyMap {
	return viewerKeyMap{
		Keys: scroll.Keys{
			Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
			Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
			PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
			PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
			Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
			Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom")),
		},
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Expand:    key.NewBinding(key.WithKeys("space", "right", "l"), key.WithHelp("→", "expand")),
		Collapse:  key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←", "collapse")),
		Left:      key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/→", "scroll")),
		Right:     key.NewBinding(key.WithKeys("right", "l")),
		Focus:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "pane")),
		FocusBack: key.NewBinding(key.WithKeys("shift+tab")),
		Search:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search")),
		Next:      key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "hits")),
		Prev:      key.NewBinding(key.WithKeys("N")),
		Diff:      key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "diff")),
		AllFields: key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "all fields")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Run:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "search")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// liveKeys returns the keymap with each binding enabled only when it acts in
// the viewer's current state.
func (v Model) liveKeys() viewerKeyMap {
	k := v.keys
	all := []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom, &k.Open, &k.Expand,
		&k.Collapse, &k.Left, &k.Right, &k.Focus, &k.FocusBack, &k.Search, &k.Next, &k.Prev, &k.Diff, &k.AllFields, &k.Back, &k.Run, &k.Cancel}
	for _, b := range all {
		b.SetEnabled(false)
	}
	if v.prompting {
		k.Run.SetEnabled(true)
		k.Cancel.SetEnabled(true)
		return k
	}
	if v.openErr != "" {
		k.Back.SetEnabled(v.opts.Embedded)
		return k
	}
	tree := v.focus == viewerFocusTree
	for _, b := range []*key.Binding{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom, &k.Focus, &k.FocusBack, &k.Search} {
		b.SetEnabled(true)
	}
	k.Open.SetEnabled(tree)
	k.Expand.SetEnabled(tree)
	k.Collapse.SetEnabled(tree)
	k.Left.SetEnabled(!tree)
	k.Right.SetEnabled(!tree)
	hits := len(v.search.hits) > 0
	k.Next.SetEnabled(hits)
	k.Prev.SetEnabled(hits)
	k.Diff.SetEnabled(v.diffable())
	k.AllFields.SetEnabled(v.content.kind == contentDiff)
	if v.diffAll {
		k.AllFields.SetHelp("a", "hide volatile")
	}
	k.Back.SetEnabled(!tree || v.search.query != "" || v.opts.Embedded)
	return k
}

// ShortHelp is the viewer's live keys, for a status bar.
func (v Model) ShortHelp() []key.Binding {
	k := v.liveKeys()
	if v.prompting {
		return []key.Binding{k.Run, k.Cancel}
	}
	return []key.Binding{k.Open, k.Expand, k.Collapse, k.Left, k.Focus, k.Search, k.Next, k.Diff, k.AllFields, k.Back}
}

// FullHelp is every viewer key, grouped: moving, opening, finding.
func (v Model) FullHelp() [][]key.Binding {
	k := v.liveKeys()
	if v.prompting {
		return [][]key.Binding{{k.Run, k.Cancel}}
	}
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Open, k.Expand, k.Collapse, k.Left, k.Focus, k.Back},
		{k.Search, k.Next, k.Diff, k.AllFields},
	}
}
