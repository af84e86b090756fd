package fakeaws_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithytesting "github.com/aws/smithy-go/testing"

	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/cloud/fakecloud"
)

var created = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

type world struct {
	fake    *fakeaws.Fake
	backend *fakecloud.MemoryBackend
	url     string
	as      *autoscaling.Client
	ec2     *ec2.Client
	ami     string
	tmpl    fakeaws.TemplateSpec
	ids     []string
}

// newWorld serves a fake on a loopback port, with group "nw" of three
// adopted instances and the given hooks, and real SDK clients for it.
func newWorld(t *testing.T, opts fakeaws.Options, hooks ...fakeaws.Hook) *world {
	t.Helper()
	w := &world{backend: &fakecloud.MemoryBackend{}}
	opts.Backend = w.backend
	if opts.Tick == 0 {
		opts.Tick = 5 * time.Millisecond
	}
	w.fake = fakeaws.New(opts)
	t.Cleanup(w.fake.Close)
	w.ami = w.fake.AddImage(fakeaws.Image{ID: "ami-0a1", Name: "neuwerk-1.0.0", Created: created,
		Tags: map[string]string{fakeaws.ReleaseTag: "1.0.0"}})
	w.tmpl = w.fake.AddLaunchTemplate("neuwerk", w.ami, "c6in.large")
	ids, err := w.fake.AddGroup(fakeaws.GroupSpec{Name: "nw", Min: 1, Max: 4, Desired: 3, Template: w.tmpl, Hooks: hooks,
		Adopt: []fakeaws.Adopted{{PrivateIP: "10.1.0.1"}, {PrivateIP: "10.1.0.2"}, {PrivateIP: "10.1.0.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	w.ids = ids
	srv, err := w.fake.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	w.url = srv.URL
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1}
	w.as = autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(srv.URL + "/autoscaling") })
	w.ec2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.URL + "/ec2") })
	return w
}

