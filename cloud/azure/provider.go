// Package azure is cloud.Provider for an Azure VM scale set, on
// armcompute/v7 and armnetwork/v7. Credentials come from azidentity's
// default chain; cloud.Config.Endpoints["resourcemanager"] overrides the
// ARM endpoint, which is how the simulator's fake (cloud/fakeazure) is
// reached; cloud.Config.Anonymous then sends a static token over plain
// HTTP, and only to a loopback endpoint.
//
// Mapping: an Instance's ID is the VM's name (the instance id is used
// internally for deleteInstances); its PrivateIP is its primary NIC's;
// its State is the provisioning state, then "not on the latest model"
// and its protection when they apply.
// The template is the model's image reference: TemplateRef.ID is the
// gallery image version's resource id, Name the image definition, Version
// the version name. A scale set has no maximum size of its own, so
// Group.Max is ARM's limit of 1000 VMs and SetTemplate ignores max.
//
// Azure's hold is the terminate notification: a deleted VM gets a
// Terminate scheduled event that only the VM itself can acknowledge
// (IMDS StartRequests), or its not-before timeout ends. So CompleteLaunch
// and CompleteTermination do nothing. ARM does not say whether a deleting
// VM's event is still pending: with the notification enabled every
// Deleting VM is reported TerminatingWait.
package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"

	"github.com/nwroll/nwroll/cloud"
)

// Movers are the orchestration services Freeze suspends.
var Movers = []string{string(armcompute.OrchestrationServiceNamesAutomaticRepairs), string(armcompute.OrchestrationServiceNamesAutomaticZoneRebalancing)}

// Services are the endpoint names cloud.Config.Endpoints may override.
var Services = []string{"resourcemanager"}

// HookName names the terminate notification as a cloud.Hook.
const HookName = "terminateNotification"

// MaxCapacity is ARM's limit on a scale set's VMs, reported as Group.Max.
const MaxCapacity = 1000

// DefaultDrainTimeout is Neuwerk's drain_timeout_secs default, used when
// cloud.Config.DrainTimeout is zero.
const DefaultDrainTimeout = 300 * time.Second

// Provider drives one VM scale set.
type Provider struct {
	sets     *armcompute.VirtualMachineScaleSetsClient
	vms      *armcompute.VirtualMachineScaleSetVMsClient
	upgrades *armcompute.VirtualMachineScaleSetRollingUpgradesClient
	images   *armcompute.GalleryImageVersionsClient
	nics     *armnetwork.InterfacesClient
	sub, rg  string
	name     string
	endpoint string
	drain    time.Duration
	freq     time.Duration
}

var _ cloud.Provider = (*Provider)(nil)

// Option tunes New.
type Option func(*options)

type options struct {
	pollFrequency time.Duration
	maxRetries    int32
	credential    azcore.TokenCredential
}

// WithPollFrequency sets how often long-running operations are polled
// when ARM sends no Retry-After (default 2s; the SDK refuses less than 1s
// outside tests).
func WithPollFrequency(d time.Duration) Option { return func(o *options) { o.pollFrequency = d } }

// WithMaxRetries sets how often the SDK retries a call (default: the
// SDK's, 3; negative: none).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = int32(n) } }

// WithCredential uses cred instead of the default chain.
func WithCredential(cred azcore.TokenCredential) Option {
	return func(o *options) { o.credential = cred }
}

