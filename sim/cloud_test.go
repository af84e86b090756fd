package sim_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/nwroll/nwroll/cloud/fakeaws"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// TestCloudAWS runs a 3-node cluster behind the fake Auto Scaling group
// through the real SDK: the seeded group, a scale-out that launches a
// voter, a follower's termination (drain, eviction, hook completed,
// process gone), the leader's termination (its member stays until removed)
// and a hung termination.
func TestCloudAWS(t *testing.T) {
	t.Parallel()
	c := simtest.Start(t, sim.Options{Nodes: 3, Warmup: time.Second, Cloud: sim.CloudAWS})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	info := c.Info()
	as := autoscaling.New(autoscaling.Options{Region: info.CloudRegion, BaseEndpoint: sdkaws.String(info.CloudURL),
		Credentials: sdkaws.AnonymousCredentials{}})
	ec := ec2.New(ec2.Options{Region: info.CloudRegion, BaseEndpoint: sdkaws.String(info.CloudURL),
		Credentials: sdkaws.AnonymousCredentials{}})
	group := info.CloudGroup

	lifecycle := func(id string) string {
		t.Helper()
		out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
		if err != nil || len(out.AutoScalingGroups) != 1 {
			t.Fatalf("describe group: %v", err)
		}
		for _, in := range out.AutoScalingGroups[0].Instances {
			if sdkaws.ToString(in.InstanceId) == id {
				return string(in.LifecycleState)
			}
		}
		return ""
	}
	ec2State := func(id string) string {
		t.Helper()
		out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(out.Reservations) != 1 {
			t.Fatalf("describe instance %s: %v", id, err)
		}
		return string(out.Reservations[0].Instances[0].State.Name)
	}
	node := func(name string) sim.NodeInfo {
		t.Helper()
		again, err := sim.Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		in := again.Info()
		n, _ := in.Node(name)
		return n
	}
	tokens := map[string]api.Token{}
	members := func(via sim.NodeInfo) health.MembersResponse {
		t.Helper()
		tok, ok := tokens[via.Name]
		if !ok {
			var err error
			if tok, err = c.MintToken(ctx, via.Name, true, time.Hour); err != nil {
				t.Fatal(err)
			}
			tokens[via.Name] = tok
		}
		m, err := c.Members(ctx, via, tok)
		if err != nil {
			return health.MembersResponse{}
		}
		return m
	}
	member := func(m health.MembersResponse, id string) (health.Member, bool) {
		for _, mem := range m.Members {
			if mem.NodeID == id {
				return mem, true
			}
		}
		return health.Member{}, false
	}
	drain := func(m health.Member) string {
		if m.DrainState == nil {
			return ""
		}
		return *m.DrainState
	}
	voters := func(m health.MembersResponse) int {
		v := 0
		for _, mem := range m.Members {
			if mem.IsVoter {
				v++
			}
		}
		return v
	}

	t.Run("Seeded", func(t *testing.T) {
		var st fakeaws.State
		err := c.CloudState(ctx, &st)
		if err != nil {
			t.Fatal(err)
		}
		g := st.Groups[group]
		if g == nil || g.Min != 3 || g.Desired != 3 || g.Max != 4 || len(g.Members) != 3 {
			t.Fatalf("group %s: %+v", group, g)
		}
		if g.Tags[fakeaws.ClusterTag] != info.Cluster || g.Tags[fakeaws.RoleTag] != "dataplane" {
			t.Errorf("group tags %v", g.Tags)
		}
		if len(g.Hooks) != 1 || g.Hooks[0].Name != "neuwerk-drain" || g.Hooks[0].Transition != fakeaws.TransitionTerminating ||
			g.Hooks[0].HeartbeatTimeout != 300*time.Second || g.Hooks[0].DefaultResult != "CONTINUE" {
			t.Errorf("hooks %+v", g.Hooks)
		}
		releases := map[string]string{}
		for id, img := range st.Images {
			releases[img.Tags[fakeaws.ReleaseTag]] = id
		}
		for _, r := range sim.Releases {
			if releases[r.Version] == "" {
				t.Errorf("no image for release %s", r.Version)
			}
		}
		if len(st.Templates) != 1 {
			t.Fatalf("templates %+v", st.Templates)
		}
		for _, lt := range st.Templates {
			if lt.Name != group || len(lt.Versions) != 1 || lt.Versions[0].ImageID != releases[info.Release] {
				t.Errorf("template %+v", lt)
			}
		}
		for i, n := range info.Nodes {
			m := g.Members[i]
			in := st.Instances[n.InstanceID]
			if n.InstanceID == "" || m.InstanceID != n.InstanceID || m.Lifecycle != fakeaws.InService || in == nil ||
				in.PrivateIP != n.IP || in.ImageID != releases[info.Release] || in.State != fakeaws.EC2Running {
				t.Errorf("node %s (%s): member %+v instance %+v", n.Name, n.InstanceID, m, in)
			}
		}
		inv, _ := os.ReadFile(info.Inventory)
		want := "cloud:\n  provider: aws\n  region: us-east-1\n  group: " + group + "\n  endpoints:\n    autoscaling: " +
			info.CloudURL + "\n    ec2: " + info.CloudURL + "\n  credentials: anonymous\n"
		if !strings.Contains(string(inv), want) || strings.Contains(string(inv), "nodes:") {
			t.Errorf("inventory:\n%s\nwant the section:\n%s", inv, want)
		}
		parsed, err := inventory.LoadWith(info.Inventory, inventory.Options{SSHConfig: "none"})
		if err != nil || parsed.Cloud == nil || parsed.Cloud.Group != group || !parsed.Cloud.Anonymous ||
			parsed.Cloud.Endpoints["autoscaling"] != info.CloudURL || len(parsed.Nodes()) != 0 {
			t.Errorf("nwroll's inventory parser: %+v %v", parsed, err)
		}
		if _, err := os.Stat(filepath.Join(c.Dir(), "cloud.json")); err != nil {
			t.Errorf("no snapshot: %v", err)
		}
	})

	fwa := info.Nodes[0]
	t.Run("ScaleOut", func(t *testing.T) {
		if _, err := as.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: &group,
			DesiredCapacity: sdkaws.Int32(4)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "fw-d launched", func() bool { return node("fw-d").InstanceID != "" })
		fwd := node("fw-d")
		waitFor(t, 60*time.Second, "fw-d a voter", func() bool { return voterIn(members(fwa), fwd.NodeID) })
		waitFor(t, 10*time.Second, "fw-d in service", func() bool { return lifecycle(fwd.InstanceID) == fakeaws.InService })
		var st fakeaws.State
		_ = c.CloudState(ctx, &st)
		if in := st.Instances[fwd.InstanceID]; in == nil || in.PrivateIP != fwd.IP || st.Images[in.ImageID].Tags[fakeaws.ReleaseTag] != info.Release {
			t.Errorf("fw-d's instance %+v", in)
		}
		if log, _ := os.ReadFile(fwd.Log); !strings.Contains(string(log), `seed=`+fwa.IP) {
			t.Errorf("fw-d did not join through the oldest node %s", fwa.IP)
		}
	})

	t.Run("TerminateFollower", func(t *testing.T) {
		fwb := node("fw-b")
		svc := waitService(t, c, "fw-b", 10*time.Second, "running", func(s sim.ServiceStatus) bool { return s.MainPID > 0 })
		if _, err := as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: sdkaws.String(fwb.InstanceID), ShouldDecrementDesiredCapacity: sdkaws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "Terminating:Wait", func() bool { return lifecycle(fwb.InstanceID) == fakeaws.TerminatingWait })
		seen := map[string]bool{}
		waitFor(t, 30*time.Second, "fw-b evicted", func() bool {
			m, ok := member(members(fwa), fwb.NodeID)
			if ok {
				seen[drain(m)] = true
				if m.CloudStatus != "terminating" && (drain(m) == "draining" || drain(m) == "drained") {
					t.Errorf("cloud_status %q while drain %q", m.CloudStatus, drain(m))
				}
			}
			return !ok
		})
		if !seen["draining"] || !seen["drained"] {
			t.Errorf("drain states seen %v, want draining and drained", seen)
		}
		waitFor(t, 30*time.Second, "fw-b's instance terminated", func() bool { return ec2State(fwb.InstanceID) == "terminated" })
		waitFor(t, 10*time.Second, "fw-b's process gone", func() bool { return processGone(svc.MainPID) })
		if !node("fw-b").Terminated() || lifecycle(fwb.InstanceID) != "" {
			t.Errorf("fw-b: sim.json %+v, lifecycle %q", node("fw-b"), lifecycle(fwb.InstanceID))
		}
		if log, _ := os.ReadFile(fwb.Log); !strings.Contains(string(log), "integration completed termination") {
			t.Error("fw-b never completed its lifecycle action")
		}
		if m := members(fwa); voters(m) != 3 {
			t.Errorf("voters after: %+v", m)
		}
	})

	t.Run("TerminateLeader", func(t *testing.T) {
		if _, err := as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: &group,
			MinSize: sdkaws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		if _, err := as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: sdkaws.String(fwa.InstanceID), ShouldDecrementDesiredCapacity: sdkaws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 40*time.Second, "fw-a's instance terminated", func() bool { return ec2State(fwa.InstanceID) == "terminated" })
		fwc := node("fw-c")
		var m health.MembersResponse
		waitFor(t, 30*time.Second, "a new leader", func() bool {
			m = members(fwc)
			for _, mem := range m.Members {
				if mem.Role == "leader" {
					return mem.NodeID != fwa.NodeID
				}
			}
			return false
		})
		old, ok := member(m, fwa.NodeID)
		if !ok || !old.IsVoter {
			t.Fatalf("the old leader's member left by itself: %+v", m)
		}
		waitFor(t, 20*time.Second, "fw-a missing", func() bool { old, _ = member(members(fwc), fwa.NodeID); return old.CloudStatus == "missing" })
		status, body := postRemove(t, ctx, info.CAPath, fwc, tokens[fwc.Name], fwa.NodeID, true)
		if status != http.StatusOK {
			t.Fatalf("remove fw-a: %d %s", status, body)
		}
		if _, ok := member(members(fwc), fwa.NodeID); ok {
			t.Error("fw-a still a member after its removal")
		}
	})

	t.Run("NeverJoins", func(t *testing.T) {
		imgs, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{
			{Name: sdkaws.String("tag:" + fakeaws.ReleaseTag), Values: []string{"1.1.1-never-joins"}}}})
		if err != nil || len(imgs.Images) != 1 {
			t.Fatalf("the never-joins image: %+v %v", imgs, err)
		}
		if _, err := ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateName: &group,
			SourceVersion: sdkaws.String("1"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId}}); err != nil {
			t.Fatal(err)
		}
		if _, err := as.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: &group,
			LaunchTemplate:  &astypes.LaunchTemplateSpecification{LaunchTemplateName: &group, Version: sdkaws.String("2")},
			DesiredCapacity: sdkaws.Int32(3)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "fw-e launched", func() bool { return node("fw-e").InstanceID != "" })
		fwe := node("fw-e")
		fwc := node("fw-c")
		var log []byte
		waitFor(t, 20*time.Second, "fw-e skips its join", func() bool {
			log, _ = os.ReadFile(fwe.Log)
			return strings.Contains(string(log), "never-joins fault: skipping the cluster join")
		})
		if !strings.Contains(string(log), "release=1.1.1-never-joins") || strings.Contains(string(log), "joined cluster") {
			t.Errorf("fw-e does not run 1.1.1-never-joins, or joined:\n%s", log)
		}
		cl := nodeClient(t, c.Info(), fwe)
		var failing []string
		waitFor(t, 20*time.Second, "fw-e answers /ready", func() bool {
			r, err := cl.Ready(ctx)
			failing = failingChecks(r)
			return err == nil && len(r.Checks) > 0
		})
		time.Sleep(4 * time.Second) // a few reconciles and join retries later
		if _, ok := member(members(fwc), fwe.NodeID); ok {
			t.Error("the never-joins node became a member")
		}
		if r, err := cl.Ready(ctx); err != nil || r.Ready || !slices.Contains(failingChecks(r), health.CheckCluster) {
			t.Errorf("fw-e /ready %+v %v (earlier failing %v)", r, err, failing)
		}
		rep, err := c.Status(ctx)
		if err != nil || rep.Cloud == nil || rep.Cloud.Desired != 3 || rep.Cloud.Version != "2" || rep.Cloud.Group != group {
			t.Fatalf("status: %+v %v", rep.Cloud, err)
		}
		var table strings.Builder
		rep.WriteTable(&table)
		if !strings.Contains(table.String(), fwe.InstanceID) || !strings.Contains(table.String(), "INSTANCE") {
			t.Errorf("status table:\n%s", table.String())
		}
	})

	t.Run("HangTermination", func(t *testing.T) {
		fwd := node("fw-d")
		err := c.CloudFault(ctx, sim.CloudFault{Kind: sim.FaultTerminateUnderneath, Instance: "i-0nope"})
		if err == nil || !strings.Contains(err.Error(), `no in-service instance "i-0nope"`) {
			t.Errorf("a fault the fake refuses: %v", err)
		}
		if err := c.CloudFault(ctx, sim.CloudFault{Kind: sim.FaultHangTermination, Instance: fwd.InstanceID}); err != nil {
			t.Fatal(err)
		}
		if _, err := as.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: sdkaws.String(fwd.InstanceID), ShouldDecrementDesiredCapacity: sdkaws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "fw-d completes its hook", func() bool {
			log, _ := os.ReadFile(fwd.Log)
			return strings.Contains(string(log), "integration completed termination")
		})
		time.Sleep(2 * time.Second)
		if got := lifecycle(fwd.InstanceID); got != fakeaws.TerminatingWait || node("fw-d").Terminated() {
			t.Errorf("hung termination: lifecycle %q, sim.json %+v", got, node("fw-d"))
		}
		if err := c.ClearCloudFaults(ctx); err != nil {
			t.Fatal(err)
		}
		var st fakeaws.State
		err = c.CloudState(ctx, &st)
		if err != nil || len(st.Faults) != 0 {
			t.Fatalf("faults after clear: %+v %v", st.Faults, err)
		}
		for _, m := range st.Groups[group].Members {
			if m.Hung {
				t.Errorf("member %s still hung after clear", m.InstanceID)
			}
		}
	})
}

// postRemove posts a member removal with force to node n.
func postRemove(t testing.TB, ctx context.Context, caPath string, n sim.NodeInfo, tok api.Token, id string, force bool) (int, string) {
	t.Helper()
	body := `{"force":false}`
	if force {
		body = `{"force":true}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.APIURL+"/api/v1/cluster/members/"+id+"/remove", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+string(tok))
	resp, err := nodeHTTPClient(t, caPath).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func failingChecks(r health.ReadyResponse) []string {
	var out []string
	for _, ch := range r.Checks {
		if !ch.OK {
			out = append(out, ch.Name)
		}
	}
	return out
}
