// Package cloud drives a managed replacement group (an AWS Auto Scaling
// Group, an Azure VM scale set or a GCP managed instance group) for an
// image-first rollout: surge one instance on the target image, retire one
// old instance, one at a time (../shared/cloud-rollout.md §2).
//
// A Provider makes one provider call per method and keeps no state of its
// own between calls, so the journal can record each call's intent first
// and a resumed run can ask Describe what really happened. Every mutating
// method is written to be safe to repeat with the same arguments (desired
// capacity is absolute, retiring a terminating instance is a no-op), which
// is what resume relies on. Nothing here imports the console.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// ReleaseTag is the image tag (label on GCP) that names a Neuwerk release.
const ReleaseTag = "neuwerk.io/release"

// Lifecycle is an instance's place in the group's life, provider-neutral.
type Lifecycle string

// Lifecycle values. Provider states map onto these (AWS: Pending,
// Pending:Wait, Pending:Proceed → Pending; InService → InService;
// Terminating:Wait → TerminatingWait; Terminating, Terminating:Proceed →
// Terminating; Terminated → Terminated; anything else → Other).
const (
	Pending         Lifecycle = "pending"
	InService       Lifecycle = "in-service"
	TerminatingWait Lifecycle = "terminating-wait" // held by the terminating hook: Neuwerk drains it
	Terminating     Lifecycle = "terminating"
	Terminated      Lifecycle = "terminated"
	Other           Lifecycle = "other"
)

// Instance is one instance of the group.
type Instance struct {
	ID         string
	PrivateIP  string // the node's management address, matched to its Raft address
	Lifecycle  Lifecycle
	State      string // the provider's own words ("Terminating:Wait")
	Healthy    bool
	ImageID    string // the image it was launched from
	Template   TemplateRef
	Zone       string
	LaunchedAt time.Time
}

// TemplateRef names one version of a launch template (AWS), a model (Azure)
// or an instance template (GCP). Version is always explicit: never
// "$Latest" or "$Default".
type TemplateRef struct {
	ID      string
	Name    string
	Version string
}

func (t TemplateRef) String() string {
	n := t.Name
	if n == "" {
		n = t.ID
	}
	return n + " v" + t.Version
}

// Hook is a lifecycle hook that holds an instance while it is launched or
// terminated.
type Hook struct {
	Name             string
	HeartbeatTimeout time.Duration
	DefaultResult    string // CONTINUE or ABANDON
}

// Group is the group as one Describe saw it.
type Group struct {
	Name              string
	Desired, Min, Max int
	Template          TemplateRef // what new instances launch from
	Instances         []Instance  // not yet terminated, oldest first
	Suspended         []string    // background processes suspended now
	// Movers are the group's background movers that run now, which could
	// launch or terminate instances behind the rollout's back: what
	// Freeze stops and Thaw restarts, in the provider's words. A setting
	// carries the value Thaw restores ("autoscaler=ON").
	Movers []string
	// Problems are why this provider's group cannot be rolled (its
	// preflight), each naming the cause and the fix; none: it can.
	Problems             []string
	TerminatingHook      *Hook // nil: none
	LaunchingHook        *Hook
	Refresh              *Refresh // the newest instance refresh, nil: none ever
	Activities           []Activity
	MixedInstancesPolicy bool // the template sits inside a mixed instances policy
}

