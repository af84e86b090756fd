package fakeaws

import (
	"fmt"
	"slices"
	"time"
)

// AddImage registers an AMI (ID "": one is made up; State "": available)
// and returns its id.
func (f *Fake) AddImage(img Image) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img.ID == "" {
		img.ID = f.nextID("ami-", 17)
	}
	if img.State == "" {
		img.State = "available"
	}
	if img.Created.IsZero() {
		img.Created = f.now()
	}
	img.Tags = cloneTags(img.Tags)
	f.st.Images[img.ID] = &img
	return img.ID
}

// AddLaunchTemplate makes a launch template whose version 1 (the
// default) launches imageID.
func (f *Fake) AddLaunchTemplate(name, imageID, instanceType string) TemplateSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	lt := &LaunchTemplate{ID: f.nextID("lt-", 17), Name: name, DefaultVersion: 1, Created: now,
		Versions: []*TemplateVersion{{Number: 1, ImageID: imageID, InstanceType: instanceType, Created: now}}}
	f.st.Templates[lt.ID] = lt
	return TemplateSpec{ID: lt.ID, Name: name, Version: "1"}
}

// GroupSpec describes a group to create.
type GroupSpec struct {
	Name              string
	Min, Max, Desired int
	Template          TemplateSpec // by ID (or Name); Version "" means $Default
	Zones             []string     // default: <region>a, <region>b, <region>c
	Tags              map[string]string
	InstanceType      string // default t3.medium
	Hooks             []Hook
	Suspended         []string
	// Adopt lists instances already running (the simulator's existing
	// nodes): they join the group in service without a Backend launch.
	// Desired capacity beyond them is launched through the Backend.
	Adopt []Adopted
}

// Adopted is an instance that runs already.
type Adopted struct {
	ID         string // "": made up
	PrivateIP  string
	ImageID    string // "": the template's image
	LaunchTime time.Time
}

// AddGroup creates a group. It returns the ids of adopted instances.
func (f *Fake) AddGroup(spec GroupSpec) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if spec.Name == "" || f.st.Groups[spec.Name] != nil {
		return nil, fmt.Errorf("fakeaws: group name %q empty or taken", spec.Name)
	}
	if spec.Min > spec.Desired || spec.Desired > spec.Max || len(spec.Adopt) > spec.Desired {
		return nil, fmt.Errorf("fakeaws: group %s: want min %d ≤ adopted %d ≤ desired %d ≤ max %d", spec.Name, spec.Min, len(spec.Adopt), spec.Desired, spec.Max)
	}
	lt := f.templateByIDOrName(spec.Template.ID, spec.Template.Name)
	if lt == nil {
		return nil, fmt.Errorf("fakeaws: group %s: no launch template %+v", spec.Name, spec.Template)
	}
	version := spec.Template.Version
	if version == "" {
		version = "$Default"
	}
	v, ok := lt.resolve(version)
	if !ok {
		return nil, fmt.Errorf("fakeaws: group %s: template %s has no version %s", spec.Name, lt.ID, version)
	}
	for _, h := range spec.Hooks {
		if h.Transition != TransitionLaunching && h.Transition != TransitionTerminating {
			return nil, fmt.Errorf("fakeaws: hook %s: transition %q", h.Name, h.Transition)
		}
	}
	for _, p := range spec.Suspended {
		if !slices.Contains(ScalingProcesses, p) {
			return nil, fmt.Errorf("fakeaws: unknown process %q", p)
		}
	}
	zones := spec.Zones
	if len(zones) == 0 {
		zones = []string{f.opts.Region + "a", f.opts.Region + "b", f.opts.Region + "c"}
	}
	itype := spec.InstanceType
	if itype == "" {
		itype = "t3.medium"
	}
	g := &Group{Name: spec.Name, Min: spec.Min, Max: spec.Max, Desired: spec.Desired,
		Template: TemplateSpec{ID: lt.ID, Name: lt.Name, Version: version}, Zones: zones,
		Tags: cloneTags(spec.Tags), InstanceType: itype, Hooks: slices.Clone(spec.Hooks),
		Suspended: slices.Clone(spec.Suspended), Created: now}
	launched := TemplateSpec{ID: lt.ID, Name: lt.Name, Version: fmt.Sprint(v.Number)}
	var ids []string
	for i, a := range spec.Adopt {
		id := a.ID
		if id == "" {
			id = f.nextID("i-", 17)
		}
		if f.st.Instances[id] != nil {
			return nil, fmt.Errorf("fakeaws: instance %s exists", id)
		}
		image := a.ImageID
		if image == "" {
			image = v.ImageID
		}
		at := a.LaunchTime
		if at.IsZero() {
			at = now.Add(time.Duration(i-len(spec.Adopt)) * time.Minute)
		}
		tags := map[string]string{"aws:autoscaling:groupName": g.Name}
		for k, val := range g.Tags {
			tags[k] = val
		}
		zone := zones[i%len(zones)]
		f.st.Instances[id] = &EC2Instance{ID: id, ImageID: image, InstanceType: itype, PrivateIP: a.PrivateIP,
			State: EC2Running, Zone: zone, Tags: tags, LaunchTime: at.UTC()}
		g.Members = append(g.Members, &Member{InstanceID: id, Zone: zone, Lifecycle: InService, Health: "Healthy",
			Template: launched, Launched: true})
		ids = append(ids, id)
	}
	f.st.Groups[g.Name] = g
	f.reconcile(g, now, fmt.Sprintf("At %s a user request created an AutoScalingGroup changing the desired capacity from 0 to %d.", isoSeconds(now), g.Desired))
	return ids, nil
}

// Group returns a copy of group name.
func (f *Fake) Group(name string) (Group, bool) {
	st := f.State()
	g := st.Groups[name]
	if g == nil {
		return Group{}, false
	}
	return *g, true
}

// Instance returns a copy of EC2 instance id.
func (f *Fake) Instance(id string) (EC2Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.st.Instances[id]
	if in == nil {
		return EC2Instance{}, false
	}
	c := *in
	c.Tags = cloneTags(in.Tags)
	return c, true
}

// CompleteLifecycleAction answers a hold from Go (as the Backend's node
// would over the API): it is the same as the API call.
func (f *Fake) CompleteLifecycleAction(group, hook, instanceID, result string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	form := map[string][]string{"AutoScalingGroupName": {group}, "LifecycleHookName": {hook},
		"InstanceId": {instanceID}, "LifecycleActionResult": {result}}
	if _, aerr := f.completeLifecycleAction(form, f.now()); aerr != nil {
		return fmt.Errorf("%s: %s", aerr.Code, aerr.Message)
	}
	f.poke()
	return nil
}
