package rollout

import (
	"context"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// PlanOptionsIn are the choices `plan` and `upgrade` share.
type PlanOptionsIn struct {
	Release   *release.Release
	Backup    runbook.BackupMode
	BackupSet string
	Bake      time.Duration // the canary soak after the first upgrade; 0: none
	// AllowUnknownBuild: --yes accepts a node on a build that matches no
	// release manifest (--allow-unknown-build).
	AllowUnknownBuild bool
	// Observe (cloud mode): watch the operator's own instance refresh.
	Observe bool
	// PauseBefore: a --yes run stops before these nodes' upgrades
	// (runbook.PauseLeader: the leader's), exit 5 (--pause-before).
	PauseBefore []string
}

// MakePlan surveys the cluster (read-only) and builds its plan.
func MakePlan(ctx context.Context, env Env, o PlanOptionsIn) (runbook.Plan, *executor.Executor, executor.Survey, error) {
	if err := checkModeOptions(env, o); err != nil {
		return runbook.Plan{}, nil, executor.Survey{}, err
	}
	if env.Inventory.Cloud != nil {
		return makeCloudPlan(ctx, env, o)
	}
	x, err := env.executor(o.Release, nil)
	if err != nil {
		return runbook.Plan{}, nil, executor.Survey{}, err
	}
	s, err := executor.SurveyCluster(ctx, x, true)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, err
	}
	target := runbook.BuildRef{Version: o.Release.Version, SHA256: o.Release.SHA256}
	in := executor.PlanInputFor(x, s, target, knownBuilds(env.Catalog, o.Release), PlanOptionsFor(env.Inventory, o, env.Token != ""))
	in.Now = time.Now()
	in.Runs, in.RunsErr = priorRuns(env)
	p, err := runbook.BuildPlan(in)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, coded(runbook.ExitRefused, "%v", err)
	}
	return p, x, s, nil
}

// PrintPlan is `nwroll plan`: it prints the runbook this cluster would
// get. It changes nothing on any node and writes no journal. It refuses
// (exit 3) a cluster whose Raft membership is unknown or differs from the
// inventory, since the quorum arithmetic would be wrong and the pre-check
// refuses it anyway.
func PrintPlan(ctx context.Context, env Env, o PlanOptionsIn) error {
	p, x, _, err := MakePlan(ctx, env, o)
	if err != nil {
		return err
	}
	x.Close()
	if env.JSON {
		// The document says the refusal too: a reviewer sees why.
		if err := WritePlanJSON(env.out(), p); err != nil {
			return err
		}
	}
	if err := p.Refusal(); err != nil {
		return coded(runbook.ExitRefused, "%v", err)
	}
	if env.JSON {
		return nil
	}
	return p.Render(env.out())
}

// priorRuns is the cluster's run history as the plan reads it: a run of
// the same target rolled back recently warns the plan (RetryWarnWindow).
func priorRuns(env Env) ([]runbook.PriorRun, error) {
	h, err := journal.History(env.StateDir, env.Inventory.Cluster)
	if err != nil {
		return nil, err
	}
	out := make([]runbook.PriorRun, 0, len(h))
	for _, s := range h {
		r := runbook.PriorRun{ID: s.ID, Started: s.Started, By: s.StartedBy, Target: runbook.BuildRef{Version: s.Target},
			RolledBack: s.Outcome == journal.OutcomeRolledBack || s.RolledBackNode()}
		if rec := s.Record(); rec != nil {
			r.Target = runbook.BuildRef{Version: rec.Release.Version, SHA256: rec.Release.SHA256}
		}
		r.Reason = s.Failure
		if s.Reason != "" {
			r.Reason = strings.TrimPrefix(r.Reason+"; "+s.Reason, "; ")
		}
		out = append(out, r)
	}
	return out, nil
}
