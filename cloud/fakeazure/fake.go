// Package fakeazure is a stateful fake of the Azure Resource Manager
// calls a VM scale set rollout makes, and of IMDS Scheduled Events, so
// the real armcompute/v7 and armnetwork/v7 clients can be pointed at it
// (arm.ClientOptions.Cloud's ResourceManager endpoint).
//
// It is built on the SDK's own generated fake servers (armcompute/v7/fake,
// armnetwork/v7/fake): their func fields answer from the fake's state, and
// ServeHTTP adapts their transports to real HTTP by routing each request
// to its API name. Long-running operations answer with azcore/fake's
// PollerResponder: Options.OperationPolls non-terminal answers, then the
// result; the real client polls them over HTTP at
// "<operation URL>/get/fake/status" (the SDK's fake-poller protocol,
// chosen by the Fake-Poller-Status header), so PollUntilDone runs as
// against ARM, though not with ARM's Azure-AsyncOperation headers.
//
// Served: scale sets (get, update, instanceView, delete instances,
// setOrchestrationServiceState), their VMs (list, get), rolling upgrades
// (latest, cancel, osRollingUpgrade), gallery image versions (list, get),
// scale set NICs (list), and IMDS at /metadata/scheduledevents (GET the
// document; POST {"StartRequests":[{"EventId":"…"}]} acknowledges, as a
// VM does through IMDS; both need the header Metadata: true). Fake.
// Acknowledge does the same from Go.
//
// VMs come and go through a fakecloud.Backend. Raising capacity adds VMs
// in Creating until Backend.Launch returns (then Succeeded with its
// address, or Failed when the launch failed). Deleting a VM (delete
// instances, or a lower capacity, which picks the highest instance id not
// protected from scale-in) marks it Deleting; with the terminate
// notification enabled, a Terminate scheduled event holds it
// (Backend.Hold, Token = the event id) until the event is acknowledged or
// its NotBefore (now + notBeforeTimeout) passes; then Backend.Terminate
// runs and the VM is gone. Every VM of the fake sees every event, as VMs
// of one placement group do.
//
// A model change under upgrade policy Rolling starts a rolling upgrade,
// which replaces VMs not on the latest model one at a time, surging (a new
// VM first, then the old one deleted) and skipping VMs protected from
// scale set actions (G2). Under Manual nothing moves existing VMs.
//
// Simplifications: one subscription; paged answers are one page (the SDK
// fake's pager tracker is per path, so concurrent listings could not
// share pages); a new operation on a path replaces an unfinished one on
// the same path; orchestration services are only stored; VM health is
// not modelled.
package fakeazure

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
)

