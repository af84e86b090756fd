// Package aws is cloud.Provider for an AWS Auto Scaling group, on
// aws-sdk-go-v2. Credentials come from the SDK's default chain; the
// region from cloud.Config (else the chain's). cloud.Config.Endpoints
// ("autoscaling", "ec2") override the services' endpoints, which is how
// the simulator's fake (cloud/fakeaws) is reached; cloud.Config.Anonymous
// then allows unsigned calls, and only to loopback endpoints.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/nwroll/nwroll/cloud"
)

// Movers are the processes Freeze suspends: those that move instances by
// themselves (cloud-rollout.md §2).
var Movers = []string{"AZRebalance", "ScheduledActions", "AlarmNotification"}

// Services are the endpoint names cloud.Config.Endpoints may override.
var Services = []string{"autoscaling", "ec2"}

// Provider drives one Auto Scaling group.
type Provider struct {
	as        *autoscaling.Client
	ec2       *ec2.Client
	group     string
	region    string
	endpoints map[string]string
}

var _ cloud.Provider = (*Provider)(nil)

// Option tunes New.
type Option func(*options)

type options struct {
	retryMaxAttempts int
}

// WithRetryMaxAttempts sets how often the SDK tries a call (default: the
// SDK's, 3).
func WithRetryMaxAttempts(n int) Option { return func(o *options) { o.retryMaxAttempts = n } }

// New builds the provider for c. It sends nothing yet.
func New(ctx context.Context, c cloud.Config, opts ...Option) (*Provider, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	if c.Group == "" {
		return nil, fmt.Errorf("aws: cloud.group is empty: name the Auto Scaling group")
	}
	for name, ep := range c.Endpoints {
		if !slices.Contains(Services, name) {
			return nil, fmt.Errorf("aws: cloud.endpoints: unknown service %q (known: %s)", name, strings.Join(Services, ", "))
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("aws: cloud.endpoints.%s: %q is not an http(s) URL", name, ep)
		}
	}
	if err := c.CheckAnonymous("aws", "real credentials", Services...); err != nil {
		return nil, err
	}
	var load []func(*config.LoadOptions) error
	if c.Region != "" {
		load = append(load, config.WithRegion(c.Region))
	}
	if c.Anonymous {
		load = append(load, config.WithCredentialsProvider(sdkaws.AnonymousCredentials{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("aws: load the AWS configuration (AWS_PROFILE, ~/.aws/config): %v", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("aws: no region: set cloud.region in the inventory (or AWS_REGION)")
	}
	p := &Provider{group: c.Group, region: cfg.Region, endpoints: map[string]string{}}
	for k, v := range c.Endpoints {
		p.endpoints[k] = v
	}
	p.as = autoscaling.NewFromConfig(cfg, func(ao *autoscaling.Options) {
		if ep := c.Endpoints["autoscaling"]; ep != "" {
			ao.BaseEndpoint = sdkaws.String(ep)
		}
		if o.retryMaxAttempts > 0 {
			ao.RetryMaxAttempts = o.retryMaxAttempts
		}
	})
	p.ec2 = ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		if ep := c.Endpoints["ec2"]; ep != "" {
			eo.BaseEndpoint = sdkaws.String(ep)
		}
		if o.retryMaxAttempts > 0 {
			eo.RetryMaxAttempts = o.retryMaxAttempts
		}
	})
	return p, nil
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return "aws" }

// lifecycle maps an Auto Scaling lifecycle state.
func lifecycle(s astypes.LifecycleState) cloud.Lifecycle {
	switch s {
	case astypes.LifecycleStatePending, astypes.LifecycleStatePendingWait, astypes.LifecycleStatePendingProceed:
		return cloud.Pending
	case astypes.LifecycleStateInService:
		return cloud.InService
	case astypes.LifecycleStateTerminatingWait:
		return cloud.TerminatingWait
	case astypes.LifecycleStateTerminating, astypes.LifecycleStateTerminatingProceed:
		return cloud.Terminating
	case astypes.LifecycleStateTerminated:
		return cloud.Terminated
	}
	return cloud.Other
}

func templateRef(lt *astypes.LaunchTemplateSpecification) cloud.TemplateRef {
	if lt == nil {
		return cloud.TemplateRef{}
	}
	return cloud.TemplateRef{ID: sdkaws.ToString(lt.LaunchTemplateId), Name: sdkaws.ToString(lt.LaunchTemplateName),
		Version: sdkaws.ToString(lt.Version)}
}

func (p *Provider) describeGroup(ctx context.Context) (astypes.AutoScalingGroup, error) {
	out, err := p.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{p.group}})
	if err != nil {
		return astypes.AutoScalingGroup{}, p.explain("autoscaling:DescribeAutoScalingGroups", err)
	}
	for _, g := range out.AutoScalingGroups {
		if sdkaws.ToString(g.AutoScalingGroupName) == p.group {
			return g, nil
		}
	}
	return astypes.AutoScalingGroup{}, notFound("autoscaling:DescribeAutoScalingGroups",
		"Auto Scaling group %q not found in region %s: check cloud.group and cloud.region in the inventory", p.group, p.region)
}

