package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
)

// Open returns a handle on the simulated cluster in dir (running or down).
func Open(dir string) (*Cluster, error) {
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	info, err := readInfo(abs)
	if err != nil {
		return nil, err
	}
	return &Cluster{dir: abs, info: info, out: io.Discard}, nil
}

// Dir is the cluster directory.
func (c *Cluster) Dir() string { return c.dir }

// Info is the cluster's sim.json.
func (c *Cluster) Info() Info { return *c.info }

// Node returns the node called name, or an error listing the nodes.
func (c *Cluster) Node(name string) (NodeInfo, error) {
	if n, ok := c.info.Node(name); ok {
		return n, nil
	}
	return NodeInfo{}, fmt.Errorf("cluster %s has no node %q (nodes: %s)", c.info.Cluster, name, strings.Join(c.info.NodeNames(), ", "))
}

// Processes lists every process the cluster recorded in DIR/run/pids
// (supervisor, node services, sshd), alive or not.
func (c *Cluster) Processes() []ProcessRecord { return readPids(c.dir) }

// AliveProcesses lists the recorded processes that are still running.
func (c *Cluster) AliveProcesses() []ProcessRecord {
	var out []ProcessRecord
	for _, r := range readPids(c.dir) {
		if pidAlive(r.Pid, c.dir) {
			out = append(out, r)
		}
	}
	return out
}

// Down stops every process of the cluster: through the supervisor when it
// runs, and by the pids recorded in DIR/run/pids otherwise (or for anything
// left). It marks sim.json "down" and keeps DIR's files. Down on a cluster
// that is already down is a no-op that still sweeps leftovers.
func (c *Cluster) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pid, alive := liveSupervisor(c.dir)
	if _, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "down"}); err == nil && alive {
		// The supervisor answers once every node is stopped; wait for it to exit.
		waitGone([]ProcessRecord{{Pid: pid}}, c.dir, 10*time.Second)
	}
	left := killRecorded(c.dir, 5*time.Second)
	_ = os.Remove(filepath.Join(c.dir, supervisorSock))
	_ = os.Remove(filepath.Join(c.dir, supervisorPid))
	if info, err := readInfo(c.dir); err == nil {
		c.info = info
	}
	c.info.State = StateDown
	werr := writeInfo(c.info)
	if len(left) > 0 {
		var pids []string
		for _, r := range left {
			pids = append(pids, fmt.Sprintf("%d (%s %s)", r.Pid, r.Kind, r.Name))
		}
		return fmt.Errorf("cluster %s: processes still alive after SIGKILL: %s", c.info.Cluster, strings.Join(pids, ", "))
	}
	return werr
}

// Running reports whether the cluster's supervisor answers.
func (c *Cluster) Running(ctx context.Context) bool {
	_, err := pingSupervisor(ctx, c.dir)
	return err == nil
}

// Systemctl runs a systemctl command line against node's service manager,
// as the node's `systemctl` shim does.
func (c *Cluster) Systemctl(ctx context.Context, node string, args ...string) (stdout, stderr string, code int, err error) {
	if _, err := c.Node(node); err != nil {
		return "", "", 1, err
	}
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "systemctl", Node: node, Args: args})
	if err != nil {
		return "", "", 1, c.notRunning(err)
	}
	return resp.Stdout, resp.Stderr, resp.Exit, nil
}

func (c *Cluster) notRunning(err error) error {
	if errors.Is(err, errNoSupervisor) {
		return fmt.Errorf("cluster %s in %s is not running (start it with 'nwroll sim up --dir %s')", c.info.Cluster, c.dir, shellQuote(c.dir))
	}
	return err
}

func (c *Cluster) systemctlOK(node string, verb string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, stderr, code, err := c.Systemctl(ctx, node, verb, unitName)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("node %s: systemctl %s %s: exit %d: %s", node, verb, unitName, code, strings.TrimSpace(stderr))
	}
	return nil
}

// Stop is `systemctl stop neuwerk.service` on node: SIGTERM, SIGKILL after 5 s.
func (c *Cluster) Stop(node string) error { return c.systemctlOK(node, "stop") }

// Start is `systemctl start neuwerk.service` on node.
func (c *Cluster) Start(node string) error { return c.systemctlOK(node, "start") }

// Kill SIGKILLs node's neuwerk process, as a crash would; the service
// manager restarts it after DefaultRestartDelay (Restart=on-failure).
// It returns the pid that was killed.
func (c *Cluster) Kill(node string) (int, error) {
	if _, err := c.Node(node); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "kill", Node: node})
	if err != nil {
		return 0, c.notRunning(err)
	}
	return resp.Pid, nil
}

// Services returns every node's neuwerk.service state from the supervisor.
func (c *Cluster) Services(ctx context.Context) ([]ServiceStatus, error) {
	resp, err := callSupervisor(ctx, c.dir, ctlRequest{Op: "services"})
	if err != nil {
		return nil, c.notRunning(err)
	}
	return resp.Services, nil
}