// Options shape a Fake. Zero values take the defaults noted.
type Options struct {
	Backend      fakecloud.Backend // nil: a fakecloud.MemoryBackend
	Subscription string            // default 00000000-0000-0000-0000-000000000001
	Location     string            // default westeurope
	// OperationPolls is how many polls a long-running operation answers
	// InProgress before its result (default 2).
	OperationPolls int
	// RetryAfter is what an InProgress answer asks the client to wait
	// before it polls again, as ARM's Retry-After does (sent as
	// Retry-After-Ms; default 100ms, which PollUntilDone honours over its
	// frequency).
	RetryAfter time.Duration
	// DeleteWaits keeps a deleteInstances operation InProgress until its
	// VMs are gone, terminate notification included, which is how ARM is
	// understood to behave (not verified); default: it ends after
	// OperationPolls polls, like the others.
	DeleteWaits bool
	// LaunchDelay passes before Backend.Launch is called (default 0).
	LaunchDelay time.Duration
	// NotBeforeCap caps a terminate notification's hold (default: none,
	// the scale set's notBeforeTimeout), so a simulator can keep the
	// scale set's real setting and still move fast.
	NotBeforeCap time.Duration
	// Tick is how often the fake moves VMs along (default 20ms).
	Tick time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fake is the fake Azure. Its methods are safe for concurrent use.
type Fake struct {
	opts    Options
	backend fakecloud.Backend

	mu       sync.Mutex
	st       State
	inflight map[string]bool // VM name → a Backend call runs for it
	lros     map[string]*lro // operation path → its transport
	calls    map[string]int  // API name → calls

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a fake with empty state. Close stops it.
func New(opts Options) *Fake { return start(opts, State{}) }

// Restore starts a fake from a Snapshot. VMs caught mid-launch launch
// again (Backend.Launch of a running instance returns its address); VMs
// held by a terminate notification are told again (Backend.Hold).
func Restore(snapshot []byte, opts Options) (*Fake, error) {
	var st State
	if err := json.Unmarshal(snapshot, &st); err != nil {
		return nil, fmt.Errorf("fakeazure: restore: %w", err)
	}
	f := start(opts, st)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.st.ScaleSets {
		for _, v := range s.VMs {
			if v.State == Deleting && v.EventID != "" {
				f.hold(s, v)
			}
		}
	}
	return f, nil
}

func start(opts Options, st State) *Fake {
	if opts.Backend == nil {
		opts.Backend = &fakecloud.MemoryBackend{}
	}
	if opts.Subscription == "" {
		opts.Subscription = "00000000-0000-0000-0000-000000000001"
	}
	if opts.Location == "" {
		opts.Location = "westeurope"
	}
	if opts.OperationPolls <= 0 {
		opts.OperationPolls = 2
	}
	if opts.Tick <= 0 {
		opts.Tick = 20 * time.Millisecond
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if st.Subscription == "" {
		st.Subscription = opts.Subscription
	}
	if st.Images == nil {
		st.Images = map[string]*ImageVersion{}
	}
	if st.ScaleSets == nil {
		st.ScaleSets = map[string]*ScaleSet{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fake{opts: opts, backend: opts.Backend, st: st, inflight: map[string]bool{}, lros: map[string]*lro{},
		calls: map[string]int{}, ctx: ctx, cancel: cancel}
	f.wg.Add(1)
	go f.run()
	return f
}

// Close stops the fake and waits for its goroutines.
func (f *Fake) Close() {
	f.cancel()
	f.wg.Wait()
}

// Subscription is the fake's subscription id.
func (f *Fake) Subscription() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Subscription
}

// Snapshot returns the whole state as JSON.
func (f *Fake) Snapshot() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.MarshalIndent(&f.st, "", "  ")
}

// State returns a deep copy of the state.
func (f *Fake) State() State { return fakecloud.Copy[State](f.Snapshot()) }

// Calls returns how often each API (armcompute's names,
// "VirtualMachineScaleSetsClient.BeginUpdate") was called, polls not
// counted.
func (f *Fake) Calls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// Serve serves the fake on addr ("127.0.0.1:0" picks a port) until the
// Server is closed.
func (f *Fake) Serve(addr string) (*fakecloud.Server, error) {
	return fakecloud.Serve("fakeazure", f, addr)
}

func (f *Fake) now() time.Time { return f.opts.Now().UTC() }

func (f *Fake) nextSeq() int64 {
	f.st.Seq++
	return f.st.Seq
}

func (f *Fake) run() {
	defer f.wg.Done()
	fakecloud.Run(f.ctx, f.opts.Tick, nil, &f.mu, func() { f.step(f.now()) })
}

// step moves every scale set along. Called with f.mu held.
func (f *Fake) step(now time.Time) {
	names := make([]string, 0, len(f.st.ScaleSets))
	for n := range f.st.ScaleSets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := f.st.ScaleSets[n]
		f.reconcile(s, now)
		f.advanceUpgrade(s, now)
		for _, v := range append([]*VM(nil), s.VMs...) {
			switch {
			case v.State == Creating && !v.Launched && !f.inflight[v.Name]:
				f.startLaunch(s, v)
			case v.State == Deleting && !f.inflight[v.Name]:
				if v.EventID == "" || (!v.Hung && (v.EventStatus == "Started" || !now.Before(v.NotBefore))) {
					f.startStop(s, v)
				}
			}
		}
	}
}

// reconcile adds or deletes VMs until the active ones meet capacity.
func (f *Fake) reconcile(s *ScaleSet, now time.Time) {
	target := s.Capacity
	if u := s.activeUpgrade(); u != nil && u.Surge != "" {
		target++ // a rolling upgrade's surge VM is on top
	}
	for s.active() < target {
		f.create(s, now)
	}
	for s.active() > target {
		var victim *VM
		for _, v := range s.VMs {
			if v.State != Deleting && !v.ProtectScaleIn && (victim == nil || instanceLess(victim.InstanceID, v.InstanceID)) {
				victim = v
			}
		}
		if victim == nil {
			return
		}
		f.startDelete(s, victim, now)
	}
}

func instanceLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// create adds one VM on the model; a launch fault fails it.
func (f *Fake) create(s *ScaleSet, now time.Time) *VM {
	id := fmt.Sprint(s.NextInstance)
	s.NextInstance++
	for s.vm(s.Name+"_"+id) != nil { // an adopted VM has the name
		id = fmt.Sprint(s.NextInstance)
		s.NextInstance++
	}
	v := &VM{InstanceID: id, Name: s.Name + "_" + id, ImageRef: s.ImageRef, Model: s.Model, State: Creating, Created: now}
	if len(s.Zones) > 0 {
		v.Zone = s.Zones[len(s.VMs)%len(s.Zones)]
	}
	s.VMs = append(s.VMs, v)
	if ft, ok := f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultLaunchError && (ft.ScaleSet == "" || ft.ScaleSet == s.Name)
	}); ok {
		v.State, v.Launched = Failed, true
		v.Error = ft.Message
		if v.Error == "" {
			v.Error = "Allocation failed. We do not have sufficient capacity for the requested VM size in this region."
		}
		return v
	}
	f.startLaunch(s, v)
	return v
}

