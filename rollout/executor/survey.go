package executor

import (
	"context"
	"errors"
	"sync"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Survey is one read-only look at the cluster: every node's files, a
// health snapshot, and (if asked) the lock holders.
type Survey struct {
	Files   []runbook.NodeFiles
	Snap    health.ClusterSnapshot
	Locks   map[string]LockHolder
	LockErr error
}

// SurveyCluster connects, then reads the files, polls and (withLocks)
// reads the locks in parallel. Nothing changes on any node.
func SurveyCluster(ctx context.Context, x *Executor, withLocks bool) (Survey, error) {
	if err := x.Connect(ctx); err != nil {
		return Survey{}, err
	}
	x.mu.Lock()
	fresh := x.fresh
	x.fresh = nil
	x.mu.Unlock()
	if fresh != nil {
		// Connect has just read the files and locks in its own session.
		s := *fresh
		if !withLocks {
			s.Locks, s.LockErr = nil, nil
		}
		s.Snap = x.Poll(ctx)
		return s, nil
	}
	var s Survey
	var ferr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Files, ferr = x.ReadFiles(ctx, x.NodeNames()) }()
	go func() { defer wg.Done(); s.Snap = x.Poll(ctx) }()
	if withLocks {
		wg.Add(1)
		go func() { defer wg.Done(); s.Locks, s.LockErr = x.ReadLocks(ctx, x.NodeNames()) }()
	}
	wg.Wait()
	if ferr != nil {
		return s, &runbook.ExitError{Code: runbook.ExitRefused, Err: ferr}
	}
	return s, nil
}

// PlanInputFor builds the plan's input from a survey.
func PlanInputFor(x *Executor, s Survey, target runbook.BuildRef, known []runbook.BuildRef, opts runbook.PlanOptions) runbook.PlanInput {
	in := runbook.PlanInput{Cluster: x.inv.Cluster, Target: target, Known: known, Options: opts}
	files := map[string]runbook.NodeFiles{}
	for _, f := range s.Files {
		files[f.Node] = f
	}
	for _, name := range x.NodeNames() {
		pn := runbook.PlanNode{Name: name, NodeID: x.NodeID(name), Voter: true, Current: x.Identify(files[name].SHA256)}
		in.Nodes = append(in.Nodes, pn)
	}
	in.Nodes = runbook.PlanNodesFromSnapshot(in.Nodes, s.Snap)
	in.Members, in.MembersErr = s.Snap.Members, s.Snap.MembersErr
	if in.Members == nil && in.MembersErr == nil {
		in.MembersErr = errors.New("no answer")
	}
	return in
}
