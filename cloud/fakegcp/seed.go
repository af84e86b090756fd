package fakegcp

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
)

func sortStrings(s []string) { sort.Strings(s) }

// LabelValue is how a release is written as a GCP label value ('.' → '_').
func LabelValue(release string) string { return strings.ReplaceAll(release, ".", "_") }

// ImageSpec describes an image to add.
type ImageSpec struct {
	Name    string
	Release string            // "": unlabelled; else labelled ReleaseLabel=LabelValue(Release)
	Labels  map[string]string // further labels
	Created time.Time         // zero: now
}

// AddImage adds a READY global image and returns its self link.
func (f *Fake) AddImage(spec ImageSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !resourceName.MatchString(spec.Name) || f.st.Images[spec.Name] != nil {
		return "", fmt.Errorf("fakegcp: image name %q invalid or taken", spec.Name)
	}
	img := &Image{Name: spec.Name, ID: f.nextID(), Release: spec.Release, Status: "READY", Created: spec.Created,
		Labels: map[string]string{}}
	if img.Created.IsZero() {
		img.Created = f.now()
	}
	for k, v := range spec.Labels {
		img.Labels[k] = v
	}
	if spec.Release != "" {
		img.Labels[ReleaseLabel] = LabelValue(spec.Release)
	}
	f.st.Images[img.Name] = img
	return f.imageLink(img.Name), nil
}

// TemplateSpec describes an instance template to add.
type TemplateSpec struct {
	Name        string
	SourceImage string // image name or link (must exist)
	MachineType string // default e2-standard-2
	// GracefulShutdown is scheduling.gracefulShutdown.maxDuration, enabled
	// when > 0.
	GracefulShutdown time.Duration
}

// AddTemplate adds a global instance template and returns its self link.
func (f *Fake) AddTemplate(spec TemplateSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !resourceName.MatchString(spec.Name) || f.st.Templates[spec.Name] != nil {
		return "", fmt.Errorf("fakegcp: template name %q invalid or taken", spec.Name)
	}
	img := f.st.image(spec.SourceImage)
	if img == nil {
		return "", fmt.Errorf("fakegcp: template %s: no image %q", spec.Name, spec.SourceImage)
	}
	if spec.MachineType == "" {
		spec.MachineType = "e2-standard-2"
	}
	f.st.Templates[spec.Name] = &Template{Name: spec.Name, ID: f.nextID(), SourceImage: f.imageLink(img.Name),
		MachineType: spec.MachineType, GracefulShutdown: spec.GracefulShutdown, Created: f.now()}
	return f.templateLink(spec.Name), nil
}

// GroupSpec describes a regional managed instance group to add.
type GroupSpec struct {
	Name             string
	BaseInstanceName string   // default: Name
	Template         string   // template name or link
	ExtraVersions    []string // further versions' templates (a canary split)
	Zones            []string // default: <region>-b, -c, -d
	TargetSize       int
	// UpdatePolicy; zero fields default to OPPORTUNISTIC, REPLACE, maxSurge
	// = the number of zones, maxUnavailable 0, redistribution PROACTIVE,
	// SUBSTITUTE.
	UpdatePolicy UpdatePolicy
	Autoscaler   *AutoscalerSpec
	// Adopt lists instances that run already (the simulator's nodes): in
	// the group, NONE and RUNNING, with no Backend launch. Target size
	// beyond them is created through the Backend.
	Adopt []Adopted
}

// AutoscalerSpec is an autoscaler for the group.
type AutoscalerSpec struct {
	Name     string // default: <group>-autoscaler
	Mode     string // default ON
	Min, Max int
}

// Adopted is an instance that runs already.
type Adopted struct {
	Name      string // "": made up
	Zone      string // "": the emptiest zone
	PrivateIP string
	Template  string // "": the group's
	Created   time.Time
}

