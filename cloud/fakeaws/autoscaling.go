package fakeaws

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"time"
)

var autoscalingActions = map[string]handler{
	"DescribeAutoScalingGroups":           (*Fake).describeGroups,
	"DescribeAutoScalingInstances":        (*Fake).describeASInstances,
	"DescribeLifecycleHooks":              (*Fake).describeHooks,
	"DescribeInstanceRefreshes":           (*Fake).describeRefreshes,
	"DescribeScalingActivities":           (*Fake).describeActivities,
	"UpdateAutoScalingGroup":              (*Fake).updateGroup,
	"SetDesiredCapacity":                  (*Fake).setDesired,
	"TerminateInstanceInAutoScalingGroup": (*Fake).terminateInstance,
	"SuspendProcesses":                    (*Fake).suspendProcesses,
	"ResumeProcesses":                     (*Fake).resumeProcesses,
	"CompleteLifecycleAction":             (*Fake).completeLifecycleAction,
	"RecordLifecycleActionHeartbeat":      (*Fake).recordHeartbeat,
	"StartInstanceRefresh":                (*Fake).startRefresh,
	"CancelInstanceRefresh":               (*Fake).cancelRefresh,
}

// ScalingProcesses are the processes SuspendProcesses knows.
var ScalingProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

// Wire shapes (Auto Scaling).

type xLaunchTemplate struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId"`
	LaunchTemplateName string `xml:"LaunchTemplateName"`
	Version            string `xml:"Version"`
}

type xGroupInstance struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string `xml:"InstanceType,omitempty"`
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	LaunchTemplate       xLaunchTemplate
	ProtectedFromScaleIn bool
}

type xSuspended struct {
	ProcessName      string
	SuspensionReason string
}

type xTag struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string
	Key               string
	Value             string
	PropagateAtLaunch bool
}

type xGroup struct {
	AutoScalingGroupName   string
	AutoScalingGroupARN    string
	LaunchTemplate         xLaunchTemplate
	MinSize                int
	MaxSize                int
	DesiredCapacity        int
	DefaultCooldown        int
	AvailabilityZones      []string `xml:"AvailabilityZones>member"`
	HealthCheckType        string
	HealthCheckGracePeriod int
	Instances              []xGroupInstance `xml:"Instances>member"`
	CreatedTime            string
	SuspendedProcesses     []xSuspended `xml:"SuspendedProcesses>member"`
	Tags                   []xTag       `xml:"Tags>member"`
	TerminationPolicies    []string     `xml:"TerminationPolicies>member"`
}

type xASInstance struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string `xml:"InstanceType,omitempty"`
	AutoScalingGroupName string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	LaunchTemplate       xLaunchTemplate
	ProtectedFromScaleIn bool
}

type xHook struct {
	LifecycleHookName    string
	AutoScalingGroupName string
	LifecycleTransition  string
	HeartbeatTimeout     int
	GlobalTimeout        int
	DefaultResult        string
}

type xActivity struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string
	Description          string
	Cause                string
	StartTime            string
	EndTime              string `xml:",omitempty"`
	StatusCode           string
	StatusMessage        string `xml:",omitempty"`
	Progress             int
	Details              string
}

type xRefreshPreferences struct {
	MinHealthyPercentage int
	MaxHealthyPercentage int
	SkipMatching         bool
}

type xDesiredConfiguration struct {
	LaunchTemplate *xLaunchTemplate `xml:",omitempty"`
}

type xRefresh struct {
	InstanceRefreshID    string `xml:"InstanceRefreshId"`
	AutoScalingGroupName string
	Status               string
	StatusReason         string `xml:",omitempty"`
	StartTime            string
	EndTime              string `xml:",omitempty"`
	PercentageComplete   int
	InstancesToUpdate    int
	Preferences          xRefreshPreferences
	DesiredConfiguration *xDesiredConfiguration `xml:",omitempty"`
}

func (f *Fake) groupNotFound(name string) *apiError {
	return validation("AutoScalingGroup name not found - AutoScalingGroup %s not found", name)
}