// post sends a raw Query request and returns status and body, with every
// request id replaced by REQ.
func (w *world) post(t *testing.T, form string) (int, string) {
	t.Helper()
	resp, err := http.Post(w.url, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ids := regexp.MustCompile(`(<RequestI[dD]>|<requestId>)[^<]*(</)`)
	return resp.StatusCode, ids.ReplaceAllString(string(b), "${1}REQ${2}")
}

func (w *world) member(t *testing.T, id string) (fakeaws.Member, bool) {
	t.Helper()
	g, _ := w.fake.Group("nw")
	for _, m := range g.Members {
		if m.InstanceID == id {
			return *m, true
		}
	}
	return fakeaws.Member{}, false
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGoldenDescribeLifecycleHooks(t *testing.T) {
	w := newWorld(t, fakeaws.Options{}, fakeaws.Hook{Name: "drain", Transition: fakeaws.TransitionTerminating, HeartbeatTimeout: 300 * time.Second, DefaultResult: "CONTINUE"})
	status, body := w.post(t, "Action=DescribeLifecycleHooks&Version=2011-01-01&AutoScalingGroupName=nw")
	want := `<DescribeLifecycleHooksResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeLifecycleHooksResult>
    <LifecycleHooks>
      <member>
        <LifecycleHookName>drain</LifecycleHookName>
        <AutoScalingGroupName>nw</AutoScalingGroupName>
        <LifecycleTransition>autoscaling:EC2_INSTANCE_TERMINATING</LifecycleTransition>
        <HeartbeatTimeout>300</HeartbeatTimeout>
        <GlobalTimeout>30000</GlobalTimeout>
        <DefaultResult>CONTINUE</DefaultResult>
      </member>
    </LifecycleHooks>
  </DescribeLifecycleHooksResult>
  <ResponseMetadata><RequestId>REQ</RequestId></ResponseMetadata>
</DescribeLifecycleHooksResponse>`
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := smithytesting.XMLEqual([]byte(want), []byte(body)); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

func TestGoldenDescribeImages(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	status, body := w.post(t, "Action=DescribeImages&Version=2016-11-15&Filter.1.Name=tag%3Aneuwerk.io%2Frelease&Filter.1.Value.1=1.0.0")
	want := `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>REQ</requestId>
  <imagesSet>
    <item>
      <imageId>ami-0a1</imageId>
      <imageState>available</imageState>
      <imageOwnerId>123456789012</imageOwnerId>
      <creationDate>2026-11-30T12:00:00.000Z</creationDate>
      <name>neuwerk-1.0.0</name>
      <architecture>x86_64</architecture>
      <imageType>machine</imageType>
      <tagSet><item><key>neuwerk.io/release</key><value>1.0.0</value></item></tagSet>
    </item>
  </imagesSet>
</DescribeImagesResponse>`
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := smithytesting.XMLEqual([]byte(want), []byte(body)); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
}

func TestGoldenErrors(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	for _, c := range []struct{ form, want string }{
		{"Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=nw&DesiredCapacity=9",
			`<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>New SetDesiredCapacity value 9 is above max value 4 for the AutoScalingGroup.</Message></Error><RequestId>REQ</RequestId></ErrorResponse>`},
		{"Action=LaunchRockets&Version=2011-01-01",
			`<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>The action LaunchRockets is not valid for this web service.</Message></Error><RequestId>REQ</RequestId></ErrorResponse>`},
		{"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0ff",
			`<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-0ff' does not exist</Message></Error></Errors><RequestID>REQ</RequestID></Response>`},
		{"Action=RunInstances&Version=2016-11-15",
			`<Response><Errors><Error><Code>InvalidAction</Code><Message>The action RunInstances is not valid for this web service.</Message></Error></Errors><RequestID>REQ</RequestID></Response>`},
	} {
		status, body := w.post(t, c.form)
		if status != 400 {
			t.Errorf("%s: status %d", c.form, status)
		}
		if err := smithytesting.XMLEqual([]byte(c.want), []byte(body)); err != nil {
			t.Errorf("%s: %v\n%s", c.form, err, body)
		}
	}
}

func apiErr(t *testing.T, err error) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae
}

func TestSDKDecodesErrors(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	ctx := context.Background()

	_, err := w.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("ghost"), DesiredCapacity: aws.Int32(1)})
	if ae := apiErr(t, err); ae.ErrorCode() != "ValidationError" || ae.ErrorMessage() != "AutoScalingGroup name not found - AutoScalingGroup ghost not found" {
		t.Fatalf("autoscaling: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}

	_, err = w.as.CancelInstanceRefresh(ctx, &autoscaling.CancelInstanceRefreshInput{AutoScalingGroupName: aws.String("nw")})
	var modeled *astypes.ActiveInstanceRefreshNotFoundFault
	if !errors.As(err, &modeled) || modeled.ErrorCode() != "ActiveInstanceRefreshNotFound" ||
		modeled.ErrorMessage() != "No in progress or pending Instance Refresh found for Auto Scaling group nw" {
		t.Fatalf("modeled autoscaling error: %T %v", err, err)
	}

	_, err = w.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0ff", "i-0fe"}})
	if ae := apiErr(t, err); ae.ErrorCode() != "InvalidInstanceID.NotFound" || ae.ErrorMessage() != "The instance IDs 'i-0ff, i-0fe' do not exist" {
		t.Fatalf("ec2: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}

	_, err = w.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(w.tmpl.ID), Versions: []string{"9"}})
	if ae := apiErr(t, err); ae.ErrorCode() != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Fatalf("ec2 version: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}

	if err := w.fake.Inject(fakeaws.Fault{Kind: fakeaws.FaultAPIError, Action: "DescribeImages", Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."}); err != nil {
		t.Fatal(err)
	}
	_, err = w.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if ae := apiErr(t, err); ae.ErrorCode() != "UnauthorizedOperation" || ae.ErrorMessage() != "You are not authorized to perform this operation." {
		t.Fatalf("ec2 fault: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	if len(w.fake.Faults()) != 0 {
		t.Fatalf("fault not spent: %+v", w.fake.Faults())
	}
}

func TestDescribeInstancesJoinsEC2View(t *testing.T) {
	w := newWorld(t, fakeaws.Options{PageSize: 2})
	ctx := context.Background()
	pager := ec2.NewDescribeInstancesPaginator(w.ec2, &ec2.DescribeInstancesInput{})
	var got []string
	pages := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				got = append(got, aws.ToString(in.InstanceId)+"="+aws.ToString(in.PrivateIpAddress)+"/"+string(in.State.Name)+"/"+aws.ToString(in.ImageId))
			}
		}
	}
	want := []string{w.ids[0] + "=10.1.0.1/running/ami-0a1", w.ids[1] + "=10.1.0.2/running/ami-0a1", w.ids[2] + "=10.1.0.3/running/ami-0a1"}
	if pages != 2 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%d pages: %v", pages, got)
	}
}

func TestTerminatingHookTimesOutAndHeartbeatsExtendIt(t *testing.T) {
	const timeout = 500 * time.Millisecond
	w := newWorld(t, fakeaws.Options{}, fakeaws.Hook{Name: "drain", Transition: fakeaws.TransitionTerminating, HeartbeatTimeout: timeout, DefaultResult: "ABANDON"})
	ctx := context.Background()
	x := w.ids[2]
	out, err := w.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(x), ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	held := time.Now() // the first deadline is at most timeout from here
	if d := aws.ToString(out.Activity.Description); d != "Terminating EC2 instance: "+x || out.Activity.StatusCode != astypes.ScalingActivityStatusCodeInProgress {
		t.Fatalf("activity %q %s", d, out.Activity.StatusCode)
	}

	_, err = w.as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(x), ShouldDecrementDesiredCapacity: aws.Bool(true)})
	if ae := apiErr(t, err); ae.ErrorCode() != "ValidationError" || ae.ErrorMessage() != "The instance "+x+" is already in Terminating:Wait state and cannot be terminated again." {
		t.Fatalf("second terminate: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}

	time.Sleep(time.Until(held.Add(timeout / 5)))
	if _, err := w.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String("nw"), LifecycleHookName: aws.String("drain"), InstanceId: aws.String(x)}); err != nil {
		t.Fatal(err)
	}
	// Past the first deadline, well inside the extended one (≥ held+timeout*6/5).
	time.Sleep(time.Until(held.Add(timeout + timeout/25)))
	if m, ok := w.member(t, x); !ok || m.Lifecycle != fakeaws.TerminatingWait {
		t.Fatalf("after a heartbeat: %+v", m)
	}
	waitUntil(t, "the hold to time out", func() bool { _, ok := w.member(t, x); return !ok })
	if d := time.Since(held); d < timeout*6/5 {
		t.Fatalf("held only %v", d)
	}
	if !w.backend.Terminated(x) {
		t.Fatal("backend did not stop it")
	}
	in, _ := w.fake.Instance(x)
	if in.State != fakeaws.EC2Terminated {
		t.Fatalf("EC2 state %s", in.State)
	}
}

