package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/cloud"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The headless commands (design §1): status, plan, upgrade, rollback,
// resume and sysdump. The work is in package rollout; this file is flags,
// signals and exit codes.

// common are the flags every headless command shares.
type common struct {
	inventory string
	releases  string
	json      bool
}

func (c *common) register(cmd *cobra.Command, withJSON bool) {
	cmd.Flags().StringVarP(&c.inventory, "inventory", "i", "", "the inventory `FILE` (docs/inventory.md), e.g. DIR/inventory.yaml of nwroll sim up")
	cmd.Flags().StringVar(&c.releases, "releases", "", "a `DIR` of known releases, to name each node's running build (default: releases/ next to the inventory, if there is one)")
	if withJSON {
		cmd.Flags().BoolVar(&c.json, "json", false, "write JSON, its schema named in each document (docs/automation.md): one JSON event per line for upgrade, resume and rollback")
	}
}

// env loads the inventory and the release catalog and builds the Env. The
// returned func closes the SSH connections.
func (c *common) env(cmd *cobra.Command, out io.Writer) (rollout.Env, func(), error) {
	if c.inventory == "" {
		return rollout.Env{}, nil, usageError("'%s' needs -i INVENTORY, the inventory file (see '%s --help')", cmd.CommandPath(), cmd.CommandPath())
	}
	inv, err := inventory.Load(c.inventory)
	if err != nil {
		return rollout.Env{}, nil, &exitError{code: exitUsage, err: err}
	}
	stateDir, err := journal.DefaultStateDir()
	if err != nil {
		return rollout.Env{}, nil, &exitError{code: exitUsage, err: err}
	}
	dir := c.releases
	if dir == "" {
		sibling := filepath.Join(filepath.Dir(c.inventory), "releases")
		if st, err := os.Stat(sibling); err == nil && st.IsDir() {
			dir = sibling
		}
	}
	var cat release.Catalog
	if dir != "" {
		cat, _, err = release.LoadCatalog(dir)
		if err != nil {
			return rollout.Env{}, nil, usageError("--releases: %v", err)
		}
	}
	tokenEnv := inv.API.TokenEnv
	if tokenEnv == "" {
		tokenEnv = inventory.DefaultTokenEnv
	}
	d := remote.NewSSHDialer(remote.SSHOptions{})
	env := rollout.Env{
		Inventory: inv, Dialer: d, StateDir: stateDir, Catalog: cat,
		Token: api.Token(strings.TrimSpace(os.Getenv(tokenEnv))),
		Out:   out, JSON: c.json,
	}
	return env, func() { d.Close(); cat.Cleanup() }, nil
}

// runSignalContext is cancelled by the first SIGINT/SIGTERM (the run stops
// cleanly); a second one exits at once.
func runSignalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-ch; !ok {
			return
		}
		fmt.Fprintln(os.Stderr, "nwroll: interrupted: letting the step in flight finish and leaving every node running (press Ctrl-C again to exit at once)")
		cancel()
		if _, ok := <-ch; ok {
			fmt.Fprintln(os.Stderr, "nwroll: interrupted twice: exiting now; run `nwroll resume` to continue")
			os.Exit(130)
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel() }
}

// codeErr turns an engine error into the CLI's exit error.
func codeErr(code int, err error) error {
	if err == nil && code == exitOK {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("exit %d", code)
	}
	return &exitError{code: code, err: err}
}

func engineErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: rollout.ExitCodeOf(err), err: err}
}

// loadRelease loads --release; a bad one is a usage error naming the fix.
// withRelease opens the inventory's environment and the release, runs fn
// under a context that Ctrl-C cancels, and cleans both up afterwards.
func (c *common) withRelease(cmd *cobra.Command, relArg string, fn func(context.Context, rollout.Env, *release.Release) error) error {
	env, done, err := c.env(cmd, cmd.OutOrStdout())
	if err != nil {
		return err
	}
	defer done()
	rel, err := loadRelease(cmd, env, relArg)
	if err != nil {
		return err
	}
	defer rel.Cleanup()
	ctx, stop := runSignalContext()
	defer stop()
	return fn(ctx, env, rel)
}