func (f *Fake) describeGroups(form url.Values, _ time.Time) (any, *apiError) {
	names := members(form, "AutoScalingGroupNames")
	if len(names) == 0 {
		for n := range f.st.Groups {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var all []xGroup
	for _, n := range names {
		if g := f.st.group(n); g != nil {
			all = append(all, f.groupXML(g))
		}
	}
	items, next, aerr := pageForm(f, form, "MaxRecords", all, 100)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		AutoScalingGroups []xGroup `xml:"AutoScalingGroups>member"`
		NextToken         string   `xml:",omitempty"`
	}{items, next}, nil
}

func (f *Fake) groupXML(g *Group) xGroup {
	x := xGroup{AutoScalingGroupName: g.Name,
		AutoScalingGroupARN: fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", f.opts.Region, f.opts.AccountID, g.Name),
		LaunchTemplate:      f.templateXML(g.Template),
		MinSize:             g.Min, MaxSize: g.Max, DesiredCapacity: g.Desired, DefaultCooldown: 300,
		AvailabilityZones: g.Zones, HealthCheckType: "EC2", HealthCheckGracePeriod: 300,
		CreatedTime: iso(g.Created), TerminationPolicies: []string{"Default"}}
	for _, m := range g.Members {
		x.Instances = append(x.Instances, xGroupInstance{InstanceID: m.InstanceID, InstanceType: f.instanceType(m.InstanceID),
			AvailabilityZone: m.Zone, LifecycleState: m.Lifecycle, HealthStatus: m.Health,
			LaunchTemplate: f.templateXML(m.Template)})
	}
	for _, p := range g.Suspended {
		x.SuspendedProcesses = append(x.SuspendedProcesses, xSuspended{ProcessName: p,
			SuspensionReason: "User suspended at " + iso(g.Created)})
	}
	keys := make([]string, 0, len(g.Tags))
	for k := range g.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, xTag{ResourceID: g.Name, ResourceType: "auto-scaling-group", Key: k, Value: g.Tags[k], PropagateAtLaunch: true})
	}
	return x
}

// templateXML answers with both the id and the name, as AWS does.
func (f *Fake) templateXML(t TemplateSpec) xLaunchTemplate {
	x := xLaunchTemplate{LaunchTemplateID: t.ID, LaunchTemplateName: t.Name, Version: t.Version}
	if lt := f.st.Templates[t.ID]; lt != nil {
		x.LaunchTemplateName = lt.Name
	}
	return x
}

func (f *Fake) instanceType(id string) string {
	if in := f.st.Instances[id]; in != nil {
		return in.InstanceType
	}
	return ""
}

func (f *Fake) describeASInstances(form url.Values, _ time.Time) (any, *apiError) {
	ids := members(form, "InstanceIds")
	var all []xASInstance
	names := make([]string, 0, len(f.st.Groups))
	for n := range f.st.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := f.st.Groups[n]
		for _, m := range g.Members {
			if len(ids) > 0 && !slices.Contains(ids, m.InstanceID) {
				continue
			}
			all = append(all, xASInstance{InstanceID: m.InstanceID, InstanceType: f.instanceType(m.InstanceID),
				AutoScalingGroupName: g.Name, AvailabilityZone: m.Zone, LifecycleState: m.Lifecycle,
				HealthStatus: m.Health, LaunchTemplate: f.templateXML(m.Template)})
		}
	}
	items, next, aerr := pageForm(f, form, "MaxRecords", all, 50)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		AutoScalingInstances []xASInstance `xml:"AutoScalingInstances>member"`
		NextToken            string        `xml:",omitempty"`
	}{items, next}, nil
}

func (f *Fake) describeHooks(form url.Values, _ time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	only := members(form, "LifecycleHookNames")
	var hooks []xHook
	for _, h := range g.Hooks {
		if len(only) > 0 && !slices.Contains(only, h.Name) {
			continue
		}
		hooks = append(hooks, xHook{LifecycleHookName: h.Name, AutoScalingGroupName: g.Name,
			LifecycleTransition: h.Transition, HeartbeatTimeout: int(h.HeartbeatTimeout / time.Second),
			GlobalTimeout: int(h.GlobalTimeout() / time.Second), DefaultResult: h.DefaultResult})
	}
	return struct {
		LifecycleHooks []xHook `xml:"LifecycleHooks>member"`
	}{hooks}, nil
}

