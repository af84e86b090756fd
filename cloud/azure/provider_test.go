package azure_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/cloud/azure"
	"github.com/nwroll/nwroll/cloud/fakeazure"
	"github.com/nwroll/nwroll/cloud/fakecloud"
)

type noCredential struct{}

func (noCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n\tEnvironmentCredential: missing environment variables")
}

type env struct {
	f       *fakeazure.Fake
	p       *azure.Provider
	backend *fakecloud.MemoryBackend
	url     string
	images  map[string]string // release → image id
	vms     []string
}

type setup struct {
	opts    fakeazure.Options
	spec    fakeazure.ScaleSetSpec
	drain   time.Duration
	backend *fakecloud.MemoryBackend
}

// start serves a fake with releases 1.0.0 and 1.1.0 (one gallery image
// version each) and scale set nw of three VMs on 1.0.0, and a provider
// on it over loopback HTTP.
func start(t *testing.T, mod ...func(*setup)) *env {
	t.Helper()
	su := setup{backend: &fakecloud.MemoryBackend{}, spec: fakeazure.ScaleSetSpec{Name: "nw",
		TerminateNotification: true, NotBeforeTimeout: 10 * time.Minute,
		Services: map[string]string{fakeazure.AutomaticRepairs: fakeazure.Running, fakeazure.AutomaticZoneRebalancing: fakeazure.Running},
		Adopt:    []fakeazure.Adopted{{PrivateIP: "10.1.0.4"}, {PrivateIP: "10.1.0.5"}, {PrivateIP: "10.1.0.6", ProtectFromScaleSetActions: true, ProtectFromScaleIn: true}}}}
	for _, m := range mod {
		m(&su)
	}
	su.opts.Backend, su.opts.OperationPolls, su.opts.Tick, su.opts.RetryAfter = su.backend, 2, 5*time.Millisecond, 2*time.Millisecond
	f := fakeazure.New(su.opts)
	t.Cleanup(f.Close)
	e := &env{f: f, backend: su.backend, images: map[string]string{}}
	for _, r := range []string{"1.0.0", "1.1.0"} {
		id, err := f.AddImage(fakeazure.ImageSpec{Version: r, Release: r})
		if err != nil {
			t.Fatal(err)
		}
		e.images[r] = id
	}
	if su.spec.Image == "" {
		su.spec.Image = e.images["1.0.0"]
	}
	vms, err := f.AddScaleSet(su.spec)
	if err != nil {
		t.Fatal(err)
	}
	e.vms = vms
	srv, err := f.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.url = srv.URL
	e.p, err = azure.New(t.Context(), cloud.Config{Provider: "azure", Group: "nw", Subscription: f.Subscription(), ResourceGroup: "nw-rg",
		DrainTimeout: su.drain, Endpoints: map[string]string{"resourcemanager": srv.URL}, Anonymous: true},
		azure.WithPollFrequency(5*time.Millisecond), azure.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// eventually polls cond until it holds; the test's own deadline bounds it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, has := t.Deadline()
	for !cond() {
		if has && time.Until(deadline) < 5*time.Second {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(t *testing.T, e *env) cloud.Group {
	t.Helper()
	g, err := e.p.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDescribe(t *testing.T) {
	e := start(t)
	g := describe(t, e)
	if g.Name != "nw" || g.Desired != 3 || g.Max != azure.MaxCapacity || len(g.Instances) != 3 {
		t.Fatalf("group = %+v", g)
	}
	if len(g.Problems) != 0 {
		t.Errorf("problems = %q", g.Problems)
	}
	for i, in := range g.Instances {
		want := []string{"10.1.0.4", "10.1.0.5", "10.1.0.6"}[i]
		state := []string{"Succeeded", "Succeeded", "Succeeded, protected from scale-in and scale set actions"}[i]
		if in.ID != e.vms[i] || in.PrivateIP != want || in.Lifecycle != cloud.InService || in.State != state || !in.Healthy ||
			in.ImageID != e.images["1.0.0"] || in.Template.Version != "1.0.0" {
			t.Errorf("instance %d = %+v", i, in)
		}
	}
	if g.Template.ID != e.images["1.0.0"] || g.Template.Name != "neuwerk" || g.Template.Version != "1.0.0" {
		t.Errorf("template = %+v", g.Template)
	}
	if h := g.TerminatingHook; h == nil || h.Name != azure.HookName || h.HeartbeatTimeout != 10*time.Minute {
		t.Errorf("hook = %+v", h)
	}
	if !slices.Equal(g.Movers, []string{"AutomaticRepairs", "AutomaticZoneRebalancing"}) || len(g.Suspended) != 0 {
		t.Errorf("movers %q suspended %q", g.Movers, g.Suspended)
	}
	if g.Refresh != nil {
		t.Errorf("refresh = %+v", g.Refresh)
	}
	if ok, why := g.Stable(); !ok {
		t.Errorf("not stable: %s", why)
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*setup)
		words []string
	}{
		{"no notification", func(s *setup) { s.spec.TerminateNotification = false }, []string{"no terminate notification", "--enable-terminate-notification true"}},
		{"short notification", func(s *setup) { s.spec.NotBeforeTimeout = 2 * time.Minute }, []string{"PT2M", "shorter than Neuwerk's drain timeout 5m0s", "--terminate-notification-time 5"}},
		{"short for a long drain", func(s *setup) { s.drain = 12 * time.Minute }, []string{"PT10M", "12m0s", "--terminate-notification-time 12"}},
		{"rolling", func(s *setup) { s.spec.UpgradeMode = "Rolling" }, []string{"upgrade policy is Rolling, not Manual", "upgradePolicy.mode=Manual"}},
		{"latest", func(s *setup) { s.spec.ImageVersion = "latest" }, []string{"not an explicit gallery image version", "imageReference.id="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, tc.mod)
			g := describe(t, e)
			if len(g.Problems) != 1 {
				t.Fatalf("problems = %q", g.Problems)
			}
			for _, w := range tc.words {
				if !strings.Contains(g.Problems[0], w) {
					t.Errorf("problem %q lacks %q", g.Problems[0], w)
				}
			}
			if strings.Contains(g.Problems[0], "\n") {
				t.Errorf("problem is not one line: %q", g.Problems[0])
			}
		})
	}
}

func TestImages(t *testing.T) {
	e := start(t)
	img, err := e.p.ImageFor(t.Context(), "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != e.images["1.1.0"] || img.Release != "1.1.0" || img.Name != "neuwerk/1.1.0" {
		t.Errorf("image = %+v", img)
	}
	_, err = e.p.ImageFor(t.Context(), "9.9.9")
	if !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "no version of gallery image nwgallery/neuwerk is tagged neuwerk.io/release=9.9.9") {
		t.Errorf("missing release: %v", err)
	}
	if _, err := e.f.AddImage(fakeazure.ImageSpec{Version: "1.1.1", Release: "1.1.0"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.ImageFor(t.Context(), "1.1.0")
	if err == nil || !strings.Contains(err.Error(), "2 versions of gallery image nwgallery/neuwerk are tagged neuwerk.io/release=1.1.0 (1.1.0, 1.1.1)") {
		t.Errorf("two tagged: %v", err)
	}
	gone := strings.Replace(e.images["1.1.0"], "1.1.0", "7.7.7", 1)
	imgs, err := e.p.Images(t.Context(), []string{e.images["1.0.0"], gone, e.images["1.1.0"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Release != "1.0.0" || imgs[1].Release != "1.1.0" {
		t.Errorf("images = %+v", imgs)
	}
}

func TestTemplate(t *testing.T) {
	e := start(t)
	g := describe(t, e)
	img, err := e.p.ImageFor(t.Context(), "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	before := e.f.Calls()
	tmpl, err := e.p.NewTemplate(t.Context(), g.Template, img)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.p.NewTemplate(t.Context(), g.Template, img)
	if tmpl != again || tmpl.ID != img.ID || tmpl.Name != "neuwerk" || tmpl.Version != "1.1.0" {
		t.Errorf("template = %+v, again %+v", tmpl, again)
	}
	if !mapsEqual(before, e.f.Calls()) {
		t.Errorf("NewTemplate called the API: %v → %v", before, e.f.Calls())
	}
	if _, err := e.p.NewTemplate(t.Context(), g.Template, cloud.Image{ID: "ami-1"}); err == nil {
		t.Error("NewTemplate took a non-gallery image")
	}
	if got, _ := e.p.TemplateImage(t.Context(), tmpl); got != img.ID {
		t.Errorf("TemplateImage = %s", got)
	}
	if err := e.p.SetTemplate(t.Context(), tmpl, 7); err != nil {
		t.Fatal(err)
	}
	g = describe(t, e)
	if g.Template != tmpl {
		t.Errorf("model = %+v, want %+v", g.Template, tmpl)
	}
	for _, in := range g.Instances {
		if in.ImageID != e.images["1.0.0"] || in.Lifecycle != cloud.InService || !strings.HasPrefix(in.State, "Succeeded, not on the latest model") {
			t.Errorf("existing VM touched, or its outdated model not said: %+v", in)
		}
	}
	if g.Max != azure.MaxCapacity {
		t.Errorf("max = %d", g.Max)
	}
	if err := e.p.SetTemplate(t.Context(), cloud.TemplateRef{ID: strings.TrimSuffix(img.ID, "/versions/1.1.0"), Version: "latest"}, 0); err == nil {
		t.Error("SetTemplate took a definition without a version")
	}
	missing := cloud.TemplateRef{ID: strings.Replace(img.ID, "1.1.0", "3.0.0", 1)}
	err = e.p.SetTemplate(t.Context(), missing, 0)
	if !errors.Is(err, cloud.ErrNotFound) || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing image: %v", err)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestFreezeThaw(t *testing.T) {
	e := start(t, func(s *setup) {
		s.spec.Services = map[string]string{fakeazure.AutomaticRepairs: fakeazure.Running, fakeazure.AutomaticZoneRebalancing: fakeazure.Suspended}
	})
	g := describe(t, e)
	if !slices.Equal(g.Movers, []string{"AutomaticRepairs"}) || !slices.Equal(g.Suspended, []string{"AutomaticZoneRebalancing"}) {
		t.Fatalf("movers %q suspended %q", g.Movers, g.Suspended)
	}
	if err := e.p.Freeze(t.Context(), g.Movers); err != nil {
		t.Fatal(err)
	}
	s, _ := e.f.ScaleSet("nw")
	if s.Services[fakeazure.AutomaticRepairs] != fakeazure.Suspended {
		t.Errorf("services = %v", s.Services)
	}
	calls := e.f.Calls()["VirtualMachineScaleSetsClient.BeginSetOrchestrationServiceState"]
	if calls != 1 {
		t.Errorf("%d calls to suspend one service", calls)
	}
	if err := e.p.Freeze(t.Context(), g.Movers); err != nil {
		t.Fatal(err)
	}
	if n := e.f.Calls()["VirtualMachineScaleSetsClient.BeginSetOrchestrationServiceState"]; n != calls {
		t.Errorf("a repeated Freeze called the API")
	}
	if err := e.p.Thaw(t.Context(), g.Movers); err != nil {
		t.Fatal(err)
	}
	s, _ = e.f.ScaleSet("nw")
	if s.Services[fakeazure.AutomaticRepairs] != fakeazure.Running || s.Services[fakeazure.AutomaticZoneRebalancing] != fakeazure.Suspended {
		t.Errorf("after thaw: %v (zone rebalancing was suspended before and must stay so)", s.Services)
	}
	if err := e.p.Thaw(t.Context(), g.Movers); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Freeze(t.Context(), []string{"AutoscaleRules"}); err == nil || !strings.Contains(err.Error(), "no orchestration service") {
		t.Errorf("unknown mover: %v", err)
	}
}

func TestSurgeAndRetire(t *testing.T) {
	e := start(t)
	e.backend.OnHold = func(ev fakecloud.HoldEvent) {
		if ev.InstanceID != "" {
			e.f.Acknowledge(ev.Token) // as Neuwerk does once drained
		}
	}
	img, _ := e.p.ImageFor(t.Context(), "1.1.0")
	tmpl, _ := e.p.NewTemplate(t.Context(), cloud.TemplateRef{}, img)
	if err := e.p.SetTemplate(t.Context(), tmpl, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetDesired(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	updates := e.f.Calls()["VirtualMachineScaleSetsClient.BeginUpdate"]
	if err := e.p.SetDesired(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	if n := e.f.Calls()["VirtualMachineScaleSetsClient.BeginUpdate"]; n != updates {
		t.Errorf("a repeated SetDesired updated again")
	}
	var fresh cloud.Instance
	eventually(t, "the surged VM runs", func() bool {
		g := describe(t, e)
		for _, in := range g.Instances {
			if !slices.Contains(e.vms, in.ID) && in.Lifecycle == cloud.InService {
				fresh = in
				return true
			}
		}
		return false
	})
	g := describe(t, e)
	if g.Desired != 4 || len(g.Instances) != 4 {
		t.Fatalf("after surge: desired %d, %d instances", g.Desired, len(g.Instances))
	}
	if fresh.ImageID != img.ID || fresh.PrivateIP == "" || fresh.Template.Version != "1.1.0" {
		t.Errorf("new VM = %+v", fresh)
	}
	if req, ok := e.backend.Launched(fresh.ID); !ok || req.ImageID != img.ID || req.Release != "1.1.0" {
		t.Errorf("backend launch = %+v %v", req, ok)
	}
	// The route owner, protected from scale set actions, is still deleted (G2).
	owner := e.vms[2]
	if err := e.p.Retire(t.Context(), owner); err != nil {
		t.Fatal(err)
	}
	g = describe(t, e)
	if g.Desired != 3 {
		t.Errorf("desired after retire = %d", g.Desired)
	}
	deletes := e.f.Calls()["VirtualMachineScaleSetsClient.BeginDeleteInstances"]
	if deletes != 1 {
		t.Errorf("%d deleteInstances calls", deletes)
	}
	if err := e.p.Retire(t.Context(), owner); err != nil {
		t.Fatal(err)
	}
	eventually(t, owner+" gone", func() bool {
		_, ok := describe(t, e).Instance(owner)
		return !ok
	})
	if err := e.p.Retire(t.Context(), owner); err != nil {
		t.Fatalf("retiring a gone VM: %v", err)
	}
	if n := e.f.Calls()["VirtualMachineScaleSetsClient.BeginDeleteInstances"]; n != deletes {
		t.Errorf("a repeated Retire deleted again (%d calls)", n)
	}
	if !e.backend.Terminated(owner) || e.backend.Terminated(e.vms[0]) {
		t.Errorf("terminated: owner %v, other %v", e.backend.Terminated(owner), e.backend.Terminated(e.vms[0]))
	}
	holds := e.backend.Holds()
	if len(holds) != 1 || holds[0].InstanceID != owner || holds[0].Token == "" || holds[0].Hook != azure.HookName {
		t.Errorf("holds = %+v", holds)
	}
	g = describe(t, e)
	if ok, why := g.Stable(); !ok || len(g.Instances) != 3 {
		t.Errorf("after the round: %s, %d instances", why, len(g.Instances))
	}
}

func TestRetireHeldShowsTerminatingWait(t *testing.T) {
	e := start(t)
	if err := e.p.Retire(t.Context(), e.vms[0]); err != nil {
		t.Fatal(err)
	}
	g := describe(t, e)
	in, ok := g.Instance(e.vms[0])
	if !ok || in.Lifecycle != cloud.TerminatingWait || in.State != "Deleting" {
		t.Fatalf("retired VM = %+v %v", in, ok)
	}
	if ok, _ := g.Stable(); ok {
		t.Error("stable with a VM deleting")
	}
	if err := e.p.CompleteTermination(t.Context(), g, e.vms[0]); err != nil {
		t.Fatal(err)
	}
	if e.backend.Terminated(e.vms[0]) {
		t.Error("deleted before the notification was acknowledged or timed out")
	}
}

// TestRetireOperationStaysOpen: when ARM keeps deleteInstances open
// through the terminate notification, Retire returns once the VM deletes.
func TestRetireOperationStaysOpen(t *testing.T) {
	e := start(t, func(s *setup) { s.opts.DeleteWaits = true })
	if err := e.p.Retire(t.Context(), e.vms[1]); err != nil {
		t.Fatal(err)
	}
	in, ok := describe(t, e).Instance(e.vms[1])
	if !ok || in.Lifecycle != cloud.TerminatingWait {
		t.Fatalf("retired VM = %+v %v", in, ok)
	}
	if e.f.Calls()["VirtualMachineScaleSetVMsClient.Get"] == 0 {
		t.Error("Retire never looked at the VM while the operation ran")
	}
	holds := e.backend.Holds()
	eventually(t, "the hold", func() bool { holds = e.backend.Holds(); return len(holds) == 1 })
	e.f.Acknowledge(holds[0].Token)
	eventually(t, e.vms[1]+" gone", func() bool {
		_, ok := describe(t, e).Instance(e.vms[1])
		return !ok
	})
}

func TestFailedLaunch(t *testing.T) {
	e := start(t)
	if err := e.f.FailNextLaunch(); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetDesired(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	g := describe(t, e)
	var failed *cloud.Activity
	for i, a := range g.Activities {
		if a.Status == "Failed" {
			failed = &g.Activities[i]
		}
	}
	if failed == nil || !strings.Contains(failed.StatusMsg, "Allocation failed") {
		t.Fatalf("activities = %+v", g.Activities)
	}
	if in, ok := g.Instance(failed.ID); !ok || in.Lifecycle != cloud.Other || in.State != "Failed" {
		t.Errorf("failed VM = %+v", in)
	}
}

func TestErrors(t *testing.T) {
	e := start(t)
	if err := e.f.FailNextCall("VirtualMachineScaleSetsClient.BeginUpdate", 409, "OperationNotAllowed", "Another operation is in progress.\nTry later."); err != nil {
		t.Fatal(err)
	}
	err := e.p.SetDesired(t.Context(), 4)
	var ae *azure.Error
	var re *azcore.ResponseError
	if !errors.As(err, &ae) || ae.Code != "OperationNotAllowed" || !errors.As(err, &re) {
		t.Fatalf("err = %#v", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "Another operation is in progress. Try later.") || !strings.Contains(msg, "try again") {
		t.Errorf("message = %q", msg)
	}
	if err := e.p.SetDesired(t.Context(), 4); err != nil {
		t.Errorf("the fault fired twice: %v", err)
	}

	wrong, err := azure.New(t.Context(), cloud.Config{Group: "nope", Subscription: e.f.Subscription(), ResourceGroup: "nw-rg",
		Endpoints: map[string]string{"resourcemanager": e.url}, Anonymous: true}, azure.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.Describe(t.Context())
	if !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "check cloud.subscription") || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing scale set: %v", err)
	}

	for _, tc := range []struct {
		c    cloud.Config
		want string
	}{
		{cloud.Config{Subscription: "s", ResourceGroup: "r"}, "cloud.group is empty"},
		{cloud.Config{Group: "g", ResourceGroup: "r"}, "cloud.subscription is empty"},
		{cloud.Config{Group: "g", Subscription: "s"}, "cloud.resource_group is empty"},
		{cloud.Config{Group: "g", Subscription: "s", ResourceGroup: "r", Anonymous: true}, "cloud.endpoints.resourcemanager is not set"},
		{cloud.Config{Group: "g", Subscription: "s", ResourceGroup: "r", Anonymous: true, Endpoints: map[string]string{"resourcemanager": "http://10.0.0.1:80"}}, "loopback"},
		{cloud.Config{Group: "g", Subscription: "s", ResourceGroup: "r", Endpoints: map[string]string{"compute": "http://127.0.0.1:1"}}, "unknown service"},
		{cloud.Config{Group: "g", Subscription: "s", ResourceGroup: "r", Endpoints: map[string]string{"resourcemanager": "http://127.0.0.1:1"}}, "only sent over HTTPS"},
	} {
		_, err := azure.New(t.Context(), tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}

	creds, err := azure.New(t.Context(), cloud.Config{Group: "nw", Subscription: "s", ResourceGroup: "nw-rg",
		Endpoints: map[string]string{"resourcemanager": "https://127.0.0.1:1"}}, azure.WithMaxRetries(-1), azure.WithCredential(noCredential{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = creds.Describe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no usable Azure credentials") || !strings.Contains(err.Error(), "az login") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no credentials: %v", err)
	}

	dead, err := azure.New(t.Context(), cloud.Config{Group: "nw", Subscription: "s", ResourceGroup: "nw-rg",
		Endpoints: map[string]string{"resourcemanager": "http://127.0.0.1:1"}, Anonymous: true}, azure.WithMaxRetries(-1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.Describe(t.Context())
	if err == nil || !strings.Contains(err.Error(), "reachable") || strings.Contains(err.Error(), "\n") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	e := start(t)
	e.backend.OnHold = func(ev fakecloud.HoldEvent) { e.f.Acknowledge(ev.Token) }
	img, _ := e.p.ImageFor(t.Context(), "1.1.0")
	tmpl, _ := e.p.NewTemplate(t.Context(), cloud.TemplateRef{}, img)
	id, err := e.p.StartRefresh(t.Context(), tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" {
		t.Fatal("no rolling upgrade id")
	}
	if again, err := e.p.StartRefresh(t.Context(), tmpl); err != nil || again != id {
		t.Errorf("repeat = %q, %v", again, err)
	}
	eventually(t, "the rolling upgrade completes", func() bool {
		r := describe(t, e).Refresh
		return r != nil && r.Status == "Successful"
	})
	g := describe(t, e)
	if g.Refresh.ID != id || g.Refresh.PercentComplete != 100 {
		t.Errorf("refresh = %+v", g.Refresh)
	}
	// Two VMs replaced; the route owner, protected from scale set
	// actions, is skipped (G2).
	old := 0
	for _, in := range g.Instances {
		if in.ImageID == e.images["1.0.0"] {
			old++
			if in.ID != e.vms[2] {
				t.Errorf("unprotected VM %s kept the old image", in.ID)
			}
		}
	}
	if old != 1 || len(g.Instances) != 3 {
		t.Errorf("%d old of %d instances", old, len(g.Instances))
	}
	if err := e.p.CancelRefresh(t.Context()); err != nil {
		t.Errorf("cancel with nothing running: %v", err)
	}
}

func TestCancelRefresh(t *testing.T) {
	e := start(t)
	e.backend.OnHold = func(ev fakecloud.HoldEvent) { e.f.Acknowledge(ev.Token) }
	if err := e.f.HangDeletion(e.vms[0]); err != nil { // the first replacement stays under way
		t.Fatal(err)
	}
	img, _ := e.p.ImageFor(t.Context(), "1.1.0")
	tmpl, _ := e.p.NewTemplate(t.Context(), cloud.TemplateRef{}, img)
	if _, err := e.p.StartRefresh(t.Context(), tmpl); err != nil {
		t.Fatal(err)
	}
	eventually(t, e.vms[0]+" is being replaced", func() bool {
		in, _ := describe(t, e).Instance(e.vms[0])
		return in.Lifecycle == cloud.TerminatingWait
	})
	if err := e.p.CancelRefresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := describe(t, e).Refresh; r == nil || r.Status != "Cancelling" || !r.Active() || r.InstancesToUpdate != 2 {
		t.Fatalf("refresh while its replacement finishes = %+v", r)
	}
	e.f.ClearFaults()
	eventually(t, "the rolling upgrade is cancelled", func() bool {
		r := describe(t, e).Refresh
		return r != nil && r.Status == "Cancelled"
	})
	g := describe(t, e)
	if in, ok := g.Instance(e.vms[1]); !ok || in.ImageID != e.images["1.0.0"] {
		t.Errorf("%s after the cancel = %+v", e.vms[1], in)
	}
	if _, ok := g.Instance(e.vms[0]); ok {
		t.Errorf("%s, replaced before the cancel, still there", e.vms[0])
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT5M": 5 * time.Minute, "PT1H30M": 90 * time.Minute, "PT300S": 300 * time.Second, "pt15m": 15 * time.Minute} {
		if got, err := azure.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "5M", "PT", "PTxM", "P1D"} {
		if _, err := azure.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) took it", bad)
		}
	}
	if s := azure.FormatDuration(10 * time.Minute); s != "PT10M" {
		t.Errorf("FormatDuration = %s", s)
	}
}