// staticToken is the credential of an anonymous (simulator) run.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "nwroll-simulator", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// New builds the provider for c. It sends nothing yet.
func New(ctx context.Context, c cloud.Config, opts ...Option) (*Provider, error) {
	o := options{pollFrequency: 2 * time.Second}
	for _, fn := range opts {
		fn(&o)
	}
	switch {
	case c.Group == "":
		return nil, fmt.Errorf("azure: cloud.group is empty: name the VM scale set")
	case c.Subscription == "":
		return nil, fmt.Errorf("azure: cloud.subscription is empty: give the subscription id of scale set %s (az account show --query id)", c.Group)
	case c.ResourceGroup == "":
		return nil, fmt.Errorf("azure: cloud.resource_group is empty: give the resource group of scale set %s", c.Group)
	}
	for name, ep := range c.Endpoints {
		if !slices.Contains(Services, name) {
			return nil, fmt.Errorf("azure: cloud.endpoints: unknown service %q (known: %s)", name, strings.Join(Services, ", "))
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("azure: cloud.endpoints.%s: %q is not an http(s) URL", name, ep)
		}
	}
	ep := c.Endpoints["resourcemanager"]
	if err := c.CheckAnonymous("azure", "real credentials", Services...); err != nil {
		return nil, err
	}
	if !c.Anonymous && strings.HasPrefix(strings.ToLower(ep), "http:") {
		return nil, fmt.Errorf("azure: cloud.endpoints.resourcemanager is %s, plain HTTP, and real credentials are only sent over HTTPS: use an https:// endpoint, or anonymous for a simulator", ep)
	}
	cfg := azcloud.AzurePublic
	if ep != "" {
		cfg = azcloud.Configuration{ActiveDirectoryAuthorityHost: azcloud.AzurePublic.ActiveDirectoryAuthorityHost,
			Services: map[azcloud.ServiceName]azcloud.ServiceConfiguration{
				azcloud.ResourceManager: {Endpoint: ep, Audience: azcloud.AzurePublic.Services[azcloud.ResourceManager].Audience}}}
	}
	copts := policy.ClientOptions{Cloud: cfg, InsecureAllowCredentialWithHTTP: c.Anonymous}
	if o.maxRetries != 0 {
		copts.Retry.MaxRetries = o.maxRetries
	}
	cred := o.credential
	switch {
	case c.Anonymous:
		cred = staticToken{}
	case cred == nil:
		dc, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: copts})
		if err != nil {
			return nil, fmt.Errorf("azure: no usable Azure credentials (%s): set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, use a managed identity, or run `az login`", oneLine(err.Error()))
		}
		cred = dc
	}
	aopts := &arm.ClientOptions{ClientOptions: copts}
	p := &Provider{sub: c.Subscription, rg: c.ResourceGroup, name: c.Group, drain: c.DrainTimeout, freq: o.pollFrequency,
		endpoint: "the Azure Resource Manager endpoint (" + cfg.Services[azcloud.ResourceManager].Endpoint + ")"}
	if p.drain <= 0 {
		p.drain = DefaultDrainTimeout
	}
	var err error
	if p.sets, err = armcompute.NewVirtualMachineScaleSetsClient(c.Subscription, cred, aopts); err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	if p.vms, err = armcompute.NewVirtualMachineScaleSetVMsClient(c.Subscription, cred, aopts); err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	if p.upgrades, err = armcompute.NewVirtualMachineScaleSetRollingUpgradesClient(c.Subscription, cred, aopts); err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	if p.images, err = armcompute.NewGalleryImageVersionsClient(c.Subscription, cred, aopts); err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	if p.nics, err = armnetwork.NewInterfacesClient(c.Subscription, cred, aopts); err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	return p, nil
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return "azure" }

func deref[T any](v *T) T {
	if v == nil {
		var z T
		return z
	}
	return *v
}

// galleryImage is a parsed gallery image (version) resource id.
type galleryImage struct {
	sub, rg, gallery, definition, version string
}

// parseImage reads /subscriptions/…/resourceGroups/…/providers/
// Microsoft.Compute/galleries/G/images/D[/versions/V].
func parseImage(id string) (galleryImage, bool) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	if len(parts) < 10 || !strings.EqualFold(parts[0], "subscriptions") || !strings.EqualFold(parts[2], "resourceGroups") ||
		!strings.EqualFold(parts[4], "providers") || !strings.EqualFold(parts[5], "Microsoft.Compute") ||
		!strings.EqualFold(parts[6], "galleries") || !strings.EqualFold(parts[8], "images") {
		return galleryImage{}, false
	}
	g := galleryImage{sub: parts[1], rg: parts[3], gallery: parts[7], definition: parts[9]}
	switch {
	case len(parts) == 10:
	case len(parts) == 12 && strings.EqualFold(parts[10], "versions"):
		g.version = parts[11]
	default:
		return galleryImage{}, false
	}
	return g, true
}

// explicitVersion reports whether v is a gallery version number
// (Major.Minor.Patch), not a word such as "latest".
func explicitVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

func templateRef(ref *armcompute.ImageReference) cloud.TemplateRef {
	if ref == nil {
		return cloud.TemplateRef{}
	}
	id := deref(ref.ID)
	t := cloud.TemplateRef{ID: id, Version: deref(ref.Version)}
	if g, ok := parseImage(id); ok {
		t.Name = g.definition
		if g.version != "" {
			t.Version = g.version
		}
	}
	if t.Version == "" {
		t.Version = "latest" // a definition without a version launches its latest
	}
	return t
}

func (p *Provider) getScaleSet(ctx context.Context) (armcompute.VirtualMachineScaleSet, error) {
	out, err := p.sets.Get(ctx, p.rg, p.name, nil)
	if err != nil {
		return armcompute.VirtualMachineScaleSet{}, p.explain("VirtualMachineScaleSets.Get", err)
	}
	return out.VirtualMachineScaleSet, nil
}

