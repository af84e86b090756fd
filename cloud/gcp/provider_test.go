package gcp_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/cloud/fakecloud"
	"github.com/nwroll/nwroll/cloud/fakegcp"
	"github.com/nwroll/nwroll/cloud/gcp"
)

const (
	project = "nw-project"
	region  = "europe-west1"
	group   = "nw"
)

// world is the real REST client against a fake on loopback.
type world struct {
	fake    *fakegcp.Fake
	backend *timedBackend
	url     string
	p       *gcp.Provider
	old     string // the seeded template's link
	img12   string
	img13   string
	adopted []string
}

type setup struct {
	opts     fakegcp.Options
	graceful time.Duration // the template's; default 300s, negative: none
	group    func(*fakegcp.GroupSpec)
	drain    time.Duration
}

func newWorld(t *testing.T, s setup) *world {
	t.Helper()
	w := &world{backend: &timedBackend{at: map[string]time.Time{}}}
	s.opts.Backend = w.backend
	if s.opts.OperationDelay == 0 {
		s.opts.OperationDelay = 5 * time.Millisecond
	}
	if s.opts.GracefulDelay == 0 {
		s.opts.GracefulDelay = 100 * time.Millisecond
	}
	if s.opts.Tick == 0 {
		s.opts.Tick = 5 * time.Millisecond
	}
	w.fake = fakegcp.New(s.opts)
	t.Cleanup(w.fake.Close)
	srv, err := w.fake.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	w.url = srv.URL
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w.img12 = must(w.fake.AddImage(fakegcp.ImageSpec{Name: "neuwerk-1-2-0", Release: "1.2.0", Created: base}))
	w.img13 = must(w.fake.AddImage(fakegcp.ImageSpec{Name: "neuwerk-1-3-0", Release: "1.3.0", Created: base.Add(time.Hour)}))
	graceful := s.graceful
	if graceful == 0 {
		graceful = 300 * time.Second
	}
	w.old = must(w.fake.AddTemplate(fakegcp.TemplateSpec{Name: "nw-tmpl", SourceImage: w.img12, GracefulShutdown: max(graceful, 0)}))
	spec := fakegcp.GroupSpec{Name: group, Template: w.old, TargetSize: 3,
		UpdatePolicy: fakegcp.UpdatePolicy{Type: "PROACTIVE", Redistribution: "PROACTIVE"},
		Autoscaler:   &fakegcp.AutoscalerSpec{Mode: "ON", Min: 3, Max: 6},
		Adopt: []fakegcp.Adopted{
			{Name: "nw-a", Zone: region + "-b", PrivateIP: "10.1.0.1", Created: base},
			{Name: "nw-b", Zone: region + "-c", PrivateIP: "10.1.0.2", Created: base.Add(time.Minute)},
			{Name: "nw-c", Zone: region + "-d", PrivateIP: "10.1.0.3", Created: base.Add(2 * time.Minute)},
		}}
	if s.group != nil {
		s.group(&spec)
	}
	if w.adopted, err = w.fake.AddGroup(spec); err != nil {
		t.Fatal(err)
	}
	w.p = w.provider(t, cloud.Config{Provider: "gcp", Project: project, Region: region, Group: group, DrainTimeout: s.drain,
		Endpoints: map[string]string{"compute": w.url}, Anonymous: true})
	return w
}

// timedBackend records when each instance was terminated.
type timedBackend struct {
	fakecloud.MemoryBackend
	mu sync.Mutex
	at map[string]time.Time
}

func (b *timedBackend) Terminate(ctx context.Context, id string) error {
	b.mu.Lock()
	b.at[id] = time.Now()
	b.mu.Unlock()
	return b.MemoryBackend.Terminate(ctx, id)
}

func (w *world) terminatedAt(id string) time.Time {
	w.backend.mu.Lock()
	defer w.backend.mu.Unlock()
	return w.backend.at[id]
}

