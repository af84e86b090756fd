package sim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/release"
)

// StatusReport is what `nwroll sim status` prints.
type StatusReport struct {
	Cluster string
	Dir     string
	// Running: the supervisor answers. When false, Nodes carry no live data.
	Running       bool
	SupervisorPID int
	Leader        string // node name; "" when no leader is known
	Term          uint64
	LastIndex     uint64
	// StatsError says why the leader's stats could not be read ("" when read).
	StatsError string
	Nodes      []NodeStatus
	// Cloud is the group in cloud mode, nil otherwise.
	Cloud *CloudGroupStatus
}

// CloudGroupStatus is the fake cloud's group line of the report.
type CloudGroupStatus struct {
	URL, Group        string
	Service, Scope    string // what serves it ("fake AWS (Auto Scaling + EC2)"), where ("region us-east-1")
	Desired, Min, Max int
	Template, Version string // what new instances launch from, and its version
	Error             string // why the group could not be read
}

// NodeStatus is one node's line of the report. Fields that could not be
// read are left empty and Error says why.
type NodeStatus struct {
	Name    string
	IP      string
	APIURL  string
	Service string // active | activating | deactivating | inactive | failed | unknown | down | terminated
	MainPID int
	Role    string // leader | follower | learner | "" (unknown)
	Ready   bool
	// Failing lists the failing /ready checks; ReadyError says why /ready
	// could not be read at all.
	Failing    []string
	ReadyError string
	Lag        *uint64
	CaughtUp   bool
	Release    string // the installed binary, identified by sha256 against DIR/releases
	SHA256     string
	InstanceID string // cloud mode: the node's instance
	Lifecycle  string // cloud mode: its lifecycle state in the group ("" once it left)
}

// Status reads the cluster now: services from the supervisor, /ready from
// every node, and the leader's view of replication from /api/v1/stats (with
// a token minted locally). A node that is down shows its error, never stale data.
func (c *Cluster) Status(ctx context.Context) (StatusReport, error) {
	if err := c.reload(); err != nil {
		return StatusReport{}, err
	}
	rep := c.installedReport()
	if !c.readServices(ctx, &rep) {
		if rep.Cloud != nil {
			rep.Cloud.Error = "cluster not running"
		}
		return rep, nil
	}
	c.readReadiness(ctx, &rep)
	c.readStats(ctx, &rep)
	c.readCloud(ctx, &rep)
	return rep, nil
}

// readCloud fills in the group and each node's lifecycle state (cloud mode).
func (c *Cluster) readCloud(ctx context.Context, rep *StatusReport) {
	if rep.Cloud == nil {
		return
	}
	g, lifecycles, err := c.cloudGroup(ctx)
	if err != nil {
		rep.Cloud.Error = shortErr(err)
		return
	}
	g.URL, g.Service, g.Scope = rep.Cloud.URL, rep.Cloud.Service, rep.Cloud.Scope
	*rep.Cloud = g
	for i := range rep.Nodes {
		rep.Nodes[i].Lifecycle = lifecycles[rep.Nodes[i].InstanceID]
	}
}

// installedReport is the report before anything is asked: each node's
// addresses and the release of its binary on disk.
func (c *Cluster) installedReport() StatusReport {
	in := c.info
	rep := StatusReport{Cluster: in.Cluster, Dir: c.dir}
	if in.Cloud != "" {
		rep.Cloud = &CloudGroupStatus{URL: in.CloudURL, Group: in.CloudGroup}
		if k, err := kindOf(in); err == nil {
			rep.Cloud.Service, rep.Cloud.Scope = k.service, k.scope(in)
		}
	}
	rep.Nodes = make([]NodeStatus, len(in.Nodes))
	for i, n := range in.Nodes {
		ns := &rep.Nodes[i]
		ns.Name, ns.IP, ns.APIURL, ns.Service, ns.InstanceID = n.Name, n.IP, n.APIURL, "unknown", n.InstanceID
		if n.Terminated() {
			ns.Service, ns.ReadyError = NodeTerminated, NodeTerminated
		}
		if sha, err := release.FileSHA256(n.Binary); err == nil {
			ns.SHA256, ns.Release = sha, in.releaseOf(sha)
		} else {
			ns.Release = "missing"
		}
	}
	return rep
}

// readServices fills in each node's service state from the supervisor. It
// returns false when the supervisor does not answer: the cluster is down.
func (c *Cluster) readServices(ctx context.Context, rep *StatusReport) bool {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := callSupervisor(sctx, c.dir, ctlRequest{Op: "services"})
	cancel()
	if err != nil {
		rep.StatsError = c.notRunning(err).Error()
		for i := range rep.Nodes {
			if rep.Nodes[i].Service != NodeTerminated {
				rep.Nodes[i].Service = "down"
				rep.Nodes[i].ReadyError = "cluster not running"
			}
		}
		return false
	}
	rep.Running, rep.SupervisorPID = true, resp.Pid
	for _, s := range resp.Services {
		for i := range rep.Nodes {
			if rep.Nodes[i].Name == s.Node {
				rep.Nodes[i].Service, rep.Nodes[i].MainPID = s.ActiveState, s.MainPID
			}
		}
	}
	return true
}

