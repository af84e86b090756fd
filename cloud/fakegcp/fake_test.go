package fakegcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/nwroll/nwroll/cloud/fakecloud"
	"github.com/nwroll/nwroll/cloud/fakegcp"
)

const prefix = "/compute/v1/projects/nw-project/"

type world struct {
	fake    *fakegcp.Fake
	backend *fakecloud.MemoryBackend
	url     string
}

func newWorld(t *testing.T, opts fakegcp.Options, graceful time.Duration) *world {
	t.Helper()
	w := &world{backend: &fakecloud.MemoryBackend{}}
	opts.Backend = w.backend
	if opts.Tick == 0 {
		opts.Tick = 5 * time.Millisecond
	}
	if opts.OperationDelay == 0 {
		opts.OperationDelay = 20 * time.Millisecond
	}
	w.fake = fakegcp.New(opts)
	t.Cleanup(w.fake.Close)
	srv, err := w.fake.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	w.url = srv.URL
	img, err := w.fake.AddImage(fakegcp.ImageSpec{Name: "neuwerk-1-2-0", Release: "1.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.fake.AddImage(fakegcp.ImageSpec{Name: "other", Labels: map[string]string{"team": "x"}}); err != nil {
		t.Fatal(err)
	}
	tmpl, err := w.fake.AddTemplate(fakegcp.TemplateSpec{Name: "nw-tmpl", SourceImage: img, GracefulShutdown: graceful})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.fake.AddGroup(fakegcp.GroupSpec{Name: "nw", Template: tmpl, TargetSize: 2, Adopt: []fakegcp.Adopted{
		{Name: "nw-a", PrivateIP: "10.1.0.1"}, {Name: "nw-b", PrivateIP: "10.1.0.2"}}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, w.url+prefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return resp.StatusCode, out
}

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

func TestErrorShape(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	status, body := w.do(t, "GET", "regions/europe-west1/instanceGroupManagers/nope", "")
	e, _ := body["error"].(map[string]any)
	errs, _ := e["errors"].([]any)
	if status != 404 || e["code"] != float64(404) || len(errs) != 1 || errs[0].(map[string]any)["reason"] != "notFound" ||
		!strings.Contains(e["message"].(string), "instanceGroupManagers/nope") {
		t.Errorf("%d %v", status, body)
	}
	// The real client decodes it.
	c, err := compute.NewRegionInstanceGroupManagersRESTClient(context.Background(), option.WithEndpoint(w.url), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), &computepb.GetRegionInstanceGroupManagerRequest{Project: "nw-project", Region: "europe-west1", InstanceGroupManager: "nope"})
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 404 || len(ge.Errors) != 1 || ge.Errors[0].Reason != "notFound" {
		t.Errorf("client error %#v", err)
	}
	// A fault answers the next call of its method only.
	if err := w.fake.FailNextCall("regionInstanceGroupManagers.get", 503, "backendError", "try later"); err != nil {
		t.Fatal(err)
	}
	if status, _ := w.do(t, "GET", "regions/europe-west1/instanceGroupManagers/nw", ""); status != 503 {
		t.Errorf("faulted get: %d", status)
	}
	if status, _ := w.do(t, "GET", "regions/europe-west1/instanceGroupManagers/nw", ""); status != 200 {
		t.Errorf("get after the fault: %d", status)
	}
	if status, _ := w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/recreateInstances", `{"instances":["x"]}`); status != 400 {
		t.Errorf("recreateInstances: %d", status)
	}
	if n := w.fake.Calls()["regionInstanceGroupManagers.recreateInstances"]; n != 1 {
		t.Errorf("recreateInstances counted %d", n)
	}
}

func TestImageFilter(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	for filter, want := range map[string][]string{
		`labels.neuwerk_release = "1_2_0"`: {"neuwerk-1-2-0"},
		`labels.neuwerk_release = 1_3_0`:   nil,
		`labels.team="x"`:                  {"other"},
		``:                                 {"neuwerk-1-2-0", "other"},
	} {
		status, body := w.do(t, "GET", "global/images?filter="+url.QueryEscape(filter), "")
		items, _ := body["items"].([]any)
		var got []string
		for _, it := range items {
			got = append(got, it.(map[string]any)["name"].(string))
		}
		if status != 200 || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("filter %q: %d %v, want %v", filter, status, got, want)
		}
	}
	if status, _ := w.do(t, "GET", "global/images?filter="+url.QueryEscape("name = x AND y"), ""); status != 400 {
		t.Errorf("unknown filter: %d", status)
	}
}

