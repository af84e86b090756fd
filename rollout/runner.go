package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The headless runner (design §2) drives the machine with the executor:
// it feeds Begin, performs every effect the machine returns (asynchronous
// ones concurrently, each answered by its event), feeds a Tick about once a
// second, and prints one line per effect result, journal event, approval
// and gate change, readable in a CI log or as JSON lines. It does not
// approve anything itself: a machine built with MachineOptions.Headless
// (--yes) approves its own steps and decides failures (roll back, exit 4).
//
// Cancelling ctx (Ctrl-C) feeds Quit: nothing new starts, effects in flight
// finish (they run on a context that is not cancelled), a node left stopped
// is started again, and the run ends with exit 1, the journal saying where
// it stopped.

// RunnerOptions configure RunHeadless.
type RunnerOptions struct {
	Events *EventStream // the log; nil discards it
	// Tick is the clock's period (default 1s).
	Tick time.Duration
	// GateTick is the period while a gate is open (default 250ms): the
	// gates are judged on fresh snapshots, so a node that turned ready, or
	// held for its window, is seen at once rather than up to a second late.
	GateTick time.Duration
	// OnMachine, if set, sees the machine after every event (tests, UIs).
	OnMachine func(runbook.Machine)
}

// LogEntry is one line of the headless log (the JSON form; the text form
// is "TS WHO OP: STATUS DETAIL (DURATION)").
type LogEntry struct {
	Schema   string    `json:"schema"` // SchemaEvent
	Seq      uint64    `json:"seq"`    // 1, 2, 3… within one command's output
	Run      string    `json:"run,omitempty"`
	TS       time.Time `json:"ts"`
	Node     string    `json:"node,omitempty"`
	Type     string    `json:"type"` // effect | event | approval | gate | note | progress | finish | summary
	Op       string    `json:"op"`
	Step     string    `json:"step,omitempty"`
	Status   string    `json:"status,omitempty"` // ok | failed | waiting | holding | started | check | exit N
	Detail   string    `json:"detail,omitempty"`
	Error    string    `json:"error,omitempty"`
	Seconds  float64   `json:"seconds,omitempty"`
	Done     int64     `json:"done,omitempty"`
	Total    int64     `json:"total,omitempty"`
	ExitCode *int      `json:"exit_code,omitempty"`
	// Summary is the run's summary (type summary), its last event.
	Summary *RunReport `json:"summary,omitempty"`
}

