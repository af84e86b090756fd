package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nwroll/nwroll/cloud"
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
	// Backups are the backups the run took before, by node.
	Backups map[string]BackupInfo
	// StopStartCut are the nodes whose stop or start a kill cut short (an
	// intent without an outcome).
	StopStartCut []string
	// Cloud is what a cloud run did to its group, or nil.
	Cloud *CloudFacts
}

// CloudFacts is what the journal says a cloud run did to the group.
type CloudFacts struct {
	// Frozen are the processes it suspended and has not resumed.
	Frozen []string
	// NewTemplate is the template version it made (zero: none).
	NewTemplate cloud.TemplateRef
	// Launched maps each instance a surge launched to the node it
	// replaces; LaunchOrder lists them in launch order.
	Launched    map[string]string
	LaunchOrder []string
	// Surges are the surges a kill cut short (an intent without an
	// outcome), by the node they replace: their capacity and the
	// instances before them, to ask for the same again.
	Surges map[string]CloudRecord
	// Retires are the retirements asked for (done or cut short), by node:
	// the instance and its Raft node id.
	Retires map[string]CloudRecord
	// Removed are the nodes whose Raft member this run removed.
	Removed map[string]bool
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
	return resumeBuild(plan, facts, opts, mode, RollbackScope{})
}

// RollbackState builds the machine for `nwroll rollback`: every node the
// journal shows upgraded (facts.UpgradeOrder) and still on the target is
// rolled back, newest first, one at a time, with gates — or only
// scope.Node. It ends with exit 0 when all are rolled back.
func RollbackState(plan Plan, facts ResumeFacts, opts MachineOptions, scope RollbackScope) (Machine, error) {
	return resumeBuild(plan, facts, opts, resumeExplicitRollback, scope)
}

// RollbackScope narrows `nwroll rollback` to one node. Rollbacks keep the
// reverse order of the upgrades: a node upgraded before another that is
// still on the target is refused unless OutOfOrder.
type RollbackScope struct {
	Node       string
	OutOfOrder bool
}

// narrow keeps only scope.Node among the nodes to roll back, or says why
// it cannot be rolled back (alone, now).
func (scope RollbackScope) narrow(m *Machine, rollback []string) ([]string, error) {
	if scope.Node == "" {
		return rollback, nil
	}
	n := m.node(scope.Node)
	switch {
	case n == nil:
		return nil, fmt.Errorf("rollback: %s is not a node of cluster %s (its nodes: %s)", scope.Node, m.Plan.Cluster, strings.Join(m.Plan.NodeNames(), ", "))
	case !slices.Contains(rollback, scope.Node):
		upgraded := "none"
		if len(rollback) > 0 {
			upgraded = strings.Join(rollback, ", ")
		}
		return nil, fmt.Errorf("rollback: %s runs %s and was not upgraded by this rollout: nothing to roll back on it (upgraded: %s)", n.Name, n.Binary.Label(), upgraded)
	}
	if !scope.OutOfOrder {
		var later []string
		newest := n
		for _, other := range rollback {
			if o := m.node(other); o.SwapSeq > n.SwapSeq {
				later = append(later, other)
				if o.SwapSeq > newest.SwapSeq {
					newest = o
				}
			}
		}
		if len(later) > 0 {
			return nil, fmt.Errorf("rollback: %s was upgraded before %s, which still run %s: roll back in reverse order (%s first), or pass --out-of-order to roll back %s alone",
				n.Name, strings.Join(later, ", "), m.Plan.Target.Label(), newest.Name, n.Name)
		}
	}
	return []string{scope.Node}, nil
}

type resumeMode int

const (
	resumeForward resumeMode = iota
	resumeRollback
	resumeExplicitRollback
)

