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
	e.Cloud = r.Cloud
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
	facts.Cloud = cloudFacts(entries)
	return facts
}

// cloudFacts is what a cloud run's journal says it did to the group: nil
// when it made no cloud call.
func cloudFacts(entries []Entry) *runbook.CloudFacts {
	var f *runbook.CloudFacts
	intents := map[uint64]*runbook.CloudRecord{} // by effect: an outcome records only what its effect made
	for _, e := range entries {
		if e.Kind != Intent && e.Kind != Outcome {
			continue
		}
		c := e.Cloud
		if e.Kind == Intent && c != nil {
			intents[e.Effect] = c
		}
		if e.Kind == Outcome && c == nil {
			c = intents[e.Effect]
		}
		if c == nil {
			continue
		}
		if f == nil {
			f = &runbook.CloudFacts{Launched: map[string]string{}, Surges: map[string]runbook.CloudRecord{}, Retires: map[string]runbook.CloudRecord{}, Removed: map[string]bool{}}
		}
		intent, ok := e.Kind == Intent, e.Kind == Outcome && e.OK
		switch e.Op {
		case "freeze":
			if intent { // the call may have been made before a kill: it is resumed at the end either way
				f.Frozen = appendNew(f.Frozen, c.Processes...)
			}
		case "thaw":
			if ok {
				thawed := intents[e.Effect].Processes
				f.Frozen = slices.DeleteFunc(f.Frozen, func(p string) bool { return slices.Contains(thawed, p) })
			}
		case "new-template":
			if ok {
				f.NewTemplate = c.TemplateRef()
			}
		case "surge":
			switch {
			case intent:
				f.Surges[c.Replaces] = *c
			case e.Kind == Outcome:
				delete(f.Surges, intents[e.Effect].Replaces)
				if ok && c.Instance != "" {
					f.Launched[c.Instance] = c.Replaces
					f.LaunchOrder = appendNew(f.LaunchOrder, c.Instance)
				}
			}
		case "retire":
			if intent {
				f.Retires[e.Node] = *c
			}
		case "remove-member":
			if ok && e.Node != "" {
				f.Removed[e.Node] = true
			}
		}
	}
	return f
}

func appendNew(list []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}
