// Package gcp is cloud.Provider for a GCP regional managed instance group,
// on the cloud.google.com/go/compute/apiv1 REST clients. Credentials are
// application default credentials unless cloud.Config.Anonymous, which
// sends none and is allowed only with cloud.Config.Endpoints["compute"]
// on a loopback address (the simulator's fake, cloud/fakegcp).
//
// Mapping (cloud-rollout.md §3):
//   - Instance.ID is the instance name, PrivateIP its first NIC's
//     networkIP, ImageID its template's boot disk source image (a self
//     link), Template its version.instanceTemplate, State its
//     currentAction (with the instance status when NONE).
//   - TemplateRef.ID is the template's self link, Name its name and
//     Version its numeric id: templates are immutable, so the id pins one.
//   - Images carry the label neuwerk_release; label values allow no '.',
//     so release 1.2.0 is labelled neuwerk_release=1_2_0 (LabelValue).
//   - Movers are "update=PROACTIVE" (updatePolicy.type; Freeze sets
//     OPPORTUNISTIC), "redistribution=PROACTIVE" (instanceRedistributionType;
//     Freeze sets NONE) and "autoscaler=<mode>" (Freeze sets OFF); Thaw
//     puts the carried value back. Suspended names what is frozen now:
//     "update=OPPORTUNISTIC", "redistribution=NONE", "autoscaler=OFF".
//   - GCP holds nothing (G6): no hooks, CompleteLaunch and
//     CompleteTermination do nothing; the only hold is the template's
//     graceful shutdown, which preflight (Problems) requires.
package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/nwroll/nwroll/cloud"
)

// ReleaseLabel is the image label naming a release (cloud.ReleaseTag's
// GCP spelling: label keys allow no '.' or '/').
const ReleaseLabel = "neuwerk_release"

// LabelValue is a release as a label value: '.' → '_'.
func LabelValue(release string) string { return strings.ReplaceAll(release, ".", "_") }

// releaseOf decodes a label value back ('_' → '.').
func releaseOf(label string) string { return strings.ReplaceAll(label, "_", ".") }

// MaxWithoutAutoscaler is Group.Max for a group without an autoscaler,
// which GCP bounds only by quota.
const MaxWithoutAutoscaler = 1000

// DefaultDrainTimeout is Neuwerk's integration.drain_timeout_secs default.
const DefaultDrainTimeout = 300 * time.Second

// Services are the endpoint names cloud.Config.Endpoints may override.
var Services = []string{"compute"}

const selfLinkBase = "https://www.googleapis.com/compute/v1/"

// Provider drives one regional managed instance group.
type Provider struct {
	migs        *compute.RegionInstanceGroupManagersClient
	templates   *compute.InstanceTemplatesClient
	images      *compute.ImagesClient
	autoscalers *compute.RegionAutoscalersClient
	instances   *compute.InstancesClient

	project, region, group string
	drain                  time.Duration
	endpoint               string
}

var _ cloud.Provider = (*Provider)(nil)

// Option tunes New.
type Option func(*options)

type options struct{ client []option.ClientOption }

// WithClientOptions adds options to every REST client (an HTTP client,
// say).
func WithClientOptions(o ...option.ClientOption) Option {
	return func(opts *options) { opts.client = append(opts.client, o...) }
}

// New builds the provider for c. It sends nothing yet; with application
// default credentials it looks them up.
func New(ctx context.Context, c cloud.Config, opts ...Option) (*Provider, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	switch {
	case c.Project == "":
		return nil, fmt.Errorf("gcp: cloud.project is empty: name the group's project")
	case c.Region == "":
		return nil, fmt.Errorf("gcp: cloud.region is empty: name the regional group's region")
	case c.Group == "":
		return nil, fmt.Errorf("gcp: cloud.group is empty: name the managed instance group")
	}
	for name, ep := range c.Endpoints {
		if name != "compute" {
			return nil, fmt.Errorf("gcp: cloud.endpoints: unknown service %q (known: %s)", name, strings.Join(Services, ", "))
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("gcp: cloud.endpoints.%s: %q is not an http(s) URL", name, ep)
		}
	}
	ep := c.Endpoints["compute"]
	client := append([]option.ClientOption(nil), o.client...)
	if ep != "" {
		client = append(client, option.WithEndpoint(ep))
	}
	if err := c.CheckAnonymous("gcp", "application default credentials", "compute"); err != nil {
		return nil, err
	}
	if c.Anonymous {
		client = append(client, option.WithoutAuthentication())
	}
	p := &Provider{project: c.Project, region: c.Region, group: c.Group, drain: c.DrainTimeout, endpoint: ep}
	if p.drain <= 0 {
		p.drain = DefaultDrainTimeout
	}
	var err error
	if p.migs, err = compute.NewRegionInstanceGroupManagersRESTClient(ctx, client...); err != nil {
		return nil, credentialsError(err)
	}
	p.templates, err = compute.NewInstanceTemplatesRESTClient(ctx, client...)
	if err == nil {
		p.images, err = compute.NewImagesRESTClient(ctx, client...)
	}
	if err == nil {
		p.autoscalers, err = compute.NewRegionAutoscalersRESTClient(ctx, client...)
	}
	if err == nil {
		p.instances, err = compute.NewInstancesRESTClient(ctx, client...)
	}
	if err != nil {
		p.Close()
		return nil, credentialsError(err)
	}
	return p, nil
}

