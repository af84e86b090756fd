package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Recovery: `nwroll resume` and `nwroll rollback` continue a run of the
// cluster's history (journal.History), headless with --yes or in the
// console. Which run: --run ID, else the newest unfinished run (resume) or
// the newest run that left a node upgraded (rollback). A refused run or
// one that changed nothing is never picked.

// journalRunInfo is what a run's journal says.
type journalRunInfo struct {
	summary   journal.RunSummary
	run       *journal.Run
	progress  journal.RunProgress
	record    *journal.RunRecord
	target    runbook.BuildRef
	builds    []runbook.BuildRef
	backupSet string
}

// History is the cluster's runs, oldest first.
func History(env Env) ([]journal.RunSummary, error) {
	h, err := journal.History(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		return nil, coded(runbook.ExitUsage, "%v", err)
	}
	return h, nil
}

// pickRun finds the run to resume or roll back: runID, or pick's choice.
func pickRun(env Env, runID string, verb string, pick func([]journal.RunSummary) (journal.RunSummary, bool)) (journal.RunSummary, error) {
	h, err := History(env)
	if err != nil {
		return journal.RunSummary{}, err
	}
	if runID != "" {
		s, err := journal.Find(h, runID)
		if err != nil {
			return s, coded(runbook.ExitUsage, "%v", err)
		}
		return s, nil
	}
	if s, ok := pick(h); ok {
		return s, nil
	}
	if len(h) == 0 {
		return journal.RunSummary{}, coded(runbook.ExitRefused, "no rollout of cluster %s is on record in %s: nothing to %s (was the upgrade run with another XDG_STATE_HOME?)",
			env.Inventory.Cluster, env.StateDir, verb)
	}
	last := h[len(h)-1]
	return journal.RunSummary{}, coded(runbook.ExitRefused, "nothing to %s: no run of cluster %s is left to %s (the newest is %s); `nwroll runs -i %s` lists them all",
		verb, env.Inventory.Cluster, verb, last.Describe(), env.Inventory.Path)
}

func runInfo(s journal.RunSummary) (journalRunInfo, error) {
	run := s.Run()
	info := journalRunInfo{summary: s, run: run, progress: journal.Progress(run.Entries), record: s.Record()}
	for _, e := range run.Entries {
		if e.Kind == journal.Outcome && e.OK && e.Backup != nil {
			info.backupSet = e.Backup.Set
		}
	}
	if info.record == nil {
		return info, coded(runbook.ExitRefused, "journal %s does not record the run's release: it was not written by an upgrade; nothing to continue", run.Path)
	}
	info.target = runbook.BuildRef{Version: info.record.Release.Version, SHA256: info.record.Release.SHA256}
	for _, b := range info.record.Builds {
		info.builds = append(info.builds, runbook.BuildRef{Version: b.Version, SHA256: b.SHA256})
	}
	return info, nil
}

// ResumeOptions are `nwroll resume`'s flags.
type ResumeOptions struct {
	Run string // --run: the run to resume (default: the newest unfinished)
	// Release overrides the journal's release source; its sha256 must be
	// the journal's.
	Release   *release.Release
	BreakLock bool
}

// Resume is `nwroll resume --yes`: it re-reads every node's real state,
// runs the read-only checks again and continues the interrupted run.
func Resume(ctx context.Context, env Env, o ResumeOptions) (int, error) {
	return runPrepared(ctx, env, "resume", func(env Env) (*PreparedRun, error) {
		return PrepareResume(ctx, env, o, runbook.MachineOptions{Headless: true, Approver: journal.CurrentOperator()})
	})
}