func resumeBuild(plan Plan, facts ResumeFacts, opts MachineOptions, mode resumeMode, scope RollbackScope) (Machine, error) {
	if plan.Cloud != nil {
		return resumeCloud(plan, facts, opts, mode)
	}
	m := NewMachine(plan, opts)
	for _, b := range facts.Builds {
		if b.SHA256 = NormSHA(b.SHA256); b.SHA256 != "" {
			m.Plan.Known = append(m.Plan.Known, b)
		}
	}
	r := newResumer(m.Plan, facts, mode)
	var problems, recover, rollback []string
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if p := r.readNode(n); len(p) > 0 {
			problems = append(problems, p...)
			continue
		}
		switch {
		case mode != resumeForward && n.Swapped:
			rollback = append(rollback, n.Name)
		case n.Down:
			recover = append(recover, n.Name)
		case mode == resumeForward && n.Swapped && !r.done[StepIDFor(StepUpgrade, n.Name)]:
			recover = append(recover, n.Name) // swapped, but its gates never passed: gate it now
		case r.unfinished[n.Name]:
			recover = append(recover, n.Name) // its step was cut short: gate it before the pre-check
		}
	}
	if len(problems) > 0 {
		return Machine{}, errors.New("resume refused: " + strings.Join(problems, "; "))
	}
	if mode != resumeForward && len(rollback) == 0 && len(recover) == 0 && !facts.LockHeld {
		return Machine{}, errors.New("rollback: no node is upgraded by this rollout: nothing to roll back")
	}
	rollback, err := scope.narrow(&m, rollback)
	if err != nil {
		return Machine{}, err
	}
	m.resumeLock = facts.LockHeld
	m.nodesTouched = true // the run changed nodes before
	m.Steps = r.steps(&m, recover, rollback)
	if mode != resumeForward {
		m.successExit = ExitRolledBack
		if mode == resumeExplicitRollback {
			m.successExit, m.rollbackExit, m.undoRun = ExitOK, ExitOK, true
		}
	}
	m.reorderGroups()
	return m, nil
}

// resumer reads an interrupted run's facts: which builds count as known,
// each node's real files, the steps the journal shows done or cut short.
type resumer struct {
	plan       Plan
	facts      ResumeFacts
	mode       resumeMode
	files      map[string]NodeFiles
	done       map[StepID]bool
	unfinished map[string]bool // nodes whose step was cut short
}

func newResumer(p Plan, facts ResumeFacts, mode resumeMode) resumer {
	r := resumer{plan: p, facts: facts, mode: mode, files: map[string]NodeFiles{}, done: map[StepID]bool{}, unfinished: map[string]bool{}}
	for _, f := range facts.Files {
		r.files[f.Node] = f
	}
	for _, id := range facts.DoneSteps {
		r.done[id] = true
	}
	for _, id := range facts.Unfinished {
		if s, ok := p.Step(id); ok && s.Node != "" {
			r.unfinished[s.Node] = true
		} else if kind, node, ok := strings.Cut(string(id), "/"); ok && kind != "" {
			r.unfinished[strings.SplitN(node, "#", 2)[0]] = true // rollback/recover steps are not in the plan
		}
	}
	return r
}

// build names a sha256: a known release's, one the journal saw, or none.
func (r resumer) build(sha string) BuildRef {
	b := r.plan.Identify(sha)
	if b.Known() {
		return b
	}
	for _, k := range r.facts.Builds {
		if NormSHA(k.SHA256) == b.SHA256 && b.SHA256 != "" {
			return BuildRef{Version: k.Version, SHA256: b.SHA256}
		}
	}
	return b
}

// known: a build that matches a release, or one the journal saw running
// (an unknown build that was there before counts as known).
func (r resumer) known(b BuildRef) bool {
	if b.SHA256 == "" {
		return false
	}
	if b.Known() {
		return true
	}
	for _, k := range r.facts.Builds {
		if NormSHA(k.SHA256) == b.SHA256 {
			return true
		}
	}
	return false
}