// Describe implements cloud.Provider: the group, its hooks, newest
// refresh, recent activities, and its instances joined with EC2.
func (p *Provider) Describe(ctx context.Context) (cloud.Group, error) {
	asg, err := p.describeGroup(ctx)
	if err != nil {
		return cloud.Group{}, err
	}
	g := cloud.Group{Name: p.group, Desired: int(sdkaws.ToInt32(asg.DesiredCapacity)),
		Min: int(sdkaws.ToInt32(asg.MinSize)), Max: int(sdkaws.ToInt32(asg.MaxSize))}
	lt := asg.LaunchTemplate
	if lt == nil && asg.MixedInstancesPolicy != nil && asg.MixedInstancesPolicy.LaunchTemplate != nil {
		lt = asg.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification
		g.MixedInstancesPolicy = true
	}
	g.Template = templateRef(lt)
	for _, sp := range asg.SuspendedProcesses {
		g.Suspended = append(g.Suspended, sdkaws.ToString(sp.ProcessName))
	}
	for _, m := range Movers {
		if !slices.Contains(g.Suspended, m) {
			g.Movers = append(g.Movers, m)
		}
	}
	if err := p.describeHooks(ctx, &g); err != nil {
		return cloud.Group{}, err
	}
	g.Problems = problems(g)
	if g.Refresh, err = p.newestRefresh(ctx); err != nil {
		return cloud.Group{}, err
	}
	acts, err := p.as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: sdkaws.String(p.group), MaxRecords: sdkaws.Int32(10)})
	if err != nil {
		return cloud.Group{}, p.explain("autoscaling:DescribeScalingActivities", err)
	}
	for _, a := range acts.Activities {
		g.Activities = append(g.Activities, cloud.Activity{ID: sdkaws.ToString(a.ActivityId),
			Description: sdkaws.ToString(a.Description), Cause: sdkaws.ToString(a.Cause),
			Status: string(a.StatusCode), StatusMsg: sdkaws.ToString(a.StatusMessage), Start: sdkaws.ToTime(a.StartTime)})
	}
	var ids []string
	for _, in := range asg.Instances {
		ids = append(ids, sdkaws.ToString(in.InstanceId))
	}
	ec2s, err := p.ec2Instances(ctx, ids)
	if err != nil {
		return cloud.Group{}, err
	}
	for _, in := range asg.Instances {
		c := cloud.Instance{ID: sdkaws.ToString(in.InstanceId), Lifecycle: lifecycle(in.LifecycleState),
			State: string(in.LifecycleState), Healthy: sdkaws.ToString(in.HealthStatus) == "Healthy",
			Template: templateRef(in.LaunchTemplate), Zone: sdkaws.ToString(in.AvailabilityZone)}
		if c.Lifecycle == cloud.Terminated {
			continue
		}
		if e, ok := ec2s[c.ID]; ok {
			c.PrivateIP, c.ImageID, c.LaunchedAt = sdkaws.ToString(e.PrivateIpAddress), sdkaws.ToString(e.ImageId), sdkaws.ToTime(e.LaunchTime)
		}
		g.Instances = append(g.Instances, c)
	}
	sort.SliceStable(g.Instances, func(i, j int) bool {
		a, b := g.Instances[i], g.Instances[j]
		if !a.LaunchedAt.Equal(b.LaunchedAt) {
			return a.LaunchedAt.Before(b.LaunchedAt)
		}
		return a.ID < b.ID
	})
	return g, nil
}

