// Package fakeaws is a stateful in-process fake of the AWS Auto Scaling and
// EC2 APIs that speaks their real wire protocols (Query: form-encoded POST,
// XML answers), so the real aws-sdk-go-v2 clients can be pointed at it
// through BaseEndpoint.
//
// One http.Handler serves both services. A request is routed by its
// Version form field: 2011-01-01 is Auto Scaling, 2016-11-15 is EC2; the
// path does not matter, so one URL (or "<url>/autoscaling" and
// "<url>/ec2") serves as the endpoint of both. Then by its Action field.
// Signatures are not checked.
//
// Instances come and go through a Backend: raising desired capacity
// launches instances (Pending, then InService once Backend.Launch has
// returned, or Pending:Wait first when a launching hook exists);
// terminating one holds it in Terminating:Wait when a terminating hook
// exists (until CompleteLifecycleAction, or the hook's heartbeat timeout,
// which heartbeats extend), then Terminating:Proceed, Backend.Terminate,
// and EC2 shows it terminated (describable for TerminatedRetention) after
// it left the group.
//
// Scale-in by lowering desired capacity terminates, in this order:
// pending instances, instances not on the group's template version, then
// the oldest. (AWS's default policy balances zones first; the fake does
// not model zones beyond round-robin placement.)
//
// Instance refreshes replace instances not on the desired template one at
// a time through the same machinery: launch one first when the group has
// room below its maximum, else terminate first; matching instances are
// always skipped. Cancelling lets the replacement under way finish.
//
// Simplifications: cooldowns are not modelled (HonorCooldown is
// accepted and ignored); zones are assigned round-robin; scale-in
// protection, warm pools, standby and mixed instances policies are absent.
// Terminating an instance that is terminating already answers
// ValidationError "The instance i-… is already in <state> state and cannot
// be terminated again."; the code is what AWS uses for refused
// terminations, the wording is the fake's own (not confirmed against AWS).
//
// Faults (Fault, Inject) rehearse failures: an API error on the next call
// of an action, a launch without capacity, a termination hold that never
// ends, and the group launching or terminating by itself.
package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
)

