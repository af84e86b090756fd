package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/raft"
)

// Neuwerk's aws-asg cloud integration (facts §9, cloud-rollout.md G1–G5),
// as far as the simulator needs it: the leader reconciles the group every
// reconcile interval (discovery by tags, correlation by management IP,
// cloud status, termination events, drain, auto-eviction) and every node
// completes its own terminating lifecycle action once drained. Route
// assignment and instance protection are not simulated (AWS mode is
// lifecycle-only, G1).

// Values of IntegrationState.CloudStatus and DrainState.
const (
	CloudActive      = "active"
	CloudTerminating = "terminating"
	CloudMissing     = "missing"
	DrainActive      = "active"
	DrainDraining    = "draining"
	DrainDrained     = "drained"
)

// localCheck is how often a node looks at its own termination state.
const localCheck = 500 * time.Millisecond

// heartbeatLead is how long before a hook's deadline the terminating node
// records a heartbeat (facts §9).
const heartbeatLead = 30 * time.Second

// groupInstance is an instance of the group as one reconcile sees it.
type groupInstance struct {
	id        string
	ip        string
	lifecycle string // the group's lifecycle state, "" if not a member
}

// cloudClients are the SDK clients of the integration: real aws-sdk-go-v2
// against sim-node.json's endpoint, unsigned.
type cloudClients struct {
	as  *autoscaling.Client
	ec2 *ec2.Client
}

func newCloudClients(region, endpoint string) cloudClients {
	return cloudClients{
		as: autoscaling.New(autoscaling.Options{Region: region, BaseEndpoint: sdkaws.String(endpoint),
			Credentials: sdkaws.AnonymousCredentials{}, RetryMaxAttempts: 2}),
		ec2: ec2.New(ec2.Options{Region: region, BaseEndpoint: sdkaws.String(endpoint),
			Credentials: sdkaws.AnonymousCredentials{}, RetryMaxAttempts: 2}),
	}
}

// integration is the running loop's memory; what must survive a leader
// change lives in the replicated IntegrationState.
type integration struct {
	cfg          IntegrationConfig
	clients      cloudClients
	drainFor     time.Duration
	missingSince map[string]time.Time // member id → first reconcile that missed it
	completed    string               // the termination event this node completed
	lastBeat     time.Time            // this node's last heartbeat
	hook         string               // the group's terminating hook, once found
	hookTimeout  time.Duration
}

// integrationLoop runs Neuwerk's aws-asg integration on this node.
func (n *node) integrationLoop(ctx context.Context) {
	cfg := n.cfg.Integration
	if n.sim.AWSEndpoint == "" {
		n.log.Warn("integration aws-asg: no AWS endpoint in sim-node.json; the simulator cannot reach AWS itself, integration idle")
		return
	}
	in := &integration{cfg: cfg, clients: newCloudClients(cfg.AWS.Region, n.sim.AWSEndpoint),
		drainFor: min(millisOr(n.sim.DrainMillis, 3*time.Second), cfg.DrainTimeout()), missingSince: map[string]time.Time{}}
	n.log.Info("integration aws-asg running", "asg", cfg.AWS.ASGName, "region", cfg.AWS.Region,
		"reconcile_interval", cfg.ReconcileInterval().String(), "drain", in.drainFor.String())
	t := time.NewTicker(localCheck)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.isLeader() && time.Since(last) >= cfg.ReconcileInterval() {
			last = time.Now()
			if err := n.reconcileGroup(ctx, in); err != nil && ctx.Err() == nil {
				n.log.Warn("integration reconcile failed", "error", err)
			}
		}
		n.completeOwnTermination(ctx, in)
	}
}

// discover lists the running instances tagged for this cluster (G4: an
// instance not running counts as missing) with their group lifecycle
// state, by private IP.
func (n *node) discover(ctx context.Context, in *integration) (map[string]groupInstance, error) {
	out := map[string]groupInstance{}
	p := ec2.NewDescribeInstancesPaginator(in.clients.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: sdkaws.String("tag:neuwerk.io/cluster"), Values: []string{in.cfg.TagCluster()}},
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
	g, err := in.clients.as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{in.cfg.AWS.ASGName}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", in.cfg.AWS.ASGName, err)
	}
	for _, grp := range g.AutoScalingGroups {
		for _, i := range grp.Instances {
			if ip, ok := byID[sdkaws.ToString(i.InstanceId)]; ok {
				gi := out[ip]
				gi.lifecycle = string(i.LifecycleState)
				out[ip] = gi
			}
		}
	}
	return out, nil
}

