package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/tui"
	"github.com/nwroll/nwroll/tui/style"
	"github.com/nwroll/nwroll/tui/viewer"
)

// The console commands (design §1): console, demo and view. The work is in
// package tui; this file is flags, the terminal check and exit codes.

func newConsoleCmd() *cobra.Command {
	var c common
	var b planFlags
	var relArg string
	var breakLock, abandon bool
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "console -i INVENTORY --release REL",
		Short: "The console: watch the cluster and approve each step of the upgrade",
		Long: `Open the console on a cluster: a live node table (role, release, readiness,
lag), the runbook with its gates, and a log. nwroll surveys the cluster
read-only, then walks the runbook; every step that changes a node waits for
you to press y in a dialog that shows what will happen, the gate values and
the quorum arithmetic. a aborts, q quits (asking first mid-rollout), ? helps.

On a gate failure nwroll takes a sysdump and asks: keep waiting, sysdump,
roll back this node, roll back all, or abort. It never carries on by itself.

Exit codes: 0 success, 1 failed or stopped, 2 usage or inventory error,
3 pre-checks refused to start, 4 rolled back.`,
		Example: "  nwroll console -i /tmp/nw/inventory.yaml --release /tmp/nw/releases/1.1.0\n  nwroll demo    # the same console on a fresh simulated cluster",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needTerminal(cmd); err != nil {
				return err
			}
			if _, err := b.options(nil); err != nil {
				return err
			}
			if err := rf.check(); err != nil {
				return err
			}
			env, done, err := c.env(cmd, io.Discard)
			if err != nil {
				return err
			}
			defer done()
			rel, err := loadRelease(cmd, env, relArg)
			if err != nil {
				return err
			}
			defer rel.Cleanup()
			o, _ := b.options(rel)
			return runConsole(cmd, tui.Deps{
				Env:     env,
				Upgrade: rollout.UpgradeOptions{PlanOptionsIn: o, BreakLock: breakLock, AbandonRun: abandon},
			}, &rf)
		},
	}
	c.register(cmd, false)
	b.register(cmd)
	rf.register(cmd)
	cmd.Flags().StringVar(&relArg, "release", "", "the release `REL` to upgrade to: a directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz")
	breakLockFlag(cmd, &breakLock)
	cmd.Flags().BoolVar(&abandon, "abandon-run", false, "start a new run though an unfinished one exists (it is marked abandoned)")
	return cmd
}

func newDemoCmd() *cobra.Command {
	var dir, version, cloudName string
	var nodes int
	var keep bool
	var b planFlags
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--nodes N] [--release VERSION] [--bake D] [--keep]",
		Short: "The console on a fresh simulated 3-node cluster: zero set-up",
		Long: `Start a simulated Neuwerk cluster (release 1.0.0) on loopback addresses, open
the console on it with release 1.1.0 (or --release) ready to roll out, and stop
the cluster when the demo ends, however it ends (a quit, a closed terminal, a
kill). Follow the hints at the bottom of the screen: y approves the
step in the dialog, ? shows every key.

The simulated nodes are real processes: a Raft cluster with the HTTPS API,
SSH, systemd-like service control and sysdumps, with one difference from
Neuwerk, which the console's header shows: Raft elections start after
0.5–1 s without a leader instead of 2–4 s, so the cluster is up in about a
second (nwroll sim up keeps Neuwerk's timings). The journal, backups and
sysdumps go under DIR/state, never into your own state directory. When the
demo made DIR itself (no --dir), it removes it at the end unless --keep.

Rehearse a failure by rolling out one of the simulator's faulty releases
(--release 1.1.1-never-ready, 1.1.1-crashloop, 1.1.1-stall,
1.1.1-failclosed): the gates catch it and the console offers the rollback.

--cloud aws puts the nodes behind a simulated AWS Auto Scaling group and rolls
it image-first: for each node, followers first and the leader last, a new
instance on the release's image joins as a voter, then the old one is
retired (Neuwerk drains it and evicts it). --release 1.1.1-never-joins
rehearses an image whose node never joins.`,
		Example: "  nwroll demo\n  nwroll demo --cloud aws   # image-first, behind a simulated Auto Scaling group\n  nwroll demo --nodes 5 --bake 20s\n  nwroll demo --release 1.1.1-failclosed   # a release the abort-signals gate catches\n  nwroll demo --dir /tmp/nwdemo --keep   # leave the cluster running afterwards",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needTerminal(cmd); err != nil {
				return err
			}
			if nodes < 3 || nodes > 25 {
				return usageError("--nodes %d: the demo needs 3 to 25 nodes (a rollout needs at least 3 voters)", nodes)
			}
			if !sim.KnownRelease(version) || version == sim.DefaultRelease {
				return usageError("--release %q: roll out one of the simulator's releases other than %s: %s", version, sim.DefaultRelease, sim.ReleaseVersions())
			}
			o, err := b.options(nil)
			if err != nil {
				return err
			}
			if err := rf.check(); err != nil {
				return err
			}
			created := dir == ""
			if created {
				d, err := os.MkdirTemp("", "nwroll-demo-")
				if err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				dir = d
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return usageError("--dir %s: %v", dir, err)
			}
			if cloudName != "" && !slices.Contains(sim.CloudKinds(), cloudName) {
				return usageError("--cloud %q: the simulator fakes %s", cloudName, sim.CloudHelp())
			}
			return runDemo(cmd, abs, created, nodes, keep, version, cloudName, o, &rf)
		},
	}
	cmd.Flags().StringVar(&cloudName, "cloud", "", "put the nodes behind a simulated cloud group of `PROVIDER` ("+sim.CloudHelp()+") and roll it image-first: surge a new instance, retire an old one")
	b.register(cmd)
	rf.register(cmd)
	cmd.Flags().StringVar(&version, "release", "1.1.0", "the simulated release `VERSION` to roll out")
	cmd.Flags().StringVar(&dir, "dir", "", "the `DIR` where the simulated cluster lives (default: a new temporary directory, removed when the demo ends unless --keep; a DIR you name is never removed)")
	cmd.Flags().IntVar(&nodes, "nodes", 3, "the number `N` of nodes (3 to 25)")
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the simulated cluster running when the console exits (stop it with nwroll sim down --dir DIR)")
	return cmd
}

