package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Neuwerk's cloud integration (facts §9, cloud-rollout.md G1–G6), as far
// as the simulator needs it: the leader reconciles the group every
// reconcile interval (discovery by tags, correlation by management IP,
// cloud status, termination events, drain, auto-eviction) and every node
// completes its own termination hold once drained. The provider's part
// (how instances and their terminations are seen, how a hold is answered)
// is a groupAPI; route assignment and instance protection are not
// simulated (G1).

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
	id          string
	ip          string
	state       string // the provider's words for it
	terminating bool   // the provider is removing it
}

// groupAPI is the provider's side of the integration.
type groupAPI interface {
	// mode is integration.mode ("aws-asg").
	mode() string
	// discover lists the running instances tagged for this cluster by
	// private IP (G4: one not running counts as missing).
	discover(ctx context.Context) (map[string]groupInstance, error)
	// hold is how long the provider holds a terminating instance without
	// a heartbeat (0: it holds nothing, or needs no heartbeat).
	hold(ctx context.Context) (time.Duration, error)
	// heartbeat extends the hold on instance id.
	heartbeat(ctx context.Context, id string) error
	// complete answers the hold on instance id; done reports that nothing
	// is left to answer (answered now, earlier, or never held).
	complete(ctx context.Context, id string) (done bool, err error)
}

// integration is the running loop's memory; what must survive a leader
// change lives in the replicated IntegrationState.
type integration struct {
	cfg          IntegrationConfig
	api          groupAPI
	drainFor     time.Duration
	missingSince map[string]time.Time // member id → first reconcile that missed it
	completed    string               // the termination event this node completed
	lastBeat     time.Time            // this node's last heartbeat
	holdFor      time.Duration        // the provider's hold, once known
	holdKnown    bool
}

// groupAPI is the provider part integration.mode names.
func (n *node) groupAPI() (groupAPI, error) {
	cfg := n.cfg.Integration
	if n.sim.CloudEndpoint == "" {
		return nil, errors.New("no cloud endpoint in sim-node.json; the simulator cannot reach a real cloud")
	}
	switch cfg.Mode {
	case IntegrationAWSASG:
		return newAWSGroup(cfg, n.sim.CloudEndpoint), nil
	case IntegrationAzureVMSS:
		return newAzureGroup(cfg, n.sim.CloudEndpoint)
	case IntegrationGCPMIG:
		return newGCPGroup(cfg, n.sim.CloudEndpoint)
	}
	return nil, fmt.Errorf("mode %q is not simulated", cfg.Mode)
}

// integrationLoop runs Neuwerk's cloud integration on this node.
func (n *node) integrationLoop(ctx context.Context) {
	cfg := n.cfg.Integration
	api, err := n.groupAPI()
	if err != nil {
		n.log.Warn("integration " + cfg.Mode + ": " + err.Error() + "; integration idle")
		return
	}
	in := &integration{cfg: cfg, api: api,
		drainFor: min(millisOr(n.sim.DrainMillis, 3*time.Second), cfg.DrainTimeout()), missingSince: map[string]time.Time{}}
	n.log.Info("integration "+cfg.Mode+" running", "group", cfg.groupName(),
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

// reconcileGroup is one leader reconcile: each member's cloud status,
// termination event and drain state, then auto-eviction (G3) and, with
// stale_after_secs, eviction of long-missing members (G4).
func (n *node) reconcileGroup(ctx context.Context, in *integration) error {
	instances, err := in.api.discover(ctx)
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
		case inst.terminating:
			st.CloudStatus = CloudTerminating
			if st.TerminationEventID == "" {
				st.TerminationEventID = terminationEventID(in.api.mode(), inst.id, now)
				st.DrainState, st.DrainStartedMillis = DrainDraining, now.UnixMilli()
				n.log.Info("integration termination event", "node_id", id, "instance", inst.id, "state", inst.state,
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
// answers its hold once, retrying on errors. Waiting for the eviction
// first keeps the instance running, and so correlated, while the leader
// evicts it (G3). While the drain lasts it heartbeats heartbeatLead
// before the hold's deadline.
func (n *node) completeOwnTermination(ctx context.Context, in *integration) {
	st, ok := n.integrationState(n.id)
	if !ok || st.TerminationEventID == "" || in.completed == st.TerminationEventID {
		return
	}
	instanceID, ok := eventInstance(st.TerminationEventID)
	if !ok {
		return
	}
	if !in.holdKnown {
		d, err := in.api.hold(ctx)
		if err != nil {
			n.log.Warn("integration: find the termination hold", "error", err)
			return
		}
		in.holdFor, in.holdKnown = d, true
	}
	evicted := !n.inConfiguration(n.id) || n.cutOff(st)
	settled := st.DrainState == DrainDrained && time.Since(time.UnixMilli(st.DrainedMillis)) >= n.evictionWait(in)
	if !evicted && !settled {
		if in.lastBeat.IsZero() {
			in.lastBeat = time.UnixMilli(st.DrainStartedMillis)
		}
		if heartbeatDue(in.lastBeat, in.holdFor, time.Now()) {
			if err := in.api.heartbeat(ctx, instanceID); err != nil {
				n.log.Warn("integration termination heartbeat failed", "instance", instanceID, "error", err)
				return
			}
			in.lastBeat = time.Now()
			n.log.Info("integration termination heartbeat", "instance", instanceID)
		}
		return
	}
	done, err := in.api.complete(ctx, instanceID)
	switch {
	case err == nil:
		n.log.Info("integration completed termination", "instance", instanceID, "evicted", evicted)
	case done:
		n.log.Warn("integration termination not completed", "instance", instanceID, "error", err)
	default:
		n.log.Warn("integration completing the termination failed; retrying", "instance", instanceID, "error", err)
		return
	}
	in.completed = st.TerminationEventID
}

// cutOffAfter is how long a drained follower hears nothing from a leader
// before it takes itself as evicted.
const cutOffAfter = time.Second

// cutOff reports whether this drained follower has heard nothing from a
// leader for cutOffAfter: a removed server learns nothing more, not even
// its own removal (the leader stops replicating to it at once), so this
// is how it sees that it was evicted. The leader heartbeats every tenth
// of the heartbeat timeout (200 ms), so a member is never this silent
// without an election, which a terminating node does not wait out.
func (n *node) cutOff(st IntegrationState) bool {
	if n.isLeader() || st.DrainState != DrainDrained {
		return false
	}
	last := n.raft.LastContact()
	return !last.IsZero() && time.Since(last) > cutOffAfter
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

// terminationEventID names a termination event: <mode>:<instance>:<unix ms>.
func terminationEventID(mode, instanceID string, at time.Time) string {
	return mode + ":" + instanceID + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}

func eventInstance(event string) (string, bool) {
	parts := strings.Split(event, ":")
	if len(parts) != 3 || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}
