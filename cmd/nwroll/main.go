// Command nwroll is a terminal console that upgrades a Neuwerk cluster safely:
// it shows the cluster at a glance, walks the operator through Neuwerk's
// rolling-upgrade runbook one approved step at a time, and collects and reads
// cluster sysdumps. `nwroll sim` runs a simulated cluster to rehearse on.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/nwroll/nwroll/sim"
	"github.com/spf13/cobra"
)

// Set by the release build (see .goreleaser.yml).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// Exit codes are part of the contract (design §1).
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitRefused    = 3
	exitRolledBack = 4
)

// exitError carries an exit code up to main without printing a stack.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	sim.Dispatch()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "nwroll: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "nwroll",
		Short: "Upgrade a Neuwerk cluster safely, one approved step at a time",
		Long: `nwroll is a terminal console for rolling upgrades of a Neuwerk cluster.

It shows each node's role, release, readiness and replication lag, walks you
through Neuwerk's conservative upgrade runbook (back up first, followers one at
a time, leader last, validate after every step, roll back in reverse order if
anything fails), and collects and reads cluster sysdumps.

Nothing happens to a node that you did not approve.

Try it on a simulated cluster first:
  nwroll sim up --dir /tmp/nw        # a 3-node simulated Neuwerk cluster
  nwroll sim status --dir /tmp/nw    # leader, term, readiness per node
  nwroll sim down --dir /tmp/nw      # stop it`,
		Version:       fmt.Sprintf("%s (commit %s, built %s)", version, commit, date),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("nwroll {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(newSimCmd())
	root.AddCommand(newStatusCmd(), newPlanCmd(), newUpgradeCmd(), newRollbackCmd(), newResumeCmd(), newSysdumpCmd())
	for _, c := range pendingCommands() {
		root.AddCommand(c)
	}
	return root
}

// pendingCommands are the design §1 commands whose issues have not landed.
// They say so plainly instead of pretending to work.
func pendingCommands() []*cobra.Command {
	specs := []struct{ use, short, issue string }{
		{"demo", "Open the console on a fresh simulated 3-node cluster", "the console issue"},
		{"console", "Open the console on a cluster (-i INVENTORY --release REL)", "the console issue"},
		{"view", "Browse a sysdump archive (view FILE)", "the console issue"},
	}
	cmds := make([]*cobra.Command, 0, len(specs))
	for _, s := range specs {
		s := s
		cmds = append(cmds, &cobra.Command{
			Use:                s.use,
			Short:              s.short + " (not built yet)",
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return usageError("'%s' is not built yet: it arrives with %s. Today you can run 'nwroll sim ...' (see 'nwroll sim --help')", s.use, s.issue)
			},
		})
	}
	return cmds
}
