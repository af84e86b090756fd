package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/notify"
)

// The automation flags of the commands that run the runbook headless
// (upgrade, resume, rollback): --notify and --notify-cmd, and the event
// stream that numbers their output and ends it with the summary, also when
// the run cannot start (docs/automation.md).

type runFlags struct {
	urls     []string
	commands []string
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.urls, "notify", nil, "POST step starts, approvals, failures, pauses, rollbacks and the summary as JSON events to this `URL` (repeatable); a failing receiver is reported on stderr and never stops the run")
	cmd.Flags().StringArrayVar(&f.commands, "notify-cmd", nil, "run this shell `CMD` for each of those events, the event on its stdin and its type in $NWROLL_EVENT_TYPE (repeatable)")
}

// dispatch runs resume or rollback on the inventory's environment: in the
// console (no stream, no notifications), or with --yes headless with the
// command's event stream.
func (f *runFlags) dispatch(cmd *cobra.Command, c *common, yes bool, run func(rollout.Env) error) error {
	if err := f.needYes(yes); err != nil {
		return err
	}
	open := func(ev *rollout.EventStream) error {
		env, done, err := c.env(cmd, cmd.OutOrStdout())
		if err != nil {
			return err
		}
		defer done()
		env.Events = ev
		return run(env)
	}
	if !yes {
		if !interactive() {
			verb := cmd.Name()
			if verb == "rollback" {
				verb = "roll back"
			}
			return consoleOrYes(cmd, verb)
		}
		return open(nil)
	}
	return f.headlessRun(cmd, c.json, cmd.Name(), open)
}

// needYes: notifications come from headless runs.
func (f *runFlags) needYes(yes bool) error {
	if !yes && (len(f.urls) > 0 || len(f.commands) > 0) {
		return usageError("--notify and --notify-cmd go with --yes: notifications come from headless runs, and the console is watched by its operator")
	}
	return nil
}

// notifyDrain is how long a command waits at its end for notifications
// still queued.
const notifyDrain = 10 * time.Second

// stream opens the command's event stream and notifier; end flushes the
// notifications (up to notifyDrain) once the summary is out.
func (f *runFlags) stream(cmd *cobra.Command, asJSON bool) (*rollout.EventStream, func(), error) {
	if len(f.urls) == 0 && len(f.commands) == 0 {
		return rollout.NewEventStream(cmd.OutOrStdout(), asJSON, nil), func() {}, nil
	}
	n, err := notify.New(notify.Config{URLs: f.urls, Commands: f.commands, UserAgent: "nwroll/" + version,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "nwroll: "+format+"\n", args...) }})
	if err != nil {
		return nil, nil, &exitError{code: exitUsage, err: err}
	}
	end := func() {
		ctx, cancel := context.WithTimeout(context.Background(), notifyDrain)
		defer cancel()
		_ = n.Close(ctx)
	}
	return rollout.NewEventStream(cmd.OutOrStdout(), asJSON, n), end, nil
}

// headlessRun runs a headless command's body with its event stream: an
// error before the run began still ends the output with a summary event.
func (f *runFlags) headlessRun(cmd *cobra.Command, asJSON bool, command string, body func(*rollout.EventStream) error) error {
	ev, end, err := f.stream(cmd, asJSON)
	if err != nil {
		if asJSON {
			rollout.NewEventStream(cmd.OutOrStdout(), true, nil).SummarizeError(command, "", exitCodeOf(err), err)
		}
		return err
	}
	defer end()
	err = body(ev)
	notifying := len(f.urls) > 0 || len(f.commands) > 0
	if err != nil && !ev.Summarized() && (asJSON || notifying) {
		ev.SummarizeError(command, "", exitCodeOf(err), err)
	}
	return err
}

// exitCodeOf is the exit code run() gives err.
func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return rollout.ExitCodeOf(err)
}