func (f *Fake) release(ref string) string {
	if img := f.st.Images[strings.ToLower(ref)]; img != nil {
		return img.Tags[ReleaseTag]
	}
	return ""
}

func (f *Fake) startLaunch(s *ScaleSet, v *VM) {
	req := fakecloud.LaunchRequest{Group: s.Name, InstanceID: v.Name, ImageID: v.ImageRef, Release: f.release(v.ImageRef),
		InstanceType: "Standard_D2s_v5", Zone: v.Zone, Tags: cloneTags(s.Tags)}
	f.inflight[v.Name] = true
	name := s.Name
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if !f.sleep(f.opts.LaunchDelay) {
			return
		}
		ip, err := f.backend.Launch(f.ctx, req)
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.inflight, req.InstanceID)
		if f.ctx.Err() != nil {
			return
		}
		s := f.st.ScaleSets[name]
		if s == nil {
			return
		}
		v := s.vm(req.InstanceID)
		if v == nil || v.State != Creating {
			return
		}
		v.Launched = true
		if err != nil {
			v.State, v.Error = Failed, err.Error()
			return
		}
		v.State, v.PrivateIP = Succeeded, ip
	}()
}

// startDelete marks v Deleting, with a Terminate event when the scale set
// notifies.
func (f *Fake) startDelete(s *ScaleSet, v *VM, now time.Time) {
	if v.State == Deleting {
		return
	}
	v.State = Deleting
	if !s.TerminateNotification || !v.Launched || v.PrivateIP == "" {
		return
	}
	hold := s.notBefore()
	if f.opts.NotBeforeCap > 0 {
		hold = min(hold, f.opts.NotBeforeCap)
	}
	v.EventID = newUUID(f)
	v.EventStatus = "Scheduled"
	v.NotBefore = now.Add(hold)
	if _, ok := f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultHangDeletion && (ft.ScaleSet == "" || ft.ScaleSet == s.Name) && (ft.VM == "" || ft.VM == v.Name)
	}); ok {
		v.Hung = true
	}
	f.st.Incarnation++
	f.hold(s, v)
}

func (f *Fake) hold(s *ScaleSet, v *VM) {
	ev := fakecloud.HoldEvent{Group: s.Name, InstanceID: v.Name, Hook: "terminateNotification", Transition: "Terminate", Token: v.EventID}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if f.ctx.Err() == nil {
			f.backend.Hold(f.ctx, ev)
		}
	}()
}

func (f *Fake) startStop(s *ScaleSet, v *VM) {
	f.inflight[v.Name] = true
	name, vm := s.Name, v.Name
	launched := v.Launched
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var err error
		if launched {
			err = f.backend.Terminate(f.ctx, vm)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.inflight, vm)
		if err != nil || f.ctx.Err() != nil {
			return // tried again next tick
		}
		if s := f.st.ScaleSets[name]; s != nil {
			if v := s.vm(vm); v != nil && v.EventID != "" {
				f.st.Incarnation++
			}
			s.remove(vm)
		}
	}()
}