// runDemo runs the console on a simulated cluster in dir; created says the
// demo made dir itself (so it may remove it afterwards).
func runDemo(cmd *cobra.Command, dir string, created bool, nodes int, keep bool, version, cloudName string, o rollout.PlanOptionsIn, rf *runFlags) error {
	errOut := cmd.ErrOrStderr()
	behind := ""
	if cloudName != "" {
		behind = " behind a simulated " + cloudName + " group"
	}
	fmt.Fprintf(errOut, "nwroll demo: starting a simulated %d-node cluster%s in %s (%s) …\n", nodes, behind, dir, sim.DemoLine(sim.DemoElectionTimeout))
	ctx, stop := runSignalContext()
	owner := os.Getpid() // the cluster goes down with the demo, even a demo killed or hung up
	if keep {
		owner = 0
	}
	c, err := sim.Up(ctx, sim.Options{Dir: dir, Nodes: nodes, Release: "1.0.0", Warmup: demoWarmup, DemoElectionTimeout: sim.DemoElectionTimeout, Cloud: cloudName, Owner: owner})
	stop()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("demo: the simulated cluster did not start: %w", err)}
	}
	defer demoTeardown(errOut, c, dir, created, keep)
	info := c.Info()
	// The inventory's own set-up (its releases/ catalog, the SSH dialer),
	// with the journal under DIR/state and a token always minted: an
	// operator's $NEUWERK_TOKEN means nothing to the simulated cluster.
	flags := common{inventory: info.Inventory}
	env, closeEnv, err := flags.env(cmd, io.Discard)
	if err != nil {
		return err
	}
	defer closeEnv()
	stateHome := filepath.Join(dir, "state")
	env.StateDir, env.Token = filepath.Join(stateHome, "nwroll"), ""
	var rel *release.Release
	if cloudName != "" {
		// The instances are reached over HTTPS only: the demo mints the token.
		tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		env.Token, err = c.MintToken(tctx, info.LiveNodes()[0].Name, true, 12*time.Hour)
		cancel()
		if err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("demo: mint a token: %w", err)}
		}
		rel = &release.Release{Version: version, Source: version}
	} else if rel, err = release.Load(filepath.Join(dir, "releases", version)); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	defer rel.Cleanup()
	return runConsole(cmd, tui.Deps{
		Env:     env,
		Upgrade: rollout.UpgradeOptions{PlanOptionsIn: withRelease(o, rel)},
		HintEnv: "XDG_STATE_HOME=" + stateHome,
		NoHints: !keep,
		Note:    sim.DemoNote,
	}, rf)
}

// demoWarmup is how long a demo's node waits for its simulated DHCP lease
// after each start: long enough to see a restarted node's
// dataplane_config red, and shorter than the cluster's first election, so
// the lease never holds up the first policy replay.
const demoWarmup = 500 * time.Millisecond

// demoTeardown ends the demo: with --keep it leaves the cluster running and
// says how to stop it; otherwise it stops the cluster, says it is down, and
// removes dir if the demo created it (a --dir the user named stays).
func demoTeardown(errOut io.Writer, c interface{ Down() error }, dir string, created, keep bool) {
	if keep {
		fmt.Fprintf(errOut, "nwroll demo: the cluster keeps running in %s; stop it with: nwroll sim down --dir %s\n", dir, dir)
		return
	}
	fmt.Fprintf(errOut, "nwroll demo: stopping the simulated cluster …\n")
	if err := c.Down(); err != nil {
		fmt.Fprintf(errOut, "nwroll demo: sim down: %v (try: nwroll sim down --dir %s)\n", err, dir)
		return
	}
	if !created {
		fmt.Fprintf(errOut, "nwroll demo: the simulated cluster is down; its files stay in %s\n", dir)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(errOut, "nwroll demo: the simulated cluster is down, but its folder %s was not removed: %v (remove it with: rm -rf %s)\n", dir, err, dir)
		return
	}
	fmt.Fprintf(errOut, "nwroll demo: the simulated cluster is down and its folder %s is removed\n", dir)
}