func credentialsError(err error) error {
	return fmt.Errorf("gcp: no usable application default credentials (%s): run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run where a service account is attached", oneLine(err.Error()))
}

// Close releases the clients' connections.
func (p *Provider) Close() {
	for _, c := range []interface{ Close() error }{p.migs, p.templates, p.images, p.autoscalers, p.instances} {
		if c != nil && !isNilClient(c) {
			_ = c.Close()
		}
	}
}

func isNilClient(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case *compute.RegionInstanceGroupManagersClient:
		return v == nil
	case *compute.InstanceTemplatesClient:
		return v == nil
	case *compute.ImagesClient:
		return v == nil
	case *compute.RegionAutoscalersClient:
		return v == nil
	case *compute.InstancesClient:
		return v == nil
	}
	return false
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return "gcp" }

// Links.

// lastSegment is the name at the end of a link.
func lastSegment(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

// selfLink completes a partial link (global/images/x, projects/p/…) to a
// self link, so links compare equal however they were written.
func (p *Provider) selfLink(ref string) string {
	switch {
	case ref == "" || strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://"):
		return ref
	case strings.HasPrefix(ref, "projects/"):
		return selfLinkBase + ref
	case strings.HasPrefix(ref, "global/"), strings.HasPrefix(ref, "regions/"), strings.HasPrefix(ref, "zones/"):
		return selfLinkBase + "projects/" + p.project + "/" + ref
	}
	return ref
}

// projectOf is the project a link names, else the group's.
func (p *Provider) projectOf(ref string) string {
	parts := strings.Split(ref, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "projects" {
			return parts[i+1]
		}
	}
	return p.project
}

// zonalName splits an instance link (…/zones/ZONE/instances/NAME).
func zonalName(link string) (zone, name string, ok bool) {
	parts := strings.Split(link, "/")
	for i := 0; i+3 < len(parts); i++ {
		if parts[i] == "zones" && parts[i+2] == "instances" {
			return parts[i+1], parts[i+3], true
		}
	}
	return "", "", false
}

// Templates.

func bootDisk(t *computepb.InstanceTemplate) *computepb.AttachedDisk {
	for _, d := range t.GetProperties().GetDisks() {
		if d.GetBoot() {
			return d
		}
	}
	return nil
}

func (p *Provider) templateRef(t *computepb.InstanceTemplate) cloud.TemplateRef {
	return cloud.TemplateRef{ID: p.selfLink(t.GetSelfLink()), Name: t.GetName(), Version: strconv.FormatUint(t.GetId(), 10)}
}

// templateName is the name a ref or link names; regional templates are
// refused.
func templateName(ref string) (string, error) {
	if strings.Contains(ref, "/regions/") {
		return "", fmt.Errorf("%s is a regional instance template: nwroll makes and sets global templates", ref)
	}
	return lastSegment(ref), nil
}

func (p *Provider) getTemplate(ctx context.Context, ref string) (*computepb.InstanceTemplate, error) {
	const op = "compute.instanceTemplates.get"
	name, err := templateName(ref)
	if err != nil {
		return nil, failure(op, "%v", err)
	}
	t, err := p.templates.Get(ctx, &computepb.GetInstanceTemplateRequest{Project: p.projectOf(ref), InstanceTemplate: name})
	return t, p.explain(op, err)
}

// refTemplate fetches the template t names and checks it is the version t
// pins (a template deleted and made again under its name has a new id).
func (p *Provider) refTemplate(ctx context.Context, t cloud.TemplateRef) (*computepb.InstanceTemplate, error) {
	if _, err := strconv.ParseUint(t.Version, 10, 64); err != nil {
		return nil, fmt.Errorf("gcp: template %s: the version must be the template's numeric id, not %q", t, t.Version)
	}
	ref := t.ID
	if ref == "" {
		ref = t.Name
	}
	tmpl, err := p.getTemplate(ctx, ref)
	if err != nil {
		return nil, err
	}
	if v := strconv.FormatUint(tmpl.GetId(), 10); v != t.Version {
		return nil, failure("compute.instanceTemplates.get", "instance template %s now has id %s, not %s: it was deleted and made again; pick the template anew", tmpl.GetName(), v, t.Version)
	}
	return tmpl, nil
}

// TemplateImage implements cloud.Provider: the boot disk's source image.
func (p *Provider) TemplateImage(ctx context.Context, t cloud.TemplateRef) (string, error) {
	tmpl, err := p.refTemplate(ctx, t)
	if err != nil {
		return "", err
	}
	d := bootDisk(tmpl)
	if d.GetInitializeParams().GetSourceImage() == "" {
		return "", failure("compute.instanceTemplates.get", "instance template %s has no boot disk with a source image", t.Name)
	}
	return p.selfLink(d.GetInitializeParams().GetSourceImage()), nil
}

// derivedName is NewTemplate's deterministic name: base's stem (without
// an earlier "-nwr-…" suffix), the release, and a hash of stem and image.
func derivedName(base string, image cloud.Image) string {
	stem := base
	if i := strings.Index(stem, "-nwr-"); i > 0 {
		stem = stem[:i]
	}
	sum := sha256.Sum256([]byte(stem + "\x00" + image.ID))
	rel := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r - 'A' + 'a'
		}
		return '-'
	}, image.Release)
	rel = strings.Trim(rel, "-")
	if len(rel) > 20 {
		rel = strings.Trim(rel[:20], "-")
	}
	suffix := "-nwr-" + hex.EncodeToString(sum[:3])
	if rel != "" {
		suffix = "-nwr-" + rel + "-" + hex.EncodeToString(sum[:3])
	}
	if len(stem)+len(suffix) > 63 {
		stem = strings.TrimRight(stem[:63-len(suffix)], "-")
	}
	return stem + suffix
}

