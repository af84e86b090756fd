package rollout

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The headless commands (design §1): status, plan, upgrade --yes, resume,
// rollback and sysdump, as functions the CLI wires to flags and the tests
// call in-process. Each returns the exit code it deserves with an error
// worth one line; nothing here exits or prints a stack.

// Env is what every headless command needs.
type Env struct {
	Inventory *inventory.Inventory
	Dialer    remote.Dialer
	// StateDir is $XDG_STATE_HOME/nwroll (journal, backups, sysdumps).
	StateDir string
	// Catalog identifies running builds (a releases directory).
	Catalog release.Catalog
	// Token is an admin token from $NEUWERK_TOKEN (inventory token_env);
	// "" mints one over SSH.
	Token api.Token

	Out  io.Writer // the log (upgrade, resume, rollback) or the table (status, plan)
	JSON bool
	// Events is the log of upgrade, resume and rollback: numbered events,
	// notifications; nil prints to Out.
	Events *EventStream
	// Tick is the runner's clock (default 1s).
	Tick time.Duration
	// OnMachine sees the machine after every event (tests).
	OnMachine func(runbook.Machine)
	// Cloud builds the provider of an inventory with a cloud: section.
	Cloud ProviderFunc
}

// ExitCodeOf is the exit code an error from this file deserves.
func ExitCodeOf(err error) int {
	var ee *runbook.ExitError
	var re *release.Error
	var ie *inventory.Error
	switch {
	case err == nil:
		return runbook.ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &re), errors.As(err, &ie):
		return runbook.ExitUsage
	}
	return runbook.ExitFailed
}

func coded(code int, format string, args ...any) error {
	return &runbook.ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

func (env Env) out() io.Writer {
	if env.Out == nil {
		return io.Discard
	}
	return env.Out
}

// logLine writes one note line to the log, as text or JSON.
func (env Env) logLine(op, detail string) {
	env.events().Emit(LogEntry{TS: time.Now(), Type: "note", Op: op, Detail: detail})
}

// events is the command's event stream; withEvents makes sure there is
// one, so that every line of a command is numbered in one sequence.
func (env Env) events() *EventStream {
	if env.Events == nil {
		return NewEventStream(env.Out, env.JSON, nil)
	}
	return env.Events
}

func (env Env) withEvents() Env {
	env.Events = env.events()
	return env
}

func (env Env) executor(rel *release.Release, known []runbook.BuildRef) (*executor.Executor, error) {
	return executor.New(executor.Config{
		Inventory: env.Inventory, Dialer: env.Dialer, Release: rel, Catalog: env.Catalog, Known: known,
		StateDir: env.StateDir, Token: env.Token, TokenSource: tokenSourceOf(env),
	})
}

func tokenSourceOf(env Env) string {
	if env.Token == "" {
		return ""
	}
	name := env.Inventory.API.TokenEnv
	if name == "" {
		name = inventory.DefaultTokenEnv
	}
	return "$" + name
}

// PlanOptionsFor takes the operator's choices, and the gate timings, paths
// and unit from the inventory.
func PlanOptionsFor(inv *inventory.Inventory, o PlanOptionsIn, tokenGiven bool) runbook.PlanOptions {
	return runbook.PlanOptions{
		Backup: o.Backup, BackupSet: o.BackupSet, Bake: o.Bake, AllowUnknownBuild: o.AllowUnknownBuild, Observe: o.Observe, PauseBefore: o.PauseBefore,
		Window: inv.Gates.Stabilisation, GateTimeout: inv.Gates.Timeout,
		TokenFromEnv: tokenGiven, CAFromFile: inv.API.CAFile != "",
		Binary:    nodesPath(inv, "<binary>", func(p inventory.Paths) string { return p.Binary }),
		DataRoot:  nodesPath(inv, "<data_root>", func(p inventory.Paths) string { return p.DataRoot }),
		BackupDir: nodesPath(inv, "<backup_dir>", func(p inventory.Paths) string { return p.BackupDir }),
		Unit:      inv.Service.Unit,
	}
}

// nodesPath is the path every node shares, or the placeholder (e.g.
// <binary>) when the inventory sets it per node, so the plan never shows a
// path a node does not use.
func nodesPath(inv *inventory.Inventory, placeholder string, get func(inventory.Paths) string) string {
	nodes := inv.Nodes()
	if len(nodes) == 0 {
		return get(inv.Paths)
	}
	first := get(nodes[0].Paths)
	for _, n := range nodes[1:] {
		if get(n.Paths) != first {
			return placeholder
		}
	}
	return first
}

// knownBuilds lists the catalog's builds and the target.
func knownBuilds(cat release.Catalog, rel *release.Release) []runbook.BuildRef {
	var out []runbook.BuildRef
	for _, r := range cat {
		out = append(out, runbook.BuildRef{Version: r.Version, SHA256: r.SHA256})
	}
	if rel != nil {
		out = append(out, runbook.BuildRef{Version: rel.Version, SHA256: rel.SHA256})
	}
	return out
}