// AddGroup adds the group and returns the names of the adopted instances.
func (f *Fake) AddGroup(spec GroupSpec) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !resourceName.MatchString(spec.Name) || f.st.Groups[spec.Name] != nil {
		return nil, fmt.Errorf("fakegcp: group name %q invalid or taken", spec.Name)
	}
	if len(spec.Adopt) > spec.TargetSize {
		return nil, fmt.Errorf("fakegcp: group %s: %d adopted instances for a target size of %d", spec.Name, len(spec.Adopt), spec.TargetSize)
	}
	g := &Group{Name: spec.Name, ID: f.nextID(), BaseInstanceName: spec.BaseInstanceName, Zones: spec.Zones,
		TargetSize: spec.TargetSize, Policy: spec.UpdatePolicy, Created: now}
	if g.BaseInstanceName == "" {
		g.BaseInstanceName = spec.Name
	}
	if len(g.Zones) == 0 {
		g.Zones = []string{f.opts.Region + "-b", f.opts.Region + "-c", f.opts.Region + "-d"}
	}
	for i, ref := range append([]string{spec.Template}, spec.ExtraVersions...) {
		name := lastSegment(ref)
		if f.st.Templates[name] == nil {
			return nil, fmt.Errorf("fakegcp: group %s: no template %q", spec.Name, ref)
		}
		v := Version{Template: name}
		if len(spec.ExtraVersions) > 0 {
			v.Name = fmt.Sprintf("v%d", i)
		}
		g.Versions = append(g.Versions, v)
	}
	p := &g.Policy
	if p.Type == "" {
		p.Type = "OPPORTUNISTIC"
	}
	if p.MinimalAction == "" {
		p.MinimalAction = "REPLACE"
	}
	if p.MaxSurge == 0 {
		p.MaxSurge = len(g.Zones)
	}
	if p.Redistribution == "" {
		p.Redistribution = "PROACTIVE"
	}
	if p.Replacement == "" {
		p.Replacement = "SUBSTITUTE"
	}
	var names []string
	for _, a := range spec.Adopt {
		in := &Instance{Name: a.Name, Zone: a.Zone, Template: lastSegment(a.Template), CurrentAction: "NONE", Status: "RUNNING",
			PrivateIP: a.PrivateIP, Created: a.Created, ID: f.nextID()}
		if in.Name == "" {
			in.Name = f.instanceName(g)
		}
		if g.instance(in.Name) != nil {
			return nil, fmt.Errorf("fakegcp: group %s: instance %s adopted twice", spec.Name, in.Name)
		}
		if in.Zone == "" {
			in.Zone = g.emptiestZone()
		} else if !slices.Contains(g.Zones, in.Zone) {
			return nil, fmt.Errorf("fakegcp: group %s: instance %s in zone %s, not one of %v", spec.Name, in.Name, in.Zone, g.Zones)
		}
		if in.Template == "" {
			in.Template = g.template()
		} else if f.st.Templates[in.Template] == nil {
			return nil, fmt.Errorf("fakegcp: group %s: instance %s: no template %q", spec.Name, in.Name, a.Template)
		}
		if in.Created.IsZero() {
			in.Created = now
		}
		in.Started = in.Created
		g.Instances = append(g.Instances, in)
		names = append(names, in.Name)
	}
	if a := spec.Autoscaler; a != nil {
		as := &Autoscaler{Name: a.Name, ID: f.nextID(), Target: g.Name, Mode: a.Mode, Min: a.Min, Max: a.Max}
		if as.Name == "" {
			as.Name = g.Name + "-autoscaler"
		}
		if as.Mode == "" {
			as.Mode = "ON"
		}
		f.st.Autoscalers[as.Name] = as
	}
	f.st.Groups[g.Name] = g
	f.reconcile(g, now)
	return names, nil
}

// Group returns a copy of the group.
func (f *Fake) Group(name string) (Group, bool) {
	st := f.State()
	g := st.Groups[name]
	if g == nil {
		return Group{}, false
	}
	return *g, true
}

// Instance returns a copy of the group's managed instance.
func (f *Fake) Instance(group, name string) (Instance, bool) {
	g, ok := f.Group(group)
	if !ok {
		return Instance{}, false
	}
	for _, in := range g.Instances {
		if in.Name == name {
			return *in, true
		}
	}
	return Instance{}, false
}

// Autoscaler returns a copy of the autoscaler.
func (f *Fake) Autoscaler(name string) (Autoscaler, bool) {
	st := f.State()
	a := st.Autoscalers[name]
	if a == nil {
		return Autoscaler{}, false
	}
	return *a, true
}

// FaultKind names a rehearsable failure.
type FaultKind string