func (p *Provider) describeHooks(ctx context.Context, g *cloud.Group) error {
	out, err := p.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: sdkaws.String(p.group)})
	if err != nil {
		return p.explain("autoscaling:DescribeLifecycleHooks", err)
	}
	for _, h := range out.LifecycleHooks {
		hook := &cloud.Hook{Name: sdkaws.ToString(h.LifecycleHookName),
			HeartbeatTimeout: time.Duration(sdkaws.ToInt32(h.HeartbeatTimeout)) * time.Second,
			DefaultResult:    sdkaws.ToString(h.DefaultResult)}
		switch sdkaws.ToString(h.LifecycleTransition) {
		case "autoscaling:EC2_INSTANCE_TERMINATING":
			g.TerminatingHook = hook
		case "autoscaling:EC2_INSTANCE_LAUNCHING":
			g.LaunchingHook = hook
		}
	}
	return nil
}

// newestRefresh is the group's newest instance refresh (the API lists
// the newest first), nil if it never had one.
func (p *Provider) newestRefresh(ctx context.Context) (*cloud.Refresh, error) {
	r, err := p.newestRefreshRaw(ctx)
	if r == nil || err != nil {
		return nil, err
	}
	return &cloud.Refresh{ID: sdkaws.ToString(r.InstanceRefreshId), Status: string(r.Status),
		PercentComplete: int(sdkaws.ToInt32(r.PercentageComplete)), InstancesToUpdate: int(sdkaws.ToInt32(r.InstancesToUpdate)),
		Reason: sdkaws.ToString(r.StatusReason)}, nil
}

func (p *Provider) newestRefreshRaw(ctx context.Context) (*astypes.InstanceRefresh, error) {
	out, err := p.as.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{
		AutoScalingGroupName: sdkaws.String(p.group), MaxRecords: sdkaws.Int32(1)})
	if err != nil {
		return nil, p.explain("autoscaling:DescribeInstanceRefreshes", err)
	}
	if len(out.InstanceRefreshes) == 0 {
		return nil, nil
	}
	return &out.InstanceRefreshes[0], nil
}

// ec2Instances describes ids by an instance-id filter, which, unlike
// InstanceIds, does not fail on an id EC2 does not list yet.
func (p *Provider) ec2Instances(ctx context.Context, ids []string) (map[string]ec2types.Instance, error) {
	out := map[string]ec2types.Instance{}
	for chunk := range slices.Chunk(ids, 200) { // a filter takes at most 200 values
		pager := ec2.NewDescribeInstancesPaginator(p.ec2, &ec2.DescribeInstancesInput{
			Filters:    []ec2types.Filter{{Name: sdkaws.String("instance-id"), Values: chunk}},
			MaxResults: sdkaws.Int32(1000)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, p.explain("ec2:DescribeInstances", err)
			}
			for _, r := range page.Reservations {
				for _, in := range r.Instances {
					out[sdkaws.ToString(in.InstanceId)] = in
				}
			}
		}
	}
	return out, nil
}

// ImageFor implements cloud.Provider.
func (p *Provider) ImageFor(ctx context.Context, release string) (cloud.Image, error) {
	const op = "ec2:DescribeImages"
	pager := ec2.NewDescribeImagesPaginator(p.ec2, &ec2.DescribeImagesInput{
		Filters: []ec2types.Filter{{Name: sdkaws.String("tag:" + cloud.ReleaseTag), Values: []string{release}}}})
	var found []ec2types.Image
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return cloud.Image{}, p.explain(op, err)
		}
		found = append(found, page.Images...)
	}
	switch len(found) {
	case 0:
		return cloud.Image{}, notFound(op, "no image tagged %s=%s in region %s: tag the release's AMI (aws ec2 create-tags --resources ami-… --tags Key=%s,Value=%s)", cloud.ReleaseTag, release, p.region, cloud.ReleaseTag, release)
	case 1:
	default:
		var ids []string
		for _, img := range found {
			ids = append(ids, sdkaws.ToString(img.ImageId))
		}
		sort.Strings(ids)
		return cloud.Image{}, failure(op, "%d images are tagged %s=%s in region %s (%s): exactly one may be; remove the tag from the others", len(found), cloud.ReleaseTag, release, p.region, strings.Join(ids, ", "))
	}
	img := found[0]
	if img.State != ec2types.ImageStateAvailable {
		return cloud.Image{}, failure(op, "image %s for release %s is %s, not available: wait for it or fix it", sdkaws.ToString(img.ImageId), release, img.State)
	}
	created, _ := time.Parse(time.RFC3339, sdkaws.ToString(img.CreationDate))
	return cloud.Image{ID: sdkaws.ToString(img.ImageId), Name: sdkaws.ToString(img.Name), Release: release, Created: created}, nil
}