func modelImage(s armcompute.VirtualMachineScaleSet) *armcompute.ImageReference {
	if s.Properties == nil || s.Properties.VirtualMachineProfile == nil || s.Properties.VirtualMachineProfile.StorageProfile == nil {
		return nil
	}
	return s.Properties.VirtualMachineProfile.StorageProfile.ImageReference
}

func terminateNotification(s armcompute.VirtualMachineScaleSet) *armcompute.TerminateNotificationProfile {
	if s.Properties == nil || s.Properties.VirtualMachineProfile == nil || s.Properties.VirtualMachineProfile.ScheduledEventsProfile == nil {
		return nil
	}
	return s.Properties.VirtualMachineProfile.ScheduledEventsProfile.TerminateNotificationProfile
}

// Describe implements cloud.Provider: the scale set's model, its
// orchestration services, the newest rolling upgrade, and its VMs joined
// with their NICs.
func (p *Provider) Describe(ctx context.Context) (cloud.Group, error) {
	s, err := p.getScaleSet(ctx)
	if err != nil {
		return cloud.Group{}, err
	}
	g := cloud.Group{Name: p.name, Max: MaxCapacity, Template: templateRef(modelImage(s))}
	if s.SKU != nil {
		g.Desired = int(deref(s.SKU.Capacity))
	}
	notify := false
	if tn := terminateNotification(s); tn != nil && deref(tn.Enable) {
		notify = true
		d, _ := ParseDuration(deref(tn.NotBeforeTimeout))
		if d == 0 {
			d = 5 * time.Minute // ARM's default
		}
		g.TerminatingHook = &cloud.Hook{Name: HookName, HeartbeatTimeout: d, DefaultResult: "CONTINUE"}
	}
	running, suspended, err := p.services(ctx)
	if err != nil {
		return cloud.Group{}, err
	}
	g.Movers, g.Suspended = running, suspended
	g.Problems = p.problems(s)
	if g.Refresh, err = p.latestUpgrade(ctx); err != nil {
		return cloud.Group{}, err
	}
	ips, err := p.addresses(ctx)
	if err != nil {
		return cloud.Group{}, err
	}
	pager := p.vms.NewListPager(p.rg, p.name, &armcompute.VirtualMachineScaleSetVMsClientListOptions{Expand: to("instanceView")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return cloud.Group{}, p.explain("VirtualMachineScaleSetVMs.List", err)
		}
		for _, vm := range page.Value {
			in, act := instance(vm, ips, notify)
			g.Instances = append(g.Instances, in)
			if act != nil {
				g.Activities = append(g.Activities, *act)
			}
		}
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

func to[T any](v T) *T { return &v }

// instance maps a scale set VM; a VM creating or failed also gives the
// activity that explains it.
func instance(vm *armcompute.VirtualMachineScaleSetVM, ips map[string]string, notify bool) (cloud.Instance, *cloud.Activity) {
	in := cloud.Instance{ID: deref(vm.Name), PrivateIP: ips[strings.ToLower(deref(vm.ID))]}
	if len(vm.Zones) > 0 {
		in.Zone = deref(vm.Zones[0])
	}
	pr := vm.Properties
	if pr == nil {
		pr = &armcompute.VirtualMachineScaleSetVMProperties{}
	}
	in.LaunchedAt = deref(pr.TimeCreated)
	if pr.StorageProfile != nil && pr.StorageProfile.ImageReference != nil {
		in.ImageID = deref(pr.StorageProfile.ImageReference.ID)
		in.Template = templateRef(pr.StorageProfile.ImageReference)
	}
	switch deref(pr.ProvisioningState) {
	case "Creating", "Updating":
		in.Lifecycle = cloud.Pending
	case "Succeeded":
		in.Lifecycle = cloud.InService
	case "Deleting":
		in.Lifecycle = cloud.Terminating
		if notify {
			in.Lifecycle = cloud.TerminatingWait
		}
	default:
		in.Lifecycle = cloud.Other
	}
	in.Healthy = in.Lifecycle == cloud.InService
	in.State = describeState(deref(pr.ProvisioningState), pr)
	var failure string
	if iv := pr.InstanceView; iv != nil {
		if iv.VMHealth != nil && iv.VMHealth.Status != nil && iv.VMHealth.Status.Code != nil {
			in.Healthy = strings.EqualFold(*iv.VMHealth.Status.Code, "HealthState/healthy")
		}
		for _, st := range iv.Statuses {
			if st != nil && deref(st.Level) == armcompute.StatusLevelTypesError {
				failure = deref(st.Message)
			}
		}
	}
	var act *cloud.Activity
	switch in.Lifecycle {
	case cloud.Pending:
		act = &cloud.Activity{ID: in.ID, Description: "Creating VM " + in.ID, Status: "InProgress", Start: in.LaunchedAt}
	case cloud.Other:
		if deref(pr.ProvisioningState) == "Failed" {
			if failure == "" {
				failure = "VM " + in.ID + " failed to provision"
			}
			act = &cloud.Activity{ID: in.ID, Description: "Creating VM " + in.ID, Status: "Failed", StatusMsg: oneLine(failure), Start: in.LaunchedAt}
		}
	}
	return in, act
}

// describeState is the provisioning state with what else ARM says of the
// VM that matters to a rollout: an outdated model, and protection (which
// Neuwerk sets on route owners: G2).
func describeState(state string, pr *armcompute.VirtualMachineScaleSetVMProperties) string {
	parts := []string{state}
	if pr.LatestModelApplied != nil && !*pr.LatestModelApplied {
		parts = append(parts, "not on the latest model")
	}
	if pp := pr.ProtectionPolicy; pp != nil {
		switch in, acts := deref(pp.ProtectFromScaleIn), deref(pp.ProtectFromScaleSetActions); {
		case in && acts:
			parts = append(parts, "protected from scale-in and scale set actions")
		case in:
			parts = append(parts, "protected from scale-in")
		case acts:
			parts = append(parts, "protected from scale set actions")
		}
	}
	return strings.Join(parts, ", ")
}

// addresses maps each VM's resource id (lower case) to its primary NIC's
// private IP.
func (p *Provider) addresses(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	pager := p.nics.NewListVirtualMachineScaleSetNetworkInterfacesPager(p.rg, p.name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, p.explain("NetworkInterfaces.ListVirtualMachineScaleSetNetworkInterfaces", err)
		}
		for _, nic := range page.Value {
			if nic == nil || nic.Properties == nil || nic.Properties.VirtualMachine == nil {
				continue
			}
			vm := strings.ToLower(deref(nic.Properties.VirtualMachine.ID))
			primaryNIC := nic.Properties.Primary == nil || *nic.Properties.Primary
			if _, seen := out[vm]; seen && !primaryNIC {
				continue
			}
			for _, c := range nic.Properties.IPConfigurations {
				if c == nil || c.Properties == nil || c.Properties.PrivateIPAddress == nil {
					continue
				}
				if _, seen := out[vm]; !seen || deref(c.Properties.Primary) {
					out[vm] = *c.Properties.PrivateIPAddress
				}
			}
		}
	}
	return out, nil
}

// services are the orchestration services Freeze handles, running now
// and suspended now.
func (p *Provider) services(ctx context.Context) (running, suspended []string, err error) {
	out, err := p.sets.GetInstanceView(ctx, p.rg, p.name, nil)
	if err != nil {
		return nil, nil, p.explain("VirtualMachineScaleSets.GetInstanceView", err)
	}
	for _, s := range out.OrchestrationServices {
		if s == nil || !slices.Contains(Movers, string(deref(s.ServiceName))) {
			continue
		}
		switch deref(s.ServiceState) {
		case armcompute.OrchestrationServiceStateRunning:
			running = append(running, string(*s.ServiceName))
		case armcompute.OrchestrationServiceStateSuspended:
			suspended = append(suspended, string(*s.ServiceName))
		}
	}
	return running, suspended, nil
}

// latestUpgrade is the newest rolling upgrade, nil when there never was
// one (ARM answers 404).
func (p *Provider) latestUpgrade(ctx context.Context) (*cloud.Refresh, error) {
	out, err := p.upgrades.GetLatest(ctx, p.rg, p.name, nil)
	if status(err) == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, p.explain("VirtualMachineScaleSetRollingUpgrades.GetLatest", err)
	}
	return refresh(out.RollingUpgradeStatusInfo), nil
}