// PrepareResume surveys the cluster and rebuilds the run to resume, not
// begun: the console drives it with approvals, Resume headless.
func PrepareResume(ctx context.Context, env Env, o ResumeOptions, mo runbook.MachineOptions) (*PreparedRun, error) {
	s, err := pickRun(env, o.Run, "resume", journal.NewestUnfinished)
	if err != nil {
		return nil, err
	}
	if !s.Unfinished && s.Outcome != journal.OutcomeInterrupted && s.Outcome != journal.OutcomeFailed && s.Outcome != journal.OutcomeAborted {
		next := "start a new one with `nwroll upgrade`"
		if s.Outcome == journal.OutcomeFinished {
			next = "`nwroll rollback` undoes it"
		}
		return nil, coded(runbook.ExitRefused, "%s (%s): nothing to resume; %s", s.Describe(), s.Reason, next)
	}
	info, err := runInfo(s)
	if err != nil {
		return nil, err
	}
	rel := o.Release
	cleanup := func() {}
	if info.record.Cloud != nil && rel == nil {
		rel = &release.Release{Version: info.target.Version, Source: info.target.Version} // cloud mode: the release is an image
	}
	if rel == nil {
		rel, err = release.Load(info.record.ReleaseSource)
		if err != nil {
			return nil, coded(runbook.ExitUsage, "the interrupted run's release cannot be loaded (%v): pass --release with release %s", err, info.target.Label())
		}
		cleanup = func() { rel.Cleanup() }
	}
	if info.record.Cloud == nil && rel.SHA256 != runbook.NormSHA(info.target.SHA256) {
		cleanup()
		return nil, coded(runbook.ExitUsage, "release %s (sha256 %s) is not the interrupted run's target %s (sha256 %s)",
			rel.Source, rel.ShortSHA(), info.target.Label(), runbook.ShortSHA(info.target.SHA256))
	}
	backup := runbook.BackupQuiesced
	switch info.record.Backup {
	case "live":
		backup = runbook.BackupLive
	case "reuse":
		backup = runbook.BackupReuse
	}
	mo.NoRollback = info.record.NoRollback
	po := PlanOptionsIn{Release: rel, Backup: backup, BackupSet: info.record.BackupSet, Bake: time.Duration(info.record.Bake),
		AllowUnknownBuild: info.record.AllowUnknownBuild, Observe: info.record.Cloud != nil && info.record.Cloud.Observe,
		PauseBefore: info.record.PauseBefore}
	run, err := prepareContinue(ctx, env, info, rel, po, o.BreakLock, func(p runbook.Plan, f runbook.ResumeFacts) (runbook.Machine, error) {
		return runbook.ResumeState(p, f, mo)
	}, "resuming")
	if err != nil {
		cleanup()
		return nil, err
	}
	run.cleanup = cleanup
	return run, nil
}

// RollbackOptions are `nwroll rollback`'s flags.
type RollbackOptions struct {
	Run        string // --run: the run to undo (default: the newest that left a node upgraded)
	Node       string // --node: roll back only this node
	OutOfOrder bool   // --out-of-order: roll back Node though a later-upgraded node is still on the target
	BreakLock  bool
}

// Rollback is `nwroll rollback --yes`: every node the run left upgraded is
// rolled back (or only --node), newest first, one at a time, with gates.
func Rollback(ctx context.Context, env Env, o RollbackOptions) (int, error) {
	return runPrepared(ctx, env, "rollback", func(env Env) (*PreparedRun, error) {
		return PrepareRollback(ctx, env, o, runbook.MachineOptions{Headless: true, Approver: journal.CurrentOperator()})
	})
}

// PrepareRollback surveys the cluster and builds the rollback of a run,
// not begun.
func PrepareRollback(ctx context.Context, env Env, o RollbackOptions, mo runbook.MachineOptions) (*PreparedRun, error) {
	s, err := pickRun(env, o.Run, "roll back", journal.NewestThatChanged)
	if err != nil {
		return nil, err
	}
	info, err := runInfo(s)
	if err != nil {
		return nil, err
	}
	scope := runbook.RollbackScope{Node: o.Node, OutOfOrder: o.OutOfOrder}
	po := PlanOptionsIn{Backup: runbook.BackupLive} // never used: rollback steps take no backup
	return prepareContinue(ctx, env, info, nil, po, o.BreakLock, func(p runbook.Plan, f runbook.ResumeFacts) (runbook.Machine, error) {
		return runbook.RollbackState(p, f, mo, scope)
	}, "rolling back")
}

// runPrepared runs a prepared run headless to its end, and ends its log
// with the summary event, also when the run could not start.
func runPrepared(ctx context.Context, env Env, command string, prepare func(Env) (*PreparedRun, error)) (int, error) {
	env = env.withEvents()
	ev := env.Events
	run, err := prepare(env)
	if err != nil {
		code := ExitCodeOf(err)
		ev.SummarizeError(command, env.Inventory.Cluster, code, err)
		return code, err
	}
	defer run.Close()
	m := RunHeadless(ctx, run.Machine, run.Executor, RunnerOptions{Events: ev, Tick: env.Tick, OnMachine: env.OnMachine})
	inv, id := env.Inventory.Path, run.Journal.RunID()
	switch m.ExitCode {
	case runbook.ExitFailed:
		env.logLine("next", fmt.Sprintf("`nwroll resume -i %s --run %s` continues this run; `nwroll rollback -i %s --run %s` undoes it; `nwroll runs -i %s` lists every run",
			inv, id, inv, id, inv))
	case runbook.ExitPaused:
		env.logLine("next", fmt.Sprintf("`nwroll resume -i %s --run %s --yes` continues this run when its next step is approved; `nwroll rollback -i %s --run %s` undoes it",
			inv, id, inv, id))
	}
	ev.Summarize(ReportOf(env, command, id, m), m.Summary().Lines())
	return m.ExitCode, runError(m)
}