func (f *Fake) describeRefreshes(form url.Values, _ time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	only := members(form, "InstanceRefreshIds")
	var all []xRefresh
	for i := len(g.Refreshes) - 1; i >= 0; i-- { // newest first
		r := g.Refreshes[i]
		if len(only) > 0 && !slices.Contains(only, r.ID) {
			continue
		}
		x := xRefresh{InstanceRefreshID: r.ID, AutoScalingGroupName: g.Name, Status: r.Status,
			StatusReason: r.StatusReason, StartTime: iso(r.Start), EndTime: iso(r.End),
			PercentageComplete: r.percent(), InstancesToUpdate: r.InstancesToUpdate,
			Preferences: xRefreshPreferences{MinHealthyPercentage: r.MinHealthy, MaxHealthyPercentage: r.MaxHealthy, SkipMatching: r.SkipMatching}}
		if r.Desired != nil {
			lt := f.templateXML(*r.Desired)
			x.DesiredConfiguration = &xDesiredConfiguration{LaunchTemplate: &lt}
		}
		all = append(all, x)
	}
	items, next, aerr := pageForm(f, form, "MaxRecords", all, 100)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		InstanceRefreshes []xRefresh `xml:"InstanceRefreshes>member"`
		NextToken         string     `xml:",omitempty"`
	}{items, next}, nil
}

func (r *InstanceRefresh) percent() int {
	switch {
	case r.Status == "Successful":
		return 100
	case r.Total == 0:
		return 0
	}
	return (r.Total - r.InstancesToUpdate) * 100 / r.Total
}

func (f *Fake) activityXML(g *Group, a *Activity) xActivity {
	return xActivity{ActivityID: a.ID, AutoScalingGroupName: g.Name, Description: a.Description, Cause: a.Cause,
		StartTime: iso(a.Start), EndTime: iso(a.End), StatusCode: a.Status, StatusMessage: a.StatusMessage,
		Progress: a.Progress, Details: fmt.Sprintf(`{"Availability Zone":"%s"}`, firstOr(g.Zones, ""))}
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

func (f *Fake) describeActivities(form url.Values, _ time.Time) (any, *apiError) {
	name := form.Get("AutoScalingGroupName")
	var groups []*Group
	if name != "" {
		if g := f.st.group(name); g != nil {
			groups = append(groups, g)
		}
	} else {
		for _, g := range f.st.Groups {
			groups = append(groups, g)
		}
	}
	only := members(form, "ActivityIds")
	type entry struct {
		g *Group
		a *Activity
	}
	var entries []entry
	for _, g := range groups {
		for _, a := range g.Activities {
			if len(only) == 0 || slices.Contains(only, a.ID) {
				entries = append(entries, entry{g, a})
			}
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { // newest first
		if !entries[i].a.Start.Equal(entries[j].a.Start) {
			return entries[i].a.Start.After(entries[j].a.Start)
		}
		return entries[i].a.ID > entries[j].a.ID
	})
	all := make([]xActivity, len(entries))
	for i, e := range entries {
		all[i] = f.activityXML(e.g, e.a)
	}
	items, next, aerr := pageForm(f, form, "MaxRecords", all, 100)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Activities []xActivity `xml:"Activities>member"`
		NextToken  string      `xml:",omitempty"`
	}{items, next}, nil
}

// templateFromForm reads prefix.LaunchTemplateId/LaunchTemplateName/Version
// and checks the template exists.
func (f *Fake) templateFromForm(form url.Values, prefix string) (TemplateSpec, bool, *apiError) {
	id, name := form.Get(prefix+".LaunchTemplateId"), form.Get(prefix+".LaunchTemplateName")
	version := form.Get(prefix + ".Version")
	if id == "" && name == "" {
		return TemplateSpec{}, false, nil
	}
	lt := f.templateByIDOrName(id, name)
	if lt == nil {
		if id != "" {
			return TemplateSpec{}, false, validation("You must use a valid fully-formed launch template. The specified launch template, with template ID %s, does not exist.", id)
		}
		return TemplateSpec{}, false, validation("You must use a valid fully-formed launch template. The specified launch template, with template name %s, does not exist.", name)
	}
	if version == "" {
		version = "$Default"
	}
	if _, ok := lt.resolve(version); !ok {
		return TemplateSpec{}, false, validation("You must use a valid fully-formed launch template. The specified launch template version %s of %s does not exist.", version, lt.ID)
	}
	return TemplateSpec{ID: lt.ID, Name: lt.Name, Version: version}, true, nil
}

func (f *Fake) templateByIDOrName(id, name string) *LaunchTemplate {
	if id != "" {
		return f.st.Templates[id]
	}
	for _, lt := range f.st.Templates {
		if lt.Name == name {
			return lt
		}
	}
	return nil
}

func (f *Fake) updateGroup(form url.Values, now time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	spec, haveSpec, aerr := f.templateFromForm(form, "LaunchTemplate")
	if aerr != nil {
		return nil, aerr
	}
	minSize, haveMin, aerr := intField(form, "MinSize")
	if aerr != nil {
		return nil, aerr
	}
	maxSize, haveMax, aerr := intField(form, "MaxSize")
	if aerr != nil {
		return nil, aerr
	}
	desired, haveDesired, aerr := intField(form, "DesiredCapacity")
	if aerr != nil {
		return nil, aerr
	}
	if !haveMin {
		minSize = g.Min
	}
	if !haveMax {
		maxSize = g.Max
	}
	if !haveDesired {
		desired = min(max(g.Desired, minSize), maxSize)
	}
	if minSize > maxSize {
		return nil, validation("Minimum size %d is greater than maximum size %d.", minSize, maxSize)
	}
	if desired < minSize || desired > maxSize {
		return nil, validation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, minSize, maxSize)
	}
	if haveSpec {
		g.Template = spec
	}
	cause := ""
	if desired != g.Desired {
		cause = fmt.Sprintf("At %s a user request update of AutoScalingGroup constraints to min: %d, max: %d, desired: %d changing the desired capacity from %d to %d.", isoSeconds(now), minSize, maxSize, desired, g.Desired, desired)
	}
	g.Min, g.Max, g.Desired = minSize, maxSize, desired
	f.reconcile(g, now, cause)
	return nil, nil
}