// Fault kinds.
const (
	// FaultAPIError: the next call of Method ("regionInstanceGroupManagers.resize",
	// as Calls names them) answers HTTP Status (default 400) with Reason
	// (default "invalid") and Message.
	FaultAPIError FaultKind = "api-error"
	// FaultLaunchError: the next instance creation fails: the managed
	// instance stays CREATING with lastAttempt.errors Code/Message
	// (default ZONE_RESOURCE_POOL_EXHAUSTED), and the group tries again
	// after Options.LaunchRetry.
	FaultLaunchError FaultKind = "launch-error"
	// FaultHangDeletion: the next deletion of Instance ("": any) stays
	// DELETING until ClearFaults.
	FaultHangDeletion FaultKind = "hang-deletion"
	// FaultOperationError: the next operation of Method is accepted but
	// ends DONE with error Code/Message (default RESOURCE_NOT_READY) and
	// httpErrorStatusCode Status (default 400). Its effect still applies.
	FaultOperationError FaultKind = "operation-error"
	// FaultLaunchUnderneath acts now: Group's target size +1, as its
	// autoscaler would.
	FaultLaunchUnderneath FaultKind = "launch-underneath"
	// FaultTerminateUnderneath acts now: Group recreates Instance ("": its
	// newest running one) as autohealing does: RECREATING (after its
	// graceful shutdown), Backend.Terminate, then CREATING again under the
	// same name.
	FaultTerminateUnderneath FaultKind = "terminate-underneath"
)

// Fault is one failure to rehearse, JSON so the simulator can persist it.
type Fault struct {
	Kind     FaultKind `json:"kind"`
	Method   string    `json:"method,omitempty"`
	Status   int       `json:"status,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Code     string    `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Group    string    `json:"group,omitempty"` // the underneath kinds; "": the only group
	// Times is how often it fires: 0 once, negative until cleared.
	Times int `json:"times,omitempty"`
}

// Inject arms a fault.
func (f *Fake) Inject(ft Fault) error {
	switch ft.Kind {
	case FaultAPIError:
		if ft.Method == "" {
			return fmt.Errorf("fakegcp: an api-error fault names its method")
		}
		if ft.Status == 0 {
			ft.Status = 400
		}
		if ft.Reason == "" {
			ft.Reason = "invalid"
		}
		if ft.Message == "" {
			ft.Message = "injected failure of " + ft.Method
		}
	case FaultLaunchError:
		if ft.Code == "" {
			ft.Code = "ZONE_RESOURCE_POOL_EXHAUSTED"
		}
		if ft.Message == "" {
			ft.Message = "The zone does not have enough resources available to fulfill the request."
		}
	case FaultHangDeletion:
	case FaultOperationError:
		if ft.Method == "" {
			return fmt.Errorf("fakegcp: an operation-error fault names its method")
		}
		if ft.Code == "" {
			ft.Code = "RESOURCE_NOT_READY"
		}
		if ft.Message == "" {
			ft.Message = "injected failure of an operation of " + ft.Method
		}
		if ft.Status == 0 {
			ft.Status = 400
		}
	case FaultLaunchUnderneath, FaultTerminateUnderneath:
		return f.underneath(ft)
	default:
		return fmt.Errorf("fakegcp: unknown fault kind %q", ft.Kind)
	}
	if ft.Times == 0 {
		ft.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Faults = append(f.st.Faults, ft)
	return nil
}

// FailNextCall arms an API error on the next call of method.
func (f *Fake) FailNextCall(method string, status int, reason, message string) error {
	return f.Inject(Fault{Kind: FaultAPIError, Method: method, Status: status, Reason: reason, Message: message})
}

// Faults returns the armed faults.
func (f *Fake) Faults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.st.Faults)
}

// ClearFaults disarms every fault and lets hung deletions go on.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Faults = nil
	for _, g := range f.st.Groups {
		for _, in := range g.Instances {
			in.Hang = false
		}
	}
}

// takeFault spends the first armed fault that matches. Called with f.mu held.
func (f *Fake) takeFault(match func(Fault) bool) (Fault, bool) {
	return fakecloud.TakeFault(&f.st.Faults, func(ft *Fault) *int { return &ft.Times }, match)
}

// underneath moves the group by itself now.
func (f *Fake) underneath(ft Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.st.Groups[ft.Group]
	if ft.Group == "" && len(f.st.Groups) == 1 {
		for _, only := range f.st.Groups {
			g = only
		}
	}
	if g == nil {
		return fmt.Errorf("fakegcp: %s: no group %q", ft.Kind, ft.Group)
	}
	now := f.now()
	if ft.Kind == FaultLaunchUnderneath {
		g.TargetSize++
		f.reconcile(g, now)
		return nil
	}
	var victim *Instance
	for _, in := range g.Instances {
		if in.CurrentAction == "NONE" && (ft.Instance == in.Name || ft.Instance == "" && (victim == nil || !in.Created.Before(victim.Created))) {
			victim = in
		}
	}
	if victim == nil {
		return fmt.Errorf("fakegcp: %s: group %s has no running instance %q", ft.Kind, g.Name, ft.Instance)
	}
	f.startDelete(g, victim, now, true)
	victim.CurrentAction = "RECREATING"
	return nil
}