func (f *Fake) sleep(d time.Duration) bool { return fakecloud.Sleep(f.ctx, d) }

// advanceUpgrade replaces one outdated VM at a time: surge a VM on the
// model, delete the outdated one once the new one runs, and go on once
// it is gone.
func (f *Fake) advanceUpgrade(s *ScaleSet, now time.Time) {
	u := s.activeUpgrade()
	if u == nil {
		return
	}
	if u.Surge != "" {
		nv := s.vm(u.Surge)
		switch {
		case nv == nil || nv.State == Failed:
			u.Failed++
			u.Status, u.End = "Faulted", now
			return
		case nv.State == Creating:
			return
		}
		if old := s.vm(u.Replacing); old != nil {
			f.startDelete(s, old, now)
		}
		u.Surge = ""
	}
	if u.Replacing != "" {
		if s.vm(u.Replacing) != nil {
			return // its deletion is under way
		}
		u.Done++
		u.Replacing = ""
	}
	if u.Cancel {
		u.Status, u.End = "Cancelled", now
		return
	}
	for _, v := range s.VMs {
		if v.State == Succeeded && v.Model != s.Model && !v.ProtectSetActions {
			s.Capacity++ // the surge; the deletion gives it back
			nv := f.create(s, now)
			s.Capacity--
			u.Surge, u.Replacing = nv.Name, v.Name
			return
		}
	}
	u.Status, u.End = "Completed", now
}

// pending counts the VMs a rolling upgrade still has to replace, but
// the one it replaces now.
func (s *ScaleSet) pending(replacing string) int {
	n := 0
	for _, v := range s.VMs {
		if v.Name != replacing && v.State != Deleting && v.Model != s.Model && !v.ProtectSetActions {
			n++
		}
	}
	return n
}

// Acknowledge answers the Terminate event with eventID (IMDS
// StartRequests): the VM is deleted at once (a hung deletion once its
// fault is cleared). An unknown or answered event is not an error (IMDS
// accepts it too).
func (f *Fake) Acknowledge(eventID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.st.ScaleSets {
		for _, v := range s.VMs {
			if v.EventID == eventID && v.EventStatus == "Scheduled" {
				v.EventStatus = "Started"
				f.st.Incarnation++
			}
		}
	}
}

// Event is one IMDS scheduled event.
type Event struct {
	EventID           string   `json:"EventId"`
	EventType         string   `json:"EventType"`
	ResourceType      string   `json:"ResourceType"`
	Resources         []string `json:"Resources"`
	EventStatus       string   `json:"EventStatus"`
	NotBefore         string   `json:"NotBefore"`
	Description       string   `json:"Description"`
	EventSource       string   `json:"EventSource"`
	DurationInSeconds int      `json:"DurationInSeconds"`
}

// Events is IMDS's scheduled events document.
type Events struct {
	DocumentIncarnation int     `json:"DocumentIncarnation"`
	Events              []Event `json:"Events"`
}

// ScheduledEvents is the document every VM sees at
// /metadata/scheduledevents.
func (f *Fake) ScheduledEvents() Events {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc := Events{DocumentIncarnation: f.st.Incarnation, Events: []Event{}}
	for _, n := range sortedKeys(f.st.ScaleSets) {
		for _, v := range f.st.ScaleSets[n].VMs {
			if v.State != Deleting || v.EventID == "" {
				continue
			}
			nb := ""
			if v.EventStatus == "Scheduled" {
				nb = v.NotBefore.Format(http.TimeFormat)
			}
			doc.Events = append(doc.Events, Event{EventID: v.EventID, EventType: "Terminate", ResourceType: "VirtualMachine",
				Resources: []string{v.Name}, EventStatus: v.EventStatus, NotBefore: nb, EventSource: "Platform",
				Description: "Virtual machine is being deleted.", DurationInSeconds: -1})
		}
	}
	return doc
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cloneTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// newUUID is a deterministic UUID-shaped id from the sequence.
func newUUID(f *Fake) string {
	n := f.nextSeq()
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(n>>16), n)
}