func (f *Fake) setDesired(form url.Values, now time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	desired, ok, aerr := intField(form, "DesiredCapacity")
	if aerr != nil {
		return nil, aerr
	}
	if !ok {
		return nil, validation("1 validation error detected: Value null at 'desiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	if desired > g.Max {
		return nil, validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.Max)
	}
	if desired < g.Min {
		return nil, validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.Min)
	}
	if desired != g.Desired {
		cause := fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity from %d to %d.", isoSeconds(now), g.Desired, desired)
		g.Desired = desired
		f.reconcile(g, now, cause)
	}
	return nil, nil
}

// findMember finds the group and member of an instance.
func (f *Fake) findMember(id string) (*Group, *Member) {
	for _, g := range f.st.Groups {
		if m := g.member(id); m != nil {
			return g, m
		}
	}
	return nil, nil
}

// terminateInstance: an instance already terminating answers with a
// ValidationError. AWS's exact wording for that case is not documented;
// this one is modelled on its answer for an instance in no group.
func (f *Fake) terminateInstance(form url.Values, now time.Time) (any, *apiError) {
	id := form.Get("InstanceId")
	decrement := form.Get("ShouldDecrementDesiredCapacity") == "true"
	if form.Get("ShouldDecrementDesiredCapacity") == "" {
		return nil, validation("1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to satisfy constraint: Member must not be null")
	}
	g, m := f.findMember(id)
	if m == nil {
		return nil, validation("Instance Id not found - No managed instance found for instance ID: %s", id)
	}
	if terminating(m.Lifecycle) {
		return nil, validation("The instance %s is already in %s state and cannot be terminated again.", id, m.Lifecycle)
	}
	if decrement && g.Desired-1 < g.Min {
		return nil, validation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
	}
	have := g.capacity()
	var cause string
	if decrement {
		cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", isoSeconds(now), id, have, have-1)
		g.Desired--
	} else {
		cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", isoSeconds(now), id)
	}
	f.startTerminate(g, m, now, cause)
	a := g.activity(m.ActivityID)
	f.reconcile(g, now, "")
	return struct {
		Activity xActivity
	}{f.activityXML(g, a)}, nil
}

func (f *Fake) processesFromForm(form url.Values) ([]string, *apiError) {
	ps := members(form, "ScalingProcesses")
	for _, p := range ps {
		if !slices.Contains(ScalingProcesses, p) {
			return nil, validation("Process names must be one of: %v; %s is not", ScalingProcesses, p)
		}
	}
	if len(ps) == 0 {
		ps = ScalingProcesses
	}
	return ps, nil
}