// Images implements cloud.Provider.
func (p *Provider) Images(ctx context.Context, ids []string) ([]cloud.Image, error) {
	const op = "ec2:DescribeImages"
	if len(ids) == 0 {
		return nil, nil
	}
	// A filter, not ImageIds: an id that names no image (deregistered) is
	// left out instead of failing the call (InvalidAMIID.NotFound).
	pager := ec2.NewDescribeImagesPaginator(p.ec2, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: sdkaws.String("image-id"), Values: ids}}})
	var out []cloud.Image
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, p.explain(op, err)
		}
		for _, img := range page.Images {
			rel := ""
			for _, t := range img.Tags {
				if sdkaws.ToString(t.Key) == cloud.ReleaseTag {
					rel = sdkaws.ToString(t.Value)
				}
			}
			created, _ := time.Parse(time.RFC3339, sdkaws.ToString(img.CreationDate))
			out = append(out, cloud.Image{ID: sdkaws.ToString(img.ImageId), Name: sdkaws.ToString(img.Name), Release: rel, Created: created})
		}
	}
	return out, nil
}

// TemplateImage implements cloud.Provider.
func (p *Provider) TemplateImage(ctx context.Context, t cloud.TemplateRef) (string, error) {
	const op = "ec2:DescribeLaunchTemplateVersions"
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{t.Version}}
	if t.ID != "" {
		in.LaunchTemplateId = sdkaws.String(t.ID)
	} else {
		in.LaunchTemplateName = sdkaws.String(t.Name)
	}
	out, err := p.ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return "", p.explain(op, err)
	}
	if len(out.LaunchTemplateVersions) == 0 {
		return "", notFound(op, "launch template %s not found in region %s", t, p.region)
	}
	v := out.LaunchTemplateVersions[0]
	if v.LaunchTemplateData == nil || v.LaunchTemplateData.ImageId == nil {
		return "", failure(op, "launch template %s names no image", t)
	}
	return sdkaws.ToString(v.LaunchTemplateData.ImageId), nil
}

// NewTemplate implements cloud.Provider. Its client token is derived from
// base and image, so a repeat returns the version the first call made.
func (p *Provider) NewTemplate(ctx context.Context, base cloud.TemplateRef, image cloud.Image) (cloud.TemplateRef, error) {
	const op = "ec2:CreateLaunchTemplateVersion"
	sum := sha256.Sum256([]byte(strings.Join([]string{base.ID, base.Name, base.Version, image.ID}, "\x00")))
	in := &ec2.CreateLaunchTemplateVersionInput{
		ClientToken:        sdkaws.String("nwroll-" + hex.EncodeToString(sum[:16])),
		SourceVersion:      sdkaws.String(base.Version),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: sdkaws.String(image.ID)},
		VersionDescription: sdkaws.String(fmt.Sprintf("nwroll: %s from v%s, release %s", image.ID, base.Version, image.Release)),
	}
	if base.ID != "" {
		in.LaunchTemplateId = sdkaws.String(base.ID)
	} else {
		in.LaunchTemplateName = sdkaws.String(base.Name)
	}
	out, err := p.ec2.CreateLaunchTemplateVersion(ctx, in)
	if err != nil {
		return cloud.TemplateRef{}, p.explain(op, err)
	}
	v := out.LaunchTemplateVersion
	if v == nil || v.VersionNumber == nil {
		return cloud.TemplateRef{}, failure(op, "the answer names no version")
	}
	return cloud.TemplateRef{ID: sdkaws.ToString(v.LaunchTemplateId), Name: sdkaws.ToString(v.LaunchTemplateName),
		Version: strconv.FormatInt(sdkaws.ToInt64(v.VersionNumber), 10)}, nil
}

func explicit(t cloud.TemplateRef) error {
	if _, err := strconv.Atoi(t.Version); err != nil {
		return fmt.Errorf("aws: template %s: the version must be an explicit number, not %q", t, t.Version)
	}
	return nil
}