// reconcileGroup is one leader reconcile: each member's cloud status,
// termination event and drain state, then auto-eviction (G3) and, with
// stale_after_secs, eviction of long-missing members (G4).
func (n *node) reconcileGroup(ctx context.Context, in *integration) error {
	instances, err := n.discover(ctx, in)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, s := range n.configuration() {
		id := string(s.ID)
		old, _ := n.integrationState(id)
		st := old
		inst, found := instances[raftAddrHost(s.Address)]
		switch {
		case !found:
			st.CloudStatus = CloudMissing
		case strings.HasPrefix(inst.lifecycle, "Terminating"):
			st.CloudStatus = CloudTerminating
			if st.TerminationEventID == "" {
				st.TerminationEventID = terminationEventID(inst.id, now)
				st.DrainState, st.DrainStartedMillis = DrainDraining, now.UnixMilli()
				n.log.Info("integration termination event", "node_id", id, "instance", inst.id, "lifecycle", inst.lifecycle,
					"event", st.TerminationEventID)
			}
			if st.DrainState == DrainDraining && now.Sub(time.UnixMilli(st.DrainStartedMillis)) >= in.drainFor {
				st.DrainState, st.DrainedMillis = DrainDrained, now.UnixMilli()
				n.log.Info("integration drain complete", "node_id", id, "instance", inst.id)
			}
		default:
			st.CloudStatus = CloudActive
			if st.DrainState == "" {
				st.DrainState = DrainActive
			}
		}
		if st != old {
			if err := n.setIntegrationState(id, st); err != nil {
				return fmt.Errorf("publish integration state of %s: %w", id, err)
			}
		}
		if found {
			delete(in.missingSince, id)
		} else if _, ok := in.missingSince[id]; !ok {
			in.missingSince[id] = now
		}
		n.maybeEvict(in, s, old, found, now)
	}
	return nil
}

// maybeEvict removes member s when Neuwerk's conditions hold (G3): not the
// leader itself, a termination event, drained, still a discovered active
// instance, auto-eviction on, and remove_member(force=false) allows it.
// st is the state an earlier reconcile published, so `drained` is seen in
// the members (and by the node) before the eviction. A member missing for
// stale_after_secs (if set) is removed too.
func (n *node) maybeEvict(in *integration, s raft.Server, st IntegrationState, found bool, now time.Time) {
	id := string(s.ID)
	if id == n.id {
		return
	}
	why := ""
	switch {
	case in.cfg.AutoEvict() && st.TerminationEventID != "" && st.DrainState == DrainDrained && found:
		why = "terminating and drained"
	case in.cfg.Membership.StaleAfterSecs > 0 && !found &&
		now.Sub(in.missingSince[id]) >= time.Duration(in.cfg.Membership.StaleAfterSecs)*time.Second:
		why = "missing from discovery"
	default:
		return
	}
	if err := n.removeMember(id, false); err != nil {
		n.log.Warn("integration auto-evict refused", "node_id", id, "reason", why, "error", err)
		return
	}
	n.log.Info("integration auto-evicted member", "node_id", id, "reason", why)
}

