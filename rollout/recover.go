package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// journalRunInfo is what the last run's journal says.
type journalRunInfo struct {
	run       *journal.Run
	progress  journal.RunProgress
	record    *journal.RunRecord
	target    runbook.BuildRef
	builds    []runbook.BuildRef
	backupSet string
}

func readRunInfo(env Env) (journalRunInfo, error) {
	run, err := journal.LatestRun(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		if errors.Is(err, journal.ErrNoRun) {
			return journalRunInfo{}, coded(runbook.ExitRefused, "no rollout of cluster %s is on record in %s: nothing to continue (was the upgrade run with another XDG_STATE_HOME?)",
				env.Inventory.Cluster, env.StateDir)
		}
		return journalRunInfo{}, coded(runbook.ExitUsage, "%v", err)
	}
	info := journalRunInfo{run: run, progress: journal.Progress(run.Entries)}
	for _, e := range run.Entries {
		if e.Kind == journal.Intent && e.Op == runbook.RecordOpRun && e.Node == "" && e.Run != nil {
			info.record = e.Run
		}
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

// runEnd finds the run's last end: the exit code and reason of its last
// run outcome, and whether a run intent came after it (ended is false then:
// that run was cut short).
func runEnd(entries []journal.Entry) (code int, reason string, ended bool) {
	for _, e := range entries {
		if e.Op != runbook.RecordOpRun || e.Node != "" {
			continue
		}
		switch e.Kind {
		case journal.Intent:
			ended = false
		case journal.Outcome:
			ended, code, reason = true, runbook.ExitFailed, e.Detail
			if e.ExitCode != nil {
				code = *e.ExitCode
			}
		}
	}
	return code, reason, ended
}

// ResumeOptions are `nwroll resume`'s flags.
type ResumeOptions struct {
	// Release overrides the journal's release source; its sha256 must be
	// the journal's.
	Release   *release.Release
	BreakLock bool
}

// Resume is `nwroll resume --yes`: it re-reads every node's real state,
// runs the read-only checks again and continues the interrupted run.
func Resume(ctx context.Context, env Env, o ResumeOptions) (int, error) {
	info, err := readRunInfo(env)
	if err != nil {
		return ExitCodeOf(err), err
	}
	rp := info.progress
	if code, reason, ended := runEnd(info.run.Entries); ended && code != runbook.ExitFailed {
		// exit 1 (interrupted, or stopped after a failure) is resumable;
		// a run that succeeded, was refused or was rolled back is over.
		what := map[int]string{runbook.ExitOK: "succeeded", runbook.ExitRefused: "was refused", runbook.ExitRolledBack: "was rolled back"}[code]
		if code == runbook.ExitOK && strings.HasPrefix(reason, "rolled back") {
			what = "was rolled back by `nwroll rollback`"
		}
		if what == "" {
			what = fmt.Sprintf("ended with exit %d", code)
		}
		next := "start a new one with `nwroll upgrade`"
		if code == runbook.ExitOK && !strings.HasPrefix(reason, "rolled back") {
			next = "`nwroll rollback` undoes it"
		}
		return runbook.ExitRefused, coded(runbook.ExitRefused, "the last rollout of cluster %s (run %s) %s (%s): nothing to resume; %s",
			env.Inventory.Cluster, rp.RunID, what, reason, next)
	}
	rel := o.Release
	if rel == nil {
		rel, err = release.Load(info.record.ReleaseSource)
		if err != nil {
			return runbook.ExitUsage, coded(runbook.ExitUsage, "the interrupted run's release cannot be loaded (%v): pass --release with release %s", err, info.target.Label())
		}
		defer rel.Cleanup()
	}
	if rel.SHA256 != runbook.NormSHA(info.target.SHA256) {
		return runbook.ExitUsage, coded(runbook.ExitUsage, "release %s (sha256 %s) is not the interrupted run's target %s (sha256 %s)",
			rel.Source, rel.ShortSHA(), info.target.Label(), runbook.ShortSHA(info.target.SHA256))
	}
	backup := runbook.BackupQuiesced
	switch info.record.Backup {
	case "live":
		backup = runbook.BackupLive
	case "reuse":
		backup = runbook.BackupReuse
	}
	set := info.record.BackupSet
	noRollback := info.record.NoRollback
	po := PlanOptionsIn{Release: rel, Backup: backup, BackupSet: set, Bake: time.Duration(info.record.Bake),
		AllowUnknownBuild: info.record.AllowUnknownBuild}
	return continueRun(ctx, env, info, rel, po, o.BreakLock,
		runbook.MachineOptions{Headless: true, NoRollback: noRollback, Approver: journal.CurrentOperator()}, false)
}

// RollbackOptions are `nwroll rollback`'s flags.
type RollbackOptions struct {
	BreakLock bool
}

// Rollback is `nwroll rollback --yes`: every node the journal shows as
// upgraded is rolled back, newest first, one at a time, with gates.
func Rollback(ctx context.Context, env Env, o RollbackOptions) (int, error) {
	info, err := readRunInfo(env)
	if err != nil {
		return ExitCodeOf(err), err
	}
	backup := runbook.BackupLive // never used: rollback steps take no backup
	return continueRun(ctx, env, info, nil, PlanOptionsIn{Backup: backup}, o.BreakLock,
		runbook.MachineOptions{Headless: true, Approver: journal.CurrentOperator()}, true)
}

func continueRun(ctx context.Context, env Env, info journalRunInfo, rel *release.Release, po PlanOptionsIn, breakLock bool, mo runbook.MachineOptions, rollback bool) (int, error) {
	known := append(knownBuilds(env.Catalog, rel), info.builds...)
	x, err := env.executor(rel, known)
	if err != nil {
		return runbook.ExitUsage, err
	}
	defer x.Close()
	x.SetBreakLock(breakLock)
	x.SetBackupSetID(info.backupSet)
	s, err := executor.SurveyCluster(ctx, x, false)
	if err != nil {
		return ExitCodeOf(err), err
	}
	in := executor.PlanInputFor(x, s, info.target, known, PlanOptionsFor(env.Inventory, po, env.Token != ""))
	p, err := runbook.BuildPlan(in)
	if err != nil {
		return runbook.ExitRefused, coded(runbook.ExitRefused, "%v", err)
	}
	facts := journal.ResumeFacts(info.run.Entries, s.Files)
	facts.Builds = append(facts.Builds, info.builds...)
	var m runbook.Machine
	if rollback {
		m, err = runbook.RollbackState(p, facts, mo)
	} else {
		m, err = runbook.ResumeState(p, facts, mo)
	}
	if err != nil {
		return runbook.ExitRefused, coded(runbook.ExitRefused, "%v", err)
	}
	j, err := journal.Reopen(info.run.Path)
	if err != nil {
		return runbook.ExitUsage, err
	}
	defer j.Close()
	rr := &journal.Release{To: info.target.Version}
	if info.progress.Release.From != "" {
		rr.From = info.progress.Release.From
	}
	x.SetJournal(j, info.record, rr)
	x.SetReusedRun()
	what := "resuming"
	if rollback {
		what = "rolling back"
	}
	env.logLine("journal", fmt.Sprintf("%s (%s run %s)", j.Path(), what, j.RunID()))
	m = RunHeadless(ctx, m, x, RunnerOptions{Out: env.Out, JSON: env.JSON, Tick: env.Tick, OnMachine: env.OnMachine})
	return m.ExitCode, runError(m)
}