func launchTemplate(t cloud.TemplateRef) *astypes.LaunchTemplateSpecification {
	spec := &astypes.LaunchTemplateSpecification{Version: sdkaws.String(t.Version)}
	if t.ID != "" {
		spec.LaunchTemplateId = sdkaws.String(t.ID)
	} else {
		spec.LaunchTemplateName = sdkaws.String(t.Name)
	}
	return spec
}

// SetTemplate implements cloud.Provider.
func (p *Provider) SetTemplate(ctx context.Context, t cloud.TemplateRef, max int) error {
	if err := explicit(t); err != nil {
		return err
	}
	in := &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: sdkaws.String(p.group), LaunchTemplate: launchTemplate(t)}
	if max > 0 {
		in.MaxSize = sdkaws.Int32(int32(max))
	}
	_, err := p.as.UpdateAutoScalingGroup(ctx, in)
	return p.explain("autoscaling:UpdateAutoScalingGroup", err)
}

// problems are why the group cannot be rolled, as far as AWS goes.
func problems(g cloud.Group) []string {
	var out []string
	if g.TerminatingHook == nil {
		out = append(out, "group "+g.Name+" has no terminating lifecycle hook, so Neuwerk cannot drain a retired instance; add one on autoscaling:EC2_INSTANCE_TERMINATING")
	}
	if g.Template.Version == "" || strings.HasPrefix(g.Template.Version, "$") {
		out = append(out, fmt.Sprintf("group %s launches template %s at %q, not an explicit version, so a rollback has no version to return to; set an explicit version", g.Name, g.Template.Name, g.Template.Version))
	}
	return out
}

// Freeze implements cloud.Provider: it suspends these processes.
func (p *Provider) Freeze(ctx context.Context, movers []string) error {
	if len(movers) == 0 { // an empty list would suspend every process
		return nil
	}
	_, err := p.as.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: sdkaws.String(p.group), ScalingProcesses: movers})
	return p.explain("autoscaling:SuspendProcesses", err)
}

// Thaw implements cloud.Provider.
func (p *Provider) Thaw(ctx context.Context, movers []string) error {
	if len(movers) == 0 { // an empty list would resume every process
		return nil
	}
	_, err := p.as.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: sdkaws.String(p.group), ScalingProcesses: movers})
	return p.explain("autoscaling:ResumeProcesses", err)
}

// SetDesired implements cloud.Provider.
func (p *Provider) SetDesired(ctx context.Context, desired int) error {
	_, err := p.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: sdkaws.String(p.group),
		DesiredCapacity: sdkaws.Int32(int32(desired)), HonorCooldown: sdkaws.Bool(false)})
	return p.explain("autoscaling:SetDesiredCapacity", err)
}

// Retire implements cloud.Provider. When AWS refuses the termination
// (ValidationError), it asks where the instance is: already terminating
// or gone is success.
func (p *Provider) Retire(ctx context.Context, id string) error {
	const op = "autoscaling:TerminateInstanceInAutoScalingGroup"
	_, err := p.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: sdkaws.String(id), ShouldDecrementDesiredCapacity: sdkaws.Bool(true)})
	if err == nil || apiCode(err) != "ValidationError" {
		return p.explain(op, err)
	}
	in, found, derr := p.groupInstance(ctx, id)
	if derr != nil {
		return p.explain(op, err)
	}
	if !found {
		return nil // gone
	}
	if g := sdkaws.ToString(in.AutoScalingGroupName); g != p.group {
		return failure(op, "instance %s belongs to group %s, not %s", id, g, p.group)
	}
	switch lifecycle(astypes.LifecycleState(sdkaws.ToString(in.LifecycleState))) {
	case cloud.TerminatingWait, cloud.Terminating, cloud.Terminated:
		return nil
	}
	return p.explain(op, err)
}

// groupInstance finds id among all groups' instances.
func (p *Provider) groupInstance(ctx context.Context, id string) (astypes.AutoScalingInstanceDetails, bool, error) {
	out, err := p.as.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return astypes.AutoScalingInstanceDetails{}, false, p.explain("autoscaling:DescribeAutoScalingInstances", err)
	}
	for _, in := range out.AutoScalingInstances {
		if sdkaws.ToString(in.InstanceId) == id {
			return in, true, nil
		}
	}
	return astypes.AutoScalingInstanceDetails{}, false, nil
}

