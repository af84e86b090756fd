package rollout

import (
	"errors"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// A gate reads its node every couple of seconds: the log prints a read
// only when what it found changed (or it failed), with the unit's state
// when it is not simply running.
func TestEventLogPrintsAGateReadOnlyWhenItChanges(t *testing.T) {
	var lines []string
	r := NewEventLog(func(l LogEntry) { lines = append(lines, l.Status+" "+l.Detail+l.Error) })
	start := r.Hooks().OnStart
	id := runbook.EffectID(0)
	read := func(u health.Unit, err error) {
		id++
		start(runbook.ReadNodeFiles{EffectMeta: runbook.EffectMeta{ID: id, Step: "upgrade/fw-b"}, Nodes: []string{"fw-b"}})
		files := []runbook.NodeFiles{{Node: "fw-b", SHA256: strings.Repeat("ab", 32), Active: u.ActiveState == "active", Unit: u}}
		r.Answered(runbook.EffectResult{ID: id, Err: err, Data: files})
	}
	running := health.Unit{ActiveState: "active", SubState: "running"}
	read(running, nil)
	read(running, nil)
	read(health.Unit{ActiveState: "activating", SubState: "auto-restart", NRestarts: 1}, nil)
	read(health.Unit{ActiveState: "activating", SubState: "auto-restart", NRestarts: 1}, nil)
	read(running, errors.New("ssh: connection lost"))
	read(running, nil)
	want := []string{
		"ok fw-b abababababab",
		"ok fw-b abababababab (inactive) (activating/auto-restart, NRestarts 1)",
		"failed ssh: connection lost",
		"ok fw-b abababababab",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
