package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/notify"
)

// The automation flags of the commands that run the runbook (upgrade,
// resume, rollback, console, demo): --notify and --notify-cmd, and the
// event stream that numbers a headless command's output and ends it with
// the summary, also when the run cannot start (docs/automation.md).

type runFlags struct {
	urls     []string
	commands []string
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.urls, "notify", nil, "POST step starts, approvals, failures, pauses, rollbacks and the summary as JSON events to this `URL` (repeatable; docs/automation.md); a failing receiver is reported on stderr and never stops the run")
	cmd.Flags().StringArrayVar(&f.commands, "notify-cmd", nil, "run this shell `CMD` for each of those events, the event on its stdin and its type in $NWROLL_EVENT_TYPE (repeatable)")
}

// dispatch runs resume or rollback on the inventory's environment: in the
// console, or with --yes headless with the command's event stream.
func (f *runFlags) dispatch(cmd *cobra.Command, c *common, yes bool, run func(rollout.Env) error) error {
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
		return open(nil) // runConsole opens the console's stream
	}
	return f.headlessRun(cmd, c.json, cmd.Name(), open)
}

func (f *runFlags) notifying() bool { return len(f.urls) > 0 || len(f.commands) > 0 }

// check refuses a bad --notify or --notify-cmd before anything starts.
func (f *runFlags) check() error {
	if !f.notifying() {
		return nil
	}
	n, err := notify.New(notify.Config{URLs: f.urls, Commands: f.commands})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return n.Close(context.Background())
}

// notifyDrain is how long a command waits at its end for notifications
// still queued.
const notifyDrain = 10 * time.Second

// stream opens the command's event stream on out and its notifier, whose
// problems go to logf; end flushes the notifications (up to notifyDrain)
// once the summary is out.
func (f *runFlags) stream(out io.Writer, asJSON bool, logf func(format string, args ...any)) (*rollout.EventStream, func(), error) {
	if !f.notifying() {
		return rollout.NewEventStream(out, asJSON, nil), func() {}, nil
	}
	n, err := notify.New(notify.Config{URLs: f.urls, Commands: f.commands, UserAgent: "nwroll/" + version, Logf: logf})
	if err != nil {
		return nil, nil, &exitError{code: exitUsage, err: err}
	}
	end := func() {
		ctx, cancel := context.WithTimeout(context.Background(), notifyDrain)
		defer cancel()
		_ = n.Close(ctx)
	}
	return rollout.NewEventStream(out, asJSON, n), end, nil
}

// consoleStream is the console's: nothing printed (the screen is the
// console's), the notable events notified, and the notifier's problems
// kept and printed on stderr once the console has closed. Nil without
// --notify.
func (f *runFlags) consoleStream(cmd *cobra.Command) (*rollout.EventStream, func(), error) {
	if !f.notifying() {
		return nil, func() {}, nil
	}
	var mu sync.Mutex
	var problems []string
	ev, end, err := f.stream(io.Discard, false, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	})
	if err != nil {
		return nil, nil, err
	}
	return ev, func() {
		end()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			fmt.Fprintln(cmd.ErrOrStderr(), "nwroll: "+p)
		}
	}, nil
}

// headlessRun runs a headless command's body with its event stream: an
// error before the run began still ends the output with a summary event.
func (f *runFlags) headlessRun(cmd *cobra.Command, asJSON bool, command string, body func(*rollout.EventStream) error) error {
	ev, end, err := f.stream(cmd.OutOrStdout(), asJSON, func(format string, args ...any) {
		fmt.Fprintf(cmd.ErrOrStderr(), "nwroll: "+format+"\n", args...)
	})
	if err != nil {
		if asJSON {
			rollout.NewEventStream(cmd.OutOrStdout(), true, nil).SummarizeError(command, "", exitCodeOf(err), err)
		}
		return err
	}
	defer end()
	err = body(ev)
	if err != nil && !ev.Summarized() && (asJSON || f.notifying()) {
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
