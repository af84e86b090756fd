package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/cloud/aws"
	"github.com/nwroll/nwroll/cloud/azure"
	"github.com/nwroll/nwroll/cloud/gcp"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Cloud mode (the inventory's `cloud:` section): the nodes are the group's
// instances, discovered here, and the plan replaces them image-first.

// ProviderFunc builds the provider for an inventory's cloud section.
type ProviderFunc func(ctx context.Context, c *inventory.Cloud) (cloud.Provider, error)

// provider is the group's provider: Env.Cloud's, or the SDK's for the
// inventory's provider.
func (env Env) provider(ctx context.Context) (cloud.Provider, error) {
	build := env.Cloud
	if build == nil {
		build = Providers
	}
	p, err := build(ctx, env.Inventory.Cloud)
	if err != nil {
		return nil, coded(runbook.ExitUsage, "%s: %v", env.Inventory.Path, err)
	}
	return p, nil
}

// Providers builds the provider an inventory's cloud section names, on
// the cloud's SDK (credentials from its default chain).
func Providers(ctx context.Context, c *inventory.Cloud) (cloud.Provider, error) {
	cfg := cloudConfig(c)
	switch c.Provider {
	case "aws":
		return aws.New(ctx, cfg)
	case "azure":
		return azure.New(ctx, cfg)
	case "gcp":
		return gcp.New(ctx, cfg)
	}
	return nil, fmt.Errorf("cloud.provider %q: nwroll drives aws, azure and gcp groups", c.Provider)
}

// cloudConfig is the provider configuration an inventory's cloud section
// gives.
func cloudConfig(c *inventory.Cloud) cloud.Config {
	return cloud.Config{Provider: c.Provider, Region: c.Region, Group: c.Group, Subscription: c.Subscription,
		ResourceGroup: c.ResourceGroup, Project: c.Project, DrainTimeout: c.DrainTimeout, Endpoints: c.Endpoints, Anonymous: c.Anonymous}
}

// checkModeOptions refuses the options that do not apply to the
// inventory's mode.
func checkModeOptions(env Env, o PlanOptionsIn) error {
	cloudMode := env.Inventory.Cloud != nil
	switch {
	case o.Observe && !cloudMode:
		return coded(runbook.ExitUsage, "--observe watches a cloud group's instance refresh, and inventory %s has no cloud: section", env.Inventory.Path)
	case cloudMode && o.Bake > 0:
		return coded(runbook.ExitUsage, "--bake is for in-place upgrades; in cloud mode each new instance holds its join gate for gates.stabilisation (raise it in the inventory)")
	case cloudMode && o.Backup != runbook.BackupQuiesced:
		return coded(runbook.ExitUsage, "--backup and --backup-reuse are for in-place upgrades: in cloud mode the data lives on in the cluster and the previous image stays the rollback")
	case o.Observe && len(o.PauseBefore) > 0:
		return coded(runbook.ExitUsage, "--pause-before and --observe exclude each other: the refresh you watch replaces instances on its own schedule")
	case !cloudMode:
		return checkPauses(o.PauseBefore, env.Inventory.Nodes())
	}
	return nil
}

// checkPauses: every --pause-before names a node, or the leader.
func checkPauses(pauses []string, nodes []inventory.Node) error {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	for _, p := range pauses {
		if p != runbook.PauseLeader && !slices.Contains(names, p) {
			return coded(runbook.ExitUsage, "--pause-before %q: name a node (%s) or %s", p, strings.Join(names, ", "), runbook.PauseLeader)
		}
	}
	return nil
}

// discover describes the group and makes a node of each of its
// instances that is not on its way out.
func discover(ctx context.Context, env Env, p cloud.Provider) (cloud.Group, []inventory.Node, error) {
	g, err := p.Describe(ctx)
	if err != nil {
		return g, nil, coded(runbook.ExitRefused, "describe group %s: %v", env.Inventory.Cloud.Group, err)
	}
	var nodes []inventory.Node
	for _, in := range g.Instances {
		if in.Lifecycle == cloud.Terminated || in.PrivateIP == "" {
			continue
		}
		n, err := env.Inventory.Discovered(in.ID, in.PrivateIP)
		if err != nil {
			return g, nil, coded(runbook.ExitUsage, "%v", err)
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return g, nil, coded(runbook.ExitRefused, "group %s has no running instance: nothing to roll", g.Name)
	}
	return g, nodes, nil
}

// makeCloudPlan is MakePlan in cloud mode: the group described, the
// target release's image found, the instances surveyed as nodes (SSH for
// the token, the CA and node ids; HTTPS for health), the plan built.
func makeCloudPlan(ctx context.Context, env Env, o PlanOptionsIn) (runbook.Plan, *executor.Executor, executor.Survey, error) {
	fail := func(err error) (runbook.Plan, *executor.Executor, executor.Survey, error) {
		return runbook.Plan{}, nil, executor.Survey{}, err
	}
	p, err := env.provider(ctx)
	if err != nil {
		return fail(err)
	}
	g, nodes, err := discover(ctx, env, p)
	if err != nil {
		return fail(err)
	}
	if err := checkPauses(o.PauseBefore, nodes); err != nil {
		return fail(err)
	}
	img, err := p.ImageFor(ctx, o.Release.Version)
	if err != nil {
		code := runbook.ExitRefused
		if errors.Is(err, cloud.ErrNotFound) {
			code = runbook.ExitUsage
		}
		return fail(coded(code, "--release %s: %v", o.Release.Version, err))
	}
	fromImage, err := p.TemplateImage(ctx, g.Template)
	if err != nil {
		return fail(coded(runbook.ExitRefused, "group %s's template %s: %v", g.Name, g.Template, err))
	}
	x, err := executor.New(executor.Config{
		Inventory: env.Inventory, Dialer: env.Dialer, Catalog: env.Catalog, StateDir: env.StateDir,
		Token: env.Token, TokenSource: tokenSourceOf(env), Cloud: p, Nodes: nodes,
	})
	if err != nil {
		return fail(err)
	}
	s, err := executor.SurveyCluster(ctx, x, true)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, err
	}
	target := runbook.BuildRef{Version: o.Release.Version, Image: img.ID}
	in := executor.PlanInputFor(x, s, target, knownBuilds(env.Catalog, nil), PlanOptionsFor(env.Inventory, o, env.Token != ""))
	cloudCurrent(ctx, &in, p, g)
	in.Cloud = &runbook.CloudPlan{Provider: p.Name(), Group: g, Image: img, FromImage: fromImage, FromRelease: fromRelease(in, fromImage)}
	in.Now = time.Now()
	in.Runs, in.RunsErr = priorRuns(env)
	plan, err := runbook.BuildPlan(in)
	if err != nil {
		x.Close()
		return runbook.Plan{}, nil, s, coded(runbook.ExitRefused, "%v", err)
	}
	return plan, x, s, nil
}

// cloudCurrent makes each node's build its instance's image, named by the
// image's release tag (none when the image is untagged or unreadable).
func cloudCurrent(ctx context.Context, in *runbook.PlanInput, p cloud.Provider, g cloud.Group) {
	var ids []string
	for _, inst := range g.Instances {
		ids = append(ids, inst.ImageID)
	}
	release := map[string]string{}
	if imgs, err := p.Images(ctx, slices.Compact(slices.Sorted(slices.Values(ids)))); err == nil {
		for _, img := range imgs {
			release[img.ID] = img.Release
		}
	}
	for i := range in.Nodes {
		if inst, ok := g.Instance(in.Nodes[i].Name); ok {
			in.Nodes[i].Current = runbook.BuildRef{Version: release[inst.ImageID], Image: inst.ImageID}
		}
	}
}

// fromRelease is the release of the nodes on image, when one is known.
func fromRelease(in runbook.PlanInput, image string) string {
	for _, n := range in.Nodes {
		if n.Current.Image == image && n.Current.Version != "" {
			return n.Current.Version
		}
	}
	return ""
}

// continueCloud discovers the group of a cloud run to resume or roll
// back: its instances now as the nodes, its template, image and size
// before the run from the run's record.
func continueCloud(ctx context.Context, env Env, info journalRunInfo, known []runbook.BuildRef) (*runbook.CloudPlan, *executor.Executor, error) {
	rc := info.record.Cloud
	if rc == nil {
		return nil, nil, coded(runbook.ExitRefused, "run %s was not a cloud run, but inventory %s has a cloud: section: use the inventory the run was made with", info.summary.ID, env.Inventory.Path)
	}
	p, err := env.provider(ctx)
	if err != nil {
		return nil, nil, err
	}
	g, nodes, err := discover(ctx, env, p)
	if err != nil {
		return nil, nil, err
	}
	if g.Name != rc.Group {
		return nil, nil, coded(runbook.ExitRefused, "run %s rolled group %s, and the inventory names group %s", info.summary.ID, rc.Group, g.Name)
	}
	x, err := executor.New(executor.Config{
		Inventory: env.Inventory, Dialer: env.Dialer, Catalog: env.Catalog, Known: known, StateDir: env.StateDir,
		Token: env.Token, TokenSource: tokenSourceOf(env), Cloud: p, Nodes: nodes,
	})
	if err != nil {
		return nil, nil, err
	}
	cp := &runbook.CloudPlan{Provider: p.Name(), Group: g, Size: rc.Size,
		Image: cloud.Image{ID: rc.Image, Name: rc.ImageName, Release: info.target.Version},
		From:  rc.From.TemplateRef(), FromImage: rc.From.Image, FromRelease: rc.FromRelease}
	return cp, x, nil
}
