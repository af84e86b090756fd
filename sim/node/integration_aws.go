package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// awsGroup is the aws-asg integration's provider part: EC2 discovery by
// tags, the Auto Scaling group's lifecycle states, and the terminating
// lifecycle hook a node completes itself. Real aws-sdk-go-v2 clients
// against sim-node.json's endpoint, unsigned.
type awsGroup struct {
	cfg  IntegrationConfig
	as   *autoscaling.Client
	ec2  *ec2.Client
	hook string // the group's terminating hook, once found
}

func newAWSGroup(cfg IntegrationConfig, endpoint string) *awsGroup {
	region := cfg.AWS.Region
	return &awsGroup{cfg: cfg,
		as: autoscaling.New(autoscaling.Options{Region: region, BaseEndpoint: sdkaws.String(endpoint),
			Credentials: sdkaws.AnonymousCredentials{}, RetryMaxAttempts: 2}),
		ec2: ec2.New(ec2.Options{Region: region, BaseEndpoint: sdkaws.String(endpoint),
			Credentials: sdkaws.AnonymousCredentials{}, RetryMaxAttempts: 2}),
	}
}

func (a *awsGroup) mode() string { return IntegrationAWSASG }

// discover lists the running tagged instances with their group lifecycle
// state: Terminating* means the group removes it.
func (a *awsGroup) discover(ctx context.Context) (map[string]groupInstance, error) {
	out := map[string]groupInstance{}
	p := ec2.NewDescribeInstancesPaginator(a.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: sdkaws.String("tag:neuwerk.io/cluster"), Values: []string{a.cfg.TagCluster()}},
		{Name: sdkaws.String("tag:neuwerk.io/role"), Values: []string{"dataplane"}},
		{Name: sdkaws.String("instance-state-name"), Values: []string{"running"}},
	}})
	byID := map[string]string{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				ip := sdkaws.ToString(i.PrivateIpAddress)
				if ip == "" {
					continue
				}
				id := sdkaws.ToString(i.InstanceId)
				out[ip] = groupInstance{id: id, ip: ip}
				byID[id] = ip
			}
		}
	}
	g, err := a.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{a.cfg.AWS.ASGName}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", a.cfg.AWS.ASGName, err)
	}
	for _, grp := range g.AutoScalingGroups {
		for _, i := range grp.Instances {
			if ip, ok := byID[sdkaws.ToString(i.InstanceId)]; ok {
				gi := out[ip]
				gi.state = string(i.LifecycleState)
				gi.terminating = strings.HasPrefix(gi.state, "Terminating")
				out[ip] = gi
			}
		}
	}
	return out, nil
}

// hold finds the group's EC2_INSTANCE_TERMINATING hook and its heartbeat
// timeout.
func (a *awsGroup) hold(ctx context.Context) (time.Duration, error) {
	out, err := a.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{
		AutoScalingGroupName: sdkaws.String(a.cfg.AWS.ASGName)})
	if err != nil {
		return 0, err
	}
	for _, h := range out.LifecycleHooks {
		if sdkaws.ToString(h.LifecycleTransition) == "autoscaling:EC2_INSTANCE_TERMINATING" {
			a.hook = sdkaws.ToString(h.LifecycleHookName)
			return time.Duration(sdkaws.ToInt32(h.HeartbeatTimeout)) * time.Second, nil
		}
	}
	return 0, fmt.Errorf("group %s has no EC2_INSTANCE_TERMINATING lifecycle hook", a.cfg.AWS.ASGName)
}

func (a *awsGroup) heartbeat(ctx context.Context, id string) error {
	_, err := a.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: sdkaws.String(a.cfg.AWS.ASGName), LifecycleHookName: sdkaws.String(a.hook),
		InstanceId: sdkaws.String(id)})
	return err
}

// complete sends CompleteLifecycleAction(CONTINUE); a ValidationError means
// no action is left to complete (answered, or timed out).
func (a *awsGroup) complete(ctx context.Context, id string) (bool, error) {
	_, err := a.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: sdkaws.String(a.cfg.AWS.ASGName), LifecycleHookName: sdkaws.String(a.hook),
		InstanceId: sdkaws.String(id), LifecycleActionResult: sdkaws.String("CONTINUE")})
	var apiErr smithy.APIError
	if err != nil && errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" {
		return true, err
	}
	return err == nil, err
}