// refresh maps a rolling upgrade onto the provider-neutral statuses.
func refresh(info armcompute.RollingUpgradeStatusInfo) *cloud.Refresh {
	r := &cloud.Refresh{ID: deref(info.ID)}
	if i := strings.LastIndex(r.ID, "/"); i >= 0 {
		r.ID = r.ID[i+1:]
	}
	pr := info.Properties
	if pr == nil {
		return r
	}
	if rs := pr.RunningStatus; rs != nil {
		if r.ID == "" || r.ID == "latest" {
			r.ID = deref(rs.StartTime).UTC().Format(time.RFC3339)
		}
		switch deref(rs.Code) {
		case armcompute.RollingUpgradeStatusCodeRollingForward:
			r.Status = "InProgress"
			if deref(rs.LastAction) == armcompute.RollingUpgradeActionTypeCancel {
				r.Status = "Cancelling" // the batch under way finishes first
			}
		case armcompute.RollingUpgradeStatusCodeCompleted:
			r.Status = "Successful"
		case armcompute.RollingUpgradeStatusCodeCancelled:
			r.Status = "Cancelled"
		case armcompute.RollingUpgradeStatusCodeFaulted:
			r.Status = "Failed"
		default:
			r.Status = string(deref(rs.Code))
		}
	}
	if pg := pr.Progress; pg != nil {
		done := int(deref(pg.SuccessfulInstanceCount) + deref(pg.FailedInstanceCount))
		left := int(deref(pg.InProgressInstanceCount) + deref(pg.PendingInstanceCount))
		r.InstancesToUpdate = left
		if done+left > 0 {
			r.PercentComplete = 100 * done / (done + left)
		} else if r.Status == "Successful" {
			r.PercentComplete = 100
		}
	}
	if pr.Error != nil {
		r.Reason = oneLine(deref(pr.Error.Message))
	}
	return r
}

