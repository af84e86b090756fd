package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// The plan (design §3) is the runbook a cluster would get: its nodes, the
// target, the options, and the ordered steps of the catalogue (catalogue.go).
// A step here is only its place: what it does, its title, its gates and
// its texts come from its one definition, rendered for the step as it
// stands (Machine.Text). BuildPlan is pure.

// Phase is a stage of the runbook, in order.
type Phase int

// The phases of a rollout, in runbook order, plus the rollback and done
// phases the machine can enter.
const (
	PhaseConnect Phase = iota + 1
	PhaseIdentify
	PhasePreCheck
	PhaseLock
	PhaseGroup // cloud mode: the group is checked, prepared, and thawed at the end
	PhaseStage
	PhaseBackup
	PhaseFollowers
	PhaseLeader
	PhaseValidate
	PhaseRelease
	PhaseGroupEnd // cloud mode: the group handed back (movers resumed, a refresh cancelled)
	PhaseRecover  // resume: bring back a node a killed run left stopped or unverified
	PhaseRollback // roll back upgraded nodes, newest first
	PhaseDone
)

var phaseNames = map[Phase]string{
	PhaseConnect:   "Connect",
	PhaseIdentify:  "Identify builds",
	PhasePreCheck:  "Pre-check",
	PhaseLock:      "Lock",
	PhaseGroup:     "Prepare the group",
	PhaseStage:     "Stage",
	PhaseBackup:    "Back up",
	PhaseFollowers: "Upgrade followers",
	PhaseLeader:    "Upgrade the leader",
	PhaseValidate:  "Validate",
	PhaseRelease:   "Release the lock",
	PhaseGroupEnd:  "Hand the group back",
	PhaseRecover:   "Recover",
	PhaseRollback:  "Roll back",
	PhaseDone:      "Done",
}

