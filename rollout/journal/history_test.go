package journal

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/rollout/rollouttest"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// The history is read from real run files written from a real machine's
// records (the fake cluster answers its effects).

// writeRun drives a new run on c until stop (nil: to its end), optionally
// feeds it more events, and writes its records to a new run file.
func writeRun(t *testing.T, state string, c *rollouttest.Cluster, opts runbook.MachineOptions, stop func(*rollouttest.Driver) bool, then ...runbook.Event) RunSummary {
	t.Helper()
	d := rollouttest.NewDriver(t, c, c.Plan(t, rollouttest.DefaultPlanOptions()), opts)
	d.Begin()
	if stop == nil {
		d.RunToEnd()
	} else {
		d.RunUntil(func(runbook.Machine) bool { return stop(d) })
	}
	for _, ev := range then {
		d.Send(ev)
	}
	if len(then) > 0 {
		d.RunToEnd()
	}
	j, err := Open(state, "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entriesOf(d.Effects) {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	run, err := ReadRun(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	return Summarize(run)
}

func pendingStartOf(node string) func(*rollouttest.Driver) bool {
	return func(d *rollouttest.Driver) bool {
		p := d.Pending()
		return len(p) > 0 && p[0].Kind() == "start" && runbook.EffectNode(p[0]) == node
	}
}

func TestHistoryOutcomesAndTheRunToResume(t *testing.T) {
	state := t.TempDir()
	c := rollouttest.NewCluster(3, 0)

	// Killed with fw-b stopped: interrupted, unfinished, and says so.
	killed := writeRun(t, state, c, headless(), pendingStartOf("fw-b"))
	if killed.Outcome != OutcomeInterrupted || !killed.Unfinished || !slices.Equal(killed.Stopped, []string{"fw-b"}) || !killed.LockHeld {
		t.Fatalf("killed run: %+v", killed)
	}
	if d := killed.Describe(); !strings.Contains(d, "run "+killed.ID) || !strings.Contains(d, "interrupted with fw-b stopped") {
		t.Errorf("Describe() = %q", d)
	}
	if ct := killed.ChangesText(); !strings.Contains(ct, "fw-b: stage, backup, stop, keep-prev, swap, cut short: start") {
		t.Errorf("ChangesText() = %q", ct)
	}

	// A later run refused at the pre-check (the cluster is degraded now:
	// fw-b is still down) changed nothing and buries nothing.
	refused := writeRun(t, state, c, headless(), nil)
	if refused.Outcome != OutcomeRefused || refused.Unfinished || refused.Changed() {
		t.Fatalf("refused run: %+v", refused)
	}
	h, err := History(state, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Fatalf("history has %d runs, want 2", len(h))
	}
	if u, ok := NewestUnfinished(h); !ok || u.ID != killed.ID {
		t.Fatalf("newest unfinished = %q, %v; want the killed run %q", u.ID, ok, killed.ID)
	}
	if r, ok := NewestThatChanged(h); !ok || r.ID != killed.ID {
		t.Fatalf("newest that changed = %q; want %q", r.ID, killed.ID)
	}
	if s, err := Find(h, killed.ID[:5]); err != nil || s.ID != killed.ID {
		t.Fatalf("Find(prefix) = %q, %v", s.ID, err)
	}
	if _, err := Find(h, "zzzz"); !errors.Is(err, ErrNoSuchRun) || !strings.Contains(err.Error(), killed.ID) {
		t.Fatalf("Find(unknown) = %v: want ErrNoSuchRun naming the runs there are", err)
	}

	// Abandoned: no longer offered.
	if err := Abandon(killed, "op@test", "0badc0de"); err != nil {
		t.Fatal(err)
	}
	h, _ = History(state, "lab")
	if h[0].Outcome != OutcomeAbandoned || h[0].Unfinished || !strings.Contains(h[0].Reason, "0badc0de") {
		t.Fatalf("abandoned run: %+v", h[0])
	}
	if _, ok := NewestUnfinished(h); ok {
		t.Fatal("an abandoned run is still offered to resume")
	}
}

func TestHistoryOfFinishedQuitAndAborted(t *testing.T) {
	state := t.TempDir()

	done := writeRun(t, state, rollouttest.NewCluster(3, 0), headless(), nil)
	if done.Outcome != OutcomeFinished || done.Unfinished || !slices.Equal(done.Upgraded, []string{"fw-b", "fw-c", "fw-a"}) || done.StartedBy != "" && done.StartedBy != "ci@runner (--yes)" {
		t.Fatalf("finished run: %+v", done)
	}

	// Quit at the first approval: nothing changed, exit 0.
	console := runbook.MachineOptions{Approver: "op@test"}
	quit := writeRun(t, state, rollouttest.NewCluster(3, 0), console, func(d *rollouttest.Driver) bool {
		_, ok := d.M.AwaitingApproval()
		return ok
	}, runbook.ActionEvent(runbook.ActQuit, "", "op@test", rollouttest.T0))
	if quit.Outcome != OutcomeQuit || quit.Unfinished || quit.ChangedNode() || quit.ExitCode == nil || *quit.ExitCode != 0 {
		t.Fatalf("quit run: %+v (reason %q)", quit, quit.Reason)
	}

	// The same quit whose end never reached the journal (the console
	// closed first) is not a clean quit: it is interrupted.
	cut := *quit.Run()
	for i, e := range cut.Entries {
		if e.Kind == Outcome && e.Op == runbook.RecordOpRun {
			cut.Entries = cut.Entries[:i]
			break
		}
	}
	if s := Summarize(&cut); s.Outcome != OutcomeInterrupted || s.ExitCode != nil {
		t.Fatalf("a quit with no recorded end: %+v", s)
	}

	// Aborted by the operator with fw-b upgraded: unfinished.
	aborted := writeRun(t, state, rollouttest.NewCluster(3, 0), headless(), func(d *rollouttest.Driver) bool {
		s, ok := d.M.Current()
		return ok && s.Kind == runbook.StepUpgrade && s.Node == "fw-c"
	}, runbook.ActionEvent(runbook.ActAbort, "", "op", rollouttest.T0), runbook.ActionEvent(runbook.ActAbortConfirm, "", "op", rollouttest.T0))
	if aborted.Outcome != OutcomeAborted || !aborted.Unfinished || !slices.Contains(aborted.Upgraded, "fw-b") {
		t.Fatalf("aborted run: %+v (reason %q)", aborted, aborted.Reason)
	}
}