// Instance returns the instance with id.
func (g Group) Instance(id string) (Instance, bool) {
	for _, in := range g.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

// Stable reports whether nothing moves in the group: every instance in
// service and no refresh running. Why names the first thing that moves.
func (g Group) Stable() (ok bool, why string) {
	for _, in := range g.Instances {
		if in.Lifecycle != InService {
			return false, fmt.Sprintf("instance %s is %s", in.ID, in.State)
		}
	}
	if g.Refresh != nil && g.Refresh.Active() {
		return false, fmt.Sprintf("instance refresh %s is %s", g.Refresh.ID, g.Refresh.Status)
	}
	if len(g.Instances) != g.Desired {
		return false, fmt.Sprintf("%d instances for a desired capacity of %d", len(g.Instances), g.Desired)
	}
	return true, ""
}

// Refresh is a provider-native rolling replacement (an ASG instance
// refresh), which nwroll only watches and cancels (observe mode).
type Refresh struct {
	ID                string
	Status            string // Pending, InProgress, Successful, Cancelling, Cancelled, Failed, …
	PercentComplete   int
	InstancesToUpdate int
	Reason            string
}

// Active reports whether the refresh still runs.
func (r Refresh) Active() bool {
	switch r.Status {
	case "Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking":
		return true
	}
	return false
}

// Activity is one scaling activity (why an instance came or went).
type Activity struct {
	ID          string
	Description string
	Cause       string
	Status      string // Successful, Failed, InProgress, …
	StatusMsg   string
	Start       time.Time
}

// Image is a machine image tagged for a release.
type Image struct {
	ID      string
	Name    string
	Release string // the value of ReleaseTag
	Created time.Time
}

// Provider is one managed group behind one cloud API.
type Provider interface {
	// Name is the provider ("aws", "azure", "gcp").
	Name() string
	// Describe reads the group, its instances (with their private IPs and
	// images), hooks, suspended processes and the newest refresh.
	Describe(ctx context.Context) (Group, error)
	// ImageFor finds the one image tagged ReleaseTag=release.
	ImageFor(ctx context.Context, release string) (Image, error)
	// Images describes the images with these ids (their release tags);
	// an id that names no image is left out.
	Images(ctx context.Context, ids []string) ([]Image, error)
	// TemplateImage is the image a template version launches.
	TemplateImage(ctx context.Context, t TemplateRef) (string, error)
	// NewTemplate makes a new version of the group's template, from base,
	// launching image. It returns the version made.
	NewTemplate(ctx context.Context, base TemplateRef, image Image) (TemplateRef, error)
	// SetTemplate points the group at t (an explicit version), and sets
	// its maximum size to max when max > 0.
	SetTemplate(ctx context.Context, t TemplateRef, max int) error
	// Freeze stops these movers (from Group.Movers); a repeat is a no-op.
	Freeze(ctx context.Context, movers []string) error
	// Thaw restarts exactly these movers, as Freeze found them.
	Thaw(ctx context.Context, movers []string) error
	// SetDesired sets the desired capacity (absolute, so a repeat is a
	// no-op), not honouring cooldowns.
	SetDesired(ctx context.Context, desired int) error
	// Retire terminates exactly instance id and decrements the desired
	// capacity. An instance already terminating or gone is not an error.
	Retire(ctx context.Context, id string) error
	// CompleteLaunch answers a launching hook for id (cont: CONTINUE,
	// else ABANDON). Without a launching hook it does nothing.
	CompleteLaunch(ctx context.Context, g Group, id string, cont bool) error
	// CompleteTermination answers the terminating hook for id (CONTINUE):
	// for an instance that never became a Raft member, which Neuwerk does
	// not drain, so nobody else will. Without the hook it does nothing.
	CompleteTermination(ctx context.Context, g Group, id string) error
	// StartRefresh, CancelRefresh: observe mode.
	StartRefresh(ctx context.Context, t TemplateRef) (string, error)
	CancelRefresh(ctx context.Context) error
}

// ErrNotFound is returned (wrapped) when a group, image or template does
// not exist.
var ErrNotFound = errors.New("not found")

// Config is the inventory's `cloud:` section.
type Config struct {
	Provider string // "aws", "azure" or "gcp"
	Region   string // AWS region, GCP region of a regional group; Azure: unused
	Group    string // the ASG's, scale set's or managed instance group's name
	// Subscription and ResourceGroup locate an Azure scale set; Project a
	// GCP group.
	Subscription  string
	ResourceGroup string
	Project       string
	// DrainTimeout is Neuwerk's integration.drain_timeout_secs (300 s by
	// default): a terminate notification (Azure) or graceful shutdown
	// (GCP) shorter than it cuts the drain short, so preflight refuses.
	DrainTimeout time.Duration
	// Endpoints override the provider's service endpoints (tests, the
	// simulator): service name → URL ("autoscaling", "ec2"; Azure
	// "resourcemanager"; GCP "compute").
	Endpoints map[string]string
	// Anonymous sends unsigned requests, with no credentials: only for a
	// simulator, so every endpoint must be overridden to a loopback
	// address.
	Anonymous bool
}

// CheckAnonymous refuses anonymous credentials unless every one of the
// provider's services has an endpoint on a loopback address (a simulator):
// the error names the setting and the fix; real is what the provider uses
// without anonymous ("real credentials").
func (c Config) CheckAnonymous(provider, real string, services ...string) error {
	if !c.Anonymous {
		return nil
	}
	for _, s := range services {
		ep := c.Endpoints[s]
		if ep == "" {
			return fmt.Errorf("%s: anonymous credentials are only for a simulator, and cloud.endpoints.%s is not set: point it at the simulator, or drop anonymous to use %s", provider, s, real)
		}
		if !Loopback(ep) {
			return fmt.Errorf("%s: anonymous credentials are only for a simulator on a loopback address, and cloud.endpoints.%s is %s: drop anonymous to use %s", provider, s, ep, real)
		}
	}
	return nil
}

// Loopback reports whether URL ep names localhost or a loopback IP.
func Loopback(ep string) bool {
	u, err := url.Parse(ep)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
