package rollout

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The machine interface (docs/automation.md): every JSON document nwroll
// prints names its schema (docs/schema/), and the events of upgrade,
// resume and rollback are numbered, carry the run id, and end with one
// summary event.

// Schema versions of the JSON documents.
const (
	SchemaEvent  = "nwroll.event/v1"  // one line of upgrade, resume or rollback --json
	SchemaStatus = "nwroll.status/v1" // status --json
	SchemaRuns   = "nwroll.runs/v1"   // runs --json
	SchemaPlan   = "nwroll.plan/v1"   // plan --json
)

// Notifier takes the notable events, as the JSON lines --json prints
// (--notify, --notify-cmd). Send must not block.
type Notifier interface{ Send(event []byte) }

// EventStream prints the events of one command, text or JSON lines,
// numbering them and stamping the run, and hands the notable ones to the
// notifier. It is safe for concurrent use.
type EventStream struct {
	mu        sync.Mutex
	out       io.Writer
	json      bool
	notify    Notifier
	seq       uint64
	run       string
	started   time.Time
	summaries int
}

// NewEventStream prints to out (nil discards), as JSON lines when asJSON;
// n, if not nil, gets the notable events.
func NewEventStream(out io.Writer, asJSON bool, n Notifier) *EventStream {
	if out == nil {
		out = io.Discard
	}
	return &EventStream{out: out, json: asJSON, notify: n, started: time.Now()}
}

// SetRun stamps the events that follow with the run id.
func (s *EventStream) SetRun(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = id
}

// Summarized reports whether the stream printed its summary.
func (s *EventStream) Summarized() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summaries > 0
}

// Emit prints one event.
func (s *EventStream) Emit(l LogEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	l.Schema, l.Seq = SchemaEvent, s.seq
	if l.Run == "" {
		l.Run = s.run
	}
	b, err := json.Marshal(l)
	if err != nil {
		return
	}
	if s.json {
		fmt.Fprintln(s.out, string(b))
	} else if l.Type != "summary" || l.Summary == nil {
		fmt.Fprintln(s.out, l.Text())
	}
	if l.Type == "summary" {
		s.summaries++
	}
	if s.notify != nil && Notable(l) {
		s.notify.Send(b)
	}
}

// Summarize ends the stream with its summary event: in JSON one event;
// as text the lines people read, then the outcome.
func (s *EventStream) Summarize(r RunReport, lines []string) {
	s.mu.Lock()
	if r.StartedAt.IsZero() {
		r.StartedAt = s.started
	}
	if r.Run == "" {
		r.Run = s.run
	}
	asJSON := s.json
	s.mu.Unlock()
	r.EndedAt = time.Now()
	r.DurationSeconds = r.EndedAt.Sub(r.StartedAt).Seconds()
	if !asJSON {
		for _, l := range lines {
			fmt.Fprintln(s.out, LogEntry{TS: r.EndedAt, Type: "summary", Op: "summary", Detail: journal.ScrubString(l)}.Text())
		}
	}
	r.Reason, r.Error = journal.ScrubString(r.Reason), journal.ScrubString(r.Error)
	detail := fmt.Sprintf("%s (exit %d) after %s", r.Outcome, r.ExitCode, fmtSeconds(r.DurationSeconds))
	if !asJSON {
		fmt.Fprintln(s.out, LogEntry{TS: r.EndedAt, Type: "summary", Op: "outcome", Detail: detail}.Text())
	}
	s.Emit(LogEntry{TS: r.EndedAt, Type: "summary", Op: "summary", Detail: detail, Summary: &r})
}

// SummarizeError ends the stream of a command that could not start its
// run (a usage error, a refusal) with its summary event.
func (s *EventStream) SummarizeError(command, cluster string, code int, err error) {
	s.Summarize(RunReport{Cluster: cluster, Command: command, Outcome: outcomeOf(code), ExitCode: code, Retry: RetryAdvice(code),
		Error: err.Error(), Nodes: []NodeReport{}, Backups: []BackupReport{}, Sysdumps: []SysdumpReport{}}, nil)
}

// notableOps are the journal events a notification carries: a step
// starts, fails, pauses, is rolled back, or the run stops.
var notableOps = []string{"step-started", "failure", "paused", "refused", "rollback-planned", "rollback-cancelled", "abort", "quit", "interrupted"}

// Notable reports whether an event goes to --notify and --notify-cmd:
// step starts, approvals, failures (a gate's included), pauses,
// rollbacks, the end and the summary.
func Notable(l LogEntry) bool {
	switch l.Type {
	case "approval", "finish", "summary":
		return true
	case "event":
		return slices.Contains(notableOps, l.Op)
	}
	return false
}