func (w *world) provider(t *testing.T, c cloud.Config) *gcp.Provider {
	t.Helper()
	p, err := gcp.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func (w *world) describe(t *testing.T) cloud.Group {
	t.Helper()
	g, err := w.p.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitUntil polls until ok, failing only when the test's own deadline
// (go test -timeout) nears.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline, has := t.Deadline()
	for !ok() {
		if has && time.Until(deadline) < 5*time.Second {
			t.Fatalf("never saw %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func oneLine(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", want)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

func ids(g cloud.Group) []string {
	var out []string
	for _, in := range g.Instances {
		out = append(out, in.ID)
	}
	return out
}

func TestDescribe(t *testing.T) {
	w := newWorld(t, setup{})
	g := w.describe(t)
	tmpl := w.fake.State().Templates["nw-tmpl"]
	if g.Name != group || g.Desired != 3 || g.Min != 3 || g.Max != 6 {
		t.Errorf("group %s desired %d min %d max %d", g.Name, g.Desired, g.Min, g.Max)
	}
	want := cloud.TemplateRef{ID: w.old, Name: "nw-tmpl", Version: strconv.FormatUint(tmpl.ID, 10)}
	if g.Template != want {
		t.Errorf("template %+v, want %+v", g.Template, want)
	}
	if got := ids(g); !slices.Equal(got, []string{"nw-a", "nw-b", "nw-c"}) {
		t.Errorf("instances %v, want oldest first", got)
	}
	a := g.Instances[0]
	if a.PrivateIP != "10.1.0.1" || a.Zone != region+"-b" || a.Lifecycle != cloud.InService || !a.Healthy ||
		a.ImageID != w.img12 || a.Template != want || a.State != "NONE/RUNNING" || a.LaunchedAt.IsZero() {
		t.Errorf("instance %+v", a)
	}
	if !slices.Equal(g.Movers, []string{"update=PROACTIVE", "redistribution=PROACTIVE", "autoscaler=ON"}) || len(g.Suspended) != 0 {
		t.Errorf("movers %v suspended %v", g.Movers, g.Suspended)
	}
	if len(g.Problems) != 0 {
		t.Errorf("problems %v", g.Problems)
	}
	if g.TerminatingHook != nil || g.LaunchingHook != nil {
		t.Error("GCP has no hooks")
	}
	if g.Refresh == nil || g.Refresh.Active() || g.Refresh.PercentComplete != 100 {
		t.Errorf("a proactive group on its template: refresh %+v", g.Refresh)
	}
	if ok, why := g.Stable(); !ok {
		t.Errorf("not stable: %s", why)
	}
}

func TestImages(t *testing.T) {
	w := newWorld(t, setup{})
	ctx := context.Background()
	img, err := w.p.ImageFor(ctx, "1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != w.img13 || img.Name != "neuwerk-1-3-0" || img.Release != "1.3.0" || img.Created.IsZero() {
		t.Errorf("image %+v", img)
	}
	_, err = w.p.ImageFor(ctx, "9.9.9")
	oneLine(t, err, "neuwerk_release=9_9_9", "gcloud compute images add-labels")
	if !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}
	if _, err := w.fake.AddImage(fakegcp.ImageSpec{Name: "neuwerk-1-3-0-again", Release: "1.3.0"}); err != nil {
		t.Fatal(err)
	}
	_, err = w.p.ImageFor(ctx, "1.3.0")
	oneLine(t, err, "2 images", "neuwerk-1-3-0, neuwerk-1-3-0-again", "exactly one")
	got, err := w.p.Images(ctx, []string{w.img12, "neuwerk-1-3-0", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != w.img12 || got[0].Release != "1.2.0" || got[1].ID != w.img13 {
		t.Errorf("images %+v", got)
	}
}

func TestNewTemplateIsIdempotentAndSetTemplate(t *testing.T) {
	w := newWorld(t, setup{})
	ctx := context.Background()
	g := w.describe(t)
	img, err := w.p.ImageFor(ctx, "1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	made, err := w.p.NewTemplate(ctx, g.Template, img)
	if err != nil {
		t.Fatal(err)
	}
	if made.Name == "nw-tmpl" || !strings.HasPrefix(made.Name, "nw-tmpl-nwr-1-3-0-") || !strings.HasSuffix(made.ID, "/global/instanceTemplates/"+made.Name) || made.Version == "" {
		t.Errorf("made %+v", made)
	}
	again, err := w.p.NewTemplate(ctx, g.Template, img)
	if err != nil || again != made {
		t.Errorf("repeat: %+v %v, want %+v", again, err, made)
	}
	if n := w.fake.Calls()["instanceTemplates.insert"]; n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	if got, err := w.p.TemplateImage(ctx, made); err != nil || got != w.img13 {
		t.Errorf("template image %q %v", got, err)
	}
	if got, err := w.p.TemplateImage(ctx, g.Template); err != nil || got != w.img12 {
		t.Errorf("old template image %q %v", got, err)
	}
	// The copy keeps the base's graceful shutdown and machine type.
	st := w.fake.State().Templates[made.Name]
	if st.GracefulShutdown != 300*time.Second || st.MachineType != "e2-standard-2" {
		t.Errorf("copy %+v", st)
	}
	// From a template made by nwroll, the name does not grow.
	img12, _ := w.p.ImageFor(ctx, "1.2.0")
	back, err := w.p.NewTemplate(ctx, made, img12)
	if err != nil || !strings.HasPrefix(back.Name, "nw-tmpl-nwr-1-2-0-") {
		t.Errorf("back %+v %v", back, err)
	}

	if err := w.p.Freeze(ctx, g.Movers); err != nil {
		t.Fatal(err)
	}
	if err := w.p.SetTemplate(ctx, made, 7); err != nil {
		t.Fatal(err)
	}
	g = w.describe(t)
	if g.Template != made || g.Max != 7 {
		t.Errorf("after SetTemplate: template %+v max %d", g.Template, g.Max)
	}
	for _, in := range g.Instances {
		if in.Template.Name != "nw-tmpl" {
			t.Errorf("frozen group replaced %s: %+v", in.ID, in.Template)
		}
	}
	if len(g.Problems) != 0 {
		t.Errorf("problems %v", g.Problems)
	}
	stale := made
	stale.Version = "12345"
	oneLine(t, w.p.SetTemplate(ctx, stale, 0), "now has id", "not 12345")
	stale.Version = "$Latest"
	oneLine(t, w.p.SetTemplate(ctx, stale, 0), "numeric id")
}

func TestFreezeThaw(t *testing.T) {
	w := newWorld(t, setup{})
	ctx := context.Background()
	movers := w.describe(t).Movers
	if err := w.p.Freeze(ctx, movers); err != nil {
		t.Fatal(err)
	}
	g := w.describe(t)
	if len(g.Movers) != 0 || !slices.Equal(g.Suspended, []string{"update=OPPORTUNISTIC", "redistribution=NONE", "autoscaler=OFF"}) {
		t.Errorf("frozen: movers %v suspended %v", g.Movers, g.Suspended)
	}
	fg, _ := w.fake.Group(group)
	as, _ := w.fake.Autoscaler(group + "-autoscaler")
	if fg.Policy.Type != "OPPORTUNISTIC" || fg.Policy.Redistribution != "NONE" || as.Mode != "OFF" {
		t.Errorf("fake: policy %+v autoscaler %+v", fg.Policy, as)
	}
	if g.Refresh != nil {
		t.Errorf("an opportunistic group has no refresh: %+v", g.Refresh)
	}
	if err := w.p.Freeze(ctx, movers); err != nil {
		t.Errorf("repeat: %v", err)
	}
	if err := w.p.Thaw(ctx, movers); err != nil {
		t.Fatal(err)
	}
	g = w.describe(t)
	if !slices.Equal(g.Movers, movers) || len(g.Suspended) != 0 {
		t.Errorf("thawed: movers %v suspended %v", g.Movers, g.Suspended)
	}
	// Thaw restores the carried value, not a default.
	if err := w.p.Thaw(ctx, []string{"autoscaler=ONLY_SCALE_OUT"}); err != nil {
		t.Fatal(err)
	}
	if as, _ := w.fake.Autoscaler(group + "-autoscaler"); as.Mode != "ONLY_SCALE_OUT" {
		t.Errorf("autoscaler %+v", as)
	}
	oneLine(t, w.p.Freeze(ctx, []string{"AZRebalance"}), "unknown mover")
	oneLine(t, w.p.Thaw(ctx, []string{"update"}), "no value")
}

func TestSurgeAndRetire(t *testing.T) {
	w := newWorld(t, setup{opts: fakegcp.Options{GracefulDelay: 300 * time.Millisecond}})
	ctx := context.Background()
	g := w.describe(t)
	if err := w.p.Freeze(ctx, g.Movers); err != nil {
		t.Fatal(err)
	}
	img, _ := w.p.ImageFor(ctx, "1.3.0")
	made, err := w.p.NewTemplate(ctx, g.Template, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.SetTemplate(ctx, made, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g = w.describe(t)
	if g.Desired != 4 || len(g.Instances) != 4 {
		t.Fatalf("after surge: desired %d, instances %v", g.Desired, ids(g))
	}
	surge := g.Instances[3].ID
	waitUntil(t, "the surge in service", func() bool {
		in, _ := w.describe(t).Instance(surge)
		return in.Lifecycle == cloud.InService
	})
	in, _ := w.describe(t).Instance(surge)
	if in.PrivateIP == "" || in.ImageID != w.img13 || in.Template != made || in.Zone == "" {
		t.Errorf("surge %+v", in)
	}
	if req, ok := w.backend.Launched(surge); !ok || req.ImageID != w.img13 || req.Release != "1.3.0" || req.Group != group {
		t.Errorf("backend launch %+v %v", req, ok)
	}
	if err := w.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if g := w.describe(t); len(g.Instances) != 4 {
		t.Errorf("repeat surge: %v", ids(g))
	}

	asked := time.Now()
	if err := w.p.Retire(ctx, "nw-a"); err != nil {
		t.Fatal(err)
	}
	g = w.describe(t)
	if g.Desired != 3 {
		t.Errorf("desired %d after retire", g.Desired)
	}
	if a, ok := g.Instance("nw-a"); ok && (a.Lifecycle != cloud.Terminating || a.State != "DELETING") {
		t.Errorf("retiring nw-a: %+v", a)
	}
	if err := w.p.Retire(ctx, "nw-a"); err != nil {
		t.Errorf("repeat while deleting: %v", err)
	}
	waitUntil(t, "nw-a gone", func() bool { _, ok := w.describe(t).Instance("nw-a"); return !ok })
	if !w.backend.Terminated("nw-a") {
		t.Error("nw-a gone without Backend.Terminate")
	}
	if at := w.terminatedAt("nw-a"); at.Sub(asked) < 300*time.Millisecond {
		t.Errorf("nw-a terminated %s after its deletion was asked, before its graceful shutdown window (min(300s, 300ms)) ended", at.Sub(asked))
	}
	if err := w.p.Retire(ctx, "nw-a"); err != nil {
		t.Errorf("repeat when gone: %v", err)
	}
	calls := w.fake.Calls()
	if calls["regionInstanceGroupManagers.deleteInstances"] != 1 || calls["regionInstanceGroupManagers.recreateInstances"] != 0 {
		t.Errorf("calls %v", calls)
	}
	g = w.describe(t)
	if got := ids(g); !slices.Equal(got, []string{"nw-b", "nw-c", surge}) || g.Desired != 3 {
		t.Errorf("after retire: %v desired %d", got, g.Desired)
	}
	for _, id := range []string{"nw-b", "nw-c", surge} {
		if w.backend.Terminated(id) {
			t.Errorf("%s terminated", id)
		}
	}
}

func TestOperationsArePolledToCompletion(t *testing.T) {
	w := newWorld(t, setup{opts: fakegcp.Options{OperationDelay: 300 * time.Millisecond}})
	if err := w.p.SetDesired(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	st := w.fake.State()
	for _, op := range st.Operations {
		if op.Status != "DONE" {
			t.Errorf("SetDesired returned before operation %s (%s) was done", op.Name, op.Type)
		}
	}
	if n := w.fake.Calls()["regionOperations.get"]; n < 2 {
		t.Errorf("operation polled %d times, want it seen RUNNING, then DONE", n)
	}
}

func TestProblems(t *testing.T) {
	none := newWorld(t, setup{graceful: -1})
	g := none.describe(t)
	if len(g.Problems) != 1 || !strings.Contains(g.Problems[0], "no graceful shutdown") || !strings.Contains(g.Problems[0], "--graceful-shutdown-max-duration=300s") {
		t.Errorf("without graceful shutdown: %q", g.Problems)
	}
	short := newWorld(t, setup{graceful: 60 * time.Second})
	g = short.describe(t)
	if len(g.Problems) != 1 || !strings.Contains(g.Problems[0], "shorter than the drain timeout 5m0s") {
		t.Errorf("short graceful shutdown: %q", g.Problems)
	}
	enough := newWorld(t, setup{graceful: 60 * time.Second, drain: 45 * time.Second})
	if g := enough.describe(t); len(g.Problems) != 0 {
		t.Errorf("60s graceful shutdown for a 45s drain: %q", g.Problems)
	}
	canary := newWorld(t, setup{group: func(s *fakegcp.GroupSpec) { s.ExtraVersions = []string{"nw-tmpl"} }})
	g = canary.describe(t)
	if len(g.Problems) != 1 || !strings.Contains(g.Problems[0], "2 versions") {
		t.Errorf("canary: %q", g.Problems)
	}
	for _, p := range g.Problems {
		if strings.Contains(p, "\n") {
			t.Errorf("problem spans lines: %q", p)
		}
	}
}

func TestErrors(t *testing.T) {
	w := newWorld(t, setup{})
	ctx := context.Background()

	if err := w.fake.FailNextCall("regionInstanceGroupManagers.resize", 403, "forbidden", "Required 'compute.instanceGroupManagers.update' permission for 'projects/nw-project/regions/europe-west1/instanceGroupManagers/nw'"); err != nil {
		t.Fatal(err)
	}
	err := w.p.SetDesired(ctx, 4)
	oneLine(t, err, "compute.regionInstanceGroupManagers.resize", "permission denied", "roles/compute.instanceAdmin.v1")
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 403 {
		t.Errorf("%v does not unwrap to a 403 googleapi.Error", err)
	}
	if g := w.describe(t); g.Desired != 3 {
		t.Errorf("a refused resize resized: %d", g.Desired)
	}

	missing := w.provider(t, cloud.Config{Project: project, Region: region, Group: "nope",
		Endpoints: map[string]string{"compute": w.url}, Anonymous: true})
	_, err = missing.Describe(ctx)
	oneLine(t, err, `group "nope" not found`, "cloud.group", "regional")
	if !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}

	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultOperationError, Method: "regionInstanceGroupManagers.resize",
		Code: "QUOTA_EXCEEDED", Message: "Quota 'CPUS' exceeded.\nLimit: 24.0 in region europe-west1."}); err != nil {
		t.Fatal(err)
	}
	err = w.p.SetDesired(ctx, 4)
	oneLine(t, err, "operation operation-", "failed: QUOTA_EXCEEDED: Quota 'CPUS' exceeded. Limit", "gcloud compute operations describe")

	down := w.provider(t, cloud.Config{Project: project, Region: region, Group: group,
		Endpoints: map[string]string{"compute": "http://127.0.0.1:1"}, Anonymous: true})
	_, err = down.Describe(ctx)
	oneLine(t, err, "check that http://127.0.0.1:1 is reachable")

	for _, c := range []struct {
		cfg  cloud.Config
		want string
	}{
		{cloud.Config{Project: project, Region: region, Group: group, Anonymous: true}, "cloud.endpoints.compute is not set"},
		{cloud.Config{Project: project, Region: region, Group: group, Anonymous: true, Endpoints: map[string]string{"compute": "https://compute.googleapis.com"}}, "loopback"},
		{cloud.Config{Project: project, Region: region, Group: group, Endpoints: map[string]string{"ec2": "http://127.0.0.1:1"}}, `unknown service "ec2"`},
		{cloud.Config{Region: region, Group: group}, "cloud.project is empty"},
		{cloud.Config{Project: project, Group: group}, "cloud.region is empty"},
		{cloud.Config{Project: project, Region: region}, "cloud.group is empty"},
	} {
		_, err := gcp.New(ctx, c.cfg)
		oneLine(t, err, c.want)
	}
}

func TestMissingCredentials(t *testing.T) {
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", t.TempDir()+"/no-such-key.json")
	_, err := gcp.New(context.Background(), cloud.Config{Project: project, Region: region, Group: group})
	oneLine(t, err, "application default credentials", "gcloud auth application-default login")
}

func TestLaunchFailureShows(t *testing.T) {
	w := newWorld(t, setup{opts: fakegcp.Options{LaunchRetry: 200 * time.Millisecond}})
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultLaunchError, Times: -1}); err != nil {
		t.Fatal(err)
	}
	if err := w.p.SetDesired(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	var failed cloud.Group
	waitUntil(t, "the failed creation", func() bool {
		failed = w.describe(t)
		return len(failed.Activities) > 0
	})
	a := failed.Activities[0]
	if a.Status != "Failed" || !strings.Contains(a.StatusMsg, "ZONE_RESOURCE_POOL_EXHAUSTED") {
		t.Errorf("activity %+v", a)
	}
	if in, ok := failed.Instance(a.ID); !ok || in.Lifecycle != cloud.Pending || in.PrivateIP != "" {
		t.Errorf("failed instance %+v %v", in, ok)
	}
	if ok, _ := failed.Stable(); ok {
		t.Error("stable with a failed creation")
	}
	w.fake.ClearFaults()
	waitUntil(t, "the retry in service", func() bool { ok, _ := w.describe(t).Stable(); return ok })
}

func TestHangingDeletion(t *testing.T) {
	w := newWorld(t, setup{opts: fakegcp.Options{GracefulDelay: 10 * time.Millisecond}})
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultHangDeletion, Instance: "nw-b"}); err != nil {
		t.Fatal(err)
	}
	if err := w.p.Retire(context.Background(), "nw-b"); err != nil {
		t.Fatal(err)
	}
	// Well past the graceful window, it still is DELETING.
	for range 20 {
		time.Sleep(10 * time.Millisecond)
		in, ok := w.describe(t).Instance("nw-b")
		if !ok || in.State != "DELETING" || w.backend.Terminated("nw-b") {
			t.Fatalf("hung deletion moved: %+v %v", in, ok)
		}
	}
	w.fake.ClearFaults()
	waitUntil(t, "nw-b gone", func() bool { _, ok := w.describe(t).Instance("nw-b"); return !ok })
}

func TestRefreshObserveAndCancel(t *testing.T) {
	w := newWorld(t, setup{opts: fakegcp.Options{GracefulDelay: 20 * time.Millisecond, LaunchDelay: 1500 * time.Millisecond}})
	ctx := context.Background()
	g := w.describe(t)
	img, _ := w.p.ImageFor(ctx, "1.3.0")
	made, err := w.p.NewTemplate(ctx, g.Template, img)
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.p.StartRefresh(ctx, made)
	if err != nil || id != "proactive-update:"+made.Name {
		t.Fatalf("start: %q %v", id, err)
	}
	fg, _ := w.fake.Group(group)
	if p := fg.Policy; p.Type != "PROACTIVE" || p.MinimalAction != "REPLACE" || p.MaxSurge < 3 || p.MaxUnavailable != 0 {
		t.Errorf("policy %+v", p)
	}
	if r := w.describe(t).Refresh; r == nil || r.Status != "InProgress" || r.InstancesToUpdate == 0 {
		t.Errorf("refresh %+v", r)
	}
	// Surge first: the running old and new instances never drop below 3.
	waitUntil(t, "the update done", func() bool {
		g := w.describe(t)
		running := 0
		for _, in := range g.Instances {
			if in.Lifecycle == cloud.InService {
				running++
			}
		}
		if running < 3 {
			t.Fatalf("%d instances in service during the update: %v", running, ids(g))
		}
		return g.Refresh != nil && g.Refresh.Status == "Successful" && len(g.Instances) == 3
	})
	for _, in := range w.describe(t).Instances {
		if in.Template != made {
			t.Errorf("%s on %+v", in.ID, in.Template)
		}
	}
	if err := w.p.CancelRefresh(ctx); err != nil {
		t.Fatal(err)
	}
	if g := w.describe(t); g.Refresh != nil || !slices.Contains(g.Suspended, "update=OPPORTUNISTIC") {
		t.Errorf("after cancel: refresh %+v suspended %v", g.Refresh, g.Suspended)
	}
}

func TestAutohealingShowsTerminating(t *testing.T) {
	w := newWorld(t, setup{})
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultHangDeletion, Instance: "nw-c"}); err != nil {
		t.Fatal(err)
	}
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultTerminateUnderneath, Instance: "nw-c"}); err != nil {
		t.Fatal(err)
	}
	g := w.describe(t)
	if in, _ := g.Instance("nw-c"); in.Lifecycle != cloud.Terminating || in.State != "RECREATING" {
		t.Errorf("recreating nw-c: %+v", in)
	}
	if ok, _ := g.Stable(); ok {
		t.Error("stable while an instance is recreated")
	}
}
