package tui

import (
	"charm.land/bubbles/v2/key"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// KeyMap is every key of the console. The rollout keys are enabled from
// machine.Allowed(), so the help bar shows only the keys that act now.
type KeyMap struct {
	// Rollout
	Approve      key.Binding
	Cancel       key.Binding
	Abort        key.Binding
	KeepWaiting  key.Binding
	Retry        key.Binding
	Continue     key.Binding
	Sysdump      key.Binding
	RollbackNode key.Binding
	RollbackAll  key.Binding
	View         key.Binding

	// Navigation
	NextPane key.Binding
	PrevPane key.Binding
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Help     key.Binding
	Quit     key.Binding
	Back     key.Binding
}

// DefaultKeyMap is the console's keys (design §4).
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Approve:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "approve")),
		Cancel:       key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "cancel")),
		Abort:        key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "abort")),
		KeepWaiting:  key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "keep waiting")),
		Retry:        key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "retry")),
		Continue:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "continue")),
		Sysdump:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sysdump")),
		RollbackNode: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roll back node")),
		RollbackAll:  key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "roll back all")),
		View:         key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "view sysdump")),

		NextPane: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom (follow)")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// actionKeys pairs each machine action with its binding.
func (k *KeyMap) actionKeys() []struct {
	act runbook.Action
	b   *key.Binding
} {
	return []struct {
		act runbook.Action
		b   *key.Binding
	}{
		{runbook.ActApprove, &k.Approve}, {runbook.ActCancel, &k.Cancel}, {runbook.ActAbort, &k.Abort},
		{runbook.ActKeepWaiting, &k.KeepWaiting}, {runbook.ActRetry, &k.Retry}, {runbook.ActContinue, &k.Continue},
		{runbook.ActSysdump, &k.Sysdump}, {runbook.ActRollbackNode, &k.RollbackNode}, {runbook.ActRollbackAll, &k.RollbackAll},
		{runbook.ActQuit, &k.Quit},
	}
}

// enableFrom turns the rollout keys on or off from allowed.
func (k KeyMap) enableFrom(allowed []runbook.Action) KeyMap {
	on := map[runbook.Action]bool{}
	for _, a := range allowed {
		on[a] = true
	}
	for _, ak := range k.actionKeys() {
		ak.b.SetEnabled(on[ak.act])
	}
	k.Quit.SetEnabled(true) // quitting is always possible; it asks first when it must
	return k
}
