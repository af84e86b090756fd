package viewer

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui/style"
)

// The standalone viewer wants at least this much terminal.
const (
	viewerAppMinWidth  = 80
	viewerAppMinHeight = 24
)

// viewerApp is `nwroll view FILE`: a title line, the viewer, and a key
// hint bar.
type viewerApp struct {
	st            style.Styles
	viewer        Model
	help          help.Model
	quit, helpKey key.Binding
	force         key.Binding // quits even while the search prompt takes typing
	width, height int
}

// NewApp is the root model of `nwroll view`.
func NewApp(st style.Styles, opts Options) tea.Model {
	opts.Embedded = false
	a := viewerApp{
		st:      st,
		viewer:  New(st, opts),
		help:    help.New(),
		quit:    key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		force:   key.NewBinding(key.WithKeys("ctrl+c")),
		helpKey: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more keys")),
	}
	a.help.Styles = st.Help()
	return a
}

func (a viewerApp) Init() tea.Cmd { return a.viewer.Init() }

func (a viewerApp) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.width, a.height = msg.Width, msg.Height
		a.layout()
		return a, nil
	case tea.KeyPressMsg:
		if key.Matches(msg, a.force) {
			return a, tea.Quit
		}
		if !a.viewer.Capturing() {
			switch {
			case key.Matches(msg, a.quit):
				return a, tea.Quit
			case key.Matches(msg, a.helpKey):
				a.help.ShowAll = !a.help.ShowAll
				a.layout()
				return a, nil
			}
		}
	}
	var cmd tea.Cmd
	a.viewer, cmd = a.viewer.Update(msg)
	a.layout()
	return a, cmd
}

func (a *viewerApp) layout() {
	a.help.SetWidth(a.width)
	a.viewer.SetSize(a.width, max(0, a.height-1-a.hintHeight()))
}

func (a viewerApp) hintHeight() int {
	return strings.Count(a.hints(), "\n") + 1
}

func (a viewerApp) hints() string {
	if a.help.ShowAll {
		return a.help.FullHelpView(append(a.viewer.FullHelp(), []key.Binding{a.helpKey, a.quit}))
	}
	return a.help.ShortHelpView(append(a.viewer.ShortHelp(), a.helpKey, a.quit))
}

func (a viewerApp) View() tea.View {
	v := tea.NewView(a.render())
	v.AltScreen = true
	v.WindowTitle = "nwroll view " + a.viewer.overview.file
	return v
}

func (a viewerApp) render() string {
	if a.width == 0 || a.height == 0 {
		return ""
	}
	if a.width < viewerAppMinWidth || a.height < viewerAppMinHeight {
		return viewerPad(fmt.Sprintf("nwroll view needs a terminal of at least %dx%d; this one is %dx%d",
			viewerAppMinWidth, viewerAppMinHeight, a.width, a.height), a.width)
	}
	var hint []string
	for _, l := range strings.Split(a.hints(), "\n") {
		hint = append(hint, viewerPad(l, a.width))
	}
	return viewerPad(a.title(), a.width) + "\n" + a.viewer.View() + "\n" + strings.Join(hint, "\n")
}

// title names the file, its size, and whether it is partial.
func (a viewerApp) title() string {
	o := a.viewer.overview
	t := a.st.Title.Render(o.file)
	if o.size > 0 {
		t += "  " + a.st.Dim.Render(rollout.HumanBytes(o.size))
	}
	h := o.head
	switch {
	case a.viewer.openErr != "":
		t += "  " + a.st.Fail.Render(style.GlyphFail+" cannot open")
	case h.Manifest != nil && h.Manifest.Partial, h.Manifest == nil && h.Overview != nil && h.Overview.Partial:
		t += "  " + a.st.Warn.Render(style.GlyphWarn+" partial")
	case h.Manifest != nil, h.Overview != nil:
		t += "  " + a.st.OK.Render(style.GlyphOK+" complete")
	case o.size > 0:
		t += "  " + a.st.Dim.Render("per-node sysdump")
	default:
		t += "  " + a.st.Dim.Render("opening…")
	}
	return t
}
