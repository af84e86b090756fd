// Command nwroll is a terminal console that upgrades a Neuwerk cluster safely:
// it shows the cluster at a glance, walks the operator through Neuwerk's
// rolling-upgrade runbook one approved step at a time, and collects and reads
// cluster sysdumps. `nwroll sim` runs a simulated cluster to rehearse on.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

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
	code  int
	err   error
	quiet bool // already explained on stdout
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
	root.SetArgs(consoleShorthand(args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	err = unknownCommand(err)
	var ee *exitError
	if !errors.As(err, &ee) || !ee.quiet {
		fmt.Fprintf(os.Stderr, "nwroll: %v\n", err)
	}
	if ee != nil {
		return ee.code
	}
	return exitFailed
}

// unknownCommand turns cobra's "unknown command" error (an untyped, possibly
// multi-line error with suggestions) into a one-line usage error (exit 2).
func unknownCommand(err error) error {
	var ee *exitError
	if errors.As(err, &ee) || !strings.HasPrefix(err.Error(), "unknown command ") {
		return err
	}
	lines := strings.Split(err.Error(), "\n")
	msg := lines[0]
	var suggest []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Did you mean") {
			suggest = append(suggest, l)
		}
	}
	if len(suggest) > 0 {
		msg += " (did you mean " + strings.Join(suggest, " or ") + "?)"
	}
	return usageError("%s; see 'nwroll --help' for the commands", msg)
}

// versionString is the --version text: the release build's ldflags, or
// else what the Go toolchain stamped into the binary (go install, go build):
// the module version, the VCS revision (marked modified when the tree had
// uncommitted changes) and the commit time.
func versionString(bi *debug.BuildInfo) string {
	v, c, d := version, commit, date
	if bi != nil {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		var rev, when string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if c == "none" && rev != "" {
			c = rev
			if len(c) > 12 {
				c = c[:12]
			}
			if modified {
				c += ", modified"
			}
		}
		if d == "unknown" && when != "" {
			d = when
		}
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, c, d)
}

func buildInfo() *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return bi
}

// consoleShorthand makes bare `nwroll -i INV --release REL` the console
// (design §1).
func consoleShorthand(args []string) []string {
	if len(args) == 0 || len(args[0]) < 2 || args[0][0] != '-' {
		return args
	}
	for _, a := range args {
		switch a {
		case "-h", "--help", "-v", "--version":
			return args
		}
	}
	return append([]string{"console"}, args...)
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
  nwroll demo                        # the console on a fresh 3-node simulated cluster

On a real cluster:
  nwroll status -i inventory.yaml                         # the node table, once
  nwroll plan -i inventory.yaml --release ./neuwerk-1.1.0 # the runbook, changes nothing
  nwroll -i inventory.yaml --release ./neuwerk-1.1.0      # the console (nwroll console …)`,
		Version:       versionString(buildInfo()),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("nwroll {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(newSimCmd())
	root.AddCommand(newStatusCmd(), newPlanCmd(), newUpgradeCmd(), newRunsCmd(), newResumeCmd(), newRollbackCmd(), newSysdumpCmd())
	root.AddCommand(newConsoleCmd(), newDemoCmd(), newViewCmd())
	return root
}