func TestOperationRunsThenIsDone(t *testing.T) {
	w := newWorld(t, fakegcp.Options{OperationDelay: 200 * time.Millisecond}, 0)
	status, op := w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/resize?size=3", "")
	if status != 200 || op["status"] != "RUNNING" || op["kind"] != "compute#operation" {
		t.Fatalf("%d %v", status, op)
	}
	name := op["name"].(string)
	if _, got := w.do(t, "GET", "regions/europe-west1/operations/"+name, ""); got["status"] != "RUNNING" {
		t.Errorf("at once: %v", got["status"])
	}
	if _, got := w.do(t, "POST", "regions/europe-west1/operations/"+name+"/wait", ""); got["status"] != "DONE" || got["progress"] != float64(100) {
		t.Errorf("after wait: %v", got)
	}
	if status, _ := w.do(t, "GET", "global/operations/"+name, ""); status != 404 {
		t.Errorf("a regional operation found globally: %d", status)
	}
	g, _ := w.fake.Group("nw")
	if g.TargetSize != 3 || len(g.Instances) != 3 {
		t.Errorf("target %d, %d instances", g.TargetSize, len(g.Instances))
	}
}

func TestGracefulWindow(t *testing.T) {
	for _, c := range []struct {
		name     string
		graceful time.Duration
		query    string
		want     time.Duration
	}{
		{"graceful shorter than the cap", time.Second, "", time.Second},
		{"the cap shorter", time.Hour, "", time.Minute},
		{"no graceful shutdown", 0, "", 0},
		{"noGracefulShutdown", time.Second, "?noGracefulShutdown=true", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, fakegcp.Options{GracefulDelay: time.Minute}, c.graceful)
			if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultHangDeletion}); err != nil {
				t.Fatal(err)
			}
			link := "https://www.googleapis.com/compute/v1/projects/nw-project/zones/europe-west1-b/instances/nw-a"
			status, _ := w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/deleteInstances"+c.query, `{"instances":["`+link+`"]}`)
			if status != 200 {
				t.Fatalf("deleteInstances: %d", status)
			}
			in, ok := w.fake.Instance("nw", "nw-a")
			if !ok || in.CurrentAction != "DELETING" || in.DeleteAt.Sub(in.DeleteAsked) != c.want {
				t.Errorf("%+v: want DELETING for %s", in, c.want)
			}
			if g, _ := w.fake.Group("nw"); g.TargetSize != 1 {
				t.Errorf("target size %d", g.TargetSize)
			}
			w.fake.ClearFaults()
			if c.want == 0 {
				waitUntil(t, "nw-a gone", func() bool { _, ok := w.fake.Instance("nw", "nw-a"); return !ok })
				if !w.backend.Terminated("nw-a") {
					t.Error("gone without Backend.Terminate")
				}
			}
		})
	}
}

func TestDeleteInstancesRefusesStrangers(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	status, body := w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/deleteInstances",
		`{"instances":["https://www.googleapis.com/compute/v1/projects/nw-project/zones/europe-west1-b/instances/stranger"]}`)
	if status != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "not a member") {
		t.Errorf("%d %v", status, body)
	}
	if g, _ := w.fake.Group("nw"); g.TargetSize != 2 {
		t.Errorf("target size %d", g.TargetSize)
	}
}