// RunReport is a run's summary event (schema nwroll.event/v1, type
// summary): how it ended and where it left each node.
type RunReport struct {
	Run      string `json:"run,omitempty"`
	Cluster  string `json:"cluster"`
	Command  string `json:"command"` // upgrade | resume | rollback
	Outcome  string `json:"outcome"` // a journal outcome (finished, rolled back, failed, interrupted, refused, paused, ...) or invalid
	ExitCode int    `json:"exit_code"`
	// Retry says what an orchestrator may do next (docs/automation.md).
	Retry  string `json:"retry"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	Target string `json:"target,omitempty"`
	// Next is the command that continues or undoes the run, when one does.
	Next            string          `json:"next,omitempty"`
	StartedAt       time.Time       `json:"started_at"`
	EndedAt         time.Time       `json:"ended_at"`
	DurationSeconds float64         `json:"duration_seconds"`
	Nodes           []NodeReport    `json:"nodes"`
	Backups         []BackupReport  `json:"backups"`
	Sysdumps        []SysdumpReport `json:"sysdumps"`
}

// NodeReport is one node as the run left it.
type NodeReport struct {
	Name    string `json:"name"`
	Release string `json:"release"` // the build in place: its version, or "unknown"
	SHA256  string `json:"sha256,omitempty"`
	Image   string `json:"image,omitempty"`
	// MayBeStopped: the run may have left it stopped; start it by hand.
	MayBeStopped bool   `json:"may_be_stopped,omitempty"`
	Staged       string `json:"staged,omitempty"` // what <binary>.new holds, if the run left it
	Kept         string `json:"kept,omitempty"`   // what <binary>.prev holds, if the run left it
	Launched     bool   `json:"launched,omitempty"`
	Replaces     string `json:"replaces,omitempty"`
	Retired      bool   `json:"retired,omitempty"`
}

// BackupReport is a backup the run took (or reused) of a node.
type BackupReport struct {
	Node   string `json:"node"`
	Set    string `json:"set,omitempty"`
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// SysdumpReport is a sysdump the run saved.
type SysdumpReport struct {
	Purpose string `json:"purpose"`
	Path    string `json:"path"`
}

// Retry advice by exit code (docs/automation.md).
var retryAdvice = map[int]string{
	runbook.ExitOK:         "none",
	runbook.ExitFailed:     "resume",
	runbook.ExitUsage:      "fix-input",
	runbook.ExitRefused:    "human",
	runbook.ExitRolledBack: "human",
	runbook.ExitPaused:     "resume-when-approved",
}

// RetryAdvice is what an orchestrator may do after exit code.
func RetryAdvice(code int) string {
	if a, ok := retryAdvice[code]; ok {
		return a
	}
	return "human"
}

// outcomeOf names an exit code's outcome when no journal says it.
func outcomeOf(code int) string {
	switch code {
	case runbook.ExitOK:
		return string(journal.OutcomeFinished)
	case runbook.ExitUsage:
		return "invalid"
	case runbook.ExitRefused:
		return string(journal.OutcomeRefused)
	case runbook.ExitRolledBack:
		return string(journal.OutcomeRolledBack)
	case runbook.ExitPaused:
		return string(journal.OutcomePaused)
	}
	return string(journal.OutcomeFailed)
}

// nodeReports are the machine's summary in the report's shape.
func nodeReports(s runbook.Summary) ([]NodeReport, []BackupReport, []SysdumpReport) {
	nodes, backups, dumps := []NodeReport{}, []BackupReport{}, []SysdumpReport{}
	for _, n := range s.Nodes {
		r := NodeReport{Name: n.Name, Release: n.Runs.Version, SHA256: n.Runs.SHA256, Image: n.Runs.Image, MayBeStopped: n.Stopped,
			Launched: n.Launched, Replaces: n.Replaces, Retired: n.Retired}
		if r.Release == "" {
			r.Release = "unknown"
		}
		if n.Staged.SHA256 != "" {
			r.Staged = n.Staged.Label()
		}
		if n.Kept.SHA256 != "" {
			r.Kept = n.Kept.Label()
		}
		nodes = append(nodes, r)
		if b := n.Backup; b.Path != "" || b.Set != "" {
			backups = append(backups, BackupReport{Node: n.Name, Set: b.Set, Path: b.Path, SHA256: b.SHA256})
		}
	}
	for _, d := range s.Sysdumps {
		dumps = append(dumps, SysdumpReport{Purpose: string(d.Purpose), Path: d.Path})
	}
	return nodes, backups, dumps
}

// nextCommand is the command that goes on after exit code, if one does.
func nextCommand(code int, inv, run string) string {
	switch code {
	case runbook.ExitFailed, runbook.ExitPaused:
		return fmt.Sprintf("nwroll resume -i %s --run %s --yes", inv, run)
	case runbook.ExitRolledBack:
		return fmt.Sprintf("nwroll runs -i %s", inv)
	}
	return ""
}