// MintToken runs the node's installed binary locally,
// `<binary> auth token mint --sub nwroll-sim [--roles admin] --ttl Ns --http-tls-dir <data_root>/http-tls`,
// and returns the JWT it prints.
func (c *Cluster) MintToken(ctx context.Context, nodeName string, admin bool, ttl time.Duration) (api.Token, error) {
	n, err := c.Node(nodeName)
	if err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	args := []string{"auth", "token", "mint", "--sub", "nwroll-sim"}
	if admin {
		args = append(args, "--roles", "admin")
	}
	args = append(args, "--ttl", fmt.Sprintf("%ds", int(ttl.Round(time.Second)/time.Second)),
		"--http-tls-dir", filepath.Join(n.DataRoot, "http-tls"))
	cmd := exec.CommandContext(ctx, n.Binary, args...)
	cmd.Dir = n.NodeDir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("node %s: %s auth token mint: %v: %s", nodeName, n.Binary, err, strings.TrimSpace(errOut.String()))
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		return "", fmt.Errorf("node %s: auth token mint printed no JWT", nodeName)
	}
	return api.Token(tok), nil
}

// client builds a health client for node n.
func (c *Cluster) client(n NodeInfo, tok api.Token) (*api.Client, error) {
	return api.NewClient(api.Config{
		Name: n.Name, NodeID: n.NodeID, APIURL: n.APIURL, MetricsURL: n.MetricsURL,
		CAFile: c.info.CAPath, Token: tok,
		Timeouts: api.Timeouts{Probe: 2 * time.Second, API: 3 * time.Second},
	})
}

// nodeProblem is why one node is not ready yet.
type nodeProblem struct {
	node string
	why  string
}

