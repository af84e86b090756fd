package rollout

import (
	"context"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Sysdump is `nwroll sysdump -o FILE`: a cluster sysdump saved with mode
// 0600. progress (may be nil) gets the bytes received so far.
func Sysdump(ctx context.Context, env Env, dest string, progress func(int64)) (api.SysdumpResult, error) {
	x, err := env.executor(nil, nil)
	if err != nil {
		return api.SysdumpResult{}, err
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		return api.SysdumpResult{}, err
	}
	x.Poll(ctx) // learn the leader, to ask it first
	var p func(int64, int64)
	if progress != nil {
		p = func(done, _ int64) { progress(done) }
	}
	res, err := x.ClusterSysdump(ctx, dest, p)
	if err != nil {
		return res, coded(runbook.ExitFailed, "sysdump of cluster %s: %v", env.Inventory.Cluster, err)
	}
	return res, nil
}
