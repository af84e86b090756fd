package rollout

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// UpgradeOptions are `nwroll upgrade`'s flags.
type UpgradeOptions struct {
	PlanOptionsIn
	NoRollback bool
	BreakLock  bool
	// AbandonRun starts a new run though an unfinished one exists; that
	// run is marked abandoned.
	AbandonRun bool
}

// Upgrade is `nwroll upgrade --yes`: the machine, headless, every step
// auto-approved; on a failure the node is rolled back (exit 4) unless
// NoRollback (exit 1).
func Upgrade(ctx context.Context, env Env, o UpgradeOptions) (int, error) {
	return runPrepared(ctx, env, "upgrade", func(env Env) (*PreparedRun, error) {
		return PrepareUpgrade(ctx, env, o, runbook.MachineOptions{Headless: true, NoRollback: o.NoRollback, Approver: journal.CurrentOperator()})
	})
}

// PreparedRun is an upgrade ready to be driven, headless or from the
// console: its plan, a machine that has not begun, the connected executor
// and the journal it writes.
type PreparedRun struct {
	Plan     runbook.Plan
	Machine  runbook.Machine
	Executor *executor.Executor
	Journal  *journal.Journal
	// Run is the run continued (resume, rollback); zero for a new run.
	Run journal.RunSummary

	cleanup func() // the release loaded for a resume
}

// Close releases the executor's connections and the journal.
func (r *PreparedRun) Close() {
	r.Executor.Close()
	r.Journal.Close()
	if r.cleanup != nil {
		r.cleanup()
	}
}

// PrepareUpgrade surveys the cluster (read-only), builds the plan, opens
// the journal and returns the run, not begun. Nothing on any node changes.
func PrepareUpgrade(ctx context.Context, env Env, o UpgradeOptions, mo runbook.MachineOptions) (*PreparedRun, error) {
	old, unfinished, err := newestUnfinished(env)
	if err != nil {
		return nil, err
	}
	if unfinished && !o.AbandonRun {
		return nil, unfinishedRefusal(env, old)
	}
	p, x, s, err := MakePlan(ctx, env, o.PlanOptionsIn)
	if err != nil {
		return nil, err
	}
	if err := checkLocks(s, "", o.BreakLock); err != nil {
		x.Close()
		return nil, err
	}
	x.SetBreakLock(o.BreakLock)
	j, err := journal.Open(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		x.Close()
		return nil, &runbook.ExitError{Code: runbook.ExitUsage, Err: err}
	}
	run, rel := runRecord(p, o)
	run.StartedBy = mo.Approver
	x.SetJournal(j, run, rel)
	env.events().SetRun(j.RunID())
	env.logLine("journal", j.Path())
	for _, w := range p.Warnings {
		env.logLine("warning", w) // what `nwroll plan` warns of, before anything starts
	}
	if unfinished {
		if err := journal.Abandon(old, mo.Approver, j.RunID()); err != nil {
			x.Close()
			j.Close()
			return nil, coded(runbook.ExitUsage, "mark run %s abandoned: %v", old.ID, err)
		}
		env.logLine("abandon", fmt.Sprintf("run %s is abandoned (--abandon-run): %s", old.ID, old.Describe()))
	}
	return &PreparedRun{Plan: p, Machine: runbook.NewMachine(p, mo), Executor: x, Journal: j}, nil
}

func runError(m runbook.Machine) error {
	if m.ExitCode == runbook.ExitOK {
		return nil
	}
	return &runbook.ExitError{Code: m.ExitCode, Err: errors.New(m.Reason)}
}

// runRecord is what the run's intent records for resume and rollback.
func runRecord(p runbook.Plan, o UpgradeOptions) (*journal.RunRecord, *journal.Release) {
	r := o.Release
	src := r.Source
	if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	run := &journal.RunRecord{ReleaseSource: src, Release: journal.BuildRecord{Version: r.Version, SHA256: r.SHA256},
		Backup: o.Backup.String(), BackupSet: o.BackupSet, NoRollback: o.NoRollback, Bake: journal.Duration(o.Bake),
		AllowUnknownBuild: o.AllowUnknownBuild, PauseBefore: o.PauseBefore}
	if c := p.Cloud; c != nil {
		run.Cloud = &journal.CloudRun{Provider: c.Provider, Group: c.Group.Name, Size: c.Size, Image: c.Image.ID, ImageName: c.Image.Name,
			From: runbook.CloudRecord{Template: c.From.ID, Name: c.From.Name, Version: c.From.Version, Image: c.FromImage}, FromRelease: c.FromRelease,
			Observe: p.Options.Observe}
	}
	var from []string
	seen := map[string]bool{}
	for _, n := range p.Nodes {
		if n.Current.SHA256 != "" && !seen[n.Current.SHA256] {
			seen[n.Current.SHA256] = true
			run.Builds = append(run.Builds, journal.BuildRecord{Version: n.Current.Version, SHA256: n.Current.SHA256})
			from = append(from, n.Current.Label())
		}
	}
	return run, &journal.Release{From: strings.Join(from, ", "), To: r.Version}
}
