package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui"
)

// The recovery commands (design §1): runs, resume and rollback. Without
// --yes resume and rollback open the console on the rebuilt run, where
// every step that changes a node is approved as usual.

func newRunsCmd() *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "runs -i INVENTORY [--json]",
		Short: "List the cluster's runs: who, when, release, outcome, what each changed",
		Long: `List every run of the cluster on record in the journal (newest first): its id,
who started it and when, the release it moved to, how it ended (finished,
rolled back, aborted, failed, interrupted, refused, quit, abandoned) and what it
changed on which node. An unfinished run (a node left upgraded or stopped, an
operation cut short, its lock held) is marked, with the commands that lead
back: nwroll resume continues it, nwroll rollback undoes it.

No node is contacted.`,
		Example: "  nwroll runs -i /tmp/nw/inventory.yaml\n  nwroll runs -i inventory.yaml --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, done, err := c.env(cmd, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer done()
			rep, err := rollout.Runs(env)
			if err != nil {
				return engineErr(err)
			}
			return rollout.RenderRuns(cmd.OutOrStdout(), rep, c.inventory, c.json)
		},
	}
	c.register(cmd, true)
	return cmd
}

func newResumeCmd() *cobra.Command {
	var c common
	var yes, breakLock bool
	var relArg string
	var o rollout.ResumeOptions
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "resume -i INVENTORY [--run ID] [--yes]",
		Short: "Continue an interrupted rollout from its journal (in the console, or --yes)",
		Long: `Continue an unfinished rollout, interrupted by a quit, Ctrl-C, a lost connection
or a kill: re-read every node's real state (which binary is in place, whether
.new and .prev exist, whether the service runs), run the read-only checks
again, start and gate a node left stopped, and carry on where the journal says
the run stopped. The run is the newest unfinished one (nwroll runs lists
them), or --run ID.

Without --yes this opens the console on the rebuilt run: the node table shows
the real state, the runbook what was done and what remains, and every step
that changes a node waits for your y. With --yes every step is auto-approved
and still passes its gates.

A node on a binary that matches no known release is refused, unless the run
recorded that build at its start (it was there before: a rollback restores
it). Such a build is approved once per run: a run that accepted it goes on; one
that did not asks again in the console, and with --yes goes on only if the run
was started with --allow-unknown-build.`,
		Example: "  nwroll resume -i /tmp/nw/inventory.yaml            # in the console\n  nwroll resume -i /tmp/nw/inventory.yaml --run 92f398ea --yes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rf.dispatch(cmd, &c, yes, func(env rollout.Env) error {
				if relArg != "" {
					rel, err := loadRelease(cmd, env, relArg)
					if err != nil {
						return err
					}
					defer rel.Cleanup()
					o.Release = rel
				}
				o.BreakLock = breakLock
				return consoleOrHeadless(cmd, yes, tui.Deps{Env: env, Mode: tui.ModeResume, Resume: o}, &rf,
					func(ctx context.Context) (int, error) { return rollout.Resume(ctx, env, o) })
			})
		},
	}
	c.register(cmd, true)
	rf.register(cmd)
	cmd.Flags().StringVar(&o.Run, "run", "", "the run to resume, by `ID` (default: the newest unfinished run; see nwroll runs)")
	yesOrConsoleFlag(cmd, &yes)
	breakLockFlag(cmd, &breakLock)
	cmd.Flags().StringVar(&relArg, "release", "", "the run's release `REL`, if it moved since (default: where the journal says it was)")
	return cmd
}

func newRollbackCmd() *cobra.Command {
	var c common
	var yes bool
	var o rollout.RollbackOptions
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "rollback -i INVENTORY [--run ID] [--node NAME [--out-of-order]] [--yes]",
		Short: "Undo a run's upgrades in reverse order (in the console, or --yes)",
		Long: `Roll back every node a run left upgraded, newest first, one at a time: stop,
restore <binary>.prev, start, and pass the gates. Data and state files stay
in place. The run is the newest one that left a node upgraded (nwroll runs
lists them), or --run ID.

--node NAME rolls back that node alone. Rollbacks keep the reverse order of the
upgrades: a node upgraded before another that still runs the new release is
refused (roll that one back first) unless --out-of-order.

Without --yes this opens the console, where each rollback step waits for
your y; with --yes every step is auto-approved and still passes its gates.`,
		Example: "  nwroll rollback -i /tmp/nw/inventory.yaml            # in the console\n  nwroll rollback -i /tmp/nw/inventory.yaml --node fw-c --yes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.OutOfOrder && o.Node == "" {
				return usageError("--out-of-order needs --node NAME: it lets one node be rolled back before a later-upgraded one")
			}
			return rf.dispatch(cmd, &c, yes, func(env rollout.Env) error {
				return consoleOrHeadless(cmd, yes, tui.Deps{Env: env, Mode: tui.ModeRollback, Rollback: o}, &rf,
					func(ctx context.Context) (int, error) { return rollout.Rollback(ctx, env, o) })
			})
		},
	}
	c.register(cmd, true)
	rf.register(cmd)
	cmd.Flags().StringVar(&o.Run, "run", "", "the run to undo, by `ID` (default: the newest run that left a node upgraded; see nwroll runs)")
	cmd.Flags().StringVar(&o.Node, "node", "", "roll back only the node `NAME` (reverse order is kept unless --out-of-order)")
	cmd.Flags().BoolVar(&o.OutOfOrder, "out-of-order", false, "with --node: roll it back though a node upgraded after it still runs the new release")
	yesOrConsoleFlag(cmd, &yes)
	breakLockFlag(cmd, &o.BreakLock)
	return cmd
}

// consoleOrYes refuses resume or rollback without --yes off a terminal.
func consoleOrYes(cmd *cobra.Command, verb string) error {
	return usageError("'%s' without --yes opens the console to %s step by step, which needs an interactive terminal; "+
		"in scripts and CI pass --yes (every step auto-approved, every gate still checked)", cmd.CommandPath(), verb)
}

// consoleOrHeadless runs deps's console, or with --yes the headless run.
func consoleOrHeadless(cmd *cobra.Command, yes bool, deps tui.Deps, rf *runFlags, headless func(context.Context) (int, error)) error {
	if !yes {
		return runConsole(cmd, deps, rf)
	}
	ctx, stop := runSignalContext()
	defer stop()
	code, err := headless(ctx)
	return codeErr(code, err)
}

func yesOrConsoleFlag(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVar(yes, "yes", false, "approve every step, headless (default: the console asks for each)")
}

// breakLockFlag is --break-lock, for every command that takes the lock.
func breakLockFlag(cmd *cobra.Command, b *bool) {
	cmd.Flags().BoolVar(b, "break-lock", false, "take over a lock another run holds (only when that run is dead)")
}
