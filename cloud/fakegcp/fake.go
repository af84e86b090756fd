// Package fakegcp is a stateful in-process fake of the Compute Engine v1
// JSON REST API, as much of it as a regional managed instance group
// rollout uses, so the real cloud.google.com/go/compute/apiv1 REST clients
// can be pointed at it with option.WithEndpoint and
// option.WithoutAuthentication.
//
// Served: regional instance group managers (get, patch, listManagedInstances,
// resize, deleteInstances, recreateInstances), regional autoscalers (get,
// patch), global instance templates (get, insert), global images (get,
// list with a labels filter), zonal instances (get), and regional, global
// and zonal operations (get, wait). Mutations take effect at once and
// answer an Operation that is RUNNING until Options.OperationDelay passed,
// then DONE. Errors use Google's JSON error shape.
//
// Instances come and go through a fakecloud.Backend. A group whose active
// instances (those not DELETING or ABANDONING) are fewer than its target
// size creates instances: the managed instance shows currentAction
// CREATING until Backend.Launch returns, then NONE and RUNNING. A failed
// launch leaves it CREATING with lastAttempt.errors, and the group tries
// again after Options.LaunchRetry. Deleting an instance (deleteInstances,
// or a resize down) marks it DELETING; like GCE's graceful shutdown it
// stays there for min(its template's scheduling.gracefulShutdown.maxDuration,
// Options.GracefulDelay) (no wait without graceful shutdown), then STOPPING
// while Backend.Terminate runs, then it is gone. GCP holds nothing, so
// Backend.Hold is never called (G6).
//
// With updatePolicy.type PROACTIVE the group replaces instances not on its
// version's template: it creates up to maxSurge.fixed extra instances, and
// deletes an outdated instance once the ready instances allow it under
// maxUnavailable.fixed.
//
// Simplifications: one version per group is applied (further versions are
// stored and reported, not split by target size); zones are picked to keep
// the group even; autoscalers never scale (their mode and bounds are only
// stored); health checks are absent and autohealing happens only as the
// terminate-underneath fault; during the graceful
// shutdown window the instance's status stays RUNNING unless
// Options.PendingStop (GCE itself reports PENDING_STOP there).
package fakegcp

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
)

// SelfLinkBase starts every self link, as in GCE (whatever the endpoint).
const SelfLinkBase = "https://www.googleapis.com/compute/v1/"

// ReleaseLabel is the image label naming a Neuwerk release. GCP label
// values allow no '.', so the value is the release with '.' → '_'.
const ReleaseLabel = "neuwerk_release"

