package aws_test

import (
	"context"
	"net/url"
	"regexp"
	"testing"

	smithytesting "github.com/aws/smithy-go/testing"

	"github.com/nwroll/nwroll/cloud"
)

// TestWireRequestBodies pins the form body the SDK sends for every
// mutating call the provider makes.
func TestWireRequestBodies(t *testing.T) {
	e := newEnv(t, setup{launchingHook: true})
	ctx := context.Background()
	lt := e.tmpl.ID
	x := e.ids[0]

	v2, err := e.p.NewTemplate(ctx, cloud.TemplateRef{ID: lt, Name: "neuwerk", Version: "1"}, cloud.Image{ID: e.newAMI, Release: newRelease})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetTemplate(ctx, v2, 5); err != nil {
		t.Fatal(err)
	}
	movers := e.describe(t).Movers
	if err := e.p.Freeze(ctx, movers); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Thaw(ctx, movers); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	g := e.waitFor(t, "the new instance held", func(g cloud.Group) bool { return len(g.Instances) == 4 && g.Instances[3].State == "Pending:Wait" })
	y := g.Instances[3].ID
	if err := e.p.CompleteLaunch(ctx, g, y, true); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Retire(ctx, x); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.StartRefresh(ctx, v2); err != nil {
		t.Fatal(err)
	}
	if err := e.p.CancelRefresh(ctx); err != nil {
		t.Fatal(err)
	}

	create := e.sent("CreateLaunchTemplateVersion")
	if len(create) != 1 {
		t.Fatalf("%d CreateLaunchTemplateVersion calls", len(create))
	}
	form, _ := url.ParseQuery(create[0])
	token := form.Get("ClientToken")
	if !regexp.MustCompile(`^nwroll-[0-9a-f]{32}$`).MatchString(token) {
		t.Fatalf("client token %q", token)
	}

	want := map[string]string{
		"CreateLaunchTemplateVersion": "Action=CreateLaunchTemplateVersion&Version=2016-11-15&ClientToken=" + token +
			"&LaunchTemplateId=" + lt + "&SourceVersion=1&LaunchTemplateData.ImageId=" + e.newAMI +
			"&VersionDescription=" + url.QueryEscape("nwroll: "+e.newAMI+" from v1, release 1.1.0"),
		"UpdateAutoScalingGroup": "Action=UpdateAutoScalingGroup&Version=2011-01-01&AutoScalingGroupName=nw" +
			"&LaunchTemplate.LaunchTemplateId=" + lt + "&LaunchTemplate.Version=2&MaxSize=5",
		"SuspendProcesses": "Action=SuspendProcesses&Version=2011-01-01&AutoScalingGroupName=nw" +
			"&ScalingProcesses.member.1=AZRebalance&ScalingProcesses.member.2=ScheduledActions",
		"ResumeProcesses": "Action=ResumeProcesses&Version=2011-01-01&AutoScalingGroupName=nw" +
			"&ScalingProcesses.member.1=AZRebalance&ScalingProcesses.member.2=ScheduledActions",
		"SetDesiredCapacity": "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=nw&DesiredCapacity=4&HonorCooldown=false",
		"CompleteLifecycleAction": "Action=CompleteLifecycleAction&Version=2011-01-01&AutoScalingGroupName=nw" +
			"&LifecycleHookName=join&InstanceId=" + y + "&LifecycleActionResult=CONTINUE",
		"TerminateInstanceInAutoScalingGroup": "Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01" +
			"&InstanceId=" + x + "&ShouldDecrementDesiredCapacity=true",
		"StartInstanceRefresh": "Action=StartInstanceRefresh&Version=2011-01-01&AutoScalingGroupName=nw&Strategy=Rolling" +
			"&DesiredConfiguration.LaunchTemplate.LaunchTemplateId=" + lt + "&DesiredConfiguration.LaunchTemplate.Version=2" +
			"&Preferences.MinHealthyPercentage=100&Preferences.MaxHealthyPercentage=134&Preferences.SkipMatching=true",
		"CancelInstanceRefresh": "Action=CancelInstanceRefresh&Version=2011-01-01&AutoScalingGroupName=nw",
	}
	for action, body := range want {
		sent := e.sent(action)
		if len(sent) != 1 {
			t.Errorf("%s: %d calls, want 1", action, len(sent))
			continue
		}
		if err := smithytesting.URLFormEqual([]byte(body), []byte(sent[0])); err != nil {
			t.Errorf("%s: %v\nsent: %s", action, err, sent[0])
		}
	}
}
