package aws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/nwroll/nwroll/cloud"
	awsprov "github.com/nwroll/nwroll/cloud/aws"
	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/cloud/fakecloud"
)

const (
	group      = "nw"
	oldRelease = "1.0.0"
	newRelease = "1.1.0"
)

// env is a fake AWS with group "nw": three adopted instances on the old
// image, a terminating hook, AlarmNotification suspended by an operator.
type env struct {
	fake    *fakeaws.Fake
	backend *fakecloud.MemoryBackend
	url     string
	p       *awsprov.Provider
	tmpl    fakeaws.TemplateSpec
	oldAMI  string
	newAMI  string
	ids     []string

	mu     sync.Mutex
	bodies map[string][]string // Action → request bodies, in order
}

type setup struct {
	opts          fakeaws.Options
	hooks         []fakeaws.Hook
	launchingHook bool
}

func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	e := &env{backend: &fakecloud.MemoryBackend{}, bodies: map[string][]string{}}
	s.opts.Backend = e.backend
	if s.opts.Tick == 0 {
		s.opts.Tick = 5 * time.Millisecond
	}
	e.fake = fakeaws.New(s.opts)
	t.Cleanup(e.fake.Close)
	e.oldAMI = e.fake.AddImage(fakeaws.Image{Name: "neuwerk-1.0.0", Tags: map[string]string{cloud.ReleaseTag: oldRelease}})
	e.newAMI = e.fake.AddImage(fakeaws.Image{Name: "neuwerk-1.1.0", Tags: map[string]string{cloud.ReleaseTag: newRelease}})
	e.tmpl = e.fake.AddLaunchTemplate("neuwerk", e.oldAMI, "c6in.large")
	hooks := s.hooks
	if hooks == nil {
		hooks = []fakeaws.Hook{{Name: "drain", Transition: fakeaws.TransitionTerminating, HeartbeatTimeout: 300 * time.Second, DefaultResult: "CONTINUE"}}
	}
	if s.launchingHook {
		hooks = append(hooks, fakeaws.Hook{Name: "join", Transition: fakeaws.TransitionLaunching, HeartbeatTimeout: 600 * time.Second, DefaultResult: "ABANDON"})
	}
	ids, err := e.fake.AddGroup(fakeaws.GroupSpec{Name: group, Min: 2, Max: 4, Desired: 3, Template: e.tmpl,
		Tags:  map[string]string{fakeaws.ClusterTag: "neuwerk", fakeaws.RoleTag: "dataplane"},
		Hooks: hooks, Suspended: []string{"AlarmNotification"},
		Adopt: []fakeaws.Adopted{{PrivateIP: "10.1.0.1"}, {PrivateIP: "10.1.0.2"}, {PrivateIP: "10.1.0.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.ids = ids
	srv := &http.Server{Handler: http.HandlerFunc(e.record), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	e.url = "http://" + ln.Addr().String()
	e.p = e.provider(t, cloud.Config{Provider: "aws", Region: "us-east-1", Group: group, Anonymous: true,
		Endpoints: map[string]string{"autoscaling": e.url + "/autoscaling", "ec2": e.url + "/ec2"}})
	return e
}

func (e *env) provider(t *testing.T, c cloud.Config) *awsprov.Provider {
	t.Helper()
	// The SDK's default retries stay on, as in production: none of the
	// faults used here is a code the SDK retries, so each still fails its
	// call once.
	p, err := awsprov.New(context.Background(), c, awsprov.WithRetryMaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// record keeps each request body by Action, then hands it to the fake.
func (e *env) record(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	e.mu.Lock()
	e.bodies[form.Get("Action")] = append(e.bodies[form.Get("Action")], string(body))
	e.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	e.fake.ServeHTTP(w, r)
}

func (e *env) sent(action string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.bodies[action])
}

func (e *env) describe(t *testing.T) cloud.Group {
	t.Helper()
	g, err := e.p.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitFor polls Describe until ok holds (5 s at most).
func (e *env) waitFor(t *testing.T, what string, ok func(cloud.Group) bool) cloud.Group {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g := e.describe(t)
		if ok(g) {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; group: %+v", what, g)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func inService(n int) func(cloud.Group) bool {
	return func(g cloud.Group) bool {
		ok, _ := g.Stable()
		return ok && len(g.Instances) == n
	}
}

func TestDescribe(t *testing.T) {
	e := newEnv(t, setup{})
	g := e.describe(t)
	if g.Name != group || g.Desired != 3 || g.Min != 2 || g.Max != 4 {
		t.Fatalf("sizes: %+v", g)
	}
	if want := (cloud.TemplateRef{ID: e.tmpl.ID, Name: "neuwerk", Version: "1"}); g.Template != want {
		t.Fatalf("template %+v, want %+v", g.Template, want)
	}
	if !slices.Equal(g.Suspended, []string{"AlarmNotification"}) {
		t.Fatalf("suspended %v", g.Suspended)
	}
	if h := g.TerminatingHook; h == nil || h.Name != "drain" || h.HeartbeatTimeout != 300*time.Second || h.DefaultResult != "CONTINUE" {
		t.Fatalf("terminating hook %+v", h)
	}
	if g.LaunchingHook != nil || g.Refresh != nil || g.MixedInstancesPolicy {
		t.Fatalf("launching hook %+v, refresh %+v, mixed %v", g.LaunchingHook, g.Refresh, g.MixedInstancesPolicy)
	}
	if len(g.Problems) != 0 {
		t.Fatalf("problems %q", g.Problems)
	}
	if len(g.Instances) != 3 {
		t.Fatalf("instances %+v", g.Instances)
	}
	for i, in := range g.Instances {
		want := cloud.Instance{ID: e.ids[i], PrivateIP: "10.1.0." + string(rune('1'+i)), Lifecycle: cloud.InService,
			State: "InService", Healthy: true, ImageID: e.oldAMI, Template: cloud.TemplateRef{ID: e.tmpl.ID, Name: "neuwerk", Version: "1"},
			Zone: in.Zone, LaunchedAt: in.LaunchedAt}
		if in != want {
			t.Fatalf("instance %d: %+v\nwant %+v", i, in, want)
		}
		if in.Zone == "" || in.LaunchedAt.IsZero() {
			t.Fatalf("instance %d: no zone or launch time: %+v", i, in)
		}
	}
	if ok, why := g.Stable(); !ok {
		t.Fatalf("not stable: %s", why)
	}
	if len(g.Activities) != 0 {
		t.Fatalf("activities %+v", g.Activities)
	}
}

func TestImageFor(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	img, err := e.p.ImageFor(ctx, newRelease)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != e.newAMI || img.Release != newRelease || img.Name != "neuwerk-1.1.0" || img.Created.IsZero() {
		t.Fatalf("image %+v", img)
	}

	_, err = e.p.ImageFor(ctx, "9.9.9")
	if !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "no image tagged neuwerk.io/release=9.9.9 in region us-east-1") {
		t.Fatalf("none: %v", err)
	}

	twin := e.fake.AddImage(fakeaws.Image{Name: "neuwerk-1.1.0-rebuilt", Tags: map[string]string{cloud.ReleaseTag: newRelease}})
	_, err = e.p.ImageFor(ctx, newRelease)
	if err == nil || errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "2 images are tagged neuwerk.io/release=1.1.0") ||
		!strings.Contains(err.Error(), e.newAMI) || !strings.Contains(err.Error(), twin) {
		t.Fatalf("two: %v", err)
	}
}

func TestNewTemplateAndSetTemplate(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	base := cloud.TemplateRef{ID: e.tmpl.ID, Name: "neuwerk", Version: "1"}
	img := cloud.Image{ID: e.newAMI, Release: newRelease}
	v2, err := e.p.NewTemplate(ctx, base, img)
	if err != nil {
		t.Fatal(err)
	}
	if want := (cloud.TemplateRef{ID: e.tmpl.ID, Name: "neuwerk", Version: "2"}); v2 != want {
		t.Fatalf("new template %+v, want %+v", v2, want)
	}
	again, err := e.p.NewTemplate(ctx, base, img)
	if err != nil || again != v2 {
		t.Fatalf("repeat made %+v (%v), want %+v", again, err, v2)
	}
	if got, err := e.p.TemplateImage(ctx, v2); err != nil || got != e.newAMI {
		t.Fatalf("template image %q (%v), want %s", got, err, e.newAMI)
	}
	if got, err := e.p.TemplateImage(ctx, base); err != nil || got != e.oldAMI {
		t.Fatalf("base image %q (%v), want %s", got, err, e.oldAMI)
	}
	if _, err := e.p.TemplateImage(ctx, cloud.TemplateRef{ID: e.tmpl.ID, Version: "7"}); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("missing version: %v", err)
	}

	if err := e.p.SetTemplate(ctx, cloud.TemplateRef{ID: e.tmpl.ID, Version: "$Latest"}, 0); err == nil {
		t.Fatal("SetTemplate took $Latest")
	}
	if err := e.p.SetTemplate(ctx, v2, 5); err != nil {
		t.Fatal(err)
	}
	g := e.describe(t)
	if g.Template != v2 || g.Max != 5 || g.Desired != 3 {
		t.Fatalf("after SetTemplate: template %+v, max %d, desired %d", g.Template, g.Max, g.Desired)
	}
	if fg, _ := e.fake.Group(group); fg.Template.Version != "2" {
		t.Fatalf("the fake holds version %q", fg.Template.Version)
	}
	if err := e.p.SetTemplate(ctx, v2, 0); err != nil {
		t.Fatal(err)
	}
	if g := e.describe(t); g.Max != 5 || g.Template != v2 {
		t.Fatalf("repeat without max changed the group: %+v", g)
	}
}

// A group with no terminating hook: Describe names the problem and the fix.
func TestDescribeNamesAMissingTerminatingHook(t *testing.T) {
	e := newEnv(t, setup{hooks: []fakeaws.Hook{}})
	g := e.describe(t)
	if len(g.Problems) != 1 || !strings.Contains(g.Problems[0], "no terminating lifecycle hook") || !strings.Contains(g.Problems[0], "add one on autoscaling:EC2_INSTANCE_TERMINATING") {
		t.Fatalf("problems %q", g.Problems)
	}
}

func TestFreezeThawRestoresOnlyWhatItSuspended(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	movers := e.describe(t).Movers
	if !slices.Equal(movers, []string{"AZRebalance", "ScheduledActions"}) {
		t.Fatalf("movers running %v (AlarmNotification was suspended by the operator)", movers)
	}
	if err := e.p.Freeze(ctx, movers); err != nil {
		t.Fatal(err)
	}
	g := e.describe(t)
	if s := slices.Sorted(slices.Values(g.Suspended)); !slices.Equal(s, []string{"AZRebalance", "AlarmNotification", "ScheduledActions"}) || len(g.Movers) != 0 {
		t.Fatalf("suspended %v, movers %v", s, g.Movers)
	}
	if err := e.p.Freeze(ctx, g.Movers); err != nil {
		t.Fatalf("second freeze: %v", err)
	}
	if n := len(e.sent("SuspendProcesses")); n != 1 {
		t.Fatalf("%d SuspendProcesses calls, want 1 (nothing left to suspend the second time)", n)
	}
	if err := e.p.Thaw(ctx, movers); err != nil {
		t.Fatal(err)
	}
	if g := e.describe(t); !slices.Equal(g.Suspended, []string{"AlarmNotification"}) {
		t.Fatalf("after thaw: %v", g.Suspended)
	}
	if err := e.p.Thaw(ctx, nil); err != nil || len(e.sent("ResumeProcesses")) != 1 {
		t.Fatalf("empty thaw: %v, %d calls", err, len(e.sent("ResumeProcesses")))
	}
}

func TestSetDesiredLaunchesThroughBackendAndRepeatsAsNoOp(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g := e.waitFor(t, "four in service", inService(4))
	var fresh cloud.Instance
	for _, in := range g.Instances {
		if !slices.Contains(e.ids, in.ID) {
			fresh = in
		}
	}
	if fresh.ID == "" || fresh.PrivateIP != "10.0.0.4" || fresh.ImageID != e.oldAMI || fresh.Template.Version != "1" {
		t.Fatalf("new instance %+v", fresh)
	}
	if g.Instances[3].ID != fresh.ID {
		t.Fatalf("new instance not last (oldest first): %+v", g.Instances)
	}
	req, ok := e.backend.Launched(fresh.ID)
	if !ok || req.ImageID != e.oldAMI || req.Release != oldRelease || req.Tags[fakeaws.ClusterTag] != "neuwerk" || req.Tags[fakeaws.RoleTag] != "dataplane" {
		t.Fatalf("backend launch %+v (%v)", req, ok)
	}
	if len(g.Activities) != 1 || g.Activities[0].Status != "Successful" || !strings.Contains(g.Activities[0].Description, fresh.ID) {
		t.Fatalf("activities %+v", g.Activities)
	}

	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if g := e.describe(t); len(g.Instances) != 4 || len(g.Activities) != 1 {
		t.Fatalf("repeat changed the group: %d instances, %d activities", len(g.Instances), len(g.Activities))
	}

	err := e.p.SetDesired(ctx, 5)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" ||
		err.Error() != "aws autoscaling:SetDesiredCapacity: ValidationError: New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup." {
		t.Fatalf("above max: %v", err)
	}
}

func TestRetireHoldsUntilCompleteLifecycleAction(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	x := e.ids[0]
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatal(err)
	}
	g := e.describe(t)
	in, ok := g.Instance(x)
	if !ok || in.Lifecycle != cloud.TerminatingWait || in.State != "Terminating:Wait" || g.Desired != 2 {
		t.Fatalf("after retire: %+v, desired %d", in, g.Desired)
	}
	if ok, why := g.Stable(); ok || !strings.Contains(why, "Terminating:Wait") {
		t.Fatalf("stable %v (%s)", ok, why)
	}
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if n := len(e.sent("TerminateInstanceInAutoScalingGroup")); n != 2 {
		t.Fatalf("%d terminate calls", n)
	}
	time.Sleep(60 * time.Millisecond)
	if in, _ := e.describe(t).Instance(x); in.Lifecycle != cloud.TerminatingWait {
		t.Fatalf("hold let go by itself: %+v", in)
	}
	if e.backend.Terminated(x) {
		t.Fatal("backend stopped the instance during the hold")
	}
	holds := e.backend.Holds()
	if len(holds) != 1 || holds[0].InstanceID != x || holds[0].Hook != "drain" || holds[0].Transition != fakeaws.TransitionTerminating || holds[0].Token == "" {
		t.Fatalf("holds %+v", holds)
	}

	if err := e.fake.CompleteLifecycleAction(group, "drain", x, "CONTINUE"); err != nil {
		t.Fatal(err)
	}
	g = e.waitFor(t, "x gone", func(g cloud.Group) bool { _, ok := g.Instance(x); return !ok })
	if len(g.Instances) != 2 || g.Desired != 2 {
		t.Fatalf("after: %+v", g)
	}
	if !e.backend.Terminated(x) {
		t.Fatal("backend never stopped x")
	}
	if ec2in, ok := e.fake.Instance(x); !ok || ec2in.State != fakeaws.EC2Terminated {
		t.Fatalf("EC2 view of x: %+v (%v)", ec2in, ok)
	}
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatalf("retire of a gone instance: %v", err)
	}
	acts := e.describe(t).Activities
	if len(acts) != 1 || acts[0].Status != "Successful" || acts[0].Description != "Terminating EC2 instance: "+x ||
		!strings.Contains(acts[0].Cause, "in response to a user request, shrinking the capacity from 3 to 2") {
		t.Fatalf("activities %+v", acts)
	}
}

func TestLaunchHook(t *testing.T) {
	e := newEnv(t, setup{launchingHook: true})
	ctx := context.Background()
	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g := e.waitFor(t, "a new instance held", func(g cloud.Group) bool {
		return len(g.Instances) == 4 && g.Instances[3].State == "Pending:Wait"
	})
	y := g.Instances[3]
	if y.Lifecycle != cloud.Pending || y.PrivateIP == "" || g.LaunchingHook == nil || g.LaunchingHook.Name != "join" {
		t.Fatalf("held instance %+v, hook %+v", y, g.LaunchingHook)
	}
	if err := e.p.CompleteLaunch(ctx, g, y.ID, true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "four in service", inService(4))
	if err := e.p.CompleteLaunch(ctx, g, y.ID, true); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if err := e.p.CompleteLaunch(ctx, cloud.Group{}, y.ID, true); err != nil || len(e.sent("CompleteLifecycleAction")) != 2 {
		t.Fatalf("without a hook: %v, %d calls", err, len(e.sent("CompleteLifecycleAction")))
	}
}

func TestFaultSetDesiredAPIError(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	if err := e.fake.FailNextCall("SetDesiredCapacity", "", ""); err != nil {
		t.Fatal(err)
	}
	err := e.p.SetDesired(ctx, 4)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ScalingActivityInProgress" ||
		err.Error() != "aws autoscaling:SetDesiredCapacity: ScalingActivityInProgress: Scaling activity is in progress and blocks this action." {
		t.Fatalf("fault: %v", err)
	}
	if g := e.describe(t); g.Desired != 3 || len(g.Instances) != 3 {
		t.Fatalf("the failed call changed the group: %+v", g)
	}
	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatalf("the fault fired twice: %v", err)
	}
	e.waitFor(t, "four in service", inService(4))
}

func TestFaultInsufficientCapacity(t *testing.T) {
	e := newEnv(t, setup{opts: fakeaws.Options{LaunchRetry: 700 * time.Millisecond}})
	ctx := context.Background()
	if err := e.fake.FailNextLaunch(); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g := e.describe(t)
	if len(g.Instances) != 3 || len(g.Activities) != 1 || g.Activities[0].Status != "Failed" ||
		!strings.Contains(g.Activities[0].StatusMsg, "We currently do not have sufficient c6in.large capacity") {
		t.Fatalf("after a failed launch: %d instances, activities %+v", len(g.Instances), g.Activities)
	}
	if ok, _ := g.Stable(); ok {
		t.Fatal("a group short of its desired capacity is stable")
	}
	g = e.waitFor(t, "the retry to launch", inService(4))
	if len(g.Activities) != 2 || g.Activities[0].Status != "Successful" {
		t.Fatalf("activities after retry %+v", g.Activities)
	}
}

func TestFaultBackendLaunchError(t *testing.T) {
	e := newEnv(t, setup{opts: fakeaws.Options{LaunchRetry: time.Hour}})
	e.backend.LaunchErr = errors.New("no image file")
	if err := e.p.SetDesired(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	g := e.waitFor(t, "the launch to fail", func(g cloud.Group) bool {
		return len(g.Activities) == 1 && g.Activities[0].Status == "Failed"
	})
	if len(g.Instances) != 3 || !strings.Contains(g.Activities[0].StatusMsg, "no image file") {
		t.Fatalf("%+v", g)
	}
}

func TestFaultHangTermination(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	x := e.ids[1]
	if err := e.fake.HangTermination(""); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.CompleteLifecycleAction(group, "drain", x, "CONTINUE"); err != nil {
		t.Fatalf("a hung hold refused the answer: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	if in, ok := e.describe(t).Instance(x); !ok || in.Lifecycle != cloud.TerminatingWait {
		t.Fatalf("hung instance moved: %+v", in)
	}
	e.fake.ClearFaults()
	if err := e.fake.CompleteLifecycleAction(group, "drain", x, "CONTINUE"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "x gone", func(g cloud.Group) bool { _, ok := g.Instance(x); return !ok })
}

func TestFaultGroupChangesUnderneath(t *testing.T) {
	e := newEnv(t, setup{hooks: []fakeaws.Hook{}})
	if err := e.fake.LaunchUnderneath(group); err != nil {
		t.Fatal(err)
	}
	g := e.waitFor(t, "four in service", inService(4))
	if g.Desired != 4 || !strings.Contains(g.Activities[0].Cause, "a scheduled action changed the desired capacity from 3 to 4") {
		t.Fatalf("after launch underneath: %+v", g)
	}
	victim := e.ids[0]
	if err := e.fake.TerminateUnderneath(group, victim); err != nil {
		t.Fatal(err)
	}
	g = e.waitFor(t, "a replacement", func(g cloud.Group) bool {
		_, there := g.Instance(victim)
		ok, _ := g.Stable()
		return !there && ok && len(g.Instances) == 4
	})
	if g.Desired != 4 {
		t.Fatalf("desired %d", g.Desired)
	}
}

func TestRefreshRunsAndRepeats(t *testing.T) {
	e := newEnv(t, setup{hooks: []fakeaws.Hook{}})
	ctx := context.Background()
	v2, err := e.p.NewTemplate(ctx, cloud.TemplateRef{ID: e.tmpl.ID, Version: "1"}, cloud.Image{ID: e.newAMI})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.p.StartRefresh(ctx, v2)
	if err != nil || id == "" {
		t.Fatalf("start: %q %v", id, err)
	}
	again, err := e.p.StartRefresh(ctx, v2)
	if err != nil || again != id {
		t.Fatalf("repeat: %q %v, want %q", again, err, id)
	}
	e.waitFor(t, "the refresh to succeed", func(g cloud.Group) bool { return g.Refresh != nil && g.Refresh.Status == "Successful" })
	g := e.waitFor(t, "three in service", inService(3)) // Describe reads the group before the refresh
	if g.Refresh.ID != id || g.Refresh.PercentComplete != 100 || len(g.Instances) != 3 || g.Desired != 3 || g.Template != v2 {
		t.Fatalf("after refresh: %+v, refresh %+v", g, g.Refresh)
	}
	for _, in := range g.Instances {
		if in.ImageID != e.newAMI || slices.Contains(e.ids, in.ID) {
			t.Fatalf("instance not replaced: %+v", in)
		}
	}
	form, _ := url.ParseQuery(e.sent("StartInstanceRefresh")[0])
	if form.Get("Preferences.MaxHealthyPercentage") != "134" || form.Get("Preferences.MinHealthyPercentage") != "100" {
		t.Fatalf("preferences sent: %v", form)
	}
	if err := e.p.CancelRefresh(ctx); err != nil {
		t.Fatalf("cancel with nothing to cancel: %v", err)
	}
}

func TestRefreshCancel(t *testing.T) {
	e := newEnv(t, setup{hooks: []fakeaws.Hook{}, opts: fakeaws.Options{LaunchDelay: 400 * time.Millisecond}})
	ctx := context.Background()
	v2, err := e.p.NewTemplate(ctx, cloud.TemplateRef{ID: e.tmpl.ID, Version: "1"}, cloud.Image{ID: e.newAMI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.StartRefresh(ctx, v2); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "the refresh to run", func(g cloud.Group) bool { return g.Refresh != nil && g.Refresh.Status == "InProgress" })
	if err := e.p.CancelRefresh(ctx); err != nil {
		t.Fatal(err)
	}
	if g := e.describe(t); g.Refresh.Status != "Cancelling" || !g.Refresh.Active() {
		t.Fatalf("refresh %+v", g.Refresh)
	}
	g := e.waitFor(t, "cancelled", func(g cloud.Group) bool { return g.Refresh.Status == "Cancelled" })
	e.waitFor(t, "three in service", inService(3))
	old := 0
	for _, in := range e.describe(t).Instances {
		if in.ImageID == e.oldAMI {
			old++
		}
	}
	if old != 2 || g.Template.Version != "1" {
		t.Fatalf("%d instances still old (want 2: one replaced before the cancel took), template %+v", old, g.Template)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	eps := map[string]string{"autoscaling": e.url, "ec2": e.url}

	missing := e.provider(t, cloud.Config{Region: "eu-west-1", Group: "nope", Anonymous: true, Endpoints: eps})
	_, err := missing.Describe(ctx)
	if !errors.Is(err, cloud.ErrNotFound) || err.Error() != `aws autoscaling:DescribeAutoScalingGroups: Auto Scaling group "nope" not found in region eu-west-1: check cloud.group and cloud.region in the inventory` {
		t.Fatalf("missing group: %v", err)
	}
	if err := missing.SetDesired(ctx, 3); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("SetDesired on a missing group: %v", err)
	}

	if err := e.fake.FailNextCall("DescribeAutoScalingGroups", "AccessDenied", "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: autoscaling:DescribeAutoScalingGroups"); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Describe(ctx)
	var perr *awsprov.Error
	if !errors.As(err, &perr) || perr.Code != "AccessDenied" ||
		!strings.HasPrefix(err.Error(), `aws autoscaling:DescribeAutoScalingGroups: access denied: the credentials in use need the IAM permission "autoscaling:DescribeAutoScalingGroups" on group nw in region us-east-1`) {
		t.Fatalf("access denied: %v", err)
	}

	if err := e.fake.FailNextCall("DescribeImages", "UnauthorizedOperation", "You are not authorized to perform this operation."); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.ImageFor(ctx, newRelease)
	if err == nil || err.Error() != `aws ec2:DescribeImages: access denied: the credentials in use need the IAM permission "ec2:DescribeImages" on group nw in region us-east-1 (You are not authorized to perform this operation.)` {
		t.Fatalf("ec2 access denied: %v", err)
	}

	for _, c := range []struct {
		name string
		eps  map[string]string
		want string
	}{
		{"no endpoints", nil, "cloud.endpoints.autoscaling is not set"},
		{"remote endpoint", map[string]string{"autoscaling": "https://autoscaling.us-east-1.amazonaws.com", "ec2": e.url}, "loopback"},
		{"unknown service", map[string]string{"sts": e.url}, `unknown service "sts"`},
	} {
		_, err := awsprov.New(ctx, cloud.Config{Region: "us-east-1", Group: group, Anonymous: true, Endpoints: c.eps})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

func TestMissingCredentials(t *testing.T) {
	e := newEnv(t, setup{})
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	p := e.provider(t, cloud.Config{Region: "us-east-1", Group: group, Endpoints: map[string]string{"autoscaling": e.url, "ec2": e.url}})
	_, err := p.Describe(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "aws autoscaling:DescribeAutoScalingGroups: no usable AWS credentials: the default chain looks at AWS_ACCESS_KEY_ID") {
		t.Fatalf("missing credentials: %v", err)
	}
	if n := len(e.sent("DescribeAutoScalingGroups")); n != 0 {
		t.Fatalf("%d requests went out without credentials", n)
	}
}

func TestRejectedCredentialsAreNotPrinted(t *testing.T) {
	e := newEnv(t, setup{})
	const keyID, secret = "AKIAEXAMPLEKEYID0001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_PROFILE", "")
	p := e.provider(t, cloud.Config{Region: "us-east-1", Group: group, Endpoints: map[string]string{"autoscaling": e.url, "ec2": e.url}})
	if err := e.fake.FailNextCall("SetDesiredCapacity", "InvalidClientTokenId", "The security token included in the request is invalid."); err != nil {
		t.Fatal(err)
	}
	err := p.SetDesired(context.Background(), 4)
	if err == nil || !strings.HasPrefix(err.Error(), "aws autoscaling:SetDesiredCapacity: AWS rejected the credentials (InvalidClientTokenId: The security token included in the request is invalid.)") {
		t.Fatalf("rejected credentials: %v", err)
	}
	if strings.Contains(err.Error(), keyID) || strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
		t.Fatalf("credentials printed: %v", err)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	imgs, err := e.p.Images(ctx, []string{e.newAMI, "ami-00000000000000bad"})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != e.newAMI || imgs[0].Release != newRelease {
		t.Fatalf("images %+v", imgs)
	}
	if imgs, err := e.p.Images(ctx, nil); err != nil || len(imgs) != 0 {
		t.Fatalf("no ids: %v %v", imgs, err)
	}
}

// CompleteTermination answers the terminating hook over the API (for an
// instance that never joined: nobody else will), and a repeat once the
// instance is gone is success.
func TestCompleteTermination(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	x := e.ids[0]
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatal(err)
	}
	g := e.describe(t)
	if err := e.p.CompleteTermination(ctx, g, x); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "x gone", func(g cloud.Group) bool { _, ok := g.Instance(x); return !ok })
	if err := e.p.CompleteTermination(ctx, g, x); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	calls := e.sent("CompleteLifecycleAction")
	if len(calls) < 1 || !strings.Contains(calls[0], "LifecycleHookName=drain") || !strings.Contains(calls[0], "LifecycleActionResult=CONTINUE") {
		t.Fatalf("calls %v", calls)
	}
}