// waitReady polls until every node's /ready is 200 and the leader's stats
// show every follower caught up. It returns the leader's name.
func (c *Cluster) waitReady(parent context.Context, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	live := c.info.LiveNodes()
	clients := make([]*api.Client, len(live))
	for i, n := range live {
		cl, err := c.client(n, "")
		if err != nil {
			return "", err
		}
		defer cl.CloseIdleConnections()
		clients[i] = cl
	}
	// The token for the stats is minted while the nodes start, not after.
	type minted struct {
		tok api.Token
		err error
	}
	startMint := func() chan minted {
		ch := make(chan minted, 1)
		go func() {
			mctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			t, err := c.MintToken(mctx, live[0].Name, false, time.Hour)
			ch <- minted{t, err}
		}()
		return ch
	}
	mint := startMint()
	var tok api.Token
	var problems []nodeProblem
	for {
		problems = problems[:0]
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, n := range live {
			wg.Add(1)
			go func() {
				defer wg.Done()
				why := ""
				r, err := clients[i].Ready(ctx)
				switch {
				case err != nil:
					why = shortErr(err)
				case !r.Ready:
					why = "/ready 503: " + strings.Join(failingChecks(r), ", ")
				}
				if why != "" {
					mu.Lock()
					problems = append(problems, nodeProblem{n.Name, why})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(problems) == 0 && tok == "" {
			if m := <-mint; m.err != nil {
				mint = startMint() // try again next time round
				problems = append(problems, nodeProblem{"cluster", "mint a token: " + m.err.Error()})
			} else {
				tok = m.tok
			}
		}
		if len(problems) == 0 {
			leader, why := c.checkStats(ctx, tok)
			if why == "" && c.info.Dynamic {
				why = c.checkVoters(ctx, tok)
			}
			if why == "" {
				return leader, nil
			}
			problems = append(problems, nodeProblem{"cluster", why})
		}
		if c.supervisorExited() {
			return "", fmt.Errorf("cluster %s: the supervisor exited:\n%s(full log: %s)", c.info.Cluster,
				indent(tailFile(filepath.Join(c.dir, supervisorLog), 15)), filepath.Join(c.dir, supervisorLog))
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return "", fmt.Errorf("interrupted (%v) while waiting for cluster %s to become ready", parent.Err(), c.info.Cluster)
			}
			return "", c.notReadyError(timeout, problems)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkStats asks the cluster (through any node; stats are leader-proxied)
// whether it has a leader and every follower caught up.
func (c *Cluster) checkStats(ctx context.Context, tok api.Token) (leader, why string) {
	var lastWhy string
	for _, n := range c.info.LiveNodes() {
		cl, err := c.client(n, tok)
		if err != nil {
			return "", err.Error()
		}
		st, err := cl.Stats(ctx)
		cl.CloseIdleConnections()
		if err != nil {
			lastWhy = "stats: " + shortErr(err)
			continue
		}
		return c.judgeStats(st)
	}
	return "", lastWhy
}

func (c *Cluster) judgeStats(st health.Stats) (leader, why string) {
	cs := st.Cluster
	byID := map[string]string{}
	for _, n := range c.info.Nodes {
		byID[n.NodeID] = n.Name
	}
	for _, m := range cs.Nodes {
		if m.Role == "leader" {
			leader = byID[m.NodeID]
			if leader == "" {
				leader = m.NodeID
			}
		}
	}
	want := uint64(len(c.info.LiveNodes()))
	switch {
	case !cs.IsLeader || leader == "":
		return "", "stats: no leader yet"
	case cs.NodeCount != want:
		return leader, fmt.Sprintf("stats: %d of %d nodes are members", cs.NodeCount, want)
	case cs.FollowersCaughtUp != cs.FollowerCount || cs.FollowerCount != want-1:
		return leader, fmt.Sprintf("stats: %d of %d followers caught up", cs.FollowersCaughtUp, want-1)
	}
	return leader, ""
}

// checkVoters asks the cluster whether every live node is a voter (a
// dynamic cluster's joiners are learners first).
func (c *Cluster) checkVoters(ctx context.Context, tok api.Token) (why string) {
	live := c.info.LiveNodes()
	m, err := c.Members(ctx, live[0], tok)
	if err != nil {
		return "members: " + shortErr(err)
	}
	voters := map[string]bool{}
	for _, mem := range m.Members {
		if mem.IsVoter {
			voters[mem.NodeID] = true
		}
	}
	for _, n := range live {
		if !voters[n.NodeID] {
			return fmt.Sprintf("members: %s is not a voter yet", n.Name)
		}
	}
	return ""
}

func failingChecks(r health.ReadyResponse) []string {
	var out []string
	for _, ch := range r.Checks {
		if !ch.OK {
			out = append(out, ch.Name)
		}
	}
	if len(out) == 0 {
		out = append(out, "not ready")
	}
	return out
}

// shortErr keeps an error to its first line.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (c *Cluster) notReadyError(timeout time.Duration, problems []nodeProblem) error {
	sort.Slice(problems, func(i, j int) bool { return problems[i].node < problems[j].node })
	var b strings.Builder
	var names []string
	for _, p := range problems {
		if p.node != "cluster" {
			names = append(names, p.node)
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, "cluster %s is not ready after %v: nodes %s are not ready:", c.info.Cluster, timeout.Round(time.Second), strings.Join(names, ", "))
	} else {
		fmt.Fprintf(&b, "cluster %s is not ready after %v:", c.info.Cluster, timeout.Round(time.Second))
	}
	for _, p := range problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.node, p.why)
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, "\nsee %s", filepath.Join(c.dir, "nodes", names[0], "var", "log", "neuwerk.log"))
		if len(names) > 1 {
			fmt.Fprintf(&b, " (and %s for the others)", filepath.Join(c.dir, "nodes", "<name>", "var", "log", "neuwerk.log"))
		}
	} else {
		fmt.Fprintf(&b, "\nsee %s", filepath.Join(c.dir, "nodes", "<name>", "var", "log", "neuwerk.log"))
	}
	return errors.New(b.String())
}

func (c *Cluster) printSummary(w io.Writer, leader string, took time.Duration) {
	in := c.info
	fmt.Fprintf(w, "\ncluster %s is up in %s after %v: %d nodes, release %s, ssh %s; leader %s\n\n",
		in.Cluster, in.Dir, took.Round(100*time.Millisecond), len(in.Nodes), in.Release, in.SSHMode, leader)
	fmt.Fprintf(w, "  %-6s %-13s %-26s %s\n", "NODE", "IP", "API", "SSH")
	for _, n := range in.Nodes {
		fmt.Fprintf(w, "  %-6s %-13s %-26s %s\n", n.Name, n.IP, n.APIURL, n.SSHAddr)
	}
	if k, ok := cloudKinds[in.Cloud]; ok {
		fmt.Fprintf(w, "\n  %s: %s  group %s  %s  (integration reconcile every %d s; Neuwerk's default is 15 s)\n",
			k.service, in.CloudURL, in.CloudGroup, k.scope(in), CloudReconcileSecs)
	}
	d := shellQuote(in.Dir)
	first := in.Nodes[0]
	last := in.Nodes[len(in.Nodes)-1]
	fmt.Fprintf(w, "\nnext:\n")
	fmt.Fprintf(w, "  nwroll sim status --dir %s\n", d)
	fmt.Fprintf(w, "  curl --cacert %s https://%s:%d/ready\n", shellQuote(in.CAPath), first.IP, PortHTTPS)
	fmt.Fprintf(w, "  ssh -i %s -o UserKnownHostsFile=%s -p %d %s@%s systemctl status neuwerk.service\n",
		shellQuote(in.ClientKey), shellQuote(in.KnownHosts), PortSSH, first.SSHUser, first.IP)
	fmt.Fprintf(w, "  nwroll sim kill --dir %s %s      # crash a node; it restarts by itself\n", d, last.Name)
	fmt.Fprintf(w, "  nwroll sim down --dir %s\n", d)
}