func (p Phase) String() string {
	if s, ok := phaseNames[p]; ok {
		return s
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// StepID names a step for its whole life: "connect", "upgrade/fw-b",
// "rollback/fw-b". An approval names the step it approves.
type StepID string

// BackupMode is how the Back up phase works.
type BackupMode int

// Backup modes.
const (
	BackupQuiesced BackupMode = iota // default: stop, tar the data root, start, gates
	BackupLive                       // tar while running (--backup live)
	BackupReuse                      // reuse an existing set (--backup-reuse SET)
)

func (b BackupMode) String() string {
	switch b {
	case BackupQuiesced:
		return "quiesced"
	case BackupLive:
		return "live"
	case BackupReuse:
		return "reuse"
	}
	return fmt.Sprintf("backup(%d)", int(b))
}

// BuildRef is a build of the neuwerk binary: the version of the release
// manifest it matches, or no version when it matches none.
type BuildRef struct {
	Version string // release_version; "" when the sha256 matches no known release
	SHA256  string // lower-case hex
	Image   string // cloud mode: the machine image, which is the build's identity there
}

// Known reports whether the build matches a known release.
func (b BuildRef) Known() bool { return b.Version != "" }

// Label is the version, or "unknown (sha256 abcdef012345)".
func (b BuildRef) Label() string {
	if b.Version != "" {
		return b.Version
	}
	if b.Image != "" {
		return "unknown (image " + b.Image + ")"
	}
	if b.SHA256 == "" {
		return "unknown (no sha256)"
	}
	return "unknown (sha256 " + ShortSHA(b.SHA256) + ")"
}

// PlanNode is one inventory node as the plan sees it.
type PlanNode struct {
	Name    string   // inventory name
	NodeID  string   // decimal API node id (facts §0.3)
	Addr    string   // its API address (host:port), to name it when it is not a Raft member
	Voter   bool     // a Raft voter (learners do not count towards quorum)
	Leader  bool     // the leader at planning time
	Current BuildRef // the build its binary is now
}

// Ref is the node as health's checks name it.
func (n PlanNode) Ref() health.NodeRef { return health.NodeRef{Name: n.Name, ID: n.NodeID} }

// PlanOptions are the rollout's choices. Zero durations and empty paths
// take the defaults below (Neuwerk's real paths, facts §6–§7).
type PlanOptions struct {
	Backup    BackupMode
	BackupSet string        // the set to reuse with BackupReuse
	Bake      time.Duration // after the first upgrade, keep every gate on that node this long (--bake); 0: none
	// AllowUnknownBuild: a --yes run accepts a node whose build matches no
	// release manifest (--allow-unknown-build); without it --yes refuses
	// such a node, and the console always asks.
	AllowUnknownBuild bool

	Window         time.Duration // stabilisation window every post-start gate must hold for
	GateTimeout    time.Duration // how long a gate may take to start holding before the machine stops and asks
	ElectionWindow time.Duration // how long "no leader" (502/503 on leader-proxied calls) is tolerated
	FreshFor       time.Duration // how old a snapshot may be when a stop is decided on it

	// Observe (cloud mode): watch the operator's own instance refresh
	// with the gates instead of replacing instances (--observe).
	Observe bool
	// PauseBefore are the nodes whose upgrade a --yes run stops before
	// (--pause-before), PauseLeader for the leader's.
	PauseBefore []string

	TokenFromEnv bool // NEUWERK_TOKEN is set: no token is minted
	CAFromFile   bool // a CA file is given: the CA is not fetched

	Binary    string // /opt/neuwerk/bin/neuwerk
	DataRoot  string // /var/lib/neuwerk
	BackupDir string // /var/backups/neuwerk
	Unit      string // neuwerk.service
}

// Defaults for PlanOptions.
const (
	DefaultWindow         = 30 * time.Second
	DefaultGateTimeout    = 5 * time.Minute
	DefaultElectionWindow = 30 * time.Second
	DefaultFreshFor       = 3 * time.Second
	DefaultBinary         = "/opt/neuwerk/bin/neuwerk"
	DefaultDataRoot       = "/var/lib/neuwerk"
	DefaultBackupDir      = "/var/backups/neuwerk"
	DefaultUnit           = "neuwerk.service"
)

func (o PlanOptions) withDefaults() PlanOptions {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.GateTimeout <= 0 {
		o.GateTimeout = DefaultGateTimeout
	}
	if o.ElectionWindow <= 0 {
		o.ElectionWindow = DefaultElectionWindow
	}
	if o.FreshFor <= 0 {
		o.FreshFor = DefaultFreshFor
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.DataRoot == "" {
		o.DataRoot = DefaultDataRoot
	}
	if o.BackupDir == "" {
		o.BackupDir = DefaultBackupDir
	}
	if o.Unit == "" {
		o.Unit = DefaultUnit
	}
	return o
}

// PlanInput is everything BuildPlan needs: the inventory's nodes with what
// a health snapshot says about them (see PlanNodesFromSnapshot) and what
// Identify found on each, the target release and the options.
type PlanInput struct {
	Cluster string
	Nodes   []PlanNode // inventory order; followers are upgraded in this order
	Target  BuildRef
	Known   []BuildRef // every release nwroll knows (the catalog), for identifying builds
	Options PlanOptions

	// Members is the live Raft membership (GET /api/v1/cluster/members),
	// members the inventory lacks included: the quorum arithmetic counts
	// its voters. Nil with MembersErr: the call failed. Nil without: the
	// caller has no cluster to ask (a fake, a test), and Nodes with their
	// Voter flags are taken as the whole membership.
	Members    *health.MembersResponse
	MembersErr error

	// Cloud, when set, makes the plan image-first: the nodes are the
	// group's instances (named by instance id), replaced one at a time.
	Cloud *CloudPlan

	// Now is when the plan is made; Runs are the cluster's earlier runs
	// (its journal history) and RunsErr why they could not be read. A run
	// of the same target rolled back within RetryWarnWindow before Now
	// warns the plan and the first approval (Plan.Retry).
	Now     time.Time
	Runs    []PriorRun
	RunsErr error
}

// RetryWarnWindow is how recent a roll-back of the same release must be
// for a new plan of it to warn.
const RetryWarnWindow = 7 * 24 * time.Hour

// PriorRun is an earlier run of the cluster as the plan reads its history.
type PriorRun struct {
	ID      string
	Started time.Time
	By      string   // user@host
	Target  BuildRef // the release it upgraded to
	// RolledBack: it ended rolled back, or rolled a node back.
	RolledBack bool
	// Reason is why: the failure it rolled back on, or how it ended.
	Reason string
}

// Plan is the runbook for one cluster.
type Plan struct {
	Cluster  string
	Target   BuildRef
	Known    []BuildRef
	Nodes    []PlanNode
	Options  PlanOptions
	Steps    []Step
	Warnings []string // what the pre-check will refuse, seen already at planning time
	// Retry are the warnings that this release was rolled back on this
	// cluster recently (also in Warnings); the step the operator approves
	// first repeats them (retryNote).
	Retry []string

	// Members is the Raft membership the quorum arithmetic counts (see
	// PlanInput.Members); MembersUnknown says why the live one did not
	// answer, and then Members is the inventory's nodes.
	Members        []health.Member
	MembersUnknown string
	// Mismatches are the members the inventory lacks and the inventory
	// nodes that are not members: `nwroll plan` refuses them (Refusal), as
	// the pre-check does.
	Mismatches []health.MembershipMismatch

	// Cloud is the image-first part of the plan (cloud mode), or nil.
	Cloud *CloudPlan
}

// Step is a step's place in the runbook: its kind and node. Everything
// else about it comes from its definition (catalogue.go).
type Step struct {
	ID    StepID
	Index int // 1-based position in the plan as built
	Kind  StepKind
	Node  string // "" for cluster-wide steps
}

// Node returns the plan's node with the inventory name.
func (p Plan) Node(name string) (PlanNode, bool) {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return PlanNode{}, false
}

// Step returns the plan's step with the id.
func (p Plan) Step(id StepID) (Step, bool) {
	for _, s := range p.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return Step{}, false
}

// NodeNames lists the nodes in inventory order.
func (p Plan) NodeNames() []string {
	out := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		out[i] = n.Name
	}
	return out
}

// NodeIDs lists the decimal node ids in inventory order.
func (p Plan) NodeIDs() []string {
	out := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		out[i] = n.NodeID
	}
	return out
}

// Refs lists the nodes as health's checks name them.
func (p Plan) Refs() []health.NodeRef {
	out := make([]health.NodeRef, len(p.Nodes))
	for i, n := range p.Nodes {
		out[i] = n.Ref()
	}
	return out
}

// Leader is the node that led at planning time.
func (p Plan) Leader() (PlanNode, bool) {
	for _, n := range p.Nodes {
		if n.Leader {
			return n, true
		}
	}
	return PlanNode{}, false
}

// Voters counts the voters of the Raft membership, those the inventory
// lacks included: the quorum arithmetic's base.
func (p Plan) Voters() int { return health.CountVoters(p.Members) }

// Refusal is why `nwroll plan` refuses this cluster, or nil: the Raft
// membership is unknown, so no quorum arithmetic can be stated, or it
// differs from the inventory, which the pre-check would refuse.
func (p Plan) Refusal() error {
	if p.MembersUnknown != "" {
		return fmt.Errorf("plan refused: the Raft membership is unknown (%s), so the quorum arithmetic cannot be stated; run plan again once the cluster has a leader", p.MembersUnknown)
	}
	if len(p.Mismatches) == 0 {
		return nil
	}
	texts := make([]string, len(p.Mismatches))
	for i, m := range p.Mismatches {
		texts[i] = m.String()
	}
	return fmt.Errorf("plan refused: the Raft membership differs from the inventory: %s", strings.Join(texts, "; "))
}

// inventoryNodes names the plan's nodes for the membership comparison.
func (p Plan) inventoryNodes() []health.InventoryNode {
	out := make([]health.InventoryNode, len(p.Nodes))
	for i, n := range p.Nodes {
		out[i] = health.InventoryNode{Name: n.Name, ID: n.NodeID, Addr: n.Addr}
	}
	return out
}

// leaderNotInInventory is the live membership's leader when the inventory
// does not list it.
func (p Plan) leaderNotInInventory() (health.Member, bool) {
	for _, mm := range p.Mismatches {
		for _, m := range p.Members {
			if mm.Kind == health.MemberNotInInventory && m.NodeID == mm.NodeID && m.Role == "leader" {
				return m, true
			}
		}
	}
	return health.Member{}, false
}

// membership sets the plan's Members, MembersUnknown and Mismatches.
func (p *Plan) membership(in PlanInput) {
	if in.Members != nil {
		p.Members = append([]health.Member(nil), in.Members.Members...)
		p.Mismatches = health.CompareMembership(p.Members, p.inventoryNodes())
		return
	}
	if in.MembersErr != nil {
		p.MembersUnknown = "/api/v1/cluster/members failed: " + in.MembersErr.Error()
	}
	for _, n := range p.Nodes {
		p.Members = append(p.Members, health.Member{NodeID: n.NodeID, Addr: n.Addr, IsVoter: n.Voter})
	}
}

// Identify matches a sha256 against the target and the known releases.
func (p Plan) Identify(sha string) BuildRef {
	sha = NormSHA(sha)
	if sha == "" {
		return BuildRef{}
	}
	if p.Target.SHA256 == sha {
		return p.Target
	}
	for _, k := range p.Known {
		if k.SHA256 == sha {
			return k
		}
	}
	for _, n := range p.Nodes {
		if n.Current.SHA256 == sha && n.Current.Version != "" {
			return n.Current
		}
	}
	return BuildRef{SHA256: sha}
}

// StepIDFor builds the id of a node step, e.g. "upgrade/fw-b".
func StepIDFor(kind StepKind, node string) StepID {
	if node == "" {
		return StepID(kind.String())
	}
	return StepID(kind.String() + "/" + node)
}

// PlanNodesFromSnapshot fills Voter, Leader and Addr of each node from a
// health snapshot: voters from the membership, the leader from the stats
// row with role "leader", the address from the API URL polled. Nodes the
// snapshot does not mention keep their values.
func PlanNodesFromSnapshot(nodes []PlanNode, snap health.ClusterSnapshot) []PlanNode {
	out := make([]PlanNode, len(nodes))
	copy(out, nodes)
	leader, hasLeader := snap.Leader()
	for i := range out {
		if n, ok := snap.Node(out[i].Name); ok && n.APIURL != "" {
			out[i].Addr = n.Addr()
		}
		if m, ok := snap.Member(out[i].NodeID); ok {
			out[i].Voter = m.IsVoter
		}
		if hasLeader {
			out[i].Leader = out[i].NodeID == leader.NodeID
		}
	}
	return out
}

// BuildPlan builds the runbook. It refuses input it cannot plan from (no
// nodes, duplicate names or ids, two leaders, no target); conditions the
// pre-check will refuse (fewer than 3 voters, no leader, a membership that
// differs from the inventory) become Warnings, and the membership's also
// Refusal, which `nwroll plan` refuses on. Resume and rollback plan on
// regardless: their gates judge the live cluster.
func BuildPlan(in PlanInput) (Plan, error) {
	var errs []error
	if len(in.Nodes) == 0 {
		errs = append(errs, errors.New("plan: the inventory lists no nodes"))
	}
	switch {
	case in.Cloud != nil && in.Cloud.Image.ID == "":
		errs = append(errs, errors.New("plan: no image for the target release"))
	case in.Cloud == nil && NormSHA(in.Target.SHA256) == "":
		errs = append(errs, errors.New("plan: the target release has no sha256"))
	}
	names, ids := map[string]bool{}, map[string]bool{}
	leaders := 0
	for _, n := range in.Nodes {
		switch {
		case n.Name == "":
			errs = append(errs, errors.New("plan: a node has no name"))
		case names[n.Name]:
			errs = append(errs, fmt.Errorf("plan: node %s is listed twice", n.Name))
		}
		names[n.Name] = true
		switch {
		case n.NodeID == "" && in.Cloud != nil:
			// An instance that is no Raft member (yet): the group's
			// pre-check refuses it, a resumed replacement gates it.
		case n.NodeID == "":
			errs = append(errs, fmt.Errorf("plan: %s: node id unknown (connect maps it from %s/node_id)", n.Name, DefaultDataRoot))
		case ids[n.NodeID]:
			errs = append(errs, fmt.Errorf("plan: %s: node id %s is used by another node", n.Name, n.NodeID))
		}
		ids[n.NodeID] = true
		if n.Leader {
			leaders++
		}
	}
	if leaders > 1 {
		errs = append(errs, fmt.Errorf("plan: %d nodes are marked leader; take the leader from one snapshot", leaders))
	}
	if in.Options.Backup == BackupReuse && in.Options.BackupSet == "" {
		errs = append(errs, errors.New("plan: --backup-reuse needs a backup set id"))
	}
	if len(errs) > 0 {
		return Plan{}, errors.Join(errs...)
	}

	p := Plan{
		Cluster: in.Cluster,
		Target:  BuildRef{Version: in.Target.Version, SHA256: NormSHA(in.Target.SHA256), Image: in.Target.Image},
		Nodes:   append([]PlanNode(nil), in.Nodes...),
		Options: in.Options.withDefaults(),
		Cloud:   in.Cloud,
	}
	if p.Cloud != nil {
		c := *p.Cloud
		if c.Size == 0 {
			c.Size = len(p.Nodes)
		}
		if c.From.Version == "" {
			c.From = c.Group.Template
		}
		p.Cloud = &c
	}
	for _, k := range in.Known {
		k.SHA256 = NormSHA(k.SHA256)
		p.Known = append(p.Known, k)
	}
	for i := range p.Nodes {
		p.Nodes[i].Current.SHA256 = NormSHA(p.Nodes[i].Current.SHA256)
		if p.Nodes[i].Current.Version == "" && p.Cloud == nil {
			p.Nodes[i].Current = p.Identify(p.Nodes[i].Current.SHA256)
		}
	}
	p.membership(in)
	if p.MembersUnknown != "" {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the Raft membership is unknown (%s): the quorum arithmetic assumes the inventory's voters are all of them; the pre-check will refuse unless it answers", p.MembersUnknown))
	}
	for _, m := range p.Mismatches {
		p.Warnings = append(p.Warnings, m.String()+": the pre-check will refuse")
	}
	if v := p.Voters(); v < health.MinVoters {
		p.Warnings = append(p.Warnings, fmt.Sprintf("only %d voter(s): the pre-check will refuse; a rolling restart needs at least %d", v, health.MinVoters))
	}
	if m, ok := p.leaderNotInInventory(); ok && leaders == 0 {
		p.Warnings = append(p.Warnings, "the leader is "+health.MemberLabel(m)+", which the inventory lacks")
	} else if leaders == 0 {
		p.Warnings = append(p.Warnings, "no leader at planning time: the pre-check will refuse unless one is elected")
	}
	for _, n := range p.Nodes {
		if !n.Current.Known() && p.Cloud == nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s runs %s; a rollback would restore that same build", n.Name, n.Current.Label()))
		}
	}
	p.Warnings = append(p.Warnings, p.Cloud.warnings(p)...)
	p.Retry = retryWarnings(in, p.Target)
	p.Warnings = append(p.Warnings, p.Retry...)
	p.Steps = runbook(p)
	return p, nil
}