// CompleteLaunch implements cloud.Provider. An instance no longer held by
// the hook (answered before, or gone) is success.
func (p *Provider) CompleteLaunch(ctx context.Context, g cloud.Group, id string, cont bool) error {
	if g.LaunchingHook == nil {
		return nil
	}
	result := "ABANDON"
	if cont {
		result = "CONTINUE"
	}
	return p.complete(ctx, g.LaunchingHook.Name, id, result, astypes.LifecycleStatePendingWait)
}

// CompleteTermination implements cloud.Provider. An instance no longer
// held by the hook (answered before, or gone) is success.
func (p *Provider) CompleteTermination(ctx context.Context, g cloud.Group, id string) error {
	if g.TerminatingHook == nil {
		return nil
	}
	return p.complete(ctx, g.TerminatingHook.Name, id, "CONTINUE", astypes.LifecycleStateTerminatingWait)
}

// complete answers hook for id; a ValidationError for an instance not
// in the hook's wait state any more is success.
func (p *Provider) complete(ctx context.Context, hook, id, result string, wait astypes.LifecycleState) error {
	const op = "autoscaling:CompleteLifecycleAction"
	_, err := p.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: sdkaws.String(p.group), LifecycleHookName: sdkaws.String(hook),
		InstanceId: sdkaws.String(id), LifecycleActionResult: sdkaws.String(result)})
	if err == nil || apiCode(err) != "ValidationError" {
		return p.explain(op, err)
	}
	in, found, derr := p.groupInstance(ctx, id)
	if derr != nil || (found && in.LifecycleState != nil && *in.LifecycleState == string(wait)) {
		return p.explain(op, err)
	}
	return nil
}

// StartRefresh implements cloud.Provider: a rolling refresh to t that
// keeps every instance healthy and surges one at a time (MinHealthy 100,
// MaxHealthy 100+⌈100/N⌉), skipping instances already on t. A refresh to
// t already running is success (its id is returned).
func (p *Provider) StartRefresh(ctx context.Context, t cloud.TemplateRef) (string, error) {
	const op = "autoscaling:StartInstanceRefresh"
	if err := explicit(t); err != nil {
		return "", err
	}
	asg, err := p.describeGroup(ctx)
	if err != nil {
		return "", err
	}
	n := max(int(sdkaws.ToInt32(asg.DesiredCapacity)), 1)
	maxHealthy := min(100+(100+n-1)/n, 200)
	out, err := p.as.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: sdkaws.String(p.group), Strategy: astypes.RefreshStrategyRolling,
		DesiredConfiguration: &astypes.DesiredConfiguration{LaunchTemplate: launchTemplate(t)},
		Preferences: &astypes.RefreshPreferences{MinHealthyPercentage: sdkaws.Int32(100),
			MaxHealthyPercentage: sdkaws.Int32(int32(maxHealthy)), SkipMatching: sdkaws.Bool(true)}})
	if err == nil {
		return sdkaws.ToString(out.InstanceRefreshId), nil
	}
	if apiCode(err) != "InstanceRefreshInProgress" {
		return "", p.explain(op, err)
	}
	r, derr := p.newestRefreshRaw(ctx)
	if derr != nil || r == nil {
		return "", p.explain(op, err)
	}
	if r.DesiredConfiguration != nil && r.DesiredConfiguration.LaunchTemplate != nil {
		lt := templateRef(r.DesiredConfiguration.LaunchTemplate)
		if lt.Version == t.Version && (lt.ID == t.ID || lt.Name == t.Name) {
			return sdkaws.ToString(r.InstanceRefreshId), nil
		}
	}
	return "", failure(op, "instance refresh %s is already %s in group %s, for another configuration: cancel it first", sdkaws.ToString(r.InstanceRefreshId), r.Status, p.group)
}

// CancelRefresh implements cloud.Provider. No refresh to cancel is
// success.
func (p *Provider) CancelRefresh(ctx context.Context) error {
	_, err := p.as.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: sdkaws.String(p.group)})
	if apiCode(err) == "ActiveInstanceRefreshNotFound" {
		return nil
	}
	return p.explain("autoscaling:CancelInstanceRefresh", err)
}