// readReadiness asks every node's /ready in parallel.
func (c *Cluster) readReadiness(ctx context.Context, rep *StatusReport) {
	var wg sync.WaitGroup
	for i, n := range c.info.Nodes {
		if n.Terminated() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := &rep.Nodes[i]
			cl, err := c.client(n, "")
			if err != nil {
				ns.ReadyError = err.Error()
				return
			}
			defer cl.CloseIdleConnections()
			r, err := cl.Ready(ctx)
			if err != nil {
				ns.ReadyError = compactReadyErr(err)
				return
			}
			ns.Ready = r.Ready
			if !r.Ready {
				ns.Failing = failingChecks(r)
			}
		}()
	}
	wg.Wait()
}

// readStats mints a token on the first node that will, and reads the
// leader's stats through the first node that answers.
func (c *Cluster) readStats(ctx context.Context, rep *StatusReport) {
	in := c.info
	order := statsOrder(rep.Nodes)
	if len(order) == 0 {
		rep.StatsError = "no node answers /ready"
		return
	}
	var tok api.Token
	var mintErr error
	for _, i := range order {
		mctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		tok, mintErr = c.MintToken(mctx, in.Nodes[i].Name, false, 10*time.Minute)
		cancel()
		if mintErr == nil {
			break
		}
	}
	if mintErr != nil {
		rep.StatsError = "mint a token: " + mintErr.Error()
		return
	}
	for _, i := range order {
		cl, err := c.client(in.Nodes[i], tok)
		if err != nil {
			rep.StatsError = err.Error()
			continue
		}
		st, err := cl.Stats(ctx)
		cl.CloseIdleConnections()
		if err != nil {
			rep.StatsError = shortErr(err)
			continue
		}
		rep.StatsError = ""
		c.applyStats(rep, st)
		break
	}
}

// statsOrder is the nodes to ask for stats, which are leader-proxied: the
// ready ones first, then those that answered /ready but are not ready.
func statsOrder(nodes []NodeStatus) []int {
	order := make([]int, 0, len(nodes))
	for i := range nodes {
		if nodes[i].Ready {
			order = append(order, i)
		}
	}
	for i := range nodes {
		if !nodes[i].Ready && nodes[i].ReadyError == "" {
			order = append(order, i)
		}
	}
	return order
}

func (c *Cluster) applyStats(rep *StatusReport, st health.Stats) {
	rep.Term, rep.LastIndex = st.Cluster.CurrentTerm, st.Cluster.LastLogIndex
	for _, m := range st.Cluster.Nodes {
		for i, n := range c.info.Nodes {
			if n.NodeID != m.NodeID {
				continue
			}
			ns := &rep.Nodes[i]
			ns.Role, ns.Lag, ns.CaughtUp = m.Role, m.LagEntries, m.CaughtUp
			if m.Role == "leader" {
				rep.Leader = n.Name
				zero := uint64(0)
				if ns.Lag == nil {
					ns.Lag = &zero
				}
			}
		}
	}
}

// WriteTable prints the report as a plain table.
func (r StatusReport) WriteTable(w io.Writer) {
	leader := r.Leader
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "cluster %s  leader %s  term %d  last index %d\n", r.Cluster, leader, r.Term, r.LastIndex)
	if !r.Running {
		fmt.Fprintf(w, "not running: %s\n", r.StatsError)
	} else if r.StatsError != "" {
		fmt.Fprintf(w, "stats: %s\n", r.StatsError)
	}
	if g := r.Cloud; g != nil {
		if g.Error != "" {
			fmt.Fprintf(w, "group %s at %s: %s\n", g.Group, g.URL, g.Error)
		} else {
			fmt.Fprintf(w, "group %s  desired %d  min %d  max %d  template %s version %s  (%s %s)\n",
				g.Group, g.Desired, g.Min, g.Max, g.Template, g.Version, g.Service, g.URL)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Cloud != nil {
		fmt.Fprintln(tw, "NAME\tIP\tINSTANCE\tLIFECYCLE\tSERVICE\tROLE\tREADY\tLAG\tRELEASE")
	} else {
		fmt.Fprintln(tw, "NAME\tIP\tSERVICE\tROLE\tREADY\tLAG\tRELEASE")
	}
	for _, n := range r.Nodes {
		role := n.Role
		if role == "" {
			role = "-"
		}
		ready := "✓"
		switch {
		case n.ReadyError != "":
			ready = "✗ " + n.ReadyError
		case !n.Ready:
			ready = "✗ " + strings.Join(n.Failing, ",")
		}
		lag := "-"
		if n.Lag != nil {
			lag = fmt.Sprint(*n.Lag)
		}
		if r.Cloud != nil {
			lc := n.Lifecycle
			if lc == "" {
				lc = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.IP, n.InstanceID, lc, n.Service, role, ready, lag, n.Release)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.IP, n.Service, role, ready, lag, n.Release)
	}
	tw.Flush()
}

// compactReadyErr keeps what went wrong with GET /ready, without the node
// name and URL the table already shows: "connection refused: nothing listens on the port".
func compactReadyErr(err error) string {
	s := shortErr(err)
	if i := strings.Index(s, "GET /ready: "); i >= 0 {
		s = s[i+len("GET /ready: "):]
	}
	if i := strings.Index(s, ";"); i > 0 {
		s = s[:i]
	}
	return s
}
