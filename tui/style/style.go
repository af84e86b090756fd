// Package style is the look the console and the sysdump viewer share: the
// glyphs, and the styles for a dark or light terminal, with or without
// colour. Nothing else in tui picks a colour.
package style

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Glyphs carry every meaning that colour carries, so a NO_COLOR terminal or
// a colour-blind operator loses nothing.
const (
	GlyphOK       = "✓"
	GlyphFail     = "✗"
	GlyphLeader   = "★"
	GlyphPending  = "·"
	GlyphRunning  = "▶"
	GlyphWaiting  = "?"
	GlyphSkipped  = "–"
	GlyphRollback = "↺"
	GlyphWarn     = "!"
	GlyphCursor   = "›"
	GlyphExpand   = "▸"
	GlyphCollapse = "▾"
)

// Styles is every style the console and the viewer use; New builds it
// for a dark or light background.
type Styles struct {
	NoColor bool

	App       lipgloss.Style
	Title     lipgloss.Style // the cluster name in the header
	Header    lipgloss.Style // the header line
	Dim       lipgloss.Style // secondary text
	Bold      lipgloss.Style
	OK        lipgloss.Style
	Fail      lipgloss.Style
	Warn      lipgloss.Style
	Running   lipgloss.Style
	Leader    lipgloss.Style
	Key       lipgloss.Style // a key name in hints: "y"
	Selected  lipgloss.Style // the selected row or member
	Highlight lipgloss.Style // the current runbook step
	Match     lipgloss.Style // a search hit

	Pane        lipgloss.Style // an unfocused pane's border
	PaneFocused lipgloss.Style // the focused pane's border
	PaneTitle   lipgloss.Style

	Dialog       lipgloss.Style // the confirm, abort, failure and quit dialogs
	DialogTitle  lipgloss.Style
	DialogDanger lipgloss.Style // a dialog about something destructive

	StatusBar lipgloss.Style
	Error     lipgloss.Style // the last error in the status bar

	// Viewer
	TreeDir  lipgloss.Style // a directory or a nested archive
	TreeFile lipgloss.Style
	JSONKey  lipgloss.Style
	DiffAdd  lipgloss.Style
	DiffDel  lipgloss.Style
	DiffHunk lipgloss.Style

	// Colours, for the bubbles that take colours rather than styles.
	AccentColor color.Color
	OKColor     color.Color
	FailColor   color.Color
	DimColor    color.Color
}

// New returns the styles for a dark or light background; noColor
// (NO_COLOR) keeps bold, reverse and underline but drops every colour.
func New(isDark, noColor bool) Styles {
	ld := lipgloss.LightDark(isDark)
	accent := ld(lipgloss.Color("#5A56E0"), lipgloss.Color("#7D79F6"))
	ok := ld(lipgloss.Color("#1E7F34"), lipgloss.Color("#4FD16E"))
	fail := ld(lipgloss.Color("#C62828"), lipgloss.Color("#FF6B6B"))
	warn := ld(lipgloss.Color("#A66300"), lipgloss.Color("#F2B84B"))
	run := ld(lipgloss.Color("#0B6BCB"), lipgloss.Color("#5CB3FF"))
	dim := ld(lipgloss.Color("#6E6E6E"), lipgloss.Color("#8A8A8A"))
	border := ld(lipgloss.Color("#BDBDBD"), lipgloss.Color("#4A4A4A"))
	selBG := ld(lipgloss.Color("#DCDAFA"), lipgloss.Color("#34325E"))
	fg := ld(lipgloss.Color("#1A1A1A"), lipgloss.Color("#EDEDED"))

	c := func(col color.Color) lipgloss.Style {
		if noColor {
			return lipgloss.NewStyle()
		}
		return lipgloss.NewStyle().Foreground(col)
	}
	s := Styles{NoColor: noColor}
	s.App = lipgloss.NewStyle()
	s.Title = c(accent).Bold(true)
	s.Header = lipgloss.NewStyle()
	s.Dim = c(dim)
	s.Bold = lipgloss.NewStyle().Bold(true)
	s.OK = c(ok)
	s.Fail = c(fail).Bold(true)
	s.Warn = c(warn)
	s.Running = c(run)
	s.Leader = c(accent).Bold(true)
	s.Key = c(accent).Bold(true)
	s.Match = c(warn).Bold(true).Underline(true)
	if noColor {
		s.Selected = lipgloss.NewStyle().Reverse(true)
		s.Highlight = lipgloss.NewStyle().Bold(true)
	} else {
		s.Selected = lipgloss.NewStyle().Background(selBG).Foreground(fg)
		s.Highlight = lipgloss.NewStyle().Bold(true).Foreground(fg)
	}
	paneBorder := lipgloss.NewStyle().Border(lipgloss.RoundedBorder())
	focusBorder := lipgloss.NewStyle().Border(lipgloss.ThickBorder())
	if !noColor {
		paneBorder = paneBorder.BorderForeground(border)
		focusBorder = focusBorder.BorderForeground(accent)
	}
	s.Pane = paneBorder
	s.PaneFocused = focusBorder
	s.PaneTitle = c(accent).Bold(true)
	s.Dialog = lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).Padding(0, 1)
	s.DialogDanger = s.Dialog
	if !noColor {
		s.Dialog = s.Dialog.BorderForeground(accent)
		s.DialogDanger = s.DialogDanger.BorderForeground(fail)
	}
	s.DialogTitle = lipgloss.NewStyle().Bold(true)
	s.StatusBar = lipgloss.NewStyle()
	s.Error = c(fail)

	s.TreeDir = c(accent).Bold(true)
	s.TreeFile = lipgloss.NewStyle()
	s.JSONKey = c(run)
	s.DiffAdd = c(ok)
	s.DiffDel = c(fail)
	s.DiffHunk = c(accent)

	s.AccentColor, s.OKColor, s.FailColor, s.DimColor = accent, ok, fail, dim
	return s
}

// Help is the styles of a help.Model: keys in the accent, the rest dim.
func (s Styles) Help() help.Styles {
	return help.Styles{Ellipsis: s.Dim, ShortKey: s.Key, ShortDesc: s.Dim, ShortSeparator: s.Dim,
		FullKey: s.Key, FullDesc: s.Dim, FullSeparator: s.Dim}
}