// Options shape a Fake. Zero durations take the defaults noted.
type Options struct {
	Backend   fakecloud.Backend // nil: a fakecloud.MemoryBackend
	Region    string            // default us-east-1
	AccountID string            // default 123456789012
	// LaunchDelay passes before Backend.Launch is called (default 0).
	LaunchDelay time.Duration
	// TerminateDelay passes between Terminating:Proceed and
	// Backend.Terminate (default 0).
	TerminateDelay time.Duration
	// Tick is how often the fake moves instances along (default 20ms).
	Tick time.Duration
	// LaunchRetry is how long a group waits after a failed launch before
	// it tries again (default 10s).
	LaunchRetry time.Duration
	// TerminatedRetention is how long EC2 still describes a terminated
	// instance (default 1h).
	TerminatedRetention time.Duration
	// PageSize caps every page the fake returns (default: the API's own
	// maximum), so tests can exercise paginators.
	PageSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fake is the fake AWS. Its methods are safe for concurrent use.
type Fake struct {
	opts    Options
	backend fakecloud.Backend

	mu       sync.Mutex
	st       State
	inflight map[string]bool // instance id → a Backend call runs for it
	wake     chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a fake with empty state. Close stops it.
func New(opts Options) *Fake {
	return start(opts, State{})
}

// Restore starts a fake from a Snapshot. Instances caught between states
// (a launch or a terminate under way) are driven on from where they were.
func Restore(snapshot []byte, opts Options) (*Fake, error) {
	var st State
	if err := json.Unmarshal(snapshot, &st); err != nil {
		return nil, fmt.Errorf("fakeaws: restore: %w", err)
	}
	f := start(opts, st)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.st.Groups {
		for _, m := range g.Members {
			if m.Lifecycle == PendingWait || m.Lifecycle == TerminatingWait {
				f.notifyHold(g, m) // the Backend may be a new process that never heard of it
			}
		}
	}
	return f, nil
}

func start(opts Options, st State) *Fake {
	if opts.Backend == nil {
		opts.Backend = &fakecloud.MemoryBackend{}
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.Tick <= 0 {
		opts.Tick = 20 * time.Millisecond
	}
	if opts.LaunchRetry <= 0 {
		opts.LaunchRetry = 10 * time.Second
	}
	if opts.TerminatedRetention <= 0 {
		opts.TerminatedRetention = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if st.Groups == nil {
		st.Groups = map[string]*Group{}
	}
	if st.Templates == nil {
		st.Templates = map[string]*LaunchTemplate{}
	}
	if st.Images == nil {
		st.Images = map[string]*Image{}
	}
	if st.Instances == nil {
		st.Instances = map[string]*EC2Instance{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fake{opts: opts, backend: opts.Backend, st: st, inflight: map[string]bool{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	f.wg.Add(1)
	go f.run()
	return f
}

// Close stops the fake and waits for its goroutines (Backend calls under
// way see their context cancelled).
func (f *Fake) Close() {
	f.cancel()
	f.wg.Wait()
}

// Snapshot returns the whole state as JSON.
func (f *Fake) Snapshot() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.MarshalIndent(&f.st, "", "  ")
}

// State returns a deep copy of the state.
func (f *Fake) State() State { return fakecloud.Copy[State](f.Snapshot()) }

// Serve serves the fake on addr ("127.0.0.1:0" picks a port) until the
// Server is closed. Point both SDK clients' BaseEndpoint at Server.URL.
func (f *Fake) Serve(addr string) (*fakecloud.Server, error) {
	return fakecloud.Serve("fakeaws", f, addr)
}

func (f *Fake) now() time.Time { return f.opts.Now().UTC() }

func (f *Fake) nextID(prefix string, hexDigits int) string {
	f.st.Seq++
	return fmt.Sprintf("%s%0*x", prefix, hexDigits, f.st.Seq)
}

func (f *Fake) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fake) run() {
	defer f.wg.Done()
	fakecloud.Run(f.ctx, f.opts.Tick, f.wake, &f.mu, func() { f.step(f.now()) })
}

// step moves every group along. Called with f.mu held.
func (f *Fake) step(now time.Time) {
	names := make([]string, 0, len(f.st.Groups))
	for n := range f.st.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g := f.st.Groups[n]
		f.advanceMembers(g, now)
		f.advanceRefresh(g, now)
		f.reconcile(g, now, "")
	}
	for id, in := range f.st.Instances {
		if in.State == EC2Terminated && now.Sub(in.TerminatedAt) > f.opts.TerminatedRetention {
			delete(f.st.Instances, id)
		}
	}
}

func (f *Fake) advanceMembers(g *Group, now time.Time) {
	for _, m := range append([]*Member(nil), g.Members...) {
		switch m.Lifecycle {
		case Pending:
			if !m.Launched && !f.inflight[m.InstanceID] {
				f.startLaunch(g, m)
			}
		case PendingWait:
			if !m.HookDeadline.IsZero() && now.After(m.HookDeadline) {
				h := g.hook(TransitionLaunching)
				result := "ABANDON"
				if h != nil {
					result = h.DefaultResult
				}
				f.answerHook(g, m, result, now)
			}
		case PendingProceed:
			m.Lifecycle = InService
			f.finishActivity(g, m, "Successful", "", now)
		case Terminating:
			m.Lifecycle = TerminatingProceed
		case TerminatingWait:
			if m.Hung && !f.hangArmed(g, m) {
				m.Hung = false
			}
			if !m.Hung && !m.HookDeadline.IsZero() && now.After(m.HookDeadline) {
				m.Lifecycle = TerminatingProceed
			}
		case TerminatingProceed:
			if !f.inflight[m.InstanceID] {
				f.startStop(g, m)
			}
		}
	}
}

// hangArmed reports whether a hang-termination fault still covers m.
func (f *Fake) hangArmed(g *Group, m *Member) bool {
	for _, ft := range f.st.Faults {
		if ft.Kind == FaultHangTermination && (ft.Group == "" || ft.Group == g.Name) && ft.InstanceID == m.InstanceID {
			return true
		}
	}
	return false
}

// reconcile launches or terminates instances until the group's capacity
// meets its desired capacity. cause, when set, opens the activities'
// cause (the request that changed desired capacity).
func (f *Fake) reconcile(g *Group, now time.Time, cause string) {
	have := g.capacity()
	for have < g.Desired {
		if g.suspended("Launch") || now.Before(g.LaunchBackoffUntil) {
			return
		}
		c := strings.TrimSpace(cause + fmt.Sprintf("  At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", isoSeconds(now), have, have+1))
		if !f.launch(g, now, c) {
			return
		}
		have++
	}
	for have > g.Desired {
		if g.suspended("Terminate") {
			return
		}
		victim := scaleInVictim(g, f.st.Templates)
		if victim == nil {
			return
		}
		c := strings.TrimSpace(cause + fmt.Sprintf("  At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.", isoSeconds(now), have, have-1))
		f.startTerminate(g, victim, now, c)
		have--
	}
}

// scaleInVictim picks the instance a scale-in terminates: a pending one
// first, then one not on the group's template version, then the oldest.
func scaleInVictim(g *Group, templates map[string]*LaunchTemplate) *Member {
	want := g.Template.Version
	if t := templates[g.Template.ID]; t != nil {
		if v, ok := t.resolve(g.Template.Version); ok {
			want = strconv.Itoa(v.Number)
		}
	}
	var best *Member
	rank := func(m *Member) int {
		switch {
		case pending(m.Lifecycle):
			return 0
		case m.Template.ID != g.Template.ID || m.Template.Version != want:
			return 1
		}
		return 2
	}
	for _, m := range g.Members {
		if terminating(m.Lifecycle) {
			continue
		}
		if best == nil || rank(m) < rank(best) {
			best = m // members are oldest first, so ties keep the oldest
		}
	}
	return best
}

// launchSpec is the template an instance launched now gets: an active
// refresh's desired template, else the group's. A missing template or
// version gives AWS's reason instead.
func (f *Fake) launchSpec(g *Group) (spec TemplateSpec, version *TemplateVersion, reason string) {
	spec = g.Template
	if r := g.activeRefresh(); r != nil && r.Desired != nil {
		spec = *r.Desired
	}
	t := f.st.Templates[spec.ID]
	if t == nil {
		return spec, nil, fmt.Sprintf("The specified launch template, with template ID %s, does not exist.", spec.ID)
	}
	v, ok := t.resolve(spec.Version)
	if !ok {
		return spec, nil, fmt.Sprintf("The specified launch template version %s of %s does not exist.", spec.Version, spec.ID)
	}
	return TemplateSpec{ID: t.ID, Name: t.Name, Version: strconv.Itoa(v.Number)}, v, ""
}

// launch adds one instance to g. It reports false when the launch failed
// at once (no capacity, no template); the group then backs off.
func (f *Fake) launch(g *Group, now time.Time, cause string) bool {
	act := &Activity{ID: newUUID(f), Start: now, Cause: cause, Status: "InProgress"}
	g.Activities = append(g.Activities, act)
	fail := func(msg string) bool {
		act.Description = "Launching a new EC2 instance.  Status Reason: " + msg
		act.Status, act.StatusMessage, act.End, act.Progress = "Failed", msg, now, 100
		g.LaunchBackoffUntil = now.Add(f.opts.LaunchRetry)
		return false
	}
	spec, version, reason := f.launchSpec(g)
	if reason != "" {
		return fail(reason + " Launching EC2 instance failed.")
	}
	zone := g.Zones[len(g.Members)%len(g.Zones)]
	itype := version.InstanceType
	if itype == "" {
		itype = g.InstanceType
	}
	if ft, ok := f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultInsufficientCapacity && (ft.Group == "" || ft.Group == g.Name)
	}); ok {
		msg := ft.Message
		if msg == "" {
			msg = fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity. You can currently get %s capacity by not specifying an Availability Zone in your request or choosing a different Availability Zone.", itype, zone, itype)
		}
		return fail(msg + " Launching EC2 instance failed.")
	}
	id := f.nextID("i-", 17)
	tags := map[string]string{"aws:autoscaling:groupName": g.Name}
	for k, v := range g.Tags {
		tags[k] = v
	}
	f.st.Instances[id] = &EC2Instance{ID: id, ImageID: version.ImageID, InstanceType: itype, State: EC2Pending,
		Zone: zone, Tags: tags, LaunchTime: now}
	g.Members = append(g.Members, &Member{InstanceID: id, Zone: zone, Lifecycle: Pending, Health: "Healthy",
		Template: spec, ActivityID: act.ID})
	act.Description = "Launching a new EC2 instance: " + id
	act.Progress = 20
	f.startLaunch(g, g.Members[len(g.Members)-1])
	return true
}

// startLaunch calls Backend.Launch for m in the background.
func (f *Fake) startLaunch(g *Group, m *Member) {
	in := f.st.Instances[m.InstanceID]
	if in == nil {
		return
	}
	req := fakecloud.LaunchRequest{Group: g.Name, InstanceID: in.ID, ImageID: in.ImageID, InstanceType: in.InstanceType,
		Zone: in.Zone, Tags: cloneTags(in.Tags)}
	if img := f.st.Images[in.ImageID]; img != nil {
		req.Release = img.Tags[ReleaseTag]
	}
	f.inflight[m.InstanceID] = true
	group := g.Name
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if !f.sleep(f.opts.LaunchDelay) {
			return
		}
		ip, err := f.backend.Launch(f.ctx, req)
		f.mu.Lock()
		defer f.mu.Unlock()
		defer f.poke()
		delete(f.inflight, req.InstanceID)
		if f.ctx.Err() != nil {
			return
		}
		f.launched(group, req.InstanceID, ip, err)
	}()
}

func (f *Fake) launched(group, id, ip string, err error) {
	now := f.now()
	in := f.st.Instances[id]
	g := f.st.group(group)
	if in == nil || g == nil {
		return
	}
	m := g.member(id)
	if err != nil {
		in.State, in.TerminatedAt, in.StateReason = EC2Terminated, now, "Server.InternalError: "+err.Error()
		if m != nil {
			f.finishActivity(g, m, "Failed", fmt.Sprintf("Instance failed to start: %v. Launching EC2 instance failed.", err), now)
			g.removeMember(id)
		}
		g.LaunchBackoffUntil = now.Add(f.opts.LaunchRetry)
		return
	}
	in.PrivateIP = ip
	if in.State == EC2Pending {
		in.State = EC2Running
	}
	if m == nil {
		return
	}
	m.Launched = true // so a terminate already under way stops it in the Backend
	if m.Lifecycle != Pending {
		return
	}
	if h := g.hook(TransitionLaunching); h != nil {
		f.hold(g, m, h, now)
		return
	}
	m.Lifecycle = InService
	f.finishActivity(g, m, "Successful", "", now)
}

// hold puts m under hook h and tells the Backend.
func (f *Fake) hold(g *Group, m *Member, h *Hook, now time.Time) {
	if h.Transition == TransitionLaunching {
		m.Lifecycle = PendingWait
	} else {
		m.Lifecycle = TerminatingWait
		if _, ok := f.takeFault(func(ft Fault) bool {
			return ft.Kind == FaultHangTermination && (ft.Group == "" || ft.Group == g.Name) && ft.InstanceID == ""
		}); ok {
			f.st.Faults = append(f.st.Faults, Fault{Kind: FaultHangTermination, Group: g.Name, InstanceID: m.InstanceID, Times: -1})
		}
		m.Hung = f.hangArmed(g, m)
	}
	m.HookName, m.HookToken, m.HookResult = h.Name, newUUID(f), ""
	m.HookStart, m.HookDeadline = now, now.Add(h.HeartbeatTimeout)
	f.notifyHold(g, m)
}

// notifyHold tells the Backend, in the background, that a hook holds m.
func (f *Fake) notifyHold(g *Group, m *Member) {
	transition := TransitionTerminating
	if m.Lifecycle == PendingWait {
		transition = TransitionLaunching
	}
	ev := fakecloud.HoldEvent{Group: g.Name, InstanceID: m.InstanceID, Hook: m.HookName, Transition: transition, Token: m.HookToken}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.backend.Hold(f.ctx, ev)
	}()
}

// answerHook applies a lifecycle action result to a held instance.
func (f *Fake) answerHook(g *Group, m *Member, result string, now time.Time) {
	m.HookResult, m.HookDeadline = result, time.Time{}
	switch m.Lifecycle {
	case PendingWait:
		if result == "CONTINUE" {
			m.Lifecycle = PendingProceed
			return
		}
		f.finishActivity(g, m, "Failed", "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "+m.HookToken+" was abandoned: Lifecycle Action Completed with ABANDON Result", now)
		f.startTerminate(g, m, now, fmt.Sprintf("At %s an instance was taken out of service because its launching lifecycle action was abandoned.", isoSeconds(now)))
	case TerminatingWait:
		m.Lifecycle = TerminatingProceed
	}
}

// startTerminate takes m out of service. The terminating hook, if any,
// holds it; else it proceeds.
func (f *Fake) startTerminate(g *Group, m *Member, now time.Time, cause string) {
	if m.ActivityID != "" {
		if a := g.activity(m.ActivityID); a != nil && a.Status == "InProgress" {
			a.Status, a.End, a.Progress = "Cancelled", now, 100
		}
	}
	act := &Activity{ID: newUUID(f), Description: "Terminating EC2 instance: " + m.InstanceID, Cause: cause,
		Start: now, Status: "InProgress", Progress: 50}
	g.Activities = append(g.Activities, act)
	m.ActivityID, m.Cause = act.ID, cause
	if h := g.hook(TransitionTerminating); h != nil && m.Launched {
		f.hold(g, m, h, now)
		return
	}
	m.Lifecycle = Terminating
	m.HookName, m.HookDeadline = "", time.Time{}
}

// startStop calls Backend.Terminate for m in the background.
func (f *Fake) startStop(g *Group, m *Member) {
	id, group := m.InstanceID, g.Name
	if in := f.st.Instances[id]; in != nil && in.State != EC2Terminated {
		in.State = EC2ShuttingDown
	}
	f.inflight[id] = true
	launched := m.Launched
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if !f.sleep(f.opts.TerminateDelay) {
			return
		}
		var err error
		if launched {
			err = f.backend.Terminate(f.ctx, id)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		defer f.poke()
		delete(f.inflight, id)
		if f.ctx.Err() != nil {
			return
		}
		now := f.now()
		if in := f.st.Instances[id]; in != nil {
			in.State, in.TerminatedAt = EC2Terminated, now
			in.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
		}
		g := f.st.group(group)
		if g == nil {
			return
		}
		if m := g.member(id); m != nil {
			msg := ""
			if err != nil {
				msg = "Backend: " + err.Error()
			}
			f.finishActivity(g, m, "Successful", msg, now)
			g.removeMember(id)
		}
	}()
}

func (f *Fake) finishActivity(g *Group, m *Member, status, msg string, now time.Time) {
	a := g.activity(m.ActivityID)
	if a == nil {
		return
	}
	a.Status, a.StatusMessage, a.End, a.Progress = status, msg, now, 100
	if status == "Failed" {
		a.Description += ".  Status Reason: " + msg
	}
	m.ActivityID = ""
}

// sleep waits d, or reports false when the fake closes first.
func (f *Fake) sleep(d time.Duration) bool { return fakecloud.Sleep(f.ctx, d) }

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func newUUID(f *Fake) string {
	f.st.Seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", f.st.Seq, f.st.Seq)
}

func isoSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
