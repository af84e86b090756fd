package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nwroll/nwroll/sim"
	"github.com/spf13/cobra"
)

// newSimCmd is `nwroll sim ...`: a simulated Neuwerk cluster on this machine.
func newSimCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated Neuwerk cluster on this machine to rehearse on",
		Long: `Run a simulated Neuwerk cluster on this machine.

Every node gets its own loopback address (127.0.N.11, .12, ...) with Neuwerk's
real ports (HTTPS 8443, metrics 8080, Raft 9600, join 9601) and its own SSH
server on port 2222, runs a real Raft and serves Neuwerk's API. A background
supervisor manages each node's neuwerk.service with systemd semantics.
DIR/inventory.yaml works with every nwroll command as it is.

Releases in DIR/releases/: ` + releaseList() + `
(see docs/sim.md).`,
		Example: `  nwroll sim up --dir /tmp/nw
  nwroll sim status --dir /tmp/nw
  nwroll sim kill --dir /tmp/nw fw-b
  nwroll sim down --dir /tmp/nw`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "the cluster `DIR` (required)")
	cmd.AddCommand(newSimUpCmd(&dir), newSimStatusCmd(&dir), newSimDownCmd(&dir),
		newSimNodeCmd(&dir, "stop"), newSimNodeCmd(&dir, "start"), newSimNodeCmd(&dir, "kill"),
		newSimTokenCmd(&dir), newSimFaultCmd(&dir))
	return cmd
}

func releaseList() string {
	var vs []string
	for _, r := range sim.Releases {
		vs = append(vs, r.Version)
	}
	return strings.Join(vs, ", ")
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("'%s' takes no arguments, got %q (see '%s --help')", c.CommandPath(), strings.Join(args, " "), c.CommandPath())
	}
	return nil
}

func needDir(c *cobra.Command, dir string) error {
	if dir == "" {
		return usageError("'%s' needs --dir DIR, the cluster directory (see '%s --help')", c.CommandPath(), c.CommandPath())
	}
	return nil
}