func TestLaunchHookAbandonTerminates(t *testing.T) {
	w := newWorld(t, fakeaws.Options{}, fakeaws.Hook{Name: "join", Transition: fakeaws.TransitionLaunching, HeartbeatTimeout: time.Minute, DefaultResult: "ABANDON"})
	ctx := context.Background()
	if _, err := w.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nw"), DesiredCapacity: aws.Int32(4), HonorCooldown: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	var y string
	waitUntil(t, "the launch hold", func() bool {
		for _, h := range w.backend.Holds() {
			y = h.InstanceID
		}
		return y != ""
	})
	if m, _ := w.member(t, y); m.Lifecycle != fakeaws.PendingWait {
		t.Fatalf("new instance %+v", m)
	}
	if _, err := w.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{AutoScalingGroupName: aws.String("nw"),
		LifecycleHookName: aws.String("join"), InstanceId: aws.String(y), LifecycleActionResult: aws.String("ABANDON")}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the abandoned instance to go", func() bool { return w.backend.Terminated(y) })
	acts, err := w.as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("nw")})
	if err != nil {
		t.Fatal(err)
	}
	var failed bool
	for _, a := range acts.Activities {
		if a.StatusCode == astypes.ScalingActivityStatusCodeFailed && strings.Contains(aws.ToString(a.StatusMessage), "ABANDON") {
			failed = true
		}
	}
	if !failed {
		t.Fatalf("no failed launch activity: %+v", acts.Activities)
	}
}

func TestScaleInPolicy(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	ctx := context.Background()
	if _, err := w.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nw"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the oldest to go", func() bool { _, ok := w.member(t, w.ids[0]); return !ok })
	g, _ := w.fake.Group("nw")
	if len(g.Members) != 2 || g.Members[0].InstanceID != w.ids[1] {
		t.Fatalf("members %+v", g.Members)
	}
}

