package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resume (design §3 "Journal"): a run killed at any moment is continued
// from what the journal says happened plus each node's REAL state, read
// again now. The read-only checks run again; a node left stopped is started
// and gated before anything else; a node already on the target is never
// upgraded again; a binary that matches no known release is refused.

// ResumeFacts is what a resumed run starts from.
type ResumeFacts struct {
	// Files is every node's real state, read now: the binary's sha256,
	// whether .new and .prev exist, whether the unit is active.
	Files []NodeFiles
	// DoneSteps are the steps the journal shows finished ("step-done").
	DoneSteps []StepID
	// Unfinished are the steps the journal shows started and not done: a
	// node whose step was cut short is gated again before the pre-check,
	// since it may still be restarting or electing.
	Unfinished []StepID
	// UpgradeOrder lists the nodes this rollout swapped to the target, in
	// swap order, including a swap whose outcome a kill may have lost.
	UpgradeOrder []string
	// Builds are builds the journal identified before (an unknown build
	// that was running counts as known to resume: it was there before).
	Builds []BuildRef
	// RollingBack: the run was rolling back when it stopped; continue the
	// rollback instead of the upgrade.
	RollingBack bool
	// LockHeld: the journal shows this rollout's lock taken and not
	// released; LockNodes then takes over our own lock.
	LockHeld bool
}

// ResumeState builds the machine that continues an interrupted rollout of
// plan. It refuses (with every reason) a node whose binary matches no
// known release, a node missing from facts, and, when rolling back, an
// upgraded node with nothing to roll back to.
func ResumeState(plan Plan, facts ResumeFacts, opts MachineOptions) (Machine, error) {
	mode := resumeForward
	if facts.RollingBack {
		mode = resumeRollback
	}
	return resumeBuild(plan, facts, opts, mode)
}

// RollbackState builds the machine for `nwroll rollback`: every node the
// journal shows upgraded (facts.UpgradeOrder) and still on the target is
// rolled back, newest first, one at a time, with gates. It ends with exit
// 0 when all are rolled back.
func RollbackState(plan Plan, facts ResumeFacts, opts MachineOptions) (Machine, error) {
	return resumeBuild(plan, facts, opts, resumeExplicitRollback)
}

type resumeMode int

const (
	resumeForward resumeMode = iota
	resumeRollback
	resumeExplicitRollback
)