// readNode sets n from its real files and what this run did to it, and
// says why resume must refuse it, if it must.
func (r resumer) readNode(n *NodeState) []string {
	o, target := r.plan.Options, r.plan.Target
	f, ok := r.files[n.Name]
	if !ok {
		return []string{n.Name + ": its real state was not read"}
	}
	b := r.build(f.SHA256)
	switch {
	case b.SHA256 == "":
		return []string{fmt.Sprintf("%s: %s is missing; restore it by hand from %s.prev or a backup", n.Name, o.Binary, o.Binary)}
	case !r.known(b):
		return []string{fmt.Sprintf("%s: binary sha256 %s matches no known release (target %s); restore a known build by hand before resuming",
			n.Name, ShortSHA(b.SHA256), target.Label())}
	}
	n.Binary, n.Previous = b, b
	n.Down = !f.Active
	n.StartUnsure = f.Active && slices.Contains(r.facts.StopStartCut, n.Name)
	n.Backup = r.facts.Backups[n.Name]
	n.Staged = f.NewPresent && NormSHA(f.NewSHA256) == target.SHA256
	prev := BuildRef{}
	if f.PrevPresent {
		prev = r.build(f.PrevSHA256)
	}
	onTarget := b.SHA256 == target.SHA256
	switch {
	case onTarget && slices.Contains(r.facts.UpgradeOrder, n.Name):
		n.Swapped, n.PrevKept, n.Previous, n.Status = true, f.PrevPresent, prev, NodeUpgraded
		n.SwapSeq = slices.Index(r.facts.UpgradeOrder, n.Name) + 1
		if r.mode != resumeForward {
			return r.rollbackProblems(n, f, prev)
		}
	case onTarget:
		n.Status = NodeOnTarget
	default:
		// Not on the target: .prev counts only when it is a copy of the
		// binary in place (KeepPrev ran before a kill); an older .prev
		// must never be restored over it.
		n.PrevKept = f.PrevPresent && prev.SHA256 == b.SHA256
		if n.Staged {
			n.Status = NodeStaged
		}
	}
	return nil
}

// rollbackProblems: an upgraded node can be rolled back only to a known
// .prev that is not the target.
func (r resumer) rollbackProblems(n *NodeState, f NodeFiles, prev BuildRef) []string {
	bin := r.plan.Options.Binary
	switch {
	case !f.PrevPresent:
		return []string{fmt.Sprintf("%s: runs %s but %s.prev is missing: nothing to roll back to; restore from a backup", n.Name, n.Binary.Label(), bin)}
	case !r.known(prev):
		return []string{fmt.Sprintf("%s: %s.prev (sha256 %s) matches no known release: refusing to roll back to it", n.Name, bin, ShortSHA(prev.SHA256))}
	case prev.SHA256 == r.plan.Target.SHA256:
		return []string{fmt.Sprintf("%s: %s.prev is the target itself: nothing to roll back to", n.Name, bin)}
	}
	return nil
}

// steps lays out the resumed run: connect, identify and lock again, the
// nodes to recover (before the pre-check), then the rest of the plan with
// what was done marked done — or, rolling back, the rollbacks newest swap
// first and the release.
func (r resumer) steps(m *Machine, recover, rollback []string) []StepState {
	var steps []StepState
	keep := func(s Step) { steps = append(steps, StepState{Step: s}) }
	for _, s := range r.plan.Steps {
		if s.Kind == StepConnect || s.Kind == StepIdentify || s.Kind == StepLock {
			keep(s)
		}
	}
	for _, name := range recover {
		keep(Step{ID: StepIDFor(StepRecover, name), Kind: StepRecover, Node: name})
	}
	if r.mode == resumeForward {
		for _, s := range r.plan.Steps {
			switch s.Kind {
			case StepConnect, StepIdentify, StepLock:
				continue
			}
			st := StepState{Step: s}
			if r.done[s.ID] && s.Kind != StepPreCheck && s.Kind != StepValidate && s.Kind != StepRelease {
				st.Status, st.Note = StatusDone, "done before the interruption"
			}
			steps = append(steps, st)
		}
	} else {
		order := slices.Clone(rollback)
		slices.SortStableFunc(order, func(a, b string) int { return m.node(b).SwapSeq - m.node(a).SwapSeq })
		for _, name := range order {
			keep(Step{ID: StepIDFor(StepRollback, name), Kind: StepRollback, Node: name})
		}
		for _, s := range r.plan.Steps {
			if s.Kind == StepRelease {
				keep(s)
			}
		}
	}
	for i := range steps {
		steps[i].Index = i + 1
	}
	return steps
}
