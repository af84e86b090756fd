package journal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// A cluster's journal is a history of runs, one file each (design §3
// "Journal"). Resume and rollback continue a run in its own file, so a
// file's last run outcome is that run's outcome. Which run to resume or
// roll back is chosen from the history, never from the newest file alone:
// a refused run or one that changed nothing never buries an unfinished one.

// RunOutcome is how a run ended, as its journal tells it.
type RunOutcome string

// Outcomes.
const (
	OutcomeFinished    RunOutcome = "finished"    // every step done (exit 0)
	OutcomeRolledBack  RunOutcome = "rolled back" // ended rolled back (exit 4, or `nwroll rollback` done)
	OutcomeAborted     RunOutcome = "aborted"     // the operator aborted it
	OutcomeFailed      RunOutcome = "failed"      // stopped after a failure, not rolled back
	OutcomeInterrupted RunOutcome = "interrupted" // quit, killed or cut off: no end, or ended by a quit
	OutcomeRefused     RunOutcome = "refused"     // the pre-check refused; nothing changed
	OutcomeAbandoned   RunOutcome = "abandoned"   // a later run was started over it (--abandon-run)
	OutcomeQuit        RunOutcome = "quit"        // quit before any node changed
	OutcomePaused      RunOutcome = "paused"      // stopped by --pause-before (exit 5): resume it
)

// Event ops the history reads.
const (
	EventAbandoned = "abandoned" // a later run abandoned this one; Detail names it
	eventQuit      = "quit"
	eventAbort     = "abort"
	eventFailure   = "failure"
)

// RunSummary is one run of the history.
type RunSummary struct {
	ID        string        `json:"id"`
	Path      string        `json:"journal"`
	StartedBy string        `json:"started_by,omitempty"` // user@host
	Started   time.Time     `json:"started"`
	Ended     time.Time     `json:"last_entry"`
	From      string        `json:"from,omitempty"`
	Target    string        `json:"target,omitempty"`
	Outcome   RunOutcome    `json:"outcome"`
	Reason    string        `json:"reason,omitempty"`
	ExitCode  *int          `json:"exit_code,omitempty"`
	Changes   []NodeChanges `json:"changes,omitempty"`
	// Failure is the first failure the run stopped on: its step and why
	// ("upgrade/fw-c: …"), the cause of a rollback that followed.
	Failure string `json:"failure,omitempty"`
	// Upgraded are the nodes the run left on its target, in swap order.
	Upgraded []string `json:"upgraded,omitempty"`
	// Stopped are nodes the run stopped and did not start again.
	Stopped []string `json:"stopped,omitempty"`
	// LockHeld: the journal shows the run's lock taken and not released.
	LockHeld bool `json:"lock_held,omitempty"`
	// Unfinished: the run left the cluster mid-way (a node upgraded or
	// stopped, an operation cut short, its lock held) and did not end
	// finished, rolled back, refused or abandoned: resume or roll it back.
	Unfinished bool `json:"unfinished"`

	record *RunRecord
	run    *Run
}

// NodeChanges is what a run did to one node, in order.
type NodeChanges struct {
	Node     string   `json:"node"`
	Ops      []string `json:"ops"`                 // operations that completed
	InFlight []string `json:"in_flight,omitempty"` // begun and never answered (a kill)
}

// Record is the run's intent: release, options, builds seen at the start.
func (s RunSummary) Record() *RunRecord { return s.record }

// Run is the run's file, read.
func (s RunSummary) Run() *Run { return s.run }

// Changed reports whether the run did anything to a node.
func (s RunSummary) Changed() bool { return len(s.Changes) > 0 || s.LockHeld }

// RolledBackNode reports whether the run restored a node's .prev: it
// rolled that node back, whatever its outcome.
func (s RunSummary) RolledBackNode() bool {
	for _, c := range s.Changes {
		if slices.Contains(c.Ops, runbook.RecordOpRollback) {
			return true
		}
	}
	return false
}

// ChangedNode reports whether any operation completed on a node.
func (s RunSummary) ChangedNode() bool {
	for _, c := range s.Changes {
		if len(c.Ops) > 0 {
			return true
		}
	}
	return false
}

// Describe is one line for refusals and hints: "run 92f398ea by
// root@vm, 09:22, interrupted after stopping fw-c".
func (s RunSummary) Describe() string {
	who := s.StartedBy
	if who == "" {
		who = "an unknown operator"
	}
	b := fmt.Sprintf("run %s by %s, %s, %s", s.ID, who, s.Started.Local().Format("2006-01-02 15:04"), s.Outcome)
	if w := s.where(); w != "" {
		b += " " + w
	}
	return b
}