func TestCreateLaunchTemplateVersionAndLatest(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	ctx := context.Background()
	newAMI := w.fake.AddImage(fakeaws.Image{Name: "neuwerk-1.1.0"})
	out, err := w.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: aws.String("neuwerk"),
		SourceVersion: aws.String("$Latest"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(newAMI)}})
	if err != nil {
		t.Fatal(err)
	}
	v := out.LaunchTemplateVersion
	if aws.ToInt64(v.VersionNumber) != 2 || aws.ToString(v.LaunchTemplateData.ImageId) != newAMI || v.LaunchTemplateData.InstanceType != "c6in.large" || aws.ToBool(v.DefaultVersion) {
		t.Fatalf("version %+v", v)
	}
	for _, c := range []struct{ version, image string }{{"$Latest", newAMI}, {"$Default", w.ami}, {"1", w.ami}} {
		d, err := w.ec2.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(w.tmpl.ID), Versions: []string{c.version}})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.LaunchTemplateVersions) != 1 || aws.ToString(d.LaunchTemplateVersions[0].LaunchTemplateData.ImageId) != c.image {
			t.Fatalf("%s: %+v", c.version, d.LaunchTemplateVersions)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	w := newWorld(t, fakeaws.Options{LaunchDelay: time.Hour})
	if err := w.fake.HangTermination(""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.as.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nw"), DesiredCapacity: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	snap, err := w.fake.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	backend := &fakecloud.MemoryBackend{}
	restored, err := fakeaws.Restore(snap, fakeaws.Options{Backend: backend, Tick: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if f := restored.Faults(); len(f) != 1 || f[0].Kind != fakeaws.FaultHangTermination {
		t.Fatalf("faults %+v", f)
	}
	g, ok := restored.Group("nw")
	if !ok || len(g.Members) != 4 || g.Desired != 4 {
		t.Fatalf("restored group %+v", g)
	}
	pendingID := g.Members[3].InstanceID
	waitUntil(t, "the restored fake to launch the pending instance", func() bool { return backend.Running(pendingID) })
	waitUntil(t, "it to be in service", func() bool {
		g, _ := restored.Group("nw")
		return g.Members[3].Lifecycle == fakeaws.InService
	})
}

func TestConcurrentUse(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				if i%2 == 0 {
					_, _ = w.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nw"), DesiredCapacity: aws.Int32(int32(2 + j%3))})
				} else {
					_, _ = w.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
					_, _ = w.fake.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	if _, err := w.as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nw"), DesiredCapacity: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three in service", func() bool {
		g, _ := w.fake.Group("nw")
		n := 0
		for _, m := range g.Members {
			if m.Lifecycle == fakeaws.InService {
				n++
			}
		}
		return n == 3 && len(g.Members) == 3
	})
}

func TestFaultJSONKinds(t *testing.T) {
	w := newWorld(t, fakeaws.Options{})
	if err := w.fake.Inject(fakeaws.Fault{Kind: "meteor"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if err := w.fake.Inject(fakeaws.Fault{Kind: fakeaws.FaultLaunchUnderneath, Group: "ghost"}); err == nil {
		t.Fatal("underneath on a missing group accepted")
	}
	if err := w.fake.Inject(fakeaws.Fault{Kind: fakeaws.FaultAPIError, Times: -1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		status, body := w.post(t, url.Values{"Action": {"SetDesiredCapacity"}, "Version": {"2011-01-01"}, "AutoScalingGroupName": {"nw"}, "DesiredCapacity": {"3"}}.Encode())
		if status != 400 || !strings.Contains(body, "<Code>ScalingActivityInProgress</Code>") {
			t.Fatalf("%d %s", status, body)
		}
	}
	w.fake.ClearFaults()
	if status, body := w.post(t, "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=nw&DesiredCapacity=3"); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
}

func TestRestoreRetellsHolds(t *testing.T) {
	w := newWorld(t, fakeaws.Options{}, fakeaws.Hook{Name: "drain", Transition: fakeaws.TransitionTerminating, HeartbeatTimeout: time.Hour, DefaultResult: "CONTINUE"})
	x := w.ids[0]
	if _, err := w.as.TerminateInstanceInAutoScalingGroup(context.Background(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(x), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	snap, err := w.fake.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	backend := &fakecloud.MemoryBackend{}
	restored, err := fakeaws.Restore(snap, fakeaws.Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	waitUntil(t, "the hold retold", func() bool { return len(backend.Holds()) == 1 })
	h := backend.Holds()[0]
	m, _ := w.member(t, x)
	if h.InstanceID != x || h.Hook != "drain" || h.Transition != fakeaws.TransitionTerminating || h.Token != m.HookToken {
		t.Fatalf("hold %+v, member %+v", h, m)
	}
	if err := restored.CompleteLifecycleAction("nw", "drain", x, "CONTINUE"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "x gone after restore", func() bool { g, _ := restored.Group("nw"); return len(g.Members) == 2 })
}