// problems are why the scale set cannot be rolled, as far as Azure goes.
func (p *Provider) problems(s armcompute.VirtualMachineScaleSet) []string {
	var out []string
	where := fmt.Sprintf("-g %s -n %s", p.rg, p.name)
	minutes := int((p.drain + time.Minute - 1) / time.Minute)
	tn := terminateNotification(s)
	switch {
	case tn == nil || !deref(tn.Enable):
		out = append(out, fmt.Sprintf("scale set %s has no terminate notification, so Azure deletes a retired VM without waiting for Neuwerk's drain; enable one of at least %s: az vmss update %s --enable-terminate-notification true --terminate-notification-time %d",
			p.name, p.drain, where, max(minutes, 5)))
	default:
		d, err := ParseDuration(deref(tn.NotBeforeTimeout))
		if tn.NotBeforeTimeout == nil || deref(tn.NotBeforeTimeout) == "" {
			d, err = 5*time.Minute, nil
		}
		if err != nil || d < p.drain {
			out = append(out, fmt.Sprintf("scale set %s's terminate notification holds a deleted VM for %s, shorter than Neuwerk's drain timeout %s, so the drain is cut short; raise it: az vmss update %s --terminate-notification-time %d",
				p.name, deref(tn.NotBeforeTimeout), p.drain, where, max(minutes, 5)))
		}
	}
	mode := ""
	if s.Properties != nil && s.Properties.UpgradePolicy != nil {
		mode = string(deref(s.Properties.UpgradePolicy.Mode))
	}
	if mode != string(armcompute.UpgradeModeManual) {
		if mode == "" {
			mode = "unset"
		}
		out = append(out, fmt.Sprintf("scale set %s's upgrade policy is %s, not Manual, so Azure itself moves existing VMs to a new model (and skips route owners protected from scale set actions); set it to Manual: az vmss update %s --set upgradePolicy.mode=Manual",
			p.name, mode, where))
	}
	ref := modelImage(s)
	g, ok := parseImage(deref(refID(ref)))
	if !ok || !explicitVersion(g.version) {
		id := "none"
		if ref != nil {
			id = deref(ref.ID)
			if v := deref(ref.Version); v != "" {
				id += " version " + v
			}
		}
		out = append(out, fmt.Sprintf("scale set %s's model launches image %s, not an explicit gallery image version, so a rollback has no version to return to; point it at one: az vmss update %s --set virtualMachineProfile.storageProfile.imageReference.id=<…/galleries/G/images/D/versions/X.Y.Z>",
			p.name, id, where))
	}
	return out
}

// ImageFor implements cloud.Provider: the one version of the model's
// gallery image definition tagged ReleaseTag=release.
func (p *Provider) ImageFor(ctx context.Context, release string) (cloud.Image, error) {
	const op = "GalleryImageVersions.ListByGalleryImage"
	s, err := p.getScaleSet(ctx)
	if err != nil {
		return cloud.Image{}, err
	}
	ref := modelImage(s)
	g, ok := parseImage(deref(refID(ref)))
	if !ok {
		return cloud.Image{}, failure(op, "scale set %s's model launches image %q, not a gallery image: point its image reference at a gallery image version", p.name, deref(refID(ref)))
	}
	var found []*armcompute.GalleryImageVersion
	pager := p.images.NewListByGalleryImagePager(g.rg, g.gallery, g.definition, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return cloud.Image{}, p.explain(op, err)
		}
		for _, v := range page.Value {
			if v != nil && deref(v.Tags[cloud.ReleaseTag]) == release {
				found = append(found, v)
			}
		}
	}
	switch len(found) {
	case 0:
		return cloud.Image{}, notFound(op, "no version of gallery image %s/%s is tagged %s=%s: tag the release's version (az sig image-version update -g %s -r %s -i %s -e X.Y.Z --set tags.%s=%s)",
			g.gallery, g.definition, cloud.ReleaseTag, release, g.rg, g.gallery, g.definition, cloud.ReleaseTag, release)
	case 1:
	default:
		var names []string
		for _, v := range found {
			names = append(names, deref(v.Name))
		}
		sort.Strings(names)
		return cloud.Image{}, failure(op, "%d versions of gallery image %s/%s are tagged %s=%s (%s): exactly one may be; remove the tag from the others",
			len(found), g.gallery, g.definition, cloud.ReleaseTag, release, strings.Join(names, ", "))
	}
	v := found[0]
	if v.Properties != nil && v.Properties.ProvisioningState != nil && *v.Properties.ProvisioningState != armcompute.GalleryProvisioningStateSucceeded {
		return cloud.Image{}, failure(op, "gallery image version %s for release %s is %s, not Succeeded: wait for it or fix it", deref(v.Name), release, *v.Properties.ProvisioningState)
	}
	return image(v, g.definition), nil
}