// openCluster opens the cluster in --dir; a missing --dir, or a DIR without
// a cluster, is a usage error.
func openCluster(cmd *cobra.Command, dir string) (*sim.Cluster, error) {
	if err := needDir(cmd, dir); err != nil {
		return nil, err
	}
	c, err := sim.Open(dir)
	if errors.Is(err, sim.ErrNoCluster) {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return c, err
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newSimUpCmd(dir *string) *cobra.Command {
	opts := sim.Options{}
	cmd := &cobra.Command{
		Use:   "up --dir DIR [--nodes N] [--release V] [--ssh embedded|openssh] [--warmup 3s] [--cloud aws]",
		Short: "Build a simulated cluster in DIR and start it in the background",
		Long: `Build a simulated Neuwerk cluster in DIR and start it in the background.

'sim up' writes the cluster's keys, CAs, releases and node trees into DIR,
installs the release on every node, starts a background supervisor and
returns once every node is ready, a leader is elected and every follower has
caught up. It prints the nodes and the commands to try next.

DIR must not hold a running cluster ('nwroll sim down --dir DIR' first). A
DIR whose cluster was brought down is reused: its old files are replaced.

--ssh embedded (the default) serves SSH from the supervisor; --ssh openssh runs
one real OpenSSH sshd per node (needs /usr/sbin/sshd: apt-get install openssh-server).

--cloud aws puts the nodes behind a simulated AWS Auto Scaling group: the
supervisor serves the Auto Scaling and EC2 APIs (their real wire protocol) on
127.0.N.250:4566, with one image per release, a launch template, a terminating
lifecycle hook, and Neuwerk's aws-asg integration on every node (drain and
auto-evict). DIR/inventory.yaml then has a cloud: section and no nodes, and
nwroll rolls the group image-first (--release 1.1.0 names the image). nwroll
needs a token: export NEUWERK_TOKEN=$(nwroll sim token --dir DIR).`,
		Example: `  nwroll sim up --dir /tmp/nw
  nwroll sim up --dir /tmp/nw9 --nodes 9 --release 1.1.0
  nwroll sim up --dir /tmp/nw --ssh openssh --warmup 1s
  nwroll sim up --dir /tmp/nwc --cloud aws`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needDir(c, *dir); err != nil {
				return err
			}
			opts.Dir = *dir
			opts.Out = c.OutOrStdout()
			if err := checkUpOptions(opts); err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			if _, err := sim.Up(ctx, opts); err != nil {
				return err
			}
			if opts.Cloud != "" {
				fmt.Fprintf(opts.Out, "\ncloud: nwroll reaches the instances over HTTPS; give it a token, then roll the group:\n  export NEUWERK_TOKEN=$(nwroll sim token --dir %s)\n  nwroll plan -i %s/inventory.yaml --release 1.1.0\n", *dir, *dir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Nodes, "nodes", sim.DefaultNodes, "the number `N` of nodes, 1 to 25")
	f.StringVar(&opts.Release, "release", sim.DefaultRelease, "the release `VERSION` installed on every node: "+releaseList())
	f.StringVar(&opts.SSH, "ssh", sim.SSHEmbedded, "the SSH server `MODE` of each node: embedded or openssh (real sshd)")
	f.DurationVar(&opts.Warmup, "warmup", sim.DefaultWarmup, "the `DURATION` a started node takes to become ready")
	f.DurationVar(&opts.ReadyTimeout, "timeout", 0, "the longest `DURATION` to wait for readiness (default 30s + 2s per node + warm-up)")
	f.StringVar(&opts.Cloud, "cloud", "", "put the nodes behind a simulated cloud group of `PROVIDER`: "+sim.CloudHelp())
	return cmd
}

// checkUpOptions reports bad flag values as usage errors (exit 2).
func checkUpOptions(o sim.Options) error {
	if o.Nodes < 1 || o.Nodes > 25 {
		return usageError("--nodes %d: a simulated cluster has 1 to 25 nodes", o.Nodes)
	}
	known := false
	for _, r := range sim.Releases {
		known = known || r.Version == o.Release
	}
	if !known {
		return usageError("--release %q: the simulator has releases %s", o.Release, releaseList())
	}
	if o.SSH != sim.SSHEmbedded && o.SSH != sim.SSHOpenSSH {
		return usageError("--ssh %q: use embedded (built in) or openssh (real sshd)", o.SSH)
	}
	if o.Warmup <= 0 {
		return usageError("--warmup %v: must be positive", o.Warmup)
	}
	if o.Cloud != "" && !slices.Contains(sim.CloudKinds(), o.Cloud) {
		return usageError("--cloud %q: the simulator fakes %s", o.Cloud, sim.CloudHelp())
	}
	return nil
}

func newSimStatusCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show the cluster's leader, term and each node's service, role, readiness, lag and release",
		Long: `Show the simulated cluster as it is now.

The first line has the cluster, its leader, the Raft term and last log index.
Then one line per node: NAME, IP, SERVICE (neuwerk.service as the supervisor
sees it: active, activating, inactive, failed), ROLE, READY (✓ or the failing
/ready checks), LAG (entries behind the leader) and RELEASE (the installed
binary, identified by sha256 against DIR/releases). A node that does not
answer shows its error. It exits 1 when the cluster is not running.`,
		Example: `  nwroll sim status --dir /tmp/nw`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := openCluster(c, *dir)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
			defer cancelT()
			rep, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			rep.WriteTable(c.OutOrStdout())
			if !rep.Running {
				return fmt.Errorf("cluster %s in %s is not running", rep.Cluster, cl.Dir())
			}
			return nil
		},
	}
}

func newSimDownCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down --dir DIR",
		Short: "Stop every process of the cluster (files stay for reading)",
		Long: `Stop every process of the simulated cluster in DIR.

Every node's neuwerk.service gets SIGTERM (SIGKILL after 5 s), the SSH servers
stop, the address block is released and the supervisor exits. If the
supervisor itself died, 'sim down' still ends the node processes it had
recorded in DIR/run/pids. It returns once none of them is left.

DIR's files stay (logs in DIR/nodes/<name>/var/log/); sim.json says "down",
and a later 'nwroll sim up --dir DIR' replaces them with a fresh cluster.`,
		Example: `  nwroll sim down --dir /tmp/nw`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := openCluster(c, *dir)
			if err != nil {
				return err
			}
			if err := cl.Down(); err != nil {
				return err
			}
			n := len(cl.Processes())
			fmt.Fprintf(c.OutOrStdout(), "cluster %s is down: none of its %d recorded processes is left; files kept in %s\n",
				cl.Info().Cluster, n, cl.Dir())
			return nil
		},
	}
}

func newSimNodeCmd(dir *string, verb string) *cobra.Command {
	short := map[string]string{
		"stop":  "Stop a node's neuwerk.service (systemctl stop: SIGTERM, SIGKILL after 5 s)",
		"start": "Start a node's neuwerk.service (systemctl start)",
		"kill":  "Crash a node: SIGKILL its neuwerk process; the service restarts it after 2 s",
	}[verb]
	long := map[string]string{
		"stop": `Stop a node's neuwerk.service, as 'sudo systemctl stop neuwerk.service' on
the node would: SIGTERM (the node drains), SIGKILL after 5 s. The node stays
stopped until 'nwroll sim start'.`,
		"start": `Start a node's neuwerk.service, as 'sudo systemctl start neuwerk.service' on
the node would. It runs whatever binary is installed at the node's
opt/neuwerk/bin/neuwerk now.`,
		"kill": `Crash a node: SIGKILL its neuwerk process. The service manager sees a failure
and restarts it after 2 s (Restart=on-failure; real systemd waits 5 s).`,
	}[verb]
	return &cobra.Command{
		Use:     verb + " --dir DIR NODE",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  nwroll sim %s --dir /tmp/nw fw-b", verb),
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("'%s' needs one NODE name, e.g. fw-b (see '%s --help')", c.CommandPath(), c.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := openCluster(c, *dir)
			if err != nil {
				return err
			}
			name := args[0]
			if _, err := cl.Node(name); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			out := c.OutOrStdout()
			switch verb {
			case "stop":
				if err := cl.Stop(name); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: neuwerk.service stopped\n", name)
			case "start":
				if err := cl.Start(name); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: neuwerk.service started\n", name)
			case "kill":
				pid, err := cl.Kill(name)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: SIGKILL sent to pid %d; neuwerk.service restarts it in %v (Restart=on-failure)\n", name, pid, sim.DefaultRestartDelay)
			}
			return nil
		},
	}
}