func loadRelease(cmd *cobra.Command, env rollout.Env, p string) (*release.Release, error) {
	if env.Inventory.Cloud != nil {
		return imageRelease(cmd, env, p)
	}
	if p == "" {
		return nil, usageError("'%s' needs --release REL: a release directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz of one", cmd.CommandPath())
	}
	r, err := release.Load(p)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return r, nil
}

// versionRE is what a release version may be: it names an image tag.
var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$`)

// imageRelease is --release in cloud mode: a release version, whose image
// (tagged neuwerk.io/release=VERSION) the group will launch.
func imageRelease(cmd *cobra.Command, env rollout.Env, v string) (*release.Release, error) {
	group := env.Inventory.Cloud.Group
	switch {
	case v == "":
		return nil, usageError("'%s' needs --release VERSION: the inventory's nodes are group %s's instances, so the release is an image, named by its version (tag %s=VERSION), e.g. --release 1.1.0",
			cmd.CommandPath(), group, cloud.ReleaseTag)
	case !versionRE.MatchString(v):
		return nil, usageError("--release %q: the inventory's nodes are group %s's instances, so --release names a release version (the image tagged %s=VERSION), not a directory or archive",
			v, group, cloud.ReleaseTag)
	}
	return &release.Release{Version: v, Source: v}, nil
}

func newStatusCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "status -i INVENTORY [--json]",
		Short: "Print the node table once: role, release, readiness, lag, lock",
		Long: `Connect to every node (SSH for the binary and lock, HTTPS for health) and print
the node table once: name, role, release (the binary's sha256 matched against
known releases, and any release staged next to it), ready or the failing
checks, replication lag and the lock holder (a holder that ran on this host
and is gone is named as such). Nothing changes on any node.

Exit codes: 0 the cluster is healthy (a leader, every node ready with its
service active, the Raft membership matching the inventory), 3 it is not
(the last line, or "problems" in --json, says why), 2 usage or inventory
error, 1 the survey failed.`,
		Example: "  nwroll status -i /tmp/nw/inventory.yaml\n  nwroll status -i inventory.yaml --releases ./releases --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, done, err := c.env(cmd, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer done()
			ctx, stop := runSignalContext()
			defer stop()
			rep, err := rollout.Status(ctx, env)
			if err != nil {
				return engineErr(err)
			}
			if c.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rollout.RenderStatus(cmd.OutOrStdout(), rep)
			}
			return statusExit(rep, c.json)
		},
	}
	c.register(cmd, true)
	return cmd
}

// statusExit is status's exit: 0 healthy, 3 (runbook.ExitRefused) not. The
// table's last line already says why; with --json stderr says it.
func statusExit(rep rollout.StatusReport, jsonOut bool) error {
	if rep.Healthy {
		return nil
	}
	return &exitError{code: runbook.ExitRefused, quiet: !jsonOut,
		err: fmt.Errorf("the cluster is not healthy: %s", strings.Join(rep.Problems, "; "))}
}

// planFlags are the runbook's choices: --backup, --backup-reuse, --bake.
type planFlags struct {
	mode    string
	reuse   string
	bake    time.Duration
	observe bool
	pauses  []string
}

func (b *planFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.mode, "backup", "quiesced", "the `MODE` of each node's first backup: quiesced (stop, tar, start, gates) or live (tar while running)")
	cmd.Flags().StringVar(&b.reuse, "backup-reuse", "", "reuse an existing backup set (its `ID`, or latest) instead of a new backup")
	cmd.Flags().DurationVar(&b.bake, "bake", 0, "after the first follower's upgrade, keep every gate on it for this `DURATION` (a canary soak, e.g. 10m); 0: none")
	cmd.Flags().StringArrayVar(&b.pauses, "pause-before", nil, "hold the run before this `NODE`'s upgrade, or the leader's with leader (repeatable): the console waits for y; upgrade --yes stops there, every node running, and exits 5; nwroll resume continues")
	cmd.Flags().BoolVar(&b.observe, "observe", false, "cloud mode: instead of replacing instances, watch the instance refresh you start yourself with nwroll's gates; an abort cancels it")
}

// options are the flags as the runbook's options for rel.
func (b *planFlags) options(rel *release.Release) (rollout.PlanOptionsIn, error) {
	o := rollout.PlanOptionsIn{Release: rel, Backup: runbook.BackupQuiesced, Bake: b.bake, Observe: b.observe, PauseBefore: b.pauses}
	switch b.mode {
	case "quiesced", "":
	case "live":
		o.Backup = runbook.BackupLive
	default:
		return o, usageError("--backup %q: use quiesced (the default) or live", b.mode)
	}
	if b.bake < 0 {
		return o, usageError("--bake %s: give a duration of 0 (no bake) or more, e.g. 10m", b.bake)
	}
	if b.reuse != "" {
		if b.mode == "live" {
			return o, usageError("--backup live and --backup-reuse exclude each other: pick one")
		}
		o.Backup, o.BackupSet = runbook.BackupReuse, b.reuse
	}
	return o, nil
}

func newPlanCmd() *cobra.Command {
	var c common
	var b planFlags
	var relArg string
	cmd := &cobra.Command{
		Use:   "plan -i INVENTORY --release REL",
		Short: "Print the runbook this cluster would get, with its gates; changes nothing",
		Long: `Connect to every node read-only, identify each node's build, and print the
