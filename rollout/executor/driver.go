package executor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// Driver performs a machine's effects with an executor. The headless runner
// and the console both drive the machine through it, so they cannot
// disagree on what runs when:
//   - journal records and the baseline are written at once, in order, before
//     anything dispatched after them starts;
//   - an effect that changes a node does not run when its intent could not be
//     journaled (it is answered with an error instead);
//   - every other effect runs concurrently and is answered by one event on
//     Events.
//
// Effects run on a context that the caller's cancellation (Ctrl-C) does not
// reach: an effect in flight finishes, so its outcome says what state the
// node is in. Close cancels them.
type Driver struct {
	x     *Executor
	hooks DriverHooks
	out   chan runbook.Event

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex
	next          uint64
	held          map[uint64][]runbook.Effect
	journalBroken bool
}

// DriverHooks let a driver's owner watch it work. Each may be nil; they run
// on the goroutine that dispatched the batch.
type DriverHooks struct {
	OnRecord   func(r runbook.Record, err error) // a journal record was written (or failed)
	OnBaseline func(err error)                   // the metrics baseline was saved
	OnStart    func(e runbook.Effect)            // an effect was started
	OnFinish   func(f runbook.Finish)            // the machine finished
}

// NewDriver returns a driver for x. ctx bounds nothing that is in flight;
// only its values are kept.
func NewDriver(ctx context.Context, x *Executor, hooks DriverHooks) *Driver {
	effCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Driver{x: x, hooks: hooks, out: make(chan runbook.Event, 256), ctx: effCtx, cancel: cancel,
		next: 1, held: map[uint64][]runbook.Effect{}}
}

// Events delivers the answer to every effect started.
func (d *Driver) Events() <-chan runbook.Event { return d.out }

// Dispatch performs the effects of the batch numbered seq. Batches are
// numbered from 1 and run in that order whatever order Dispatch is called
// in, so a caller may dispatch from several goroutines (tea.Cmds).
func (d *Driver) Dispatch(seq uint64, effs []runbook.Effect) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq < d.next {
		return // already run
	}
	d.held[seq] = effs
	for {
		batch, ok := d.held[d.next]
		if !ok {
			return
		}
		delete(d.held, d.next)
		d.next++
		d.run(batch)
	}
}

func (d *Driver) run(effs []runbook.Effect) {
	skipNext := false
	var ch chain
	for _, e := range effs {
		switch e := e.(type) {
		case runbook.Record:
			err := d.x.Apply(e)
			if err != nil {
				d.journalBroken = true
				skipNext = skipNext || e.Type == runbook.RecordIntent
			}
			if d.hooks.OnRecord != nil {
				d.hooks.OnRecord(e, err)
			}
		case runbook.SaveBaseline:
			err := d.x.Apply(e)
			if d.hooks.OnBaseline != nil {
				d.hooks.OnBaseline(err)
			}
		case runbook.Finish:
			if d.hooks.OnFinish != nil {
				d.hooks.OnFinish(e)
			}
		default:
			id := e.Meta().ID
			var notRun error
			if (skipNext || d.journalBroken) && runbook.EffectChangesNode(e) {
				notRun = errors.New("not run: the journal cannot be written")
			}
			skipNext = false
			if a, ok := e.(runbook.NodeAction); ok && a.ChainLen > 1 {
				// A chain runs once every one of its intents is written.
				if ch.add(a, notRun); ch.complete() {
					d.startChain(ch)
					ch = chain{}
				}
				continue
			}
			if notRun != nil {
				d.answer(runbook.EffectResult{ID: id, At: time.Now(), Err: notRun})
				continue
			}
			if d.hooks.OnStart != nil {
				d.hooks.OnStart(e)
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				d.out <- d.x.Perform(d.ctx, e)
			}()
		}
	}
}

// chain collects the actions of one chain (NodeAction.ChainLen) from a
// batch: those to run, and after the first that may not run, the rest
// with why not.
type chain struct {
	run    []runbook.NodeAction
	notRun []runbook.NodeAction
	why    error
	length int
}

func (c *chain) add(a runbook.NodeAction, notRun error) {
	if a.ChainPos == 0 {
		*c = chain{length: a.ChainLen}
	}
	if notRun != nil && c.why == nil {
		c.why = notRun
	}
	if c.why != nil {
		c.notRun = append(c.notRun, a)
	} else {
		c.run = append(c.run, a)
	}
}

// complete: every action of the chain is in.
func (c chain) complete() bool { return c.length > 0 && len(c.run)+len(c.notRun) == c.length }

// startChain runs the chain's actions in one command and answers them in
// their order, then those that may not run.
func (d *Driver) startChain(c chain) {
	for _, a := range c.run {
		if d.hooks.OnStart != nil {
			d.hooks.OnStart(a)
		}
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if len(c.run) > 0 {
			for _, ev := range d.x.PerformChain(d.ctx, c.run) {
				d.out <- ev
			}
		}
		for _, a := range c.notRun {
			d.out <- runbook.EffectResult{ID: a.ID, At: time.Now(), Err: c.why}
		}
	}()
}

func (d *Driver) answer(ev runbook.Event) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.out <- ev
	}()
}

// Close cancels the effects still in flight and waits for them to end,
// draining their events.
func (d *Driver) Close() {
	d.cancel()
	d.Drain()
}

// Drain waits for the effects in flight (polls, typically) to end without
// cancelling them, discarding their events.
func (d *Driver) Drain() {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	for {
		select {
		case <-d.out:
		case <-done:
			return
		}
	}
}