func TestResizeLaunchesAndShrinks(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/resize?size=3", "")
	var made string
	waitUntil(t, "the third instance running", func() bool {
		g, _ := w.fake.Group("nw")
		for _, in := range g.Instances {
			if in.Name != "nw-a" && in.Name != "nw-b" && in.CurrentAction == "NONE" && in.Status == "RUNNING" {
				made = in.Name
				return true
			}
		}
		return false
	})
	req, ok := w.backend.Launched(made)
	if !ok || req.Group != "nw" || req.Release != "1.2.0" || !strings.HasSuffix(req.ImageID, "/global/images/neuwerk-1-2-0") {
		t.Errorf("launch %+v %v", req, ok)
	}
	in, _ := w.fake.Instance("nw", made)
	status, body := w.do(t, "GET", "zones/"+in.Zone+"/instances/"+made, "")
	nics, _ := body["networkInterfaces"].([]any)
	if status != 200 || len(nics) != 1 || nics[0].(map[string]any)["networkIP"] != in.PrivateIP || in.PrivateIP == "" {
		t.Errorf("instance %d %v", status, body)
	}
	w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/resize?size=2", "")
	waitUntil(t, "two instances", func() bool { g, _ := w.fake.Group("nw"); return len(g.Instances) == 2 })
	if !w.backend.Terminated(made) {
		t.Errorf("resize down terminated another instance than the newest, %s", made)
	}
}

func TestSnapshotRestore(t *testing.T) {
	w := newWorld(t, fakegcp.Options{LaunchDelay: time.Hour}, 0)
	w.do(t, "POST", "regions/europe-west1/instanceGroupManagers/nw/resize?size=3", "")
	snap, err := w.fake.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := w.fake.Group("nw")
	w.fake.Close()
	backend := &fakecloud.MemoryBackend{}
	f, err := fakegcp.Restore(snap, fakegcp.Options{Backend: backend, Tick: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, _ := f.Group("nw")
	if after.TargetSize != 3 || len(after.Instances) != 3 || after.Instances[2].Name != before.Instances[2].Name {
		t.Fatalf("restored %+v", after)
	}
	caught := after.Instances[2].Name
	waitUntil(t, "the caught launch done", func() bool { in, _ := f.Instance("nw", caught); return in.CurrentAction == "NONE" })
	if !backend.Running(caught) {
		t.Errorf("%s not launched through the new backend", caught)
	}
	if _, err := fakegcp.Restore([]byte("{"), fakegcp.Options{}); err == nil {
		t.Error("a broken snapshot restored")
	}
}

func TestConcurrentUse(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	c, err := compute.NewRegionInstanceGroupManagersRESTClient(context.Background(), option.WithEndpoint(w.url), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				if _, err := c.Resize(ctx, &computepb.ResizeRegionInstanceGroupManagerRequest{Project: "nw-project", Region: "europe-west1",
					InstanceGroupManager: "nw", Size: int32(2 + i%3)}); err != nil {
					t.Error(err)
				}
				return
			}
			it := c.ListManagedInstances(ctx, &computepb.ListManagedInstancesRegionInstanceGroupManagersRequest{Project: "nw-project",
				Region: "europe-west1", InstanceGroupManager: "nw"})
			for {
				if _, err := it.Next(); err == iterator.Done {
					break
				} else if err != nil {
					t.Error(err)
					break
				}
			}
			if _, err := w.fake.Snapshot(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestUnderneath(t *testing.T) {
	w := newWorld(t, fakegcp.Options{}, 0)
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultLaunchUnderneath}); err != nil {
		t.Fatal(err)
	}
	if g, _ := w.fake.Group("nw"); g.TargetSize != 3 || len(g.Instances) != 3 {
		t.Errorf("launch underneath: target %d, %d instances", g.TargetSize, len(g.Instances))
	}
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultHangDeletion, Instance: "nw-a"}); err != nil {
		t.Fatal(err)
	}
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultTerminateUnderneath, Instance: "nw-a"}); err != nil {
		t.Fatal(err)
	}
	if in, _ := w.fake.Instance("nw", "nw-a"); in.CurrentAction != "RECREATING" {
		t.Errorf("nw-a %+v", in)
	}
	w.fake.ClearFaults()
	waitUntil(t, "nw-a recreated", func() bool {
		in, _ := w.fake.Instance("nw", "nw-a")
		return in.CurrentAction == "NONE" && in.Status == "RUNNING"
	})
	if !w.backend.Terminated("nw-a") || !w.backend.Running("nw-a") {
		t.Error("nw-a was not terminated, then launched again")
	}
	if g, _ := w.fake.Group("nw"); g.TargetSize != 3 {
		t.Errorf("target %d", g.TargetSize)
	}
	if err := w.fake.Inject(fakegcp.Fault{Kind: fakegcp.FaultTerminateUnderneath, Group: "nope"}); err == nil {
		t.Error("a fault on no group")
	}
}