func (f *Fake) suspendProcesses(form url.Values, _ time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	ps, aerr := f.processesFromForm(form)
	if aerr != nil {
		return nil, aerr
	}
	for _, p := range ps {
		if !g.suspended(p) {
			g.Suspended = append(g.Suspended, p)
		}
	}
	return nil, nil
}

func (f *Fake) resumeProcesses(form url.Values, _ time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	ps, aerr := f.processesFromForm(form)
	if aerr != nil {
		return nil, aerr
	}
	g.Suspended = slices.DeleteFunc(g.Suspended, func(p string) bool { return slices.Contains(ps, p) })
	return nil, nil
}

// heldMember finds the instance a lifecycle action names (by instance id
// or token) under hook.
func (f *Fake) heldMember(form url.Values) (*Group, *Member, *apiError) {
	name := form.Get("AutoScalingGroupName")
	g := f.st.group(name)
	if g == nil {
		return nil, nil, f.groupNotFound(name)
	}
	hook := form.Get("LifecycleHookName")
	id, token := form.Get("InstanceId"), form.Get("LifecycleActionToken")
	for _, m := range g.Members {
		if (id != "" && m.InstanceID != id) || (token != "" && m.HookToken != token) || (id == "" && token == "") {
			continue
		}
		if (m.Lifecycle == PendingWait || m.Lifecycle == TerminatingWait) && m.HookName == hook {
			return g, m, nil
		}
	}
	if id != "" {
		return nil, nil, validation("No active Lifecycle Action found with instance ID %s", id)
	}
	return nil, nil, validation("No active Lifecycle Action found with token %s", token)
}

func (f *Fake) completeLifecycleAction(form url.Values, now time.Time) (any, *apiError) {
	result := form.Get("LifecycleActionResult")
	if result != "CONTINUE" && result != "ABANDON" {
		return nil, validation("Invalid value for LifecycleActionResult: %q (must be CONTINUE or ABANDON)", result)
	}
	g, m, aerr := f.heldMember(form)
	if aerr != nil {
		return nil, aerr
	}
	if m.Hung {
		return nil, nil // the hang-termination fault: accepted, ignored
	}
	f.answerHook(g, m, result, now)
	return nil, nil
}

func (f *Fake) recordHeartbeat(form url.Values, now time.Time) (any, *apiError) {
	g, m, aerr := f.heldMember(form)
	if aerr != nil {
		return nil, aerr
	}
	for _, h := range g.Hooks {
		if h.Name == m.HookName {
			m.HookDeadline = now.Add(h.HeartbeatTimeout)
			if limit := m.HookStart.Add(h.GlobalTimeout()); !m.HookStart.IsZero() && m.HookDeadline.After(limit) {
				m.HookDeadline = limit
			}
		}
	}
	return nil, nil
}

func (f *Fake) startRefresh(form url.Values, now time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	if g.activeRefresh() != nil {
		return nil, &apiError{Status: 400, Code: "InstanceRefreshInProgress",
			Message: "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."}
	}
	if s := form.Get("Strategy"); s != "" && s != "Rolling" {
		return nil, validation("Strategy %s is not supported; use Rolling", s)
	}
	r := &InstanceRefresh{ID: newUUID(f), Status: "Pending", Start: now, MinHealthy: 90, MaxHealthy: 100}
	spec, ok, aerr := f.templateFromForm(form, "DesiredConfiguration.LaunchTemplate")
	if aerr != nil {
		return nil, aerr
	}
	if ok {
		r.Desired = &spec
	}
	if v, ok, aerr := intField(form, "Preferences.MinHealthyPercentage"); aerr != nil {
		return nil, aerr
	} else if ok {
		r.MinHealthy = v
	}
	if v, ok, aerr := intField(form, "Preferences.MaxHealthyPercentage"); aerr != nil {
		return nil, aerr
	} else if ok {
		r.MaxHealthy = v
	}
	if r.MinHealthy < 0 || r.MinHealthy > 100 || r.MaxHealthy < 100 || r.MaxHealthy > 200 || r.MaxHealthy-r.MinHealthy > 100 {
		return nil, validation("Invalid MinHealthyPercentage %d / MaxHealthyPercentage %d.", r.MinHealthy, r.MaxHealthy)
	}
	r.SkipMatching = form.Get("Preferences.SkipMatching") == "true"
	g.Refreshes = append(g.Refreshes, r)
	target, _, reason := f.launchSpec(g)
	if reason != "" {
		g.Refreshes = g.Refreshes[:len(g.Refreshes)-1]
		return nil, validation("%s", reason)
	}
	r.Total = g.capacity()
	r.InstancesToUpdate = len(outdated(g, target))
	return struct {
		InstanceRefreshID string `xml:"InstanceRefreshId"`
	}{r.ID}, nil
}

