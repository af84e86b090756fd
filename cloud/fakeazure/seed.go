package fakeazure

import (
	"fmt"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"

	"github.com/nwroll/nwroll/cloud/azure"
)

// ImageSpec seeds one gallery image version.
type ImageSpec struct {
	ResourceGroup string // default: the scale sets' usual "nw-rg"
	Gallery       string // default nwgallery
	Definition    string // default neuwerk
	Version       string // "1.4.0"
	Release       string // the ReleaseTag value, "" for none
	Tags          map[string]string
}

// AddImage adds (or replaces) an image version and returns its resource
// id.
func (f *Fake) AddImage(spec ImageSpec) (string, error) {
	if spec.Version == "" {
		return "", fmt.Errorf("fakeazure: an image version needs a version name")
	}
	if spec.ResourceGroup == "" {
		spec.ResourceGroup = "nw-rg"
	}
	if spec.Gallery == "" {
		spec.Gallery = "nwgallery"
	}
	if spec.Definition == "" {
		spec.Definition = "neuwerk"
	}
	tags := cloneTags(spec.Tags)
	if spec.Release != "" {
		if tags == nil {
			tags = map[string]string{}
		}
		tags[ReleaseTag] = spec.Release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ImageID(f.st.Subscription, spec.ResourceGroup, spec.Gallery, spec.Definition, spec.Version)
	f.st.Images[strings.ToLower(id)] = &ImageVersion{ResourceGroup: spec.ResourceGroup, Gallery: spec.Gallery,
		Definition: spec.Definition, Version: spec.Version, Tags: tags, Created: f.now()}
	return id, nil
}

// ScaleSetSpec seeds one scale set.
type ScaleSetSpec struct {
	Name          string
	ResourceGroup string // default nw-rg
	// Image is the model's image reference id (an AddImage id).
	Image string
	// ImageVersion, when set, makes the model name the image definition
	// (Image's versions/… cut off) with this version word ("latest").
	ImageVersion string
	UpgradeMode  string // default Manual
	// TerminateNotification enables the terminate notification with
	// NotBeforeTimeout (default 5 minutes).
	TerminateNotification bool
	NotBeforeTimeout      time.Duration
	// Services are the orchestration services and their states
	// (AutomaticRepairs: Running); default none.
	Services map[string]string
	Tags     map[string]string
	Zones    []string
	// Adopt are the VMs it starts with, running on Image; capacity is
	// their number plus Extra (launched through the Backend).
	Adopt []Adopted
	Extra int
}

// Adopted is a VM already running.
type Adopted struct {
	Name      string // default <scale set>_<instance id>
	PrivateIP string
	// ProtectFromScaleSetActions, ProtectFromScaleIn: the VM's
	// protection policy (Neuwerk sets both on route owners).
	ProtectFromScaleSetActions bool
	ProtectFromScaleIn         bool
}

// AddScaleSet adds a scale set; its VMs' names are returned.
func (f *Fake) AddScaleSet(spec ScaleSetSpec) ([]string, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("fakeazure: a scale set needs a name")
	}
	if spec.ResourceGroup == "" {
		spec.ResourceGroup = "nw-rg"
	}
	if spec.UpgradeMode == "" {
		spec.UpgradeMode = "Manual"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.st.ScaleSets[spec.Name]; ok {
		return nil, fmt.Errorf("fakeazure: scale set %s exists", spec.Name)
	}
	now := f.now()
	s := &ScaleSet{Name: spec.Name, ResourceGroup: spec.ResourceGroup, Location: f.opts.Location, ImageRef: spec.Image,
		UpgradeMode: spec.UpgradeMode, TerminateNotification: spec.TerminateNotification, Model: 1,
		Services: cloneTags(spec.Services), Tags: cloneTags(spec.Tags), Zones: spec.Zones, Created: now}
	if spec.ImageVersion != "" {
		s.ImageRef = spec.Image[:max(0, strings.LastIndex(strings.ToLower(spec.Image), "/versions/"))]
		s.ImageRefVersion = spec.ImageVersion
	}
	if spec.TerminateNotification {
		s.NotBeforeTimeout = azure.FormatDuration(cmpOr(spec.NotBeforeTimeout, 5*time.Minute))
	}
	var names []string
	for _, a := range spec.Adopt {
		id := fmt.Sprint(s.NextInstance)
		s.NextInstance++
		name := a.Name
		if name == "" {
			name = s.Name + "_" + id
		}
		v := &VM{InstanceID: id, Name: name, PrivateIP: a.PrivateIP, ImageRef: spec.Image, Model: 1, State: Succeeded,
			Launched: true, ProtectScaleIn: a.ProtectFromScaleIn, ProtectSetActions: a.ProtectFromScaleSetActions, Created: now}
		if len(s.Zones) > 0 {
			v.Zone = s.Zones[len(s.VMs)%len(s.Zones)]
		}
		s.VMs = append(s.VMs, v)
		names = append(names, name)
	}
	s.Capacity = len(spec.Adopt) + spec.Extra
	f.st.ScaleSets[s.Name] = s
	return names, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ScaleSet returns a copy of the scale set name.
func (f *Fake) ScaleSet(name string) (ScaleSet, bool) {
	st := f.State()
	s, ok := st.ScaleSets[name]
	if !ok {
		return ScaleSet{}, false
	}
	return *s, true
}

// SetProtection sets a VM's protection policy, as Neuwerk does on a
// route owner.
func (f *Fake) SetProtection(scaleSet, vm string, fromScaleIn, fromScaleSetActions bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st.ScaleSets[scaleSet]
	if s == nil || s.vm(vm) == nil {
		return fmt.Errorf("fakeazure: no VM %s in scale set %s", vm, scaleSet)
	}
	v := s.vm(vm)
	v.ProtectScaleIn, v.ProtectSetActions = fromScaleIn, fromScaleSetActions
	return nil
}

// FaultKind names a failure to rehearse.
type FaultKind string

const (
	// FaultAPIError: the next call of API (armcompute's name,
	// "VirtualMachineScaleSetsClient.BeginUpdate") answers Status with
	// Code and Message.
	FaultAPIError FaultKind = "api-error"
	// FaultLaunchError: the next VM created fails to provision.
	FaultLaunchError FaultKind = "launch-error"
	// FaultHangDeletion: the next deletion of VM ("": any) is held by its
	// terminate notification forever: acknowledgements and the
	// not-before timeout are ignored until ClearFaults.
	FaultHangDeletion FaultKind = "hang-deletion"
)

// Fault is one failure to rehearse; JSON so it persists with the state.
type Fault struct {
	Kind     FaultKind `json:"kind"`
	ScaleSet string    `json:"scale_set,omitempty"` // "": any
	API      string    `json:"api,omitempty"`
	Status   int       `json:"status,omitempty"` // default 409
	Code     string    `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	VM       string    `json:"vm,omitempty"`
	// Times is how often it fires: 0 once, negative until cleared.
	Times int `json:"times,omitempty"`
}

// Inject arms a fault.
func (f *Fake) Inject(ft Fault) error {
	switch ft.Kind {
	case FaultAPIError:
		if ft.API == "" {
			return fmt.Errorf("fakeazure: an api-error fault needs the API name")
		}
		if ft.Status == 0 {
			ft.Status = 409
		}
		if ft.Code == "" {
			ft.Code, ft.Message = "OperationNotAllowed", "The operation is not allowed now: another operation is in progress on the scale set."
		}
	case FaultLaunchError, FaultHangDeletion:
	default:
		return fmt.Errorf("fakeazure: unknown fault kind %q", ft.Kind)
	}
	if ft.Times == 0 {
		ft.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Faults = append(f.st.Faults, ft)
	return nil
}

// FailNextCall makes the next call of api fail with status, code and message.
func (f *Fake) FailNextCall(api string, status int, code, message string) error {
	return f.Inject(Fault{Kind: FaultAPIError, API: api, Status: status, Code: code, Message: message})
}

// FailNextLaunch makes the next VM created fail to provision.
func (f *Fake) FailNextLaunch() error { return f.Inject(Fault{Kind: FaultLaunchError}) }

// HangDeletion holds the next deletion of vm ("": any) forever.
func (f *Fake) HangDeletion(vm string) error { return f.Inject(Fault{Kind: FaultHangDeletion, VM: vm}) }

// Faults returns the armed faults.
func (f *Fake) Faults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Fault(nil), f.st.Faults...)
}

// ClearFaults disarms every fault and releases hung deletions.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Faults = nil
	for _, s := range f.st.ScaleSets {
		for _, v := range s.VMs {
			v.Hung = false
		}
	}
}

func (f *Fake) takeFault(match func(Fault) bool) (Fault, bool) {
	return fakecloud.TakeFault(&f.st.Faults, func(ft *Fault) *int { return &ft.Times }, match)
}
