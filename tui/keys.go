package tui

import (
	"charm.land/bubbles/v2/key"

	"github.com/nwroll/nwroll/rollout/runbook"
	"github.com/nwroll/nwroll/tui/internal/scroll"
)

// Every key of the console is a binding in one of these maps, and every
// key is matched with key.Matches. The root model takes its own keys
// (globalKeyMap) and hands the rest to the dialog, then to the pane that
// has focus; each pane has its own map.

// globalKeyMap is the keys that work whatever pane has focus.
type globalKeyMap struct {
	Quit      key.Binding // quits at once when nothing is under way, else asks first
	ForceQuit key.Binding // as Quit; pressed again while the run winds down, forces the exit
	Help      key.Binding
	NextPane  key.Binding
	PrevPane  key.Binding
	View      key.Binding // opens the last sysdump in the viewer
	Detail    key.Binding // the selected node's detail, whatever has focus
}

func defaultGlobalKeyMap() globalKeyMap {
	return globalKeyMap{
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit; three times forces")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		NextPane:  key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane:  key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		View:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "view sysdump")),
		Detail:    key.NewBinding(key.WithKeys("i"), key.WithHelp("i/enter", "node detail")),
	}
}

// ShortHelp is the status bar's viewer and focus keys.
func (k globalKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.View, k.NextPane} }

// Pinned is the status bar's tail, never cut: help and quit.
func (k globalKeyMap) Pinned() []key.Binding { return []key.Binding{k.Help, k.Quit} }

// paneKeys is the keys of the node table, the runbook and the log: each
// pane has its own copy.
func paneKeys() scroll.Keys {
	return scroll.Keys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom (follow)")),
	}
}

// dialogKeyMap is the keys of the rollout: the approval dialog, the
// choices after a failure, and the quit and abort questions. Dialog.keys
// enables each one only while the machine allows its action (Allowed), so
// a key the machine would refuse does nothing and help never shows it.
type dialogKeyMap struct {
	// The approval dialog.
	Approve key.Binding
	Decline key.Binding // the default: n, esc or enter
	// Whenever the machine allows them.
	Abort   key.Binding
	Sysdump key.Binding
	// After a failure or a declined step.
	KeepWaiting  key.Binding
	Retry        key.Binding
	Continue     key.Binding
	RollbackNode key.Binding
	RollbackAll  key.Binding
	Withdraw     key.Binding // esc: drop a rollback chosen but not approved yet
	// The quit question (the console's) and the abort question (the machine's).
	QuitYes  key.Binding
	QuitNo   key.Binding
	AbortYes key.Binding
	AbortNo  key.Binding
}

func defaultDialogKeyMap() dialogKeyMap {
	return dialogKeyMap{
		Approve:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "approve")),
		Decline:      key.NewBinding(key.WithKeys("n", "esc", "enter"), key.WithHelp("n/esc", "cancel")),
		Abort:        key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		Sysdump:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sysdump")),
		KeepWaiting:  key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "keep waiting")),
		Retry:        key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "retry")),
		Continue:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "continue")),
		RollbackNode: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roll back node")),
		RollbackAll:  key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "roll back all")),
		Withdraw:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		QuitYes:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "quit safely")),
		QuitNo:       key.NewBinding(key.WithKeys("n", "esc", "enter", "q"), key.WithHelp("n/esc", "stay")),
		AbortYes:     key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "abort")),
		AbortNo:      key.NewBinding(key.WithKeys("n", "esc", "enter"), key.WithHelp("n/esc", "keep going")),
	}
}

// ShortHelp is the keys that act now, for the status bar (help.Model
// leaves out the disabled ones).
func (k dialogKeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.QuitYes, k.QuitNo, k.AbortYes, k.AbortNo,
		k.Approve, k.Decline, k.Withdraw, k.KeepWaiting, k.Retry, k.Continue, k.RollbackNode, k.RollbackAll, k.Sysdump, k.Abort}
}

// FullHelp is the rollout's keys, for the help page.
func (k dialogKeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Approve, k.Decline, k.Abort, k.KeepWaiting, k.Retry, k.Continue, k.RollbackNode, k.RollbackAll, k.Sysdump}}
}

// actionKey is a binding, the machine action it asks for, and whether it
// is the binding for it now.
type actionKey struct {
	b    *key.Binding
	act  runbook.Action
	when bool
}

// actions pairs the bindings with the actions they ask for: the abort
// question's while it is open; y and n while an approval waits, esc alone
// to drop a rollback chosen but not approved; the others always (while the
// machine allows them).
func (k *dialogKeyMap) actions(abortAsked, awaiting bool) []actionKey {
	other := !abortAsked
	return []actionKey{
		{&k.AbortYes, runbook.ActAbortConfirm, abortAsked}, {&k.AbortNo, runbook.ActCancel, abortAsked},
		{&k.Approve, runbook.ActApprove, other && awaiting}, {&k.Decline, runbook.ActCancel, other && awaiting},
		{&k.Withdraw, runbook.ActCancel, other && !awaiting},
		{&k.Abort, runbook.ActAbort, other}, {&k.Sysdump, runbook.ActSysdump, other},
		{&k.KeepWaiting, runbook.ActKeepWaiting, other}, {&k.Retry, runbook.ActRetry, other}, {&k.Continue, runbook.ActContinue, other},
		{&k.RollbackNode, runbook.ActRollbackNode, other}, {&k.RollbackAll, runbook.ActRollbackAll, other},
	}
}

// all is every binding, to switch them off at once.
func (k *dialogKeyMap) all() []*key.Binding {
	return []*key.Binding{&k.Approve, &k.Decline, &k.Abort, &k.Sysdump, &k.KeepWaiting, &k.Retry, &k.Continue,
		&k.RollbackNode, &k.RollbackAll, &k.Withdraw, &k.QuitYes, &k.QuitNo, &k.AbortYes, &k.AbortNo}
}

// helpKeyMap is the keys of the help page: each closes it.
type helpKeyMap struct {
	Close key.Binding
	Back  key.Binding
	Quit  key.Binding // q closes the page; it never quits from it
}

func defaultHelpKeyMap() helpKeyMap {
	return helpKeyMap{
		Close: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Back:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:  key.NewBinding(key.WithKeys("q")),
	}
}

// ShortHelp is the page's keys for the status bar.
func (k helpKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Close, k.Back} }

// FullHelp is the same, in one column.
func (k helpKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }
