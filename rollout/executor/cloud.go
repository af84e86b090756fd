package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The cloud effects: one provider call each, then, for a surge or a
// retirement, the group described until the instance runs or is gone. A
// surge's new instance becomes a node of the executor (SSH and a health
// client, from the inventory's settings); a retired one stops being one.

func (x *Executor) cloudEffect(ctx context.Context, e runbook.Effect) (any, error) {
	p := x.cfg.Cloud
	if p == nil {
		return nil, fmt.Errorf("executor: %s needs a cloud provider, and the inventory %s has no cloud: section", e.Kind(), x.inv.Path)
	}
	switch e := e.(type) {
	case runbook.CloudDescribe:
		g, err := p.Describe(ctx)
		if err == nil && e.Track {
			x.track(g)
		}
		return g, err
	case runbook.CloudCancelRefresh:
		return nil, p.CancelRefresh(ctx)
	case runbook.CloudNewTemplate:
		return p.NewTemplate(ctx, e.Base, e.Image)
	case runbook.CloudSetTemplate:
		return nil, p.SetTemplate(ctx, e.Template, 0)
	case runbook.CloudFreeze:
		return nil, p.Freeze(ctx, e.Processes)
	case runbook.CloudThaw:
		return nil, p.Thaw(ctx, e.Processes)
	case runbook.CloudSurge:
		return x.surge(ctx, p, e)
	case runbook.CloudRetire:
		return x.retire(ctx, p, e)
	case runbook.RemoveMember:
		return nil, x.removeMember(ctx, e)
	case runbook.CloudCompleteLaunch:
		g, err := p.Describe(ctx)
		if err != nil {
			return nil, err
		}
		return nil, p.CompleteLaunch(ctx, g, e.Instance, true)
	}
	return nil, fmt.Errorf("executor: %s is no cloud effect", e.Kind())
}

// surge sets the desired capacity (absolute: a resumed run repeats it
// harmlessly) and waits for the one instance not in Before to have an
// address; it then becomes a node.
func (x *Executor) surge(ctx context.Context, p cloud.Provider, e runbook.CloudSurge) (cloud.Instance, error) {
	if err := p.SetDesired(ctx, e.Desired); err != nil {
		return cloud.Instance{}, err
	}
	var found cloud.Instance
	err := x.waitGroup(ctx, p, "a new instance to run", func(g cloud.Group) (bool, error) {
		var fresh []cloud.Instance
		for _, in := range g.Instances {
			if !slices.Contains(e.Before, in.ID) && in.Lifecycle != cloud.Terminating && in.Lifecycle != cloud.TerminatingWait {
				fresh = append(fresh, in)
			}
		}
		switch {
		case len(fresh) > 1:
			ids := make([]string, len(fresh))
			for i, in := range fresh {
				ids[i] = in.ID
			}
			return false, fmt.Errorf("group %s launched %d instances (%s) where one was asked for: something else changes the group; nothing was retired", g.Name, len(fresh), strings.Join(ids, ", "))
		case len(fresh) == 1 && fresh[0].PrivateIP != "":
			found = fresh[0]
			return true, nil
		}
		if a, ok := failedLaunch(g); ok {
			return false, fmt.Errorf("group %s could not launch an instance: %s", g.Name, a)
		}
		return false, nil
	})
	if err != nil {
		if found.ID == "" {
			// Nothing came: the group is set back to the capacity before, so
			// it does not keep launching behind the run's back.
			if rerr := p.SetDesired(context.WithoutCancel(ctx), e.Desired-1); rerr != nil {
				return cloud.Instance{}, fmt.Errorf("%w; setting the desired capacity back to %d failed too: %v", err, e.Desired-1, rerr)
			}
			return cloud.Instance{}, fmt.Errorf("%w; the desired capacity is back at %d", err, e.Desired-1)
		}
		return cloud.Instance{}, err
	}
	n, err := x.inv.Discovered(found.ID, found.PrivateIP)
	if err != nil {
		return found, err
	}
	x.addNode(n)
	x.note(Note{Kind: NoteInfo, Node: found.ID, Op: e.Kind(), Text: fmt.Sprintf("launched %s (%s) from image %s", found.ID, found.PrivateIP, found.ImageID)})
	return found, nil
}

// failedLaunch is the newest failed scaling activity, if the newest one failed.
func failedLaunch(g cloud.Group) (string, bool) {
	var newest *cloud.Activity
	for i := range g.Activities {
		if newest == nil || g.Activities[i].Start.After(newest.Start) {
			newest = &g.Activities[i]
		}
	}
	if newest == nil || newest.Status != "Failed" {
		return "", false
	}
	msg := newest.StatusMsg
	if msg == "" {
		msg = newest.Description
	}
	return msg, true
}

// retire terminates exactly the instance (unless it is terminating or
// gone already: a resumed run) and waits until the group no longer has
// it; the node is then dropped. It answers the group as described last.
func (x *Executor) retire(ctx context.Context, p cloud.Provider, e runbook.CloudRetire) (cloud.Group, error) {
	g, err := p.Describe(ctx)
	if err != nil {
		return g, err
	}
	if in, ok := g.Instance(e.Instance); ok && in.Lifecycle != cloud.Terminating && in.Lifecycle != cloud.TerminatingWait && in.Lifecycle != cloud.Terminated {
		if err := p.Retire(ctx, e.Instance); err != nil {
			return g, err
		}
	}
	var last cloud.Group
	answered := false
	err = x.waitGroup(ctx, p, e.Instance+" to be terminated", func(g cloud.Group) (bool, error) {
		last = g
		in, ok := g.Instance(e.Instance)
		if ok && in.Lifecycle == cloud.TerminatingWait && e.NeverJoined && !answered {
			// Nothing to drain: Neuwerk never knew it.
			if err := p.CompleteTermination(ctx, g, e.Instance); err != nil {
				return false, err
			}
			answered = true
			x.note(Note{Kind: NoteInfo, Node: e.Node, Op: e.Kind(), Text: e.Instance + " never joined the cluster: its terminating hook answered CONTINUE"})
		}
		return !ok || in.Lifecycle == cloud.Terminated, nil
	})
	if err != nil {
		if in, ok := last.Instance(e.Instance); ok && in.Lifecycle == cloud.TerminatingWait {
			err = fmt.Errorf("%w: %s is still %s, held by the terminating hook: Neuwerk has not completed its lifecycle action (it drains for up to drain_timeout_secs, 300 s by default); read its log, or complete the action by hand once it is drained", err, e.Instance, in.State)
		}
		return last, err
	}
	x.dropNode(e.Node)
	return last, nil
}

// waitGroup describes the group every CloudPoll until done says so, an
// error, or CloudTimeout.
func (x *Executor) waitGroup(ctx context.Context, p cloud.Provider, what string, done func(cloud.Group) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, x.cfg.CloudTimeout)
	defer cancel()
	t := time.NewTicker(x.cfg.CloudPoll)
	defer t.Stop()
	var lastErr error
	for {
		g, err := p.Describe(ctx)
		if err == nil {
			ok, err := done(g)
			if err != nil || ok {
				return err
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waited %s for %s: %w", x.cfg.CloudTimeout, what, lastErr)
			}
			return fmt.Errorf("waited %s for %s", x.cfg.CloudTimeout, what)
		case <-t.C:
		}
	}
}

// removeMember asks the live nodes, in turn, to remove the member (any
// of them proxies it to the leader); 503 (an election) tries the next.
func (x *Executor) removeMember(ctx context.Context, e runbook.RemoveMember) error {
	var errs []error
	for _, c := range x.Clients() {
		_, err := c.RemoveMember(ctx, e.NodeID)
		if err == nil {
			x.note(Note{Kind: NoteInfo, Node: e.Node, Op: e.Kind(), Text: fmt.Sprintf("removed %s (node id %s) from the Raft membership through %s", e.Node, e.NodeID, c.Name())})
			return nil
		}
		var ae *health.APIError
		if errors.As(err, &ae) && ae.Status != 502 && ae.Status != 503 {
			return err // the leader refused: asking another node gets the same answer
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("remove %s (node id %s): no node could reach the leader: %w", e.Node, e.NodeID, errors.Join(errs...))
}

// track makes the group's instances the nodes: one launched by someone
// else (a native refresh) is polled from now on, one gone is dropped.
func (x *Executor) track(g cloud.Group) {
	for _, in := range g.Instances {
		if in.PrivateIP == "" || in.Lifecycle == cloud.Terminated {
			continue
		}
		if _, err := x.node(in.ID); err != nil {
			if n, err := x.inv.Discovered(in.ID, in.PrivateIP); err == nil {
				x.addNode(n)
			}
		}
	}
	for _, name := range x.NodeNames() {
		if _, ok := g.Instance(name); !ok {
			x.dropNode(name)
		}
	}
}

// addNode makes a launched instance a node: polled from now on.
func (x *Executor) addNode(n inventory.Node) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if slices.ContainsFunc(x.nodes, func(o inventory.Node) bool { return o.Name == n.Name }) {
		return
	}
	x.nodes = append(x.nodes, n)
	if !x.connected {
		return
	}
	c, err := api.NewClient(api.Config{Name: n.Name, APIURL: n.APIURL, MetricsURL: n.MetricsURL, CAPEM: x.caPEM, Token: x.token, Timeouts: x.cfg.Timeouts})
	if err == nil {
		x.clients = append(x.clients, c)
	}
}

// dropNode: a terminated instance is no node any more.
func (x *Executor) dropNode(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nodes = slices.DeleteFunc(x.nodes, func(n inventory.Node) bool { return n.Name == name })
	x.clients = slices.DeleteFunc(x.clients, func(c *api.Client) bool {
		if c.Name() == name {
			c.CloseIdleConnections()
			return true
		}
		return false
	})
	if r := x.remotes[name]; r != nil {
		_ = r.Close()
		delete(x.remotes, name)
	}
}

// matchMembers names the node id of a polled node that has none yet (an
// instance launched by this run) from the member whose Raft address has
// its API host.
func matchMembers(snap *health.ClusterSnapshot) {
	if snap.Members == nil {
		return
	}
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if n.NodeID != "" {
			continue
		}
		host := hostOf(n.Addr())
		for _, m := range snap.Members.Members {
			if hostOf(m.Addr) == host {
				n.NodeID = m.NodeID
			}
		}
	}
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		addr = addr[:i]
	}
	return strings.Trim(addr, "[]")
}

// connectCloud is Connect in cloud mode, where nwroll needs a node's shell
// only for what the API cannot give: the CA (unless api.ca_file pins it)
// and an admin token (unless one is given), from the first node that
// answers. Node ids come from the members API, by each instance's address.
func (x *Executor) connectCloud(ctx context.Context) error {
	caPEM, caSource := []byte(nil), x.inv.API.CAFile
	if caSource == "" {
		var errs []error
		for _, n := range x.NodesCopy() {
			f, err := x.readNode(ctx, n, true)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			caPEM, caSource = f.ca, n.Name+":"+n.Paths.DataRoot+"/http-tls/ca.crt"
			break
		}
		if caPEM == nil {
			return &runbook.ExitError{Code: runbook.ExitRefused, Err: fmt.Errorf("no instance gave the API CA over SSH (%w); pin it with api.ca_file", errors.Join(errs...))}
		}
	} else {
		var err error
		if caPEM, _, err = x.apiCA(nil, false); err != nil {
			return err
		}
	}
	if x.token == "" {
		if err := x.mint(ctx); err != nil {
			return &runbook.ExitError{Code: runbook.ExitRefused, Err: err}
		}
	}
	x.mu.Lock()
	x.caPEM, x.caSource = caPEM, caSource
	x.fresh = &Survey{Locks: map[string]LockHolder{}}
	x.mu.Unlock()
	if err := x.buildClients(); err != nil {
		return err
	}
	if err := x.verifyAPI(ctx); err != nil {
		return err
	}
	snap := x.Poll(ctx)
	// Node ids come from the members API, which answers only with a
	// leader: through an election (a run killed as the leader went) wait.
	for deadline := time.Now().Add(x.cfg.ElectionWait); snap.Members == nil && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		snap = x.Poll(ctx)
	}
	x.mu.Lock()
	for _, n := range snap.Nodes {
		if n.NodeID != "" {
			x.ids[n.Name] = n.NodeID
		}
	}
	x.connected = true
	x.mu.Unlock()
	return x.buildClients() // with the ids
}

// Cloud is the group's provider, or nil.
func (x *Executor) Cloud() cloud.Provider { return x.cfg.Cloud }

// NodesCopy are the nodes now, in order.
func (x *Executor) NodesCopy() []inventory.Node {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.nodes)
}