// retryWarnings are the runs of the same target (same sha256 or version)
// that rolled back within RetryWarnWindow before in.Now, newest first, as
// warnings; or that the history could not be read.
func retryWarnings(in PlanInput, target BuildRef) []string {
	if in.RunsErr != nil {
		return []string{fmt.Sprintf("the run history could not be read (%v): a recent roll-back of %s would go unmentioned", in.RunsErr, target.Label())}
	}
	var out []string
	for _, r := range slices.Backward(in.Runs) {
		same := NormSHA(r.Target.SHA256) == target.SHA256 || r.Target.Version != "" && r.Target.Version == target.Version
		age := max(in.Now.Sub(r.Started), 0)
		if !same || !r.RolledBack || in.Now.IsZero() || age > RetryWarnWindow {
			continue
		}
		by := r.By
		if by == "" {
			by = "an unknown operator"
		}
		why := ""
		if r.Reason != "" {
			why = ": " + r.Reason
		}
		out = append(out, fmt.Sprintf("%s was rolled back on this cluster %s ago (run %s by %s%s); check why before retrying",
			target.Label(), agoText(age), r.ID, by, why))
	}
	return out
}

// agoText is a rough age: "40s", "12m", "2h", "3d".
func agoText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// retryNote is the plan's retry warnings as lines of the step the
// operator approves first: the unknown-build step when it asks, else the
// lock. The plan, the dialog and the log show the same words.
func retryNote(c stepCtx) []op {
	if len(c.m.Plan.Retry) == 0 {
		return nil
	}
	asksFirst := StepLock
	if slices.ContainsFunc(c.m.Steps, func(s StepState) bool { return s.Kind == StepUnknownBuild }) && len(unknownBuilds(c.m)) > 0 {
		asksFirst = StepUnknownBuild
	}
	if c.step.Kind != asksFirst {
		return nil
	}
	lines := make(noteOp, len(c.m.Plan.Retry))
	for i, w := range c.m.Plan.Retry {
		lines[i] = "warning: " + w
	}
	return []op{lines}
}

// nodeOrder is the order node steps run in: followers in inventory order,
// the leader last.
func nodeOrder(nodes []PlanNode, leader string) []PlanNode {
	var out []PlanNode
	var last *PlanNode
	for i := range nodes {
		if nodes[i].Name == leader {
			last = &nodes[i]
			continue
		}
		out = append(out, nodes[i])
	}
	if last != nil {
		out = append(out, *last)
	}
	return out
}

// NormSHA lower-cases a sha256 and drops what follows it ("abc…  neuwerk").
func NormSHA(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// ShortSHA is the first 12 hex digits, as plans and logs print a sha256.
func ShortSHA(s string) string { return health.SHA256(s).Short() }