func refID(ref *armcompute.ImageReference) *string {
	if ref == nil {
		return nil
	}
	return ref.ID
}

func image(v *armcompute.GalleryImageVersion, definition string) cloud.Image {
	img := cloud.Image{ID: deref(v.ID), Name: definition + "/" + deref(v.Name), Release: deref(v.Tags[cloud.ReleaseTag])}
	if v.Properties != nil && v.Properties.PublishingProfile != nil {
		img.Created = deref(v.Properties.PublishingProfile.PublishedDate)
	}
	return img
}

// Images implements cloud.Provider: each id is got; one that names no
// version is left out.
func (p *Provider) Images(ctx context.Context, ids []string) ([]cloud.Image, error) {
	var out []cloud.Image
	for _, id := range ids {
		g, ok := parseImage(id)
		if !ok || g.version == "" {
			continue
		}
		v, err := p.images.Get(ctx, g.rg, g.gallery, g.definition, g.version, nil)
		if status(err) == 404 {
			continue
		}
		if err != nil {
			return nil, p.explain("GalleryImageVersions.Get", err)
		}
		out = append(out, image(&v.GalleryImageVersion, g.definition))
	}
	return out, nil
}

// TemplateImage implements cloud.Provider: a model's image is its
// reference.
func (p *Provider) TemplateImage(_ context.Context, t cloud.TemplateRef) (string, error) {
	if t.ID == "" {
		return "", failure("TemplateImage", "model %s names no image", t)
	}
	return t.ID, nil
}

// NewTemplate implements cloud.Provider. A scale set's model has no
// versions of its own: the new "template" is the model with image as its
// reference, which SetTemplate writes. No call is made.
func (p *Provider) NewTemplate(_ context.Context, _ cloud.TemplateRef, img cloud.Image) (cloud.TemplateRef, error) {
	g, ok := parseImage(img.ID)
	if !ok || !explicitVersion(g.version) {
		return cloud.TemplateRef{}, failure("NewTemplate", "image %q is not an explicit gallery image version id (…/galleries/G/images/D/versions/X.Y.Z)", img.ID)
	}
	return cloud.TemplateRef{ID: img.ID, Name: g.definition, Version: g.version}, nil
}

func explicit(t cloud.TemplateRef) error {
	g, ok := parseImage(t.ID)
	if !ok || !explicitVersion(g.version) {
		return fmt.Errorf("azure: model %s: the image must be an explicit gallery image version (…/versions/X.Y.Z), not %q", t, t.ID)
	}
	return nil
}

// wait polls a long-running operation to its end.
func wait[T any](ctx context.Context, p *Provider, op string, poller *runtime.Poller[T], err error) error {
	if err != nil {
		return p.explain(op, err)
	}
	_, err = poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: p.freq})
	return p.explain(op, err)
}

// SetTemplate implements cloud.Provider: the model's image reference is
// set to t; under upgrade policy Manual existing VMs keep theirs. max is
// ignored: a scale set has no maximum size.
func (p *Provider) SetTemplate(ctx context.Context, t cloud.TemplateRef, _ int) error {
	if err := explicit(t); err != nil {
		return err
	}
	const op = "VirtualMachineScaleSets.Update"
	poller, err := p.sets.BeginUpdate(ctx, p.rg, p.name, armcompute.VirtualMachineScaleSetUpdate{
		Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{VirtualMachineProfile: &armcompute.VirtualMachineScaleSetUpdateVMProfile{
			StorageProfile: &armcompute.VirtualMachineScaleSetUpdateStorageProfile{ImageReference: &armcompute.ImageReference{ID: to(t.ID)}}}}}, nil)
	return wait(ctx, p, op, poller, err)
}