// Options shape a Fake. Zero durations take the defaults noted.
type Options struct {
	Backend fakecloud.Backend // nil: a fakecloud.MemoryBackend
	Project string            // default nw-project
	Region  string            // default europe-west1
	// OperationDelay is how long an operation stays RUNNING (default 50ms).
	OperationDelay time.Duration
	// LaunchDelay passes before Backend.Launch is called (default 0).
	LaunchDelay time.Duration
	// GracefulDelay caps the graceful shutdown window of a deleted
	// instance (default 2s; the template's maxDuration when shorter).
	GracefulDelay time.Duration
	// PendingStop reports a deleted instance PENDING_STOP during its
	// graceful shutdown window instead of RUNNING.
	PendingStop bool
	// LaunchRetry is how long the group waits after a failed creation
	// before it tries again (default 5s).
	LaunchRetry time.Duration
	// Tick is how often the fake moves instances along (default 20ms).
	Tick time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fake is the fake Compute Engine. Its methods are safe for concurrent use.
type Fake struct {
	opts    Options
	backend fakecloud.Backend

	mu       sync.Mutex
	st       State
	inflight map[string]bool // instance name → a Backend call runs for it
	calls    map[string]int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a fake with empty state. Close stops it.
func New(opts Options) *Fake { return start(opts, State{}) }

// Restore starts a fake from a Snapshot. Instances caught mid-launch are
// launched again (Backend.Launch of a running instance returns its
// address); deletions under way go on.
func Restore(snapshot []byte, opts Options) (*Fake, error) {
	var st State
	if err := json.Unmarshal(snapshot, &st); err != nil {
		return nil, fmt.Errorf("fakegcp: restore: %w", err)
	}
	return start(opts, st), nil
}

func start(opts Options, st State) *Fake {
	if opts.Backend == nil {
		opts.Backend = &fakecloud.MemoryBackend{}
	}
	if opts.Project == "" {
		opts.Project = "nw-project"
	}
	if opts.Region == "" {
		opts.Region = "europe-west1"
	}
	if opts.OperationDelay <= 0 {
		opts.OperationDelay = 50 * time.Millisecond
	}
	if opts.GracefulDelay <= 0 {
		opts.GracefulDelay = 2 * time.Second
	}
	if opts.LaunchRetry <= 0 {
		opts.LaunchRetry = 5 * time.Second
	}
	if opts.Tick <= 0 {
		opts.Tick = 20 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	st.init()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fake{opts: opts, backend: opts.Backend, st: st, inflight: map[string]bool{}, calls: map[string]int{},
		ctx: ctx, cancel: cancel}
	f.wg.Add(1)
	go f.run()
	return f
}

// Close stops the fake and waits for its goroutines.
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

// Calls counts the requests served per method ("regionInstanceGroupManagers.resize").
func (f *Fake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// Serve serves the fake on addr ("127.0.0.1:0" picks a port) until the
// Server is closed. Point the REST clients at Server.URL with
// option.WithEndpoint.
func (f *Fake) Serve(addr string) (*fakecloud.Server, error) {
	return fakecloud.Serve("fakegcp", f, addr)
}

func (f *Fake) now() time.Time { return f.opts.Now().UTC() }

func (f *Fake) nextID() uint64 {
	f.st.Seq++
	return 4700000000000000000 + f.st.Seq
}

func (f *Fake) run() {
	defer f.wg.Done()
	fakecloud.Run(f.ctx, f.opts.Tick, nil, &f.mu, func() { f.step(f.now()) })
}

// step moves operations and groups along. Called with f.mu held.
func (f *Fake) step(now time.Time) {
	for _, op := range f.st.Operations {
		if op.Status != "DONE" && !now.Before(op.DoneAt) {
			op.Status, op.EndTime = "DONE", now
		}
	}
	names := make([]string, 0, len(f.st.Groups))
	for n := range f.st.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f.reconcile(f.st.Groups[n], now)
	}
}

// reconcile brings the group to its target size and, when its update
// policy is proactive, its instances to its template. Called with f.mu held.
func (f *Fake) reconcile(g *Group, now time.Time) {
	for _, in := range g.Instances {
		f.advance(g, in, now)
	}
	active := g.active()
	surge := 0
	proactive := g.Policy.Type == "PROACTIVE"
	if proactive && len(g.outdated()) > 0 {
		surge = g.Policy.MaxSurge
	}
	for n := len(active); n < g.TargetSize+surge; n++ {
		f.create(g, now)
	}
	active = g.active()
	for len(active) > g.TargetSize {
		ready := 0
		for _, in := range active {
			if in.CurrentAction == "NONE" {
				ready++
			}
		}
		victim := g.scaleInVictim(proactive)
		if victim == nil || (proactive && victim.CurrentAction == "NONE" && ready-1 < g.TargetSize-g.Policy.MaxUnavailable) {
			return
		}
		f.startDelete(g, victim, now, true)
		active = g.active()
	}
}

// advance moves one instance along. Called with f.mu held.
func (f *Fake) advance(g *Group, in *Instance, now time.Time) {
	if f.inflight[in.Name] {
		return
	}
	switch in.CurrentAction {
	case "CREATING":
		if now.Before(in.RetryAt) {
			return
		}
		if ft, ok := f.takeFault(func(ft Fault) bool { return ft.Kind == FaultLaunchError }); ok {
			in.LastErrors = []AttemptError{{Code: ft.Code, Message: ft.Message}}
			in.RetryAt = now.Add(f.opts.LaunchRetry)
			return
		}
		f.startLaunch(g, in)
	case "DELETING", "ABANDONING", "RECREATING":
		if in.Hang || now.Before(in.DeleteAt) {
			return
		}
		f.startStop(g, in)
	}
}

// create adds an instance on the group's template. Called with f.mu held.
func (f *Fake) create(g *Group, now time.Time) {
	in := &Instance{Name: f.instanceName(g), Zone: g.emptiestZone(), Template: g.template(), CurrentAction: "CREATING",
		Status: "", Created: now}
	g.Instances = append(g.Instances, in)
}

func (f *Fake) instanceName(g *Group) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for {
		n := f.nextID()
		s := []byte{alphabet[n%36], alphabet[(n/36)%36], alphabet[(n/1296)%36], alphabet[(n/46656)%36]}
		name := g.BaseInstanceName + "-" + string(s)
		if g.instance(name) == nil {
			return name
		}
	}
}

func (f *Fake) startLaunch(g *Group, in *Instance) {
	f.inflight[in.Name] = true
	in.Status = "PROVISIONING"
	t := f.st.Templates[in.Template]
	req := fakecloud.LaunchRequest{Group: g.Name, InstanceID: in.Name, Zone: in.Zone}
	if t != nil {
		req.ImageID, req.InstanceType = t.SourceImage, t.MachineType
		if img := f.st.image(t.SourceImage); img != nil {
			req.Release = img.Release
		}
	}
	group, name := g.Name, in.Name
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if !f.sleep(f.opts.LaunchDelay) {
			return
		}
		ip, err := f.backend.Launch(f.ctx, req)
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.inflight, name)
		g := f.st.Groups[group]
		if g == nil {
			return
		}
		in := g.instance(name)
		if in == nil || in.CurrentAction != "CREATING" {
			return
		}
		now := f.now()
		if err != nil {
			in.Status = ""
			in.LastErrors = []AttemptError{{Code: "LAUNCH_FAILED", Message: err.Error()}}
			in.RetryAt = now.Add(f.opts.LaunchRetry)
			return
		}
		in.ID, in.PrivateIP, in.Status, in.CurrentAction, in.LastErrors = f.nextID(), ip, "RUNNING", "NONE", nil
		in.Started = now
	}()
}