// where says what the run last did, for Describe.
func (s RunSummary) where() string {
	switch {
	case len(s.Stopped) > 0:
		return "with " + strings.Join(s.Stopped, ", ") + " stopped"
	case len(s.Upgraded) > 0:
		return "with " + strings.Join(s.Upgraded, ", ") + " on " + s.Target
	case s.LockHeld:
		return "holding the rollout lock"
	}
	return ""
}

// ChangesText is "fw-c: stop, keep-prev, swap; fw-b: stage", or "nothing".
func (s RunSummary) ChangesText() string {
	var parts []string
	for _, c := range s.Changes {
		ops := strings.Join(c.Ops, ", ")
		if len(c.InFlight) > 0 {
			if ops != "" {
				ops += ", "
			}
			ops += "cut short: " + strings.Join(c.InFlight, ", ")
		}
		parts = append(parts, c.Node+": "+ops)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// History reads every run of the cluster, oldest first. A damaged file is
// an error naming it.
func History(stateDir, cluster string) ([]RunSummary, error) {
	paths, err := ListRuns(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	out := make([]RunSummary, 0, len(paths))
	for _, p := range paths {
		run, err := ReadRun(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Summarize(run))
	}
	// By start: file names sort by second, then by the random run id.
	slices.SortStableFunc(out, func(a, b RunSummary) int { return a.Started.Compare(b.Started) })
	return out, nil
}

// Summarize reads one run's history entry from its file.
func Summarize(run *Run) RunSummary {
	s := RunSummary{ID: run.RunID, Path: run.Path, run: run}
	if len(run.Entries) > 0 {
		s.Started, s.Ended = run.Entries[0].TS, run.Entries[len(run.Entries)-1].TS
	}
	rp := Progress(run.Entries)
	s.From, s.Target = rp.Release.From, rp.Release.To
	lockHeld, quit, abort, abandoned := false, false, false, ""
	for _, e := range run.Entries {
		switch {
		case e.Kind == Intent && e.Op == runbook.RecordOpRun && e.Node == "":
			quit, abort = false, false
			if e.Run != nil {
				s.record = e.Run
				if s.StartedBy == "" {
					s.StartedBy = e.Run.StartedBy
				}
			}
		case e.Kind == Approval && s.StartedBy == "":
			s.StartedBy = e.ApprovedBy
		case e.Kind == Event && e.Op == eventQuit:
			quit = true
		case e.Kind == Event && e.Op == eventAbort:
			abort = true
		case e.Kind == Event && e.Op == eventFailure && s.Failure == "":
			s.Failure = e.Detail
			if e.StepID != "" {
				s.Failure = e.StepID + ": " + e.Detail
			}
		case e.Kind == Event && e.Op == EventAbandoned:
			abandoned = e.Detail
		case e.Kind == Intent && e.Op == "lock":
			lockHeld = true
		case e.Kind == Outcome && e.Op == "unlock" && e.OK:
			lockHeld = false
		}
	}
	if s.Target == "" && s.record != nil {
		s.Target = s.record.Release.Version
	}
	for _, name := range rp.NodeOrder {
		np := rp.Nodes[name]
		if len(np.Completed) == 0 && len(np.InFlight) == 0 {
			continue
		}
		s.Changes = append(s.Changes, NodeChanges{Node: name, Ops: append([]string{}, np.Completed...), InFlight: slices.Clone(np.InFlight)})
		if stoppedLast(np) {
			s.Stopped = append(s.Stopped, name)
		}
	}
	s.Upgraded = slices.Clone(rp.UpgradeOrder)
	s.LockHeld = lockHeld
	code, reason, ended := runEnd(run.Entries)
	s.Reason = reason
	if ended {
		s.ExitCode = &code
	}
	switch {
	case abandoned != "":
		s.Outcome, s.Reason = OutcomeAbandoned, abandoned
	case ended && code == runbook.ExitPaused:
		s.Outcome = OutcomePaused
	case quit && ended && code == runbook.ExitOK:
		s.Outcome = OutcomeQuit
	case !ended || quit && code == runbook.ExitFailed:
		s.Outcome = OutcomeInterrupted
	case code == runbook.ExitOK && strings.HasPrefix(reason, "rolled back"):
		s.Outcome = OutcomeRolledBack
	case code == runbook.ExitOK:
		s.Outcome = OutcomeFinished
	case code == runbook.ExitRefused:
		s.Outcome = OutcomeRefused
	case code == runbook.ExitRolledBack:
		s.Outcome = OutcomeRolledBack
	case abort:
		s.Outcome = OutcomeAborted
	default:
		s.Outcome = OutcomeFailed
	}
	switch s.Outcome {
	case OutcomePaused:
		s.Unfinished = true
	case OutcomeInterrupted, OutcomeAborted, OutcomeFailed:
		s.Unfinished = len(s.Upgraded) > 0 || len(s.Stopped) > 0 || s.LockHeld || len(rp.InFlight) > 0
	default:
		// A run that ended went past what a kill cut short: its resume
		// read the node again.
		for i := range s.Changes {
			s.Changes[i].InFlight = nil
		}
		s.Stopped = nil
	}
	return s
}

// stoppedLast: a stop or start of the node was cut short (it may be
// down either way), or its last stop or start was a stop.
func stoppedLast(np *NodeProgress) bool {
	stop, start := runbook.OpStop.String(), runbook.OpStart.String()
	if slices.Contains(np.InFlight, stop) || slices.Contains(np.InFlight, start) {
		return true
	}
	for _, op := range slices.Backward(np.Completed) {
		switch op {
		case stop:
			return true
		case start:
			return false
		}
	}
	return false
}

// runEnd finds the run's last end: the exit code and reason of its last
// run outcome, and whether a run intent came after it (ended is false then:
// that run was cut short).
func runEnd(entries []Entry) (code int, reason string, ended bool) {
	for _, e := range entries {
		if e.Op != runbook.RecordOpRun || e.Node != "" {
			continue
		}
		switch e.Kind {
		case Intent:
			ended = false
		case Outcome:
			ended, code, reason = true, runbook.ExitFailed, e.Detail
			if e.ExitCode != nil {
				code = *e.ExitCode
			}
		}
	}
	return code, reason, ended
}

// ErrNoSuchRun means --run named no run of the cluster.
var ErrNoSuchRun = errors.New("no such run")

// Find is the run whose id starts with id (at least 4 characters), or an
// error naming the runs there are.
func Find(history []RunSummary, id string) (RunSummary, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	var hits []RunSummary
	for _, s := range history {
		if len(id) >= 4 && strings.HasPrefix(s.ID, id) {
			hits = append(hits, s)
		}
	}
	switch {
	case len(hits) == 1:
		return hits[0], nil
	case len(hits) > 1:
		return RunSummary{}, fmt.Errorf("%w: %q names %d runs; give more of its id", ErrNoSuchRun, id, len(hits))
	}
	var ids []string
	for _, s := range history {
		ids = append(ids, s.ID)
	}
	if len(ids) == 0 {
		return RunSummary{}, fmt.Errorf("%w: --run %s: the cluster has no runs on record", ErrNoSuchRun, id)
	}
	return RunSummary{}, fmt.Errorf("%w: --run %s matches none of the cluster's runs (%s); `nwroll runs` lists them", ErrNoSuchRun, id, strings.Join(ids, ", "))
}

// NewestUnfinished is the newest unfinished run, if any.
func NewestUnfinished(history []RunSummary) (RunSummary, bool) {
	for _, s := range slices.Backward(history) {
		if s.Unfinished {
			return s, true
		}
	}
	return RunSummary{}, false
}

// NewestThatChanged is the newest run that left a node on its target (the
// one `nwroll rollback` undoes), or else the newest unfinished one.
func NewestThatChanged(history []RunSummary) (RunSummary, bool) {
	for _, s := range slices.Backward(history) {
		if len(s.Upgraded) > 0 && s.Outcome != OutcomeAbandoned {
			return s, true
		}
	}
	return NewestUnfinished(history)
}

// Abandon marks run as abandoned by a new run (--abandon-run): it is no
// longer offered to resume, and its history says who left it and why.
func Abandon(run RunSummary, by, newRunID string) error {
	j, err := Reopen(run.Path)
	if err != nil {
		return err
	}
	defer j.Close()
	return j.Append(Entry{Kind: Event, Op: EventAbandoned, OK: true,
		Detail: fmt.Sprintf("abandoned by %s for run %s (--abandon-run)", by, newRunID)})
}
