package journal

import (
	"slices"
	"strings"

	"github.com/nwroll/nwroll/rollout/runbook"
)

// EntryOf maps a Record to the journal's entry (the executor appends it;
// Append fills the time, run id, sequence and cluster).
func EntryOf(r runbook.Record) Entry {
	e := Entry{Kind: Kind(r.Type), StepID: string(r.Step), Node: r.Node, Op: r.Op, Detail: r.Detail,
		OK: r.OK, Error: r.Error, ApprovedBy: r.By, GateValues: GateValues(r.GateValues), ExitCode: r.ExitCode}
	if b := r.Backup; b != nil {
		e.Backup = &BackupRecord{Set: b.Set, Path: b.Path, SHA256: b.SHA256}
	}
	if b := r.Build; b != nil {
		e.Build = &BuildRecord{Version: b.Version, SHA256: b.SHA256}
	}
	return e
}

// ResumeFacts derives the journal's part of runbook.ResumeFacts from
// the entries of the interrupted run (written from this machine's Records)
// and adds the nodes' real state.
func ResumeFacts(entries []Entry, files []runbook.NodeFiles) runbook.ResumeFacts {
	rp := Progress(entries)
	facts := runbook.ResumeFacts{Files: files, UpgradeOrder: slices.Clone(rp.UpgradeOrder)}
	for _, e := range rp.InFlight {
		if e.Op == runbook.RecordOpSwap && e.Node != "" && !slices.Contains(facts.UpgradeOrder, e.Node) {
			facts.UpgradeOrder = append(facts.UpgradeOrder, e.Node) // a kill may have lost the outcome
		}
		if (e.Op == runbook.OpStop.String() || e.Op == runbook.OpStart.String()) && e.Node != "" && !slices.Contains(facts.StopStartCut, e.Node) {
			facts.StopStartCut = append(facts.StopStartCut, e.Node)
		}
	}
	open := map[string]bool{}
	var order []string
	for _, e := range entries {
		switch {
		case e.Kind == Event && e.Op == "step-started" && e.StepID != "":
			if !open[e.StepID] {
				order = append(order, e.StepID)
			}
			open[e.StepID] = true
		case e.Kind == Event && (e.Op == "step-skipped" || e.Op == "deferred") && e.StepID != "":
			open[e.StepID] = false
		}
		switch {
		case e.Kind == Event && e.Op == "step-done" && e.StepID != "":
			open[e.StepID] = false
			facts.DoneSteps = append(facts.DoneSteps, runbook.StepID(e.StepID))
		case e.Kind == Event && e.Op == "step-started" && strings.HasPrefix(e.StepID, runbook.StepRollback.String()+"/"):
			facts.RollingBack = true
		case e.Kind == Outcome && e.Op == "lock" && e.OK:
			facts.LockHeld = true
		case e.Kind == Outcome && e.Op == "unlock" && e.OK:
			facts.LockHeld = false
		case e.Kind == Intent && e.Op == "lock":
			facts.LockHeld = true // it may have been taken before the kill
		case e.Kind == Outcome && e.OK && e.Backup != nil && e.Node != "":
			if facts.Backups == nil {
				facts.Backups = map[string]runbook.BackupInfo{}
			}
			facts.Backups[e.Node] = runbook.BackupInfo{Set: e.Backup.Set, Path: e.Backup.Path, SHA256: e.Backup.SHA256}
		}
	}
	for _, id := range order {
		if open[id] {
			facts.Unfinished = append(facts.Unfinished, runbook.StepID(id))
		}
	}
	return facts
}