ordered steps of the upgrade to REL: the gates each step must pass and the
quorum arithmetic of every stop. Nothing changes on any node, no lock is
taken and no journal is written.

--json prints the plan as one JSON document (schema nwroll.plan/v1,
docs/schema/plan.json): every step with what it does and its gate, the
nodes, the quorum arithmetic, the options and the text above. A refused
plan is printed too, with "refusal" set, and exits 3.`,
		Example: "  nwroll plan -i /tmp/nw/inventory.yaml --release /tmp/nw/releases/1.1.0\n  nwroll plan -i inventory.yaml --release ./releases/1.1.0 --pause-before leader --json > plan.json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := b.options(nil); err != nil {
				return err
			}
			return c.withRelease(cmd, relArg, func(ctx context.Context, env rollout.Env, rel *release.Release) error {
				o, _ := b.options(rel)
				return engineErr(rollout.PrintPlan(ctx, env, o))
			})
		},
	}
	c.register(cmd, true)
	b.register(cmd)
	cmd.Flags().StringVar(&relArg, "release", "", "the release `REL` to upgrade to: a directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz")
	return cmd
}

func needYes(cmd *cobra.Command, yes bool) error {
	if yes {
		return nil
	}
	return usageError("'%s' runs headless only with --yes (every step auto-approved; on a failure the node is rolled back). "+
		"To approve each step yourself, use the console: nwroll console -i INVENTORY --release REL", cmd.CommandPath())
}

func newUpgradeCmd() *cobra.Command {
	var c common
	var b planFlags
	var relArg string
	var yes, noRollback, breakLock, abandon, allowUnknown bool
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "upgrade -i INVENTORY --release REL --yes [--json]",
		Short: "Headless rolling upgrade, every step auto-approved (--yes)",
		Long: `Run the upgrade runbook headless: connect, identify, pre-check (refuse a degraded
cluster), lock, stage, back up, upgrade the followers one at a time and the
leader last, each gated for the stabilisation window, validate, unlock. One
line per event (--json: one JSON object per line).

On a gate failure a sysdump is taken first, then the failing node is rolled
back (exit 4); with --no-rollback the run only stops (exit 1).

A node whose binary matches no release manifest (a hotfix) is refused before
anything changes (exit 3): its upgrade would keep that build as .prev, so a
rollback would restore it. Check the build, then pass --allow-unknown-build,
or put its release's directory in --releases.

--pause-before leader (or NODE, repeatable) stops the run cleanly before that
upgrade, every node running and the lock kept (exit 5); nwroll resume --yes
goes on once someone approves. --notify URL and --notify-cmd CMD send step
starts, approvals, failures, pauses, rollbacks and the summary as JSON events;
a failing receiver never stops the run. With --json every line is an event of
schema nwroll.event/v1 and the last one is the run's summary
(docs/automation.md).