func withRelease(o rollout.PlanOptionsIn, rel *release.Release) rollout.PlanOptionsIn {
	o.Release = rel
	return o
}

// runConsole runs the console to its end, then prints the outcome.
var stopSignalNames = map[os.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT"}

func runConsole(cmd *cobra.Command, deps tui.Deps, rf *runFlags) error {
	ev, end, err := rf.consoleStream(cmd)
	if err != nil {
		return err
	}
	defer end()
	deps.Env.Events = ev
	deps.Operator = journal.CurrentOperator()
	deps.NoColor = os.Getenv("NO_COLOR") != ""
	p := tea.NewProgram(tui.New(deps), tea.WithoutSignalHandler())
	// SIGTERM, SIGHUP (the terminal closed) and a SIGINT that is not a key
	// press quit as a confirmed q would, leaving no node stopped.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	done := make(chan struct{})
	defer func() { signal.Stop(sigs); close(done) }()
	go func() {
		for {
			select {
			case s := <-sigs:
				p.Send(tui.StopSignal{Name: stopSignalNames[s]})
			case <-done:
				return
			}
		}
	}()
	final, err := p.Run()
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("console: %w", err)}
	}
	m, ok := final.(tui.Model)
	if !ok {
		return &exitError{code: exitFailed, err: fmt.Errorf("console: unexpected final model %T", final)}
	}
	for _, l := range m.FinalMessages() {
		fmt.Fprintln(cmd.OutOrStdout(), l)
	}
	if m.ExitCode() != exitOK {
		return &exitError{code: m.ExitCode(), err: fmt.Errorf("the console ended with exit %d", m.ExitCode()), quiet: true}
	}
	return nil
}

func newViewCmd() *cobra.Command {
	var baseline, invPath string
	cmd := &cobra.Command{
		Use:   "view FILE",
		Short: "Browse a sysdump archive: overview, members, search, diff",
		Long: `Open a Neuwerk sysdump (a cluster or node sysdump .tar.gz) in the viewer:
an overview (partial or not, the leader, failed nodes and their errors), the
tree of members with each node's nested archive expandable in place, JSON
pretty-printed, / to search names and content (n and N step through hits),
and d to diff a member against --baseline. The archive is streamed, never
read whole into memory.`,
		Example: "  nwroll view neuwerk-cluster-sysdump-sim-2-20261123T101500Z.tar.gz\n  nwroll view after.tar.gz --baseline before.tar.gz -i inventory.yaml",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("'%s' takes one sysdump file, e.g. nwroll view cluster-sysdump.tar.gz", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkArchive(args[0]); err != nil {
				return err
			}
			if baseline != "" {
				if err := checkArchive(baseline); err != nil {
					return usageError("--baseline: %v", err)
				}
			}
			opts := viewer.Options{Path: args[0], Baseline: baseline}
			if invPath != "" {
				inv, err := inventory.Load(invPath)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				opts.HostNames = viewer.InventoryHostNames(inv)
			}
			if err := needTerminal(cmd); err != nil {
				return err
			}
			st := style.New(true, os.Getenv("NO_COLOR") != "")
			if _, err := tea.NewProgram(viewer.NewApp(st, opts)).Run(); err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("viewer: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&baseline, "baseline", "", "an earlier sysdump `FILE` to diff members against (d)")
	cmd.Flags().StringVarP(&invPath, "inventory", "i", "", "the inventory `FILE`, to name nodes as it does (without it: by their addresses in the archive)")
	return cmd
}

// checkArchive refuses a file that is not a readable sysdump, before the
// screen is taken over.
func checkArchive(p string) error {
	const expects = "view expects a sysdump .tar.gz written by Neuwerk or `nwroll sysdump`"
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError("%s does not exist; %s", p, expects)
	case err != nil:
		return usageError("%s cannot be read: %v; %s", p, errors.Unwrap(err), expects)
	case st.IsDir():
		return usageError("%s is a directory; %s", p, expects)
	}
	a, err := sysdump.OpenArchive(p)
	if err != nil {
		return usageError("%v", err)
	}
	if _, err := a.List(); err != nil {
		return usageError("%s is not a readable sysdump: %v (expected a .tar.gz written by Neuwerk or `nwroll sysdump`)", p, err)
	}
	return nil
}

// interactive: stdin and stdout are a terminal, where a console can draw.
func interactive() bool { return isTerminal(os.Stdin) && isTerminal(os.Stdout) }

// needTerminal refuses to draw a console without a terminal.
func needTerminal(cmd *cobra.Command) error {
	if interactive() {
		return nil
	}
	return usageError("'%s' needs an interactive terminal; in scripts and CI use the headless commands (nwroll upgrade --yes, nwroll status)", cmd.CommandPath())
}