// Text renders the entry as one CI log line.
func (l LogEntry) Text() string {
	who := l.Node
	if who == "" {
		who = "cluster"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s:", l.TS.UTC().Format(time.RFC3339), who, l.Op)
	if l.Status != "" {
		b.WriteString(" " + l.Status)
	}
	if l.Detail != "" {
		if l.Status != "" {
			b.WriteString(":")
		}
		b.WriteString(" " + l.Detail)
	}
	if l.Error != "" {
		b.WriteString(": " + l.Error)
	}
	if l.Seconds > 0 {
		fmt.Fprintf(&b, " (%s)", fmtSeconds(l.Seconds))
	}
	return b.String()
}

func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// EventLog turns what a Driver does into LogEntry lines: effects started
// and answered, journal records, approvals, gate changes and the
// executor's notes. The headless runner prints them; the console shows
// them in its log pane.
type EventLog struct {
	sink func(LogEntry)
	// ThrottleProgress prints a transfer's progress every 5 s (a CI log);
	// without it every progress note becomes a line.
	ThrottleProgress bool

	mu           sync.Mutex
	started      map[runbook.EffectID]startedEffect
	gate         gateSeen             // the open gate as last logged
	lastPrint    map[string]time.Time // progress throttling per node and op
	progressFrom map[string]time.Time
	progressLast map[string]int64
	progressSeen map[string]time.Time
	// lastRead is what the latest one-node read-files logged, by node: a
	// gate reads its node every couple of seconds, and only a change is
	// worth a line.
	lastRead map[string]string
	// chainAt is when the node's latest chained action answered: the next
	// one of its chain began then (one command runs them in turn).
	chainAt map[string]time.Time
}

type startedEffect struct {
	e  runbook.Effect
	at time.Time
}

// NewEventLog returns a log that hands every line to sink. sink is called
// from the goroutines that drive the machine and perform effects; it must
// be safe for that.
func NewEventLog(sink func(LogEntry)) *EventLog {
	return &EventLog{sink: sink, started: map[runbook.EffectID]startedEffect{}, lastPrint: map[string]time.Time{},
		progressFrom: map[string]time.Time{}, progressLast: map[string]int64{}, progressSeen: map[string]time.Time{}, lastRead: map[string]string{}, chainAt: map[string]time.Time{}}
}

// Hooks are the driver hooks that log.
func (r *EventLog) Hooks() executor.DriverHooks {
	return executor.DriverHooks{
		OnRecord: func(rec runbook.Record, err error) {
			r.printRecord(rec)
			if err != nil {
				r.emit(LogEntry{TS: time.Now(), Type: "note", Op: "journal", Status: "failed", Error: err.Error()})
			}
		},
		OnBaseline: func(err error) {
			if err != nil {
				r.emit(LogEntry{TS: time.Now(), Type: "note", Op: "save-baseline", Status: "failed", Error: err.Error()})
			} else {
				r.emit(LogEntry{TS: time.Now(), Type: "effect", Op: "save-baseline", Status: "ok"})
			}
		},
		OnFinish: func(f runbook.Finish) {
			code := f.ExitCode
			r.emit(LogEntry{TS: time.Now(), Type: "finish", Op: "finish", Status: fmt.Sprintf("exit %d", code), Detail: f.Reason, ExitCode: &code})
		},
		OnStart: func(e runbook.Effect) {
			r.mu.Lock()
			r.started[e.Meta().ID] = startedEffect{e: e, at: time.Now()}
			r.mu.Unlock()
			if isLong(e) {
				r.emit(LogEntry{TS: time.Now(), Node: runbook.EffectNode(e), Type: "effect", Op: e.Kind(), Step: string(e.Meta().Step), Status: "started", Detail: effectDetail(e)})
			}
		},
	}
}

// RunHeadless runs m to its end with x and returns the finished machine;
// its ExitCode is the run's (design §1).
func RunHeadless(ctx context.Context, m runbook.Machine, x *executor.Executor, o RunnerOptions) runbook.Machine {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.GateTick <= 0 {
		o.GateTick = 250 * time.Millisecond
	}
	if o.GateTick > o.Tick {
		o.GateTick = o.Tick
	}
	if o.Events == nil {
		o.Events = NewEventStream(nil, false, nil)
	}
	r := NewEventLog(o.Events.Emit)
	r.ThrottleProgress = true
	x.SetNoteHandler(r.OnNote)
	defer x.SetNoteHandler(nil)

	var seq uint64
	d := executor.NewDriver(ctx, x, r.Hooks())
	// wake: the end of a gate's window, when the machine wants its Tick
	// (and the sample that passes the gate) ahead of the ticker.
	var wake time.Time
	wakeTimer := time.NewTimer(time.Hour)
	wakeTimer.Stop()
	defer wakeTimer.Stop()
	feed := func(ev runbook.Event) {
		seq++
		d.Dispatch(seq, m.Handle(ev))
		r.AfterEvent(m, ev)
		if o.OnMachine != nil {
			o.OnMachine(m)
		}
		if w := m.NextWake(); !w.Equal(wake) {
			wake = w
			wakeTimer.Stop()
			if !w.IsZero() {
				wakeTimer.Reset(time.Until(w))
			}
		}
	}

	ticker := time.NewTicker(o.GateTick)
	defer ticker.Stop()
	quit := ctx.Done()
	feed(runbook.Begin{At: time.Now()})
	lastTick := time.Now()
	for !m.Finished {
		select {
		case ev := <-d.Events():
			r.Answered(ev)
			feed(ev)
		case t := <-wakeTimer.C:
			// wake stays set: a sample in flight that was taken before it
			// is followed at once by another (Machine.onSnapshot).
			feed(runbook.Tick{Now: t})
		case t := <-ticker.C:
			if m.Gate.Open || t.Sub(lastTick) >= o.Tick-o.GateTick/2 {
				lastTick = t
				feed(runbook.Tick{Now: t})
			}
		case <-quit:
			quit = nil
			r.emit(LogEntry{TS: time.Now(), Type: "event", Op: "interrupted", Detail: "finishing the effects in flight; a stopped node is started again"})
			feed(runbook.Quit{At: time.Now()})
		}
	}
	// Polls may still be in flight: let them end, then return.
	d.Drain()
	d.Close()
	return m
}

// isLong: effects worth a "started" line.
func isLong(e runbook.Effect) bool {
	switch e := e.(type) {
	case runbook.TakeSysdump, runbook.VerifyBackupSet:
		return true
	case runbook.NodeAction:
		if e.ChainPos > 0 {
			return false // it starts when the one before it ends
		}
		switch e.Op {
		case runbook.OpStage, runbook.OpBackup, runbook.OpStop, runbook.OpStart:
			return true
		}
	}
	return false
}

func effectDetail(e runbook.Effect) string {
	switch e := e.(type) {
	case runbook.TakeSysdump:
		if e.PerNode {
			return string(e.Purpose) + " (one per node: no leader)"
		}
		return string(e.Purpose)
	case runbook.NodeAction:
		switch e.Op {
		case runbook.OpBackup:
			return e.Backup.String()
		case runbook.OpStage:
			return "sha256 " + runbook.ShortSHA(e.SHA256)
		case runbook.OpUnstage:
			return "removed the staged .new (sha256 " + runbook.ShortSHA(e.SHA256) + ")"
		}
	case runbook.VerifyBackupSet:
		return "set " + e.Set
	}
	return ""
}

func (r *EventLog) emit(l LogEntry) {
	l.Detail = journal.ScrubString(l.Detail)
	l.Error = journal.ScrubString(l.Error)
	r.sink(l)
}

// Answered logs the result of an effect this log saw start.
func (r *EventLog) Answered(ev runbook.Event) {
	var id runbook.EffectID
	var err error
	var data any
	switch ev := ev.(type) {
	case runbook.EffectResult:
		id, err, data = ev.ID, ev.Err, ev.Data
	case runbook.Snapshot:
		r.mu.Lock()
		delete(r.started, ev.ID)
		r.mu.Unlock()
		return
	default:
		return
	}
	r.mu.Lock()
	s, ok := r.started[id]
	delete(r.started, id)
	r.mu.Unlock()
	if !ok {
		return
	}
	from := s.at
	if a, ok := s.e.(runbook.NodeAction); ok && a.ChainLen > 1 {
		r.mu.Lock()
		if t := r.chainAt[a.Node]; a.ChainPos > 0 && t.After(from) {
			from = t
		}
		r.chainAt[a.Node] = time.Now()
		r.mu.Unlock()
	}
	l := LogEntry{TS: time.Now(), Node: runbook.EffectNode(s.e), Type: "effect", Op: s.e.Kind(), Step: string(s.e.Meta().Step), Status: "ok",
		Seconds: time.Since(from).Seconds()}
	if err != nil {
		l.Status, l.Error = "failed", err.Error()
	} else {
		l.Detail = resultDetail(s.e, data)
	}
	if rf, ok := s.e.(runbook.ReadNodeFiles); ok && len(rf.Nodes) == 1 {
		l.Node = rf.Nodes[0]
		r.mu.Lock()
		same := err == nil && r.lastRead[l.Node] == l.Detail
		r.lastRead[l.Node] = l.Detail
		if err != nil {
			delete(r.lastRead, l.Node)
		}
		r.mu.Unlock()
		if same {
			return
		}
	}
	r.emit(l)
}

func resultDetail(e runbook.Effect, data any) string {
	switch d := data.(type) {
	case runbook.SysdumpInfo:
		s := "saved " + d.Path
		if d.Partial {
			s += " (partial: some nodes failed)"
		}
		return s
	case runbook.BackupInfo:
		return fmt.Sprintf("set %s, %s (sha256 %s)", d.Set, d.Path, runbook.ShortSHA(d.SHA256))
	case []runbook.NodeFiles:
		var parts []string
		for _, f := range d {
			p := f.Node + " " + runbook.ShortSHA(f.SHA256)
			if f.NewPresent {
				p += " +new"
			}
			if f.PrevPresent {
				p += " +prev"
			}
			if !f.Active {
				p += " (inactive)"
			}
			if u := f.Unit; u.ActiveState != "" && (u.State() != "active/running" || u.NRestarts > 0) {
				p += fmt.Sprintf(" (%s, NRestarts %d)", u.State(), u.NRestarts)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ", ")
	}
	return effectDetail(e)
}

func (r *EventLog) printRecord(rec runbook.Record) {
	now := time.Now()
	switch rec.Type {
	case runbook.RecordEvent:
		r.emit(LogEntry{TS: now, Node: rec.Node, Type: "event", Op: rec.Op, Step: string(rec.Step), Detail: rec.Detail})
	case runbook.RecordApproval:
		d := rec.Detail
		if rec.By != "" {
			d += " (approved by " + rec.By + ")"
		}
		r.emit(LogEntry{TS: now, Node: rec.Node, Type: "approval", Op: "approved", Step: string(rec.Step), Detail: d})
	}
}

// gateSeen is what the log last said of an open gate: which gate, which
// of its checks held, whether all held, and when it last spoke.
type gateSeen struct {
	key     string
	held    map[string]bool
	allHeld bool
	at      time.Time
}

// gateHeartbeat is how often a gate that keeps waiting says so again, in
// one line, when nothing changed (a CI log shows it is alive).
const gateHeartbeat = 30 * time.Second

// AfterEvent logs the open gate's changes only: that it started waiting
// (and on what), each check that turns to hold or to fail (with why), and
// when all hold; a line every gateHeartbeat while it keeps waiting. The
// console shows the wait itself live, from the machine.
func (r *EventLog) AfterEvent(m runbook.Machine, ev runbook.Event) {
	if _, ok := ev.(runbook.Snapshot); !ok {
		return
	}
	g := m.Gate
	r.mu.Lock()
	if !g.Open || len(g.Results()) == 0 {
		r.gate = gateSeen{}
		r.mu.Unlock()
		return
	}
	now := time.Now()
	key := string(g.Step) + "|" + g.Name + "|" + g.Opened().String()
	first := r.gate.key != key
	if first {
		r.gate = gateSeen{key: key, held: map[string]bool{}, at: now}
	}
	var lines []LogEntry
	line := func(status, detail string) {
		lines = append(lines, LogEntry{TS: now, Node: g.Node, Type: "gate", Op: "gate " + g.Name, Step: string(g.Step), Status: status, Detail: detail})
	}
	var failing []string
	for _, c := range g.Results() {
		if !c.OK {
			failing = append(failing, c.Gate)
		}
	}
	if first {
		if len(failing) > 0 {
			line("waiting", fmt.Sprintf("%d of %d checks hold; waiting for %s", len(g.Results())-len(failing), len(g.Results()), strings.Join(failing, ", ")))
		}
	} else {
		for _, c := range g.Results() {
			was, seen := r.gate.held[c.Gate]
			switch {
			case seen && was == c.OK:
			case c.OK:
				line("check", "✓ "+c.Gate+" holds")
			default:
				line("check", "✗ "+c.Gate+": "+strings.Join(c.Reasons, "; "))
			}
		}
	}
	for _, c := range g.Results() {
		r.gate.held[c.Gate] = c.OK
	}
	all := len(failing) == 0
	if all && !r.gate.allHeld {
		detail := "its check holds"
		if n := len(g.Results()); n > 1 {
			detail = fmt.Sprintf("all %d checks hold", n)
		}
		if g.Hold > 0 {
			detail += "; they must hold for " + g.Hold.String()
		}
		line("holding", detail)
	}
	r.gate.allHeld = all
	if len(lines) == 0 && !all && now.Sub(r.gate.at) >= gateHeartbeat {
		line("waiting", fmt.Sprintf("still, after %s: %s", m.Now.Sub(g.Opened()).Round(time.Second), strings.Join(failing, ", ")))
	}
	if len(lines) > 0 {
		r.gate.at = now
	}
	r.mu.Unlock()
	for _, l := range lines {
		r.emit(l)
	}
}

// OnNote logs an executor note.
func (r *EventLog) OnNote(n executor.Note) {
	switch n.Kind {
	case executor.NoteProgress:
		// A line every 5 s for a long transfer, and one at the end of a big one.
		key := n.Node + "|" + n.Op
		now := time.Now()
		r.mu.Lock()
		first, ok := r.progressFrom[key]
		if !ok || n.Done < r.progressLast[key] || now.Sub(r.progressSeen[key]) > 2*time.Second {
			first = now
			r.progressFrom[key] = now
		}
		r.progressLast[key], r.progressSeen[key] = n.Done, now
		last := r.lastPrint[key]
		end := n.Total > 0 && n.Done == n.Total
		show := !r.ThrottleProgress || (end && n.Total >= 4<<20) || (!end && now.Sub(first) >= 5*time.Second && now.Sub(last) >= 5*time.Second)
		if show {
			r.lastPrint[key] = now
		}
		r.mu.Unlock()
		if !show {
			return
		}
		detail := HumanBytes(n.Done)
		if n.Total > 0 {
			detail += " of " + HumanBytes(n.Total)
		}
		if s := now.Sub(first).Seconds(); s > 0.5 {
			detail += fmt.Sprintf(", %.1f MB/s", float64(n.Done)/1e6/s)
		}
		r.emit(LogEntry{TS: n.At, Node: n.Node, Type: "progress", Op: n.Op, Detail: detail, Done: n.Done, Total: n.Total})
	case executor.NoteOutput:
		r.emit(LogEntry{TS: n.At, Node: n.Node, Type: "note", Op: n.Op, Detail: "| " + n.Text})
	default:
		r.emit(LogEntry{TS: n.At, Node: n.Node, Type: "note", Op: orDefault(n.Op, "note"), Detail: n.Text})
	}
}

// HumanBytes is a byte count for people: "12.3 MiB".
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