// startDelete marks in DELETING with its graceful shutdown window
// (none when !graceful: noGracefulShutdown).
// Called with f.mu held.
func (f *Fake) startDelete(g *Group, in *Instance, now time.Time, graceful bool) {
	if in.CurrentAction == "DELETING" || in.CurrentAction == "ABANDONING" {
		return
	}
	wasCreating := in.CurrentAction == "CREATING"
	in.CurrentAction, in.DeleteAsked, in.DeleteAt = "DELETING", now, now
	if t := f.st.Templates[in.Template]; t != nil && t.GracefulShutdown > 0 && !wasCreating && graceful {
		in.DeleteAt = now.Add(min(t.GracefulShutdown, f.opts.GracefulDelay))
		if f.opts.PendingStop {
			in.Status = "PENDING_STOP"
		}
	}
	if _, ok := f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultHangDeletion && (ft.Instance == "" || ft.Instance == in.Name)
	}); ok {
		in.Hang = true
	}
}

func (f *Fake) startStop(g *Group, in *Instance) {
	f.inflight[in.Name] = true
	if in.Status != "" {
		in.Status = "STOPPING"
	}
	group, name := g.Name, in.Name
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.backend.Terminate(f.ctx, name)
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.inflight, name)
		g := f.st.Groups[group]
		if g == nil {
			return
		}
		in := g.instance(name)
		if in == nil {
			return
		}
		if err != nil {
			in.DeleteAt = f.now().Add(f.opts.LaunchRetry)
			return
		}
		if in.CurrentAction == "RECREATING" { // autohealing: the same name again
			in.CurrentAction, in.Status, in.ID, in.PrivateIP, in.Template = "CREATING", "", 0, "", g.template()
			in.DeleteAsked, in.DeleteAt, in.Created, in.Started = time.Time{}, time.Time{}, f.now(), time.Time{}
			return
		}
		g.remove(name)
	}()
}

func (f *Fake) sleep(d time.Duration) bool { return fakecloud.Sleep(f.ctx, d) }