// ReportOf is the summary of run id as machine m ended it.
func ReportOf(env Env, command, id string, m runbook.Machine) RunReport {
	rep := RunReport{Run: id, Cluster: env.Inventory.Cluster, Command: command, Outcome: runOutcome(env, id, m.ExitCode), ExitCode: m.ExitCode,
		Retry: RetryAdvice(m.ExitCode), Reason: m.Reason, Target: m.Plan.Target.Label(), Next: nextCommand(m.ExitCode, env.Inventory.Path, id)}
	rep.Nodes, rep.Backups, rep.Sysdumps = nodeReports(m.Summary())
	return rep
}

// runOutcome is the run's outcome as its journal tells it (a resumed run
// reads as the whole run), or as its exit code does.
func runOutcome(env Env, id string, code int) string {
	if h, err := journal.History(env.StateDir, env.Inventory.Cluster); err == nil {
		if s, err := journal.Find(h, id); err == nil {
			return string(s.Outcome)
		}
	}
	return outcomeOf(code)
}

// prepareContinue surveys the cluster read-only, rebuilds the run's plan
// and machine from the journal and the nodes' real state, and reopens the
// run's journal.
func prepareContinue(ctx context.Context, env Env, info journalRunInfo, rel *release.Release, po PlanOptionsIn, breakLock bool,
	build func(runbook.Plan, runbook.ResumeFacts) (runbook.Machine, error), what string) (*PreparedRun, error) {
	known := append(knownBuilds(env.Catalog, rel), info.builds...)
	var cp *runbook.CloudPlan
	var x *executor.Executor
	var err error
	if env.Inventory.Cloud != nil {
		cp, x, err = continueCloud(ctx, env, info, known)
	} else {
		x, err = env.executor(rel, known)
	}
	if err != nil {
		return nil, coded(ExitCodeOf(err), "%v", err)
	}
	ok := false
	defer func() {
		if !ok {
			x.Close()
		}
	}()
	x.SetBreakLock(breakLock)
	x.SetBackupSetID(info.backupSet)
	s, err := executor.SurveyCluster(ctx, x, true)
	if err != nil {
		return nil, err
	}
	if err := checkLocks(s, info.summary.ID, breakLock); err != nil {
		return nil, err
	}
	in := executor.PlanInputFor(x, s, info.target, known, PlanOptionsFor(env.Inventory, po, env.Token != ""))
	if cp != nil {
		in.Cloud = cp
		in.Target.Image = cp.Image.ID
		cloudCurrent(ctx, &in, x.Cloud(), cp.Group)
	}
	p, err := runbook.BuildPlan(in)
	if err != nil {
		return nil, coded(runbook.ExitRefused, "%v", err)
	}
	facts := journal.ResumeFacts(info.run.Entries, s.Files)
	facts.Builds = append(facts.Builds, info.builds...)
	m, err := build(p, facts)
	if err != nil {
		return nil, coded(runbook.ExitRefused, "%v", err)
	}
	j, err := journal.Reopen(info.run.Path)
	if err != nil {
		return nil, coded(runbook.ExitUsage, "%v", err)
	}
	rr := &journal.Release{To: info.target.Version}
	if info.progress.Release.From != "" {
		rr.From = info.progress.Release.From
	}
	x.SetJournal(j, info.record, rr)
	x.SetReusedRun()
	env.events().SetRun(j.RunID())
	env.logLine("journal", fmt.Sprintf("%s (%s %s)", j.Path(), what, info.summary.Describe()))
	if facts.LockHeld {
		env.logLine("lock", fmt.Sprintf("run %s holds the rollout lock on the nodes: %s takes it back", j.RunID(), what))
	}
	ok = true
	return &PreparedRun{Plan: p, Machine: m, Executor: x, Journal: j, Run: info.summary}, nil
}

// UnfinishedRunError refuses a new run while one is unfinished, naming
// it and both ways out (exit 3). The console offers them instead.
type UnfinishedRunError struct {
	Cluster   string
	Inventory string // the inventory's path, for the commands shown
	Run       journal.RunSummary
}

func (e *UnfinishedRunError) Error() string {
	return fmt.Sprintf("cluster %s has an unfinished rollout: %s (changed %s). `nwroll resume -i %s` continues it, `nwroll rollback -i %s` undoes it; `--abandon-run` starts a new run anyway",
		e.Cluster, e.Run.Describe(), e.Run.ChangesText(), e.Inventory, e.Inventory)
}

func unfinishedRefusal(env Env, s journal.RunSummary) error {
	return &runbook.ExitError{Code: runbook.ExitRefused, Err: &UnfinishedRunError{Cluster: env.Inventory.Cluster, Inventory: env.Inventory.Path, Run: s}}
}

// newestUnfinished is the run a new upgrade must not bury, if any.
func newestUnfinished(env Env) (journal.RunSummary, bool, error) {
	h, err := History(env)
	if err != nil {
		return journal.RunSummary{}, false, err
	}
	s, ok := journal.NewestUnfinished(h)
	return s, ok, nil
}