// NewTemplate implements cloud.Provider: a copy of base whose boot disk
// launches image, named from base and the release, so a repeat finds the
// template the first call made.
func (p *Provider) NewTemplate(ctx context.Context, base cloud.TemplateRef, image cloud.Image) (cloud.TemplateRef, error) {
	const op = "compute.instanceTemplates.insert"
	src, err := p.refTemplate(ctx, base)
	if err != nil {
		return cloud.TemplateRef{}, err
	}
	name := derivedName(src.GetName(), image)
	want := p.selfLink(image.ID)
	if made, err := p.existing(ctx, name, want); made != nil || err != nil {
		return p.templateRef(made), err
	}
	t := proto.Clone(src).(*computepb.InstanceTemplate)
	t.Id, t.SelfLink, t.CreationTimestamp, t.Kind = nil, nil, nil, nil
	t.Name = proto.String(name)
	t.Description = proto.String(fmt.Sprintf("nwroll: %s launching %s (release %s)", src.GetName(), lastSegment(image.ID), image.Release))
	d := bootDisk(t)
	if d == nil || d.InitializeParams == nil {
		return cloud.TemplateRef{}, failure(op, "instance template %s has no boot disk made from an image: nwroll can only swap a boot disk's source image", src.GetName())
	}
	d.InitializeParams.SourceImage = proto.String(want)
	o, err := p.templates.Insert(ctx, &computepb.InsertInstanceTemplateRequest{Project: p.projectOf(base.ID), InstanceTemplateResource: t})
	if err != nil {
		var e *Error
		if errors.As(p.explain(op, err), &e) && e.Status == 409 { // made meanwhile
			made, err := p.existing(ctx, name, want)
			if made == nil && err == nil {
				err = p.explain(op, errors.New("the template exists, yet cannot be read"))
			}
			return p.templateRef(made), err
		}
		return cloud.TemplateRef{}, p.explain(op, err)
	}
	if err := p.wait(ctx, op, o); err != nil {
		return cloud.TemplateRef{}, err
	}
	made, err := p.existing(ctx, name, want)
	if made == nil && err == nil {
		err = failure(op, "instance template %s is not there after its insert finished", name)
	}
	return p.templateRef(made), err
}