// completeOwnTermination is the terminating node's part: once it was
// evicted while a termination event names it, or once it has been drained
// for evictionWait (the leader's own instance, or an eviction refused), it
// sends CompleteLifecycleAction(CONTINUE) once, retrying on
// errors. Waiting for the eviction first keeps the instance running, and
// so correlated, while the leader evicts it (G3). While the drain lasts it
// heartbeats heartbeatLead before the hook's deadline.
func (n *node) completeOwnTermination(ctx context.Context, in *integration) {
	st, ok := n.integrationState(n.id)
	if !ok || st.TerminationEventID == "" || in.completed == st.TerminationEventID {
		return
	}
	instanceID, ok := eventInstance(st.TerminationEventID)
	if !ok {
		return
	}
	if in.hook == "" {
		var err error
		if in.hook, in.hookTimeout, err = terminatingHook(ctx, in); err != nil {
			n.log.Warn("integration: find the terminating lifecycle hook", "error", err)
			return
		}
	}
	hook, timeout := in.hook, in.hookTimeout
	evicted := !n.inConfiguration(n.id)
	settled := st.DrainState == DrainDrained && time.Since(time.UnixMilli(st.DrainedMillis)) >= n.evictionWait(in)
	if !evicted && !settled {
		if in.lastBeat.IsZero() {
			in.lastBeat = time.UnixMilli(st.DrainStartedMillis)
		}
		if heartbeatDue(in.lastBeat, timeout, time.Now()) {
			_, err := in.clients.as.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
				AutoScalingGroupName: sdkaws.String(in.cfg.AWS.ASGName), LifecycleHookName: sdkaws.String(hook),
				InstanceId: sdkaws.String(instanceID)})
			if err != nil {
				n.log.Warn("integration termination heartbeat failed", "instance", instanceID, "error", err)
				return
			}
			in.lastBeat = time.Now()
			n.log.Info("integration termination heartbeat", "instance", instanceID, "hook", hook)
		}
		return
	}
	_, err := in.clients.as.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: sdkaws.String(in.cfg.AWS.ASGName), LifecycleHookName: sdkaws.String(hook),
		InstanceId: sdkaws.String(instanceID), LifecycleActionResult: sdkaws.String("CONTINUE")})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		n.log.Info("integration completed lifecycle action", "instance", instanceID, "hook", hook, "result", "CONTINUE", "evicted", evicted)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError":
		// No action to complete any more (answered, or timed out): done.
		n.log.Warn("integration lifecycle action not completed", "instance", instanceID, "error", err)
	default:
		n.log.Warn("integration complete lifecycle action failed; retrying", "instance", instanceID, "error", err)
		return
	}
	in.completed = st.TerminationEventID
}

// evictionWait is how long a drained node waits to be evicted before it
// completes its hold anyway: two reconciles for the leader (it is never
// evicted) or with auto-eviction off; otherwise ten, as the leader evicts a
// drained follower at its next reconcile and only a refused eviction
// (min_voters) waits this long. A margin of two would lose the race to a
// reconcile delayed on a loaded machine, and the member would outlive its
// instance.
func (n *node) evictionWait(in *integration) time.Duration {
	if n.isLeader() || !in.cfg.AutoEvict() {
		return 2 * in.cfg.ReconcileInterval()
	}
	return 10 * in.cfg.ReconcileInterval()
}

// terminatingHook finds the group's EC2_INSTANCE_TERMINATING hook and its
// heartbeat timeout.
func terminatingHook(ctx context.Context, in *integration) (string, time.Duration, error) {
	out, err := in.clients.as.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{
		AutoScalingGroupName: sdkaws.String(in.cfg.AWS.ASGName)})
	if err != nil {
		return "", 0, err
	}
	for _, h := range out.LifecycleHooks {
		if sdkaws.ToString(h.LifecycleTransition) == "autoscaling:EC2_INSTANCE_TERMINATING" {
			return sdkaws.ToString(h.LifecycleHookName), time.Duration(sdkaws.ToInt32(h.HeartbeatTimeout)) * time.Second, nil
		}
	}
	return "", 0, fmt.Errorf("group %s has no EC2_INSTANCE_TERMINATING lifecycle hook", in.cfg.AWS.ASGName)
}

// inConfiguration reports whether id is in this node's view of the membership.
func (n *node) inConfiguration(id string) bool {
	for _, s := range n.configuration() {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// heartbeatDue reports whether a hold last extended at last, with hook
// heartbeat timeout, is heartbeatLead or less from its deadline.
func heartbeatDue(last time.Time, timeout time.Duration, now time.Time) bool {
	return timeout > heartbeatLead && now.Sub(last) >= timeout-heartbeatLead
}

// terminationEventID names a termination event: aws-asg:<instance>:<unix ms>.
func terminationEventID(instanceID string, at time.Time) string {
	return "aws-asg:" + instanceID + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}

func eventInstance(event string) (string, bool) {
	parts := strings.Split(event, ":")
	if len(parts) != 3 || parts[0] != "aws-asg" || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