// setServices sets each of movers found in state from to action.
func (p *Provider) setServices(ctx context.Context, movers []string, from []string, action armcompute.OrchestrationServiceStateAction) error {
	const op = "VirtualMachineScaleSets.SetOrchestrationServiceState"
	for _, m := range movers {
		if !slices.Contains(Movers, m) {
			return failure(op, "%q is no orchestration service nwroll handles (%s)", m, strings.Join(Movers, ", "))
		}
		if !slices.Contains(from, m) {
			continue // done already: a repeat
		}
		poller, err := p.sets.BeginSetOrchestrationServiceState(ctx, p.rg, p.name, armcompute.OrchestrationServiceStateInput{
			ServiceName: to(armcompute.OrchestrationServiceNames(m)), Action: to(action)}, nil)
		if err := wait(ctx, p, op, poller, err); err != nil {
			return err
		}
	}
	return nil
}

// Freeze implements cloud.Provider: it suspends these orchestration
// services, those still running.
func (p *Provider) Freeze(ctx context.Context, movers []string) error {
	if len(movers) == 0 {
		return nil
	}
	running, _, err := p.services(ctx)
	if err != nil {
		return err
	}
	return p.setServices(ctx, movers, running, armcompute.OrchestrationServiceStateActionSuspend)
}

// Thaw implements cloud.Provider: it resumes these orchestration
// services, those still suspended.
func (p *Provider) Thaw(ctx context.Context, movers []string) error {
	if len(movers) == 0 {
		return nil
	}
	_, suspended, err := p.services(ctx)
	if err != nil {
		return err
	}
	return p.setServices(ctx, movers, suspended, armcompute.OrchestrationServiceStateActionResume)
}

// SetDesired implements cloud.Provider: the scale set's capacity; the
// same capacity again makes no call.
func (p *Provider) SetDesired(ctx context.Context, desired int) error {
	s, err := p.getScaleSet(ctx)
	if err != nil {
		return err
	}
	if s.SKU != nil && deref(s.SKU.Capacity) == int64(desired) {
		return nil
	}
	const op = "VirtualMachineScaleSets.Update"
	poller, err := p.sets.BeginUpdate(ctx, p.rg, p.name, armcompute.VirtualMachineScaleSetUpdate{SKU: &armcompute.SKU{Capacity: to(int64(desired))}}, nil)
	return wait(ctx, p, op, poller, err)
}

// findVM is the scale set VM named name, nil when there is none.
func (p *Provider) findVM(ctx context.Context, name string) (*armcompute.VirtualMachineScaleSetVM, error) {
	pager := p.vms.NewListPager(p.rg, p.name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, p.explain("VirtualMachineScaleSetVMs.List", err)
		}
		for _, vm := range page.Value {
			if vm != nil && deref(vm.Name) == name {
				return vm, nil
			}
		}
	}
	return nil, nil
}

func deleting(vm *armcompute.VirtualMachineScaleSetVM) bool {
	return vm == nil || (vm.Properties != nil && deref(vm.Properties.ProvisioningState) == "Deleting")
}

// Retire implements cloud.Provider: a non-forced deleteInstances of
// exactly VM id, which lowers the capacity by one. Protection from scale
// set actions does not stop an explicit delete (G2). It waits for the
// operation, or until the VM is seen deleting (ARM keeps the operation
// open through the terminate notification). A VM already deleting or gone
// is success.
func (p *Provider) Retire(ctx context.Context, id string) error {
	const op = "VirtualMachineScaleSets.DeleteInstances"
	vm, err := p.findVM(ctx, id)
	if err != nil || deleting(vm) {
		return err
	}
	iid := deref(vm.InstanceID)
	poller, err := p.sets.BeginDeleteInstances(ctx, p.rg, p.name,
		armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs{InstanceIDs: []*string{to(iid)}}, nil)
	if err != nil {
		if vm, ferr := p.findVM(ctx, id); ferr == nil && deleting(vm) {
			return nil // deleted meanwhile
		}
		return p.explain(op, err)
	}
	delay := p.freq
	for !poller.Done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		resp, err := poller.Poll(ctx)
		if err != nil {
			return p.explain(op, err)
		}
		delay = retryAfter(resp, p.freq)
		if poller.Done() {
			break
		}
		got, err := p.vms.Get(ctx, p.rg, p.name, iid, nil)
		if status(err) == 404 || (err == nil && deleting(&got.VirtualMachineScaleSetVM)) {
			return nil
		}
	}
	_, err = poller.Result(ctx)
	return p.explain(op, err)
}