Exit codes: 0 success, 1 failed and stopped (nwroll resume is safe to retry),
2 usage or inventory error, 3 pre-checks refused to start, 4 rolled back,
5 paused by --pause-before.`,
		Example: "  nwroll upgrade -i /tmp/nw/inventory.yaml --release /tmp/nw/releases/1.1.0 --yes\n" +
			"  nwroll upgrade -i inventory.yaml --release ./releases/1.1.0 --yes --json --pause-before leader --notify https://hooks.example.com/nwroll",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needYes(cmd, yes); err != nil {
				return err
			}
			if _, err := b.options(nil); err != nil {
				return err
			}
			return rf.headlessRun(cmd, c.json, "upgrade", func(ev *rollout.EventStream) error {
				return c.withRelease(cmd, relArg, func(ctx context.Context, env rollout.Env, rel *release.Release) error {
					o, _ := b.options(rel)
					o.AllowUnknownBuild = allowUnknown
					env.Events = ev
					code, err := rollout.Upgrade(ctx, env, rollout.UpgradeOptions{PlanOptionsIn: o, NoRollback: noRollback, BreakLock: breakLock, AbandonRun: abandon})
					return codeErr(code, err)
				})
			})
		},
	}
	c.register(cmd, true)
	b.register(cmd)
	rf.register(cmd)
	cmd.Flags().StringVar(&relArg, "release", "", "the release `REL` to upgrade to: a directory (manifest.json, SHA256SUMS, neuwerk) or a .tar.gz")
	cmd.Flags().BoolVar(&yes, "yes", false, "approve every step (required: this command has no prompts)")
	cmd.Flags().BoolVar(&noRollback, "no-rollback", false, "on a failure, stop instead of rolling the node back (exit 1)")
	breakLockFlag(cmd, &breakLock)
	cmd.Flags().BoolVar(&abandon, "abandon-run", false, "start though an unfinished run exists (it is marked abandoned; nwroll runs lists it)")
	cmd.Flags().BoolVar(&allowUnknown, "allow-unknown-build", false, "accept a node whose binary matches no release manifest (check the build first: a rollback restores it)")
	return cmd
}

func newSysdumpCmd() *cobra.Command {
	var c common
	var out string
	cmd := &cobra.Command{
		Use:   "sysdump -i INVENTORY [-o FILE]",
		Short: "Collect a cluster sysdump (mode 0600)",
		Long: `Ask the cluster for a sysdump (POST /api/v1/support/sysdump/cluster, answered by
the leader) and save it with mode 0600. Progress is shown on a terminal.`,
		Example: "  nwroll sysdump -i /tmp/nw/inventory.yaml -o /tmp/cluster.tar.gz",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, done, err := c.env(cmd, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer done()
			if out == "" {
				out = fmt.Sprintf("neuwerk-cluster-sysdump-%s-%s.tar.gz", env.Inventory.Cluster, time.Now().UTC().Format("20060102T150405Z"))
			}
			if _, err := os.Stat(out); err == nil {
				return usageError("-o %s: the file exists; pick another name (a sysdump is never overwritten)", out)
			}
			if dir := filepath.Dir(out); dir != "" {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					return usageError("-o %s: the directory %s does not exist", out, dir)
				}
			}
			ctx, stop := runSignalContext()
			defer stop()
			var progress func(int64)
			tty := isTerminal(os.Stderr)
			if tty {
				progress = func(n int64) { fmt.Fprintf(os.Stderr, "\rnwroll: sysdump: %.1f MiB received", float64(n)/(1<<20)) }
			}
			res, err := rollout.Sysdump(ctx, env, out, progress)
			if tty {
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return engineErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved %s (%d bytes, sha256 %s, mode 0600)\n", res.Path, res.Bytes, res.SHA256)
			return nil
		},
	}
	c.register(cmd, false)
	cmd.Flags().StringVarP(&out, "output", "o", "", "the `FILE` to save it to (default: neuwerk-cluster-sysdump-<cluster>-<time>.tar.gz here)")
	return cmd
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
