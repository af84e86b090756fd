package tui

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// engine is the console's I/O side: the prepared run, the driver that
// performs the machine's effects, and the channels that carry what they
// say back to Update. Update never calls it; only the Cmds below do.
type engine struct {
	driver effectDriver
	poll   func(context.Context) health.ClusterSnapshot
	// serviceLog reads the last lines of a node's service log (nil: none
	// can be read, as in tests without SSH).
	serviceLog func(ctx context.Context, node string, lines int) ([]string, error)
	clock      func() time.Time // when a read came back (time.Now; tests give their clock)
	release    func()           // closes the connections and the journal
	elog       *rollout.EventLog
	lines      chan rollout.LogEntry
	progress   chan executor.Note
	done       chan struct{} // closed once the engine stopped: listeners return
	stopOnce   sync.Once
	// dispatched counts the batches handed to the driver: stop waits for
	// every batch numbered so far (the last records of a run among them).
	dispatched atomic.Uint64
	// events, when set, gets every log line too (it notifies, --notify);
	// summarize ends it with the run's summary once the run finished.
	events    *rollout.EventStream
	summarize func(runbook.Machine)
}

// stop waits for the batches numbered up to through to be dispatched (a
// tea.Cmd each, run in any order), lets the effects in flight end, then
// releases the connections and the journal, and sends the summary of a
// run that finished (final). Safe to call twice.
func (e *engine) stop(through uint64, final runbook.Machine) {
	deadline := time.Now().Add(dispatchWait)
	for e.dispatched.Load() < through && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e.stopOnce.Do(func() {
		e.driver.Drain()
		e.driver.Close()
		if e.release != nil {
			e.release()
		}
		if final.Finished && e.summarize != nil {
			e.summarize(final)
		}
		close(e.done)
	})
}

// effectDriver is what the console needs of a executor.Driver; tests give
// it a deterministic fake cluster instead of SSH and HTTPS.
type effectDriver interface {
	Dispatch(seq uint64, effs []runbook.Effect)
	Events() <-chan runbook.Event
	Drain()
	Close()
}

// newEngine returns an engine whose driver is still to be set (it needs
// the engine's log hooks).
func newEngine(poll func(context.Context) health.ClusterSnapshot, release func()) *engine {
	e := &engine{poll: poll, release: release, done: make(chan struct{}), clock: time.Now,
		lines: make(chan rollout.LogEntry, lineBuffer), progress: make(chan executor.Note, progressBuffer)}
	e.elog = rollout.NewEventLog(func(l rollout.LogEntry) {
		if e.events != nil {
			e.events.Emit(l)
		}
		select {
		case e.lines <- l:
		default: // a flood the pane could not show anyway
		}
	})
	return e
}

// onNote routes an executor note: progress to the bars, the rest to the log.
func (e *engine) onNote(n executor.Note) {
	if n.Kind == executor.NoteProgress {
		select {
		case e.progress <- n:
		default: // the next one will do
		}
		return
	}
	e.elog.OnNote(n)
}

const (
	lineBuffer     = 4096
	progressBuffer = 256
	maxLinesPerMsg = 256
	pollTimeout    = 3 * time.Second
	tickEvery      = 250 * time.Millisecond
	tailEvery      = 2 * time.Second // a restarting node's log, while its detail is open
	machineTick    = time.Second
	armDelay       = 400 * time.Millisecond
	dispatchWait   = 30 * time.Second // for the last batches before closing
)

// listenCmd waits for the next thing the engine has to say. Update re-arms
// it after each message, so exactly one listener runs.
func listenCmd(e *engine) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-e.done:
			return nil
		case ev := <-e.driver.Events():
			e.elog.Answered(ev)
			return engineMsg{ev: ev, from: e}
		case l := <-e.lines:
			batch := []rollout.LogEntry{l}
			for len(batch) < maxLinesPerMsg {
				select {
				case l := <-e.lines:
					batch = append(batch, l)
					continue
				default:
				}
				break
			}
			return logMsg{entries: batch, from: e}
		case n := <-e.progress:
			return progressMsg{note: n, from: e}
		}
	}
}

// dispatchCmd performs one batch of effects; the driver keeps batches in
// their order whatever order the Cmds run in.
func dispatchCmd(e *engine, seq uint64, effs []runbook.Effect) tea.Cmd {
	return func() tea.Msg {
		e.driver.Dispatch(seq, effs)
		e.dispatched.Add(1)
		return nil
	}
}

// gateLogCmd logs the open gate when its failing checks change.
func gateLogCmd(e *engine, m runbook.Machine, ev runbook.Event) tea.Cmd {
	return func() tea.Msg {
		e.elog.AfterEvent(m, ev)
		return nil
	}
}

// refreshCmd polls every node for the node table.
func refreshCmd(e *engine) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
		defer cancel()
		return refreshMsg{snap: e.poll(ctx), from: e}
	}
}

// tickCmd is the console's clock.
func tickCmd() tea.Cmd {
	return tea.Tick(tickEvery, func(t time.Time) tea.Msg { return tickMsg{at: t} })
}

// wakeCmd wakes the console after d, at the end of a gate's window at.
func wakeCmd(d time.Duration, at time.Time) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return wakeMsg{at: at} })
}

// armCmd arms approval number seq after armDelay.
func armCmd(seq uint64) tea.Cmd {
	return tea.Tick(armDelay, func(time.Time) tea.Msg { return armMsg{seq: seq} })
}

// closeCmd lets the effects in flight end, then releases the connections
// and the journal; final is the machine as the run ended.
func closeCmd(e *engine, through uint64, final runbook.Machine) tea.Cmd {
	return func() tea.Msg {
		if e != nil {
			e.stop(through, final)
		}
		return closedMsg{}
	}
}

// serviceLogTimeout bounds one read of a node's service log.
const serviceLogTimeout = 20 * time.Second

// serviceLogCmd reads the last lines of node's service log.
func serviceLogCmd(e *engine, node string) tea.Cmd {
	return func() tea.Msg {
		if e.serviceLog == nil {
			return serviceLogMsg{node: node, err: errNoServiceLog, at: e.clock(), from: e}
		}
		ctx, cancel := context.WithTimeout(context.Background(), serviceLogTimeout)
		defer cancel()
		lines, err := e.serviceLog(ctx, node, serviceLogLines)
		return serviceLogMsg{node: node, lines: lines, err: err, at: e.clock(), from: e}
	}
}

var errNoServiceLog = errors.New("no SSH connection to read the service log with")