// existing is template name if it exists and launches image; nil if it
// does not exist.
func (p *Provider) existing(ctx context.Context, name, image string) (*computepb.InstanceTemplate, error) {
	t, err := p.templates.Get(ctx, &computepb.GetInstanceTemplateRequest{Project: p.project, InstanceTemplate: name})
	if err != nil {
		err = p.explain("compute.instanceTemplates.get", err)
		if errors.Is(err, cloud.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if got := p.selfLink(bootDisk(t).GetInitializeParams().GetSourceImage()); got != image {
		return nil, failure("compute.instanceTemplates.insert", "instance template %s exists already and launches %s, not %s: delete it (gcloud compute instance-templates delete %s) and try again", name, got, image, name)
	}
	return t, nil
}

// wait polls operation o to completion (Operation.Wait) and reports an
// operation that ended in errors.
func (p *Provider) wait(ctx context.Context, op string, o *compute.Operation) error {
	err := o.Wait(ctx)
	if pr := o.Proto(); pr != nil && len(pr.GetError().GetErrors()) > 0 {
		return operationFailed(op, pr)
	}
	if err != nil {
		return p.explain(op+" (operation "+o.Name()+")", err)
	}
	return nil
}

// Images.

func imageOf(img *computepb.Image, selfLink string) cloud.Image {
	created, _ := time.Parse(time.RFC3339, img.GetCreationTimestamp())
	return cloud.Image{ID: selfLink, Name: img.GetName(), Release: releaseOf(img.GetLabels()[ReleaseLabel]), Created: created}
}

// ImageFor implements cloud.Provider: the one image of the group's
// project labelled neuwerk_release=LabelValue(release).
func (p *Provider) ImageFor(ctx context.Context, release string) (cloud.Image, error) {
	const op = "compute.images.list"
	label := LabelValue(release)
	it := p.images.List(ctx, &computepb.ListImagesRequest{Project: p.project,
		Filter: proto.String(fmt.Sprintf("labels.%s = %q", ReleaseLabel, label))})
	var found []*computepb.Image
	for {
		img, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return cloud.Image{}, p.explain(op, err)
		}
		found = append(found, img)
	}
	switch len(found) {
	case 0:
		return cloud.Image{}, notFound(op, "no image in project %s is labelled %s=%s: label the release's image (gcloud compute images add-labels IMAGE --labels=%s=%s)", p.project, ReleaseLabel, label, ReleaseLabel, label)
	case 1:
	default:
		var names []string
		for _, img := range found {
			names = append(names, img.GetName())
		}
		sort.Strings(names)
		return cloud.Image{}, failure(op, "%d images in project %s are labelled %s=%s (%s): exactly one may be; remove the label from the others", len(found), p.project, ReleaseLabel, label, strings.Join(names, ", "))
	}
	img := found[0]
	if img.GetStatus() != "READY" {
		return cloud.Image{}, failure(op, "image %s for release %s is %s, not READY: wait for it or fix it", img.GetName(), release, img.GetStatus())
	}
	return imageOf(img, p.selfLink(img.GetSelfLink())), nil
}

// Images implements cloud.Provider. An id is a self link or a name in the
// group's project.
func (p *Provider) Images(ctx context.Context, ids []string) ([]cloud.Image, error) {
	const op = "compute.images.get"
	var out []cloud.Image
	for _, id := range ids {
		img, err := p.images.Get(ctx, &computepb.GetImageRequest{Project: p.projectOf(id), Image: lastSegment(id)})
		if err != nil {
			if err = p.explain(op, err); errors.Is(err, cloud.ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, imageOf(img, p.selfLink(img.GetSelfLink())))
	}
	return out, nil
}

// The group.

func (p *Provider) getGroup(ctx context.Context) (*computepb.InstanceGroupManager, error) {
	const op = "compute.regionInstanceGroupManagers.get"
	igm, err := p.migs.Get(ctx, &computepb.GetRegionInstanceGroupManagerRequest{Project: p.project, Region: p.region, InstanceGroupManager: p.group})
	if err != nil {
		if err = p.explain(op, err); errors.Is(err, cloud.ErrNotFound) {
			return nil, &Error{Op: op, Status: 404, Reason: "notFound", errs: []error{err, cloud.ErrNotFound},
				msg: fmt.Sprintf("gcp %s: regional managed instance group %q not found in project %s, region %s: check cloud.group, cloud.project and cloud.region (nwroll drives regional groups; a zonal group is not found here)", op, p.group, p.project, p.region)}
		}
		return nil, err
	}
	return igm, nil
}

func (p *Provider) autoscaler(ctx context.Context, igm *computepb.InstanceGroupManager) (*computepb.Autoscaler, error) {
	link := igm.GetStatus().GetAutoscaler()
	if link == "" {
		return nil, nil
	}
	a, err := p.autoscalers.Get(ctx, &computepb.GetRegionAutoscalerRequest{Project: p.project, Region: p.region, Autoscaler: lastSegment(link)})
	if err != nil {
		if err = p.explain("compute.regionAutoscalers.get", err); errors.Is(err, cloud.ErrNotFound) {
			return nil, nil // removed meanwhile
		}
		return nil, err
	}
	return a, nil
}

// groupTemplate is the template of the group's first version.
func groupTemplate(igm *computepb.InstanceGroupManager) string {
	if vs := igm.GetVersions(); len(vs) > 0 {
		return vs[0].GetInstanceTemplate()
	}
	return igm.GetInstanceTemplate()
}

// lifecycle maps a managed instance's currentAction and status.
func lifecycle(action, status string) cloud.Lifecycle {
	switch action {
	case "CREATING", "CREATING_WITHOUT_RETRIES", "VERIFYING", "STARTING":
		return cloud.Pending
	case "NONE":
		if status == "RUNNING" {
			return cloud.InService
		}
	case "DELETING", "ABANDONING", "RECREATING", "STOPPING":
		return cloud.Terminating
	}
	return cloud.Other
}

func leaving(action string) bool { return action == "DELETING" || action == "ABANDONING" }

// Describe implements cloud.Provider: the group, its template, autoscaler
// and managed instances, each joined with its instance (address, launch
// time) and template (image).
func (p *Provider) Describe(ctx context.Context) (cloud.Group, error) {
	igm, err := p.getGroup(ctx)
	if err != nil {
		return cloud.Group{}, err
	}
	g := cloud.Group{Name: igm.GetName(), Desired: int(igm.GetTargetSize()), Max: MaxWithoutAutoscaler}
	templates := map[string]*computepb.InstanceTemplate{} // by self link
	template := func(link string) (*computepb.InstanceTemplate, error) {
		link = p.selfLink(link)
		if t, ok := templates[link]; ok {
			return t, nil
		}
		t, err := p.getTemplate(ctx, link)
		if errors.Is(err, cloud.ErrNotFound) {
			t, err = nil, nil // deleted since: the instance shows its link only
		}
		if err == nil {
			templates[link] = t
		}
		return t, err
	}
	var tmpl *computepb.InstanceTemplate
	if link := groupTemplate(igm); link != "" {
		if tmpl, err = template(link); err != nil {
			return cloud.Group{}, err
		}
		g.Template = cloud.TemplateRef{ID: p.selfLink(link), Name: lastSegment(link)}
		if tmpl != nil {
			g.Template = p.templateRef(tmpl)
		}
	}
	as, err := p.autoscaler(ctx, igm)
	if err != nil {
		return cloud.Group{}, err
	}
	if as != nil {
		g.Min, g.Max = int(as.GetAutoscalingPolicy().GetMinNumReplicas()), int(as.GetAutoscalingPolicy().GetMaxNumReplicas())
	}
	g.Movers, g.Suspended = movers(igm, as)
	g.Problems = p.problems(igm, tmpl)

	const op = "compute.regionInstanceGroupManagers.listManagedInstances"
	it := p.migs.ListManagedInstances(ctx, &computepb.ListManagedInstancesRegionInstanceGroupManagersRequest{
		Project: p.project, Region: p.region, InstanceGroupManager: p.group})
	target := p.selfLink(groupTemplate(igm))
	total, onTarget := 0, 0
	for {
		mi, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return cloud.Group{}, p.explain(op, err)
		}
		in, err := p.instance(ctx, mi, template)
		if err != nil {
			return cloud.Group{}, err
		}
		g.Instances = append(g.Instances, in)
		if !leaving(mi.GetCurrentAction()) {
			total++
			if in.Template.ID == target {
				onTarget++
			}
		}
		for _, e := range mi.GetLastAttempt().GetErrors().GetErrors() {
			g.Activities = append(g.Activities, cloud.Activity{ID: in.ID, Description: "creating instance " + in.ID,
				Cause: "the group's target size", Status: "Failed", StatusMsg: e.GetCode() + ": " + oneLine(e.GetMessage())})
		}
	}
	sort.SliceStable(g.Instances, func(i, j int) bool {
		a, b := g.Instances[i], g.Instances[j]
		if a.LaunchedAt.IsZero() != b.LaunchedAt.IsZero() {
			return b.LaunchedAt.IsZero() // not launched yet: last
		}
		if !a.LaunchedAt.Equal(b.LaunchedAt) {
			return a.LaunchedAt.Before(b.LaunchedAt)
		}
		return a.ID < b.ID
	})
	if up := igm.GetUpdatePolicy(); up.GetType() == "PROACTIVE" {
		r := &cloud.Refresh{ID: "proactive-update:" + lastSegment(target), Status: "Successful", PercentComplete: 100,
			InstancesToUpdate: total - onTarget}
		if !igm.GetStatus().GetVersionTarget().GetIsReached() {
			r.Status, r.Reason = "InProgress", "the group replaces instances not on "+lastSegment(target)
			if total > 0 {
				r.PercentComplete = 100 * onTarget / total
			}
		}
		g.Refresh = r
	}
	return g, nil
}

func (p *Provider) instance(ctx context.Context, mi *computepb.ManagedInstance, template func(string) (*computepb.InstanceTemplate, error)) (cloud.Instance, error) {
	zone, name, _ := zonalName(mi.GetInstance())
	if name == "" {
		name = mi.GetName()
	}
	in := cloud.Instance{ID: name, Zone: zone, State: mi.GetCurrentAction(),
		Lifecycle: lifecycle(mi.GetCurrentAction(), mi.GetInstanceStatus())}
	if in.State == "NONE" && mi.GetInstanceStatus() != "" {
		in.State = "NONE/" + mi.GetInstanceStatus()
	}
	healthy := mi.GetInstanceStatus() == "RUNNING"
	for _, h := range mi.GetInstanceHealth() {
		if h.GetDetailedHealthState() != "HEALTHY" {
			healthy = false
		}
	}
	in.Healthy = healthy
	if link := mi.GetVersion().GetInstanceTemplate(); link != "" {
		in.Template = cloud.TemplateRef{ID: p.selfLink(link), Name: lastSegment(link)}
		t, err := template(link)
		if err != nil {
			return in, err
		}
		if t != nil {
			in.Template = p.templateRef(t)
			in.ImageID = p.selfLink(bootDisk(t).GetInitializeParams().GetSourceImage())
		}
	}
	if zone == "" || (mi.GetId() == 0 && mi.GetInstanceStatus() == "") {
		return in, nil // not created yet
	}
	vm, err := p.instances.Get(ctx, &computepb.GetInstanceRequest{Project: p.project, Zone: zone, Instance: name})
	if err != nil {
		if err = p.explain("compute.instances.get", err); errors.Is(err, cloud.ErrNotFound) {
			return in, nil // not there yet, or gone meanwhile
		}
		return in, err
	}
	if nics := vm.GetNetworkInterfaces(); len(nics) > 0 {
		in.PrivateIP = nics[0].GetNetworkIP()
	}
	in.LaunchedAt, _ = time.Parse(time.RFC3339, vm.GetCreationTimestamp())
	if in.ImageID == "" {
		for _, d := range vm.GetDisks() {
			if d.GetBoot() && d.GetInitializeParams().GetSourceImage() != "" {
				in.ImageID = p.selfLink(d.GetInitializeParams().GetSourceImage())
			}
		}
	}
	return in, nil
}

// movers are the group's movers that run now (with the value Thaw
// restores) and what is frozen.
func movers(igm *computepb.InstanceGroupManager, as *computepb.Autoscaler) (running, suspended []string) {
	up := igm.GetUpdatePolicy()
	if t := up.GetType(); t == "PROACTIVE" {
		running = append(running, "update="+t)
	} else {
		suspended = append(suspended, "update="+t)
	}
	if r := up.GetInstanceRedistributionType(); r == "PROACTIVE" {
		running = append(running, "redistribution="+r)
	} else {
		suspended = append(suspended, "redistribution="+r)
	}
	if as != nil {
		if m := as.GetAutoscalingPolicy().GetMode(); m != "OFF" {
			running = append(running, "autoscaler="+m)
		} else {
			suspended = append(suspended, "autoscaler=OFF")
		}
	}
	return running, suspended
}

// problems are why the group cannot be rolled, as far as GCP goes.
func (p *Provider) problems(igm *computepb.InstanceGroupManager, tmpl *computepb.InstanceTemplate) []string {
	var out []string
	name := igm.GetName()
	if igm.GetRegion() == "" || igm.GetZone() != "" {
		out = append(out, fmt.Sprintf("group %s is not a regional managed instance group: nwroll drives regional groups; make one (gcloud compute instance-groups managed create --region)", name))
	}
	if n := len(igm.GetVersions()); n > 1 {
		out = append(out, fmt.Sprintf("group %s has %d versions (a canary split), so a surge may launch the wrong template: set one version (gcloud compute instance-groups managed set-instance-template)", name, n))
	}
	if link := groupTemplate(igm); strings.Contains(link, "/regions/") {
		out = append(out, fmt.Sprintf("group %s launches the regional instance template %s: nwroll makes global templates; point the group at a global template", name, lastSegment(link)))
	}
	if tmpl == nil {
		return append(out, fmt.Sprintf("group %s has no readable instance template: point it at one", name))
	}
	gs := tmpl.GetProperties().GetScheduling().GetGracefulShutdown()
	max := time.Duration(gs.GetMaxDuration().GetSeconds())*time.Second + time.Duration(gs.GetMaxDuration().GetNanos())
	secs := int(p.drain / time.Second)
	switch {
	case !gs.GetEnabled():
		out = append(out, fmt.Sprintf("instance template %s has no graceful shutdown, so GCP deletes a retired instance without letting Neuwerk drain it: make a template with scheduling.gracefulShutdown enabled and maxDuration ≥ %ds (gcloud compute instance-templates create … --graceful-shutdown --graceful-shutdown-max-duration=%ds) and point the group at it", tmpl.GetName(), secs, secs))
	case max < p.drain:
		out = append(out, fmt.Sprintf("instance template %s allows a graceful shutdown of %s, shorter than the drain timeout %s, so GCP cuts a retired instance's drain short: make a template with maxDuration ≥ %ds and point the group at it", tmpl.GetName(), max, p.drain, secs))
	}
	return out
}

// patchGroup patches the group and waits for the operation.
func (p *Provider) patchGroup(ctx context.Context, patch *computepb.InstanceGroupManager) error {
	const op = "compute.regionInstanceGroupManagers.patch"
	o, err := p.migs.Patch(ctx, &computepb.PatchRegionInstanceGroupManagerRequest{Project: p.project, Region: p.region,
		InstanceGroupManager: p.group, InstanceGroupManagerResource: patch})
	if err != nil {
		return p.explain(op, err)
	}
	return p.wait(ctx, op, o)
}

func (p *Provider) patchAutoscaler(ctx context.Context, name string, policy *computepb.AutoscalingPolicy) error {
	const op = "compute.regionAutoscalers.patch"
	o, err := p.autoscalers.Patch(ctx, &computepb.PatchRegionAutoscalerRequest{Project: p.project, Region: p.region,
		Autoscaler: proto.String(name), AutoscalerResource: &computepb.Autoscaler{Name: proto.String(name), AutoscalingPolicy: policy}})
	if err != nil {
		return p.explain(op, err)
	}
	return p.wait(ctx, op, o)
}

func (p *Provider) versionsOf(t cloud.TemplateRef) []*computepb.InstanceGroupManagerVersion {
	link := t.ID
	if link == "" {
		link = "global/instanceTemplates/" + t.Name
	}
	return []*computepb.InstanceGroupManagerVersion{{InstanceTemplate: proto.String(p.selfLink(link))}}
}

// SetTemplate implements cloud.Provider: the group's one version becomes
// t. With the update policy opportunistic (Freeze) existing instances are
// untouched. max > 0 sets the autoscaler's maxNumReplicas, when the group
// has one (without, GCP has no maximum to set).
func (p *Provider) SetTemplate(ctx context.Context, t cloud.TemplateRef, max int) error {
	if _, err := p.refTemplate(ctx, t); err != nil {
		return err
	}
	if err := p.patchGroup(ctx, &computepb.InstanceGroupManager{Versions: p.versionsOf(t)}); err != nil {
		return err
	}
	if max <= 0 {
		return nil
	}
	igm, err := p.getGroup(ctx)
	if err != nil {
		return err
	}
	as, err := p.autoscaler(ctx, igm)
	if err != nil || as == nil {
		return err
	}
	return p.patchAutoscaler(ctx, as.GetName(), &computepb.AutoscalingPolicy{MaxNumReplicas: proto.Int32(int32(max))})
}

// Freeze implements cloud.Provider: the autoscaler OFF first (so it does
// not resize), then updatePolicy OPPORTUNISTIC and redistribution NONE.
func (p *Provider) Freeze(ctx context.Context, movers []string) error {
	return p.setMovers(ctx, movers, true)
}

// Thaw implements cloud.Provider: each mover back to its carried value.
func (p *Provider) Thaw(ctx context.Context, movers []string) error {
	return p.setMovers(ctx, movers, false)
}

func (p *Provider) setMovers(ctx context.Context, movers []string, freeze bool) error {
	if len(movers) == 0 {
		return nil
	}
	policy := &computepb.InstanceGroupManagerUpdatePolicy{}
	patchPolicy, mode := false, ""
	for _, m := range movers {
		key, value, _ := strings.Cut(m, "=")
		if key != "update" && key != "redistribution" && key != "autoscaler" {
			return fmt.Errorf("gcp: unknown mover %q (want update=…, redistribution=… or autoscaler=…)", m)
		}
		if value == "" {
			return fmt.Errorf("gcp: mover %q carries no value to restore (want update=…, redistribution=… or autoscaler=…)", m)
		}
		switch key {
		case "update":
			if freeze {
				value = "OPPORTUNISTIC"
			}
			policy.Type, patchPolicy = proto.String(value), true
		case "redistribution":
			if freeze {
				value = "NONE"
			}
			policy.InstanceRedistributionType, patchPolicy = proto.String(value), true
		case "autoscaler":
			if freeze {
				value = "OFF"
			}
			mode = value
		default:
			return fmt.Errorf("gcp: unknown mover %q (want update=…, redistribution=… or autoscaler=…)", m)
		}
	}
	setMode := func() error {
		if mode == "" {
			return nil
		}
		igm, err := p.getGroup(ctx)
		if err != nil {
			return err
		}
		as, err := p.autoscaler(ctx, igm)
		if err != nil {
			return err
		}
		if as == nil {
			if freeze {
				return nil // gone: nothing scales
			}
			return failure("compute.regionAutoscalers.patch", "group %s has no autoscaler any more, so its mode %s cannot be restored: attach one again if it is wanted", p.group, mode)
		}
		return p.patchAutoscaler(ctx, as.GetName(), &computepb.AutoscalingPolicy{Mode: proto.String(mode)})
	}
	if freeze {
		if err := setMode(); err != nil {
			return err
		}
	}
	if patchPolicy {
		if err := p.patchGroup(ctx, &computepb.InstanceGroupManager{UpdatePolicy: policy}); err != nil {
			return err
		}
	}
	if !freeze {
		return setMode()
	}
	return nil
}

// SetDesired implements cloud.Provider: Resize to desired, and wait.
func (p *Provider) SetDesired(ctx context.Context, desired int) error {
	const op = "compute.regionInstanceGroupManagers.resize"
	o, err := p.migs.Resize(ctx, &computepb.ResizeRegionInstanceGroupManagerRequest{Project: p.project, Region: p.region,
		InstanceGroupManager: p.group, Size: int32(desired)})
	if err != nil {
		return p.explain(op, err)
	}
	return p.wait(ctx, op, o)
}

// managed finds the group's managed instance named id.
func (p *Provider) managed(ctx context.Context, id string) (*computepb.ManagedInstance, error) {
	it := p.migs.ListManagedInstances(ctx, &computepb.ListManagedInstancesRegionInstanceGroupManagersRequest{
		Project: p.project, Region: p.region, InstanceGroupManager: p.group})
	for {
		mi, err := it.Next()
		if err == iterator.Done {
			return nil, nil
		}
		if err != nil {
			return nil, p.explain("compute.regionInstanceGroupManagers.listManagedInstances", err)
		}
		if _, name, _ := zonalName(mi.GetInstance()); name == id {
			return mi, nil
		}
	}
}

// Retire implements cloud.Provider: DeleteInstances of exactly id, which
// decrements the target size, with the instance's graceful shutdown (never
// RecreateInstances: it deletes before it creates). An instance already
// DELETING or ABANDONING, or gone, is success.
func (p *Provider) Retire(ctx context.Context, id string) error {
	const op = "compute.regionInstanceGroupManagers.deleteInstances"
	mi, err := p.managed(ctx, id)
	if err != nil || mi == nil || leaving(mi.GetCurrentAction()) {
		return err
	}
	o, err := p.migs.DeleteInstances(ctx, &computepb.DeleteInstancesRegionInstanceGroupManagerRequest{Project: p.project,
		Region: p.region, InstanceGroupManager: p.group,
		RegionInstanceGroupManagersDeleteInstancesRequestResource: &computepb.RegionInstanceGroupManagersDeleteInstancesRequest{
			Instances: []string{mi.GetInstance()}, SkipInstancesOnValidationError: proto.Bool(false)}})
	if err != nil {
		err = p.explain(op, err)
		if again, lerr := p.managed(ctx, id); lerr == nil && (again == nil || leaving(again.GetCurrentAction())) {
			return nil // went meanwhile
		}
		return err
	}
	return p.wait(ctx, op, o)
}

// CompleteLaunch implements cloud.Provider: GCP holds no launch.
func (p *Provider) CompleteLaunch(context.Context, cloud.Group, string, bool) error { return nil }

// CompleteTermination implements cloud.Provider: GCP holds no deletion.
func (p *Provider) CompleteTermination(context.Context, cloud.Group, string) error { return nil }

// StartRefresh implements cloud.Provider (observe mode): the group's
// version becomes t under a proactive, surge-first update (minimalAction
// REPLACE, maxSurge ≥ the number of zones, maxUnavailable 0, SUBSTITUTE).
// A repeat patches the same values. The id names the update.
func (p *Provider) StartRefresh(ctx context.Context, t cloud.TemplateRef) (string, error) {
	if _, err := p.refTemplate(ctx, t); err != nil {
		return "", err
	}
	igm, err := p.getGroup(ctx)
	if err != nil {
		return "", err
	}
	surge := max(int32(len(igm.GetDistributionPolicy().GetZones())), igm.GetUpdatePolicy().GetMaxSurge().GetFixed(), 1)
	err = p.patchGroup(ctx, &computepb.InstanceGroupManager{Versions: p.versionsOf(t),
		UpdatePolicy: &computepb.InstanceGroupManagerUpdatePolicy{Type: proto.String("PROACTIVE"),
			MinimalAction: proto.String("REPLACE"), ReplacementMethod: proto.String("SUBSTITUTE"),
			MaxSurge:       &computepb.FixedOrPercent{Fixed: proto.Int32(surge)},
			MaxUnavailable: &computepb.FixedOrPercent{Fixed: proto.Int32(0)}}})
	if err != nil {
		return "", err
	}
	return "proactive-update:" + t.Name, nil
}

// CancelRefresh implements cloud.Provider: updatePolicy back to
// OPPORTUNISTIC, which stops further replacements. It does not roll
// back: instances already replaced stay on the new template, a surge
// instance under way is still created, and the group's version stays the
// new template (new instances launch from it); SetTemplate back to the old
// template before retiring new instances to roll back. No update running
// is success.
func (p *Provider) CancelRefresh(ctx context.Context) error {
	return p.patchGroup(ctx, &computepb.InstanceGroupManager{UpdatePolicy: &computepb.InstanceGroupManagerUpdatePolicy{Type: proto.String("OPPORTUNISTIC")}})
}