// retryAfter is how long ARM asks to wait before the next poll, def
// when it does not say.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	if resp == nil {
		return def
	}
	for _, h := range []struct {
		name string
		unit time.Duration
	}{{"Retry-After-Ms", time.Millisecond}, {"X-Ms-Retry-After-Ms", time.Millisecond}, {"Retry-After", time.Second}} {
		if n, err := strconv.Atoi(resp.Header.Get(h.name)); err == nil && n > 0 {
			return time.Duration(n) * h.unit
		}
	}
	return def
}

// CompleteLaunch implements cloud.Provider: Azure has no launch hold.
func (p *Provider) CompleteLaunch(context.Context, cloud.Group, string, bool) error { return nil }

// CompleteTermination implements cloud.Provider. Only the VM itself can
// acknowledge its Terminate event (IMDS, from inside the VM); a VM that
// never joined is deleted when the not-before timeout ends.
func (p *Provider) CompleteTermination(context.Context, cloud.Group, string) error { return nil }

// StartRefresh implements cloud.Provider: the model is set to t with
// upgrade policy Rolling (surging, one VM in five per batch), which makes
// Azure start a rolling upgrade that applies the model change.
// StartOSUpgrade is not used: it moves VMs to the newest version of the
// image reference (a platform image or a gallery definition's latest) and
// applies no model change. The policy stays Rolling: set it back to
// Manual before nwroll rolls the scale set itself. VMs protected from
// scale set actions (Neuwerk's route owners) are skipped by Azure (G2).
func (p *Provider) StartRefresh(ctx context.Context, t cloud.TemplateRef) (string, error) {
	if err := explicit(t); err != nil {
		return "", err
	}
	r, err := p.latestUpgrade(ctx)
	if err != nil {
		return "", err
	}
	if r != nil && r.Active() {
		s, err := p.getScaleSet(ctx)
		if err != nil {
			return "", err
		}
		if strings.EqualFold(deref(refID(modelImage(s))), t.ID) {
			return r.ID, nil
		}
		return "", failure("VirtualMachineScaleSets.Update", "rolling upgrade %s is already %s on scale set %s, for another model: cancel it first", r.ID, r.Status, p.name)
	}
	const op = "VirtualMachineScaleSets.Update"
	poller, err := p.sets.BeginUpdate(ctx, p.rg, p.name, armcompute.VirtualMachineScaleSetUpdate{
		Properties: &armcompute.VirtualMachineScaleSetUpdateProperties{
			UpgradePolicy: &armcompute.UpgradePolicy{Mode: to(armcompute.UpgradeModeRolling), RollingUpgradePolicy: &armcompute.RollingUpgradePolicy{
				MaxSurge: to(true), MaxBatchInstancePercent: to(int32(20)), MaxUnhealthyInstancePercent: to(int32(20)),
				MaxUnhealthyUpgradedInstancePercent: to(int32(20)), PauseTimeBetweenBatches: to("PT0S")}},
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetUpdateVMProfile{
				StorageProfile: &armcompute.VirtualMachineScaleSetUpdateStorageProfile{ImageReference: &armcompute.ImageReference{ID: to(t.ID)}}}}}, nil)
	if err := wait(ctx, p, op, poller, err); err != nil {
		return "", err
	}
	if r, err = p.latestUpgrade(ctx); err != nil || r == nil {
		return "", err
	}
	return r.ID, nil
}

// CancelRefresh implements cloud.Provider. No rolling upgrade under way
// is success.
func (p *Provider) CancelRefresh(ctx context.Context) error {
	const op = "VirtualMachineScaleSetRollingUpgrades.Cancel"
	poller, err := p.upgrades.BeginCancel(ctx, p.rg, p.name, nil)
	if err != nil && status(err) == 409 {
		if r, lerr := p.latestUpgrade(ctx); lerr == nil && (r == nil || !r.Active()) {
			return nil
		}
	}
	return wait(ctx, p, op, poller, err)
}

// ParseDuration reads an ISO 8601 duration of hours, minutes and seconds
// (PT5M, PT1H30M, PT300S), as ARM writes notBeforeTimeout.
func ParseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "PT")
	if !ok || rest == "" {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT5M", s)
	}
	var d time.Duration
	for rest != "" {
		i := strings.IndexAny(rest, "HMS")
		if i <= 0 {
			return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT5M", s)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT5M", s)
		}
		d += time.Duration(n * float64(map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}[rest[i]]))
		rest = rest[i+1:]
	}
	return d, nil
}

// FormatDuration writes d as ARM's ISO 8601 duration (PT10M, PT90S).
func FormatDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("PT%dM", d/time.Minute)
	}
	return fmt.Sprintf("PT%dS", d/time.Second)
}