func (f *Fake) cancelRefresh(form url.Values, _ time.Time) (any, *apiError) {
	g, aerr := f.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	r := g.activeRefresh()
	if r == nil || r.Status == "Cancelling" {
		return nil, &apiError{Status: 400, Code: "ActiveInstanceRefreshNotFound",
			Message: "No in progress or pending Instance Refresh found for Auto Scaling group " + g.Name}
	}
	r.Status = "Cancelling"
	return struct {
		InstanceRefreshID string `xml:"InstanceRefreshId"`
	}{r.ID}, nil
}

// outdated lists the in-service instances not on target, oldest first.
func outdated(g *Group, target TemplateSpec) []*Member {
	var out []*Member
	for _, m := range g.Members {
		if m.Lifecycle == InService && (m.Template.ID != target.ID || m.Template.Version != target.Version) {
			out = append(out, m)
		}
	}
	return out
}

// advanceRefresh moves the group's active refresh along by at most one
// replacement step.
func (f *Fake) advanceRefresh(g *Group, now time.Time) {
	r := g.activeRefresh()
	if r == nil {
		return
	}
	if r.Status == "Pending" {
		r.Status = "InProgress"
	}
	target, _, reason := f.launchSpec(g)
	if reason != "" {
		r.Status, r.StatusReason, r.End = "Failed", reason, now
		return
	}
	if r.Replacing != "" {
		old := g.member(r.Replacing)
		switch {
		case old != nil && !terminating(old.Lifecycle):
			// Launch first: wait for the surge to be in service.
			if anyPending(g) || inService(g) < g.Desired {
				return
			}
			cause := fmt.Sprintf("At %s an instance was taken out of service in response to an instance refresh.", isoSeconds(now))
			if r.Surged {
				g.Desired--
			}
			f.startTerminate(g, old, now, cause)
			return
		case old != nil:
			return // terminating
		}
		if anyPending(g) {
			return
		}
		r.Replacing, r.Surged = "", false
	}
	todo := outdated(g, target)
	r.InstancesToUpdate = len(todo)
	if r.Status == "Cancelling" {
		r.Status, r.StatusReason, r.End = "Cancelled", "Cancelled due to user request.", now
		return
	}
	if len(todo) == 0 {
		for _, m := range g.Members {
			if m.Lifecycle != InService {
				return
			}
		}
		r.Status, r.End = "Successful", now
		if r.Desired != nil {
			g.Template = *r.Desired
		}
		return
	}
	old := todo[0]
	r.Replacing = old.InstanceID
	if g.Desired < g.Max {
		cause := fmt.Sprintf("At %s an instance refresh raised the desired capacity from %d to %d.", isoSeconds(now), g.Desired, g.Desired+1)
		g.Desired++
		r.Surged = true
		f.reconcile(g, now, cause)
		return
	}
	f.startTerminate(g, old, now, fmt.Sprintf("At %s an instance was taken out of service in response to an instance refresh.", isoSeconds(now)))
	f.reconcile(g, now, "")
}

func anyPending(g *Group) bool {
	for _, m := range g.Members {
		if pending(m.Lifecycle) {
			return true
		}
	}
	return false
}

func inService(g *Group) int {
	n := 0
	for _, m := range g.Members {
		if m.Lifecycle == InService {
			n++
		}
	}
	return n
}

// formGroup is the group the request's AutoScalingGroupName names.
func (f *Fake) formGroup(form url.Values) (*Group, *apiError) {
	name := form.Get("AutoScalingGroupName")
	if g := f.st.group(name); g != nil {
		return g, nil
	}
	return nil, f.groupNotFound(name)
}