func resumeBuild(plan Plan, facts ResumeFacts, opts MachineOptions, mode resumeMode) (Machine, error) {
	m := NewMachine(plan, opts)
	for _, b := range facts.Builds {
		if b.SHA256 = NormSHA(b.SHA256); b.SHA256 != "" {
			m.Plan.Known = append(m.Plan.Known, b)
		}
	}
	p := m.Plan
	known := func(sha string) BuildRef {
		b := p.Identify(sha)
		if b.Known() {
			return b
		}
		for _, k := range facts.Builds {
			if NormSHA(k.SHA256) == b.SHA256 && b.SHA256 != "" {
				return BuildRef{Version: k.Version, SHA256: b.SHA256}
			}
		}
		return b
	}
	isKnown := func(b BuildRef) bool {
		if b.SHA256 == "" {
			return false
		}
		if b.Known() {
			return true
		}
		for _, k := range facts.Builds {
			if NormSHA(k.SHA256) == b.SHA256 {
				return true
			}
		}
		return false
	}
	files := map[string]NodeFiles{}
	for _, f := range facts.Files {
		files[f.Node] = f
	}
	done := map[StepID]bool{}
	for _, id := range facts.DoneSteps {
		done[id] = true
	}

	unfinishedNode := map[string]bool{}
	for _, id := range facts.Unfinished {
		if s, ok := p.Step(id); ok && s.Node != "" {
			unfinishedNode[s.Node] = true
		} else if kind, node, ok := strings.Cut(string(id), "/"); ok && kind != "" {
			unfinishedNode[strings.SplitN(node, "#", 2)[0]] = true // rollback/recover steps are not in the plan
		}
	}

	var problems []string
	var recover, rollback []string
	for i := range m.Nodes {
		n := &m.Nodes[i]
		f, ok := files[n.Name]
		if !ok {
			problems = append(problems, n.Name+": its real state was not read")
			continue
		}
		b := known(f.SHA256)
		switch {
		case b.SHA256 == "":
			problems = append(problems, fmt.Sprintf("%s: %s is missing; restore it by hand from %s.prev or a backup", n.Name, p.Options.Binary, p.Options.Binary))
			continue
		case !isKnown(b):
			problems = append(problems, fmt.Sprintf("%s: binary sha256 %s matches no known release (target %s); restore a known build by hand before resuming",
				n.Name, ShortSHA(b.SHA256), p.Target.Label()))
			continue
		}
		n.Binary, n.Previous = b, b
		n.Down = !f.Active
		n.Staged = f.NewPresent && NormSHA(f.NewSHA256) == p.Target.SHA256
		onTarget := b.SHA256 == p.Target.SHA256
		prev := BuildRef{}
		if f.PrevPresent {
			prev = known(f.PrevSHA256)
		}
		ours := slices.Contains(facts.UpgradeOrder, n.Name)
		switch {
		case onTarget && ours:
			n.Swapped = true
			n.PrevKept = f.PrevPresent
			n.Previous = prev
			n.SwapSeq = slices.Index(facts.UpgradeOrder, n.Name) + 1
			n.Status = NodeUpgraded
			if mode != resumeForward {
				switch {
				case !f.PrevPresent:
					problems = append(problems, fmt.Sprintf("%s: runs %s but %s.prev is missing: nothing to roll back to; restore from a backup", n.Name, b.Label(), p.Options.Binary))
				case !isKnown(prev):
					problems = append(problems, fmt.Sprintf("%s: %s.prev (sha256 %s) matches no known release: refusing to roll back to it", n.Name, p.Options.Binary, ShortSHA(prev.SHA256)))
				case prev.SHA256 == p.Target.SHA256:
					problems = append(problems, fmt.Sprintf("%s: %s.prev is the target itself: nothing to roll back to", n.Name, p.Options.Binary))
				}
			}
		case onTarget:
			n.Status = NodeOnTarget
		default:
			// Not on the target: .prev counts only when it is a copy of
			// the binary in place (KeepPrev ran before a kill); an older
			// .prev must never be restored over it.
			n.PrevKept = f.PrevPresent && prev.SHA256 == b.SHA256
			if n.Staged {
				n.Status = NodeStaged
			}
		}

		switch {
		case mode != resumeForward && n.Swapped:
			rollback = append(rollback, n.Name)
		case n.Down:
			recover = append(recover, n.Name)
		case mode == resumeForward && n.Swapped && !done[StepIDFor(StepUpgrade, n.Name)]:
			recover = append(recover, n.Name) // swapped, but its gates never passed: gate it now
		case unfinishedNode[n.Name]:
			recover = append(recover, n.Name) // its step was cut short: gate it before the pre-check
		}
	}
	if len(problems) > 0 {
		return Machine{}, errors.New("resume refused: " + strings.Join(problems, "; "))
	}
	if mode != resumeForward && len(rollback) == 0 && len(recover) == 0 {
		return Machine{}, errors.New("rollback: no node is upgraded by this rollout: nothing to roll back")
	}

	m.resumeLock = facts.LockHeld
	var steps []StepState
	keep := func(s Step) { steps = append(steps, StepState{Step: s}) }
	for _, s := range p.Steps {
		if s.Kind == StepConnect || s.Kind == StepIdentify || s.Kind == StepLock {
			keep(s)
		}
	}
	// Recover steps: right after the lock, before the pre-check.
	for _, name := range recover {
		keep(Step{ID: StepIDFor(StepRecover, name), Kind: StepRecover, Node: name})
	}
	if mode == resumeForward {
		for _, s := range p.Steps {
			switch s.Kind {
			case StepConnect, StepIdentify, StepLock:
				continue
			}
			st := StepState{Step: s}
			if done[s.ID] && s.Kind != StepPreCheck && s.Kind != StepValidate && s.Kind != StepRelease {
				st.Status, st.Note = StatusDone, "done before the interruption"
			}
			if s.Kind == StepUpgrade {
				if n := m.node(s.Node); n != nil && n.Swapped && done[s.ID] {
					st.Status = StatusDone
				}
			}
			steps = append(steps, st)
		}
	} else {
		// Newest swap first.
		order := slices.Clone(rollback)
		slices.SortStableFunc(order, func(a, b string) int { return m.node(b).SwapSeq - m.node(a).SwapSeq })
		for _, name := range order {
			keep(Step{ID: StepIDFor(StepRollback, name), Kind: StepRollback, Node: name})
		}
		for _, s := range p.Steps {
			if s.Kind == StepRelease {
				keep(s)
			}
		}
		m.successExit = 4
		if mode == resumeExplicitRollback {
			m.successExit, m.rollbackExit = 0, 0
		}
	}
	for i := range steps {
		steps[i].Index = i + 1
	}
	m.Steps = steps
	m.reorderGroups()
	return m, nil
}
