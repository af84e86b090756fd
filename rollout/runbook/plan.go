package runbook

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// The plan (design §3) is the runbook a cluster would get: the ordered
// steps, the gates each must pass and the quorum arithmetic. BuildPlan is
// pure; `nwroll plan` prints Describe() and changes nothing. The machine
// (machine.go) walks the plan, re-deriving the leader from every snapshot,
// so the order printed here is the order at planning time.

// Phase is a stage of the runbook, in order.
type Phase int

// The phases of a rollout, in runbook order, plus the rollback and done
// phases the machine can enter.
const (
	PhaseConnect Phase = iota + 1
	PhaseIdentify
	PhasePreCheck
	PhaseLock
	PhaseStage
	PhaseBackup
	PhaseFollowers
	PhaseLeader
	PhaseValidate
	PhaseRelease
	PhaseRecover  // resume: bring back a node a killed run left stopped or unverified
	PhaseRollback // roll back upgraded nodes, newest first
	PhaseDone
)

var phaseNames = map[Phase]string{
	PhaseConnect:   "Connect",
	PhaseIdentify:  "Identify builds",
	PhasePreCheck:  "Pre-check",
	PhaseLock:      "Lock",
	PhaseStage:     "Stage",
	PhaseBackup:    "Back up",
	PhaseFollowers: "Upgrade followers",
	PhaseLeader:    "Upgrade the leader",
	PhaseValidate:  "Validate",
	PhaseRelease:   "Release the lock",
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

// StepKind says what a step does.
type StepKind int

// Step kinds.
const (
	StepConnect StepKind = iota + 1
	StepIdentify
	StepPreCheck
	StepLock
	StepStage
	StepBackup      // one node: quiesced (stop, tar, start, gates) or live (tar while running)
	StepBackupReuse // verify that an existing backup set is on every node
	StepUpgrade     // one node: quorum gate, stop, keep .prev, swap, start, gates
	StepValidate    // every node ready, caught up and on target; final sysdump
	StepRelease     // release the lock
	StepRecover     // resume: start a node found stopped (or gate one found unverified)
	StepRollback    // one node: stop, restore .prev, start, gates
)

var stepKindNames = map[StepKind]string{
	StepConnect: "connect", StepIdentify: "identify", StepPreCheck: "precheck", StepLock: "lock",
	StepStage: "stage", StepBackup: "backup", StepBackupReuse: "backup-reuse", StepUpgrade: "upgrade",
	StepValidate: "validate", StepRelease: "release", StepRecover: "recover", StepRollback: "rollback",
}

func (k StepKind) String() string {
	if s, ok := stepKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("step(%d)", int(k))
}

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
}

// Known reports whether the build matches a known release.
func (b BuildRef) Known() bool { return b.Version != "" }

// Label is the version, or "unknown (sha256 abcdef012345)" as IdentifyBuild
// names an unknown build.
func (b BuildRef) Label() string {
	if b.Version != "" {
		return b.Version
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
	Voter   bool     // a Raft voter (learners do not count towards quorum)
	Leader  bool     // the leader at planning time
	Current BuildRef // the build its binary is now
}

// PlanOptions are the rollout's choices. Zero durations and empty paths
// take the defaults below (Neuwerk's real paths, facts §6–§7).
type PlanOptions struct {
	Backup    BackupMode
	BackupSet string // the set to reuse with BackupReuse

	Window         time.Duration // stabilisation window every post-start gate must hold for
	GateTimeout    time.Duration // how long a gate may take before the machine stops and asks
	ElectionWindow time.Duration // how long "no leader" (502/503 on leader-proxied calls) is tolerated
	FreshFor       time.Duration // how old a snapshot may be when a stop is decided on it

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
}

// Plan is the runbook for one cluster. Steps are in planning order; the
// machine may move the upgrade and backup steps of a node that became the
// leader to the end of their phase.
type Plan struct {
	Cluster  string
	Target   BuildRef
	Known    []BuildRef
	Nodes    []PlanNode
	Options  PlanOptions
	Steps    []Step
	Warnings []string // what the pre-check will refuse, seen already at planning time
}

// Step is one step of the runbook.
type Step struct {
	ID       StepID
	Index    int // 1-based position in the plan as built
	Phase    Phase
	Kind     StepKind
	Node     string // "" for cluster-wide steps
	Title    string
	Approval bool          // needs an operator's approval (given by --yes in headless mode)
	ReadOnly bool          // changes nothing on any node
	Does     []string      // what it does, in order
	Quorum   string        // the gate before the stop: the quorum arithmetic of stopping Node, e.g. "stopping fw-b: voters up 3→2, quorum 2, failure tolerance 1→0"
	Gates    []string      // the gates it must pass (after the start, for node steps)
	Hold     time.Duration // how long the gates must all hold (the stabilisation window); 0: once
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

// Leader is the node that led at planning time.
func (p Plan) Leader() (PlanNode, bool) {
	for _, n := range p.Nodes {
		if n.Leader {
			return n, true
		}
	}
	return PlanNode{}, false
}

// Voters counts the voters.
func (p Plan) Voters() int {
	v := 0
	for _, n := range p.Nodes {
		if n.Voter {
			v++
		}
	}
	return v
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

// PlanNodesFromSnapshot fills Voter and Leader of each node from a health
// snapshot: voters from the membership, the leader from the stats row with
// role "leader". Nodes the snapshot does not mention keep their values.
func PlanNodesFromSnapshot(nodes []PlanNode, snap health.ClusterSnapshot) []PlanNode {
	out := make([]PlanNode, len(nodes))
	copy(out, nodes)
	leader, hasLeader := snap.Leader()
	for i := range out {
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
// pre-check will refuse (fewer than 3 voters, no leader) become Warnings.
func BuildPlan(in PlanInput) (Plan, error) {
	var errs []error
	if len(in.Nodes) == 0 {
		errs = append(errs, errors.New("plan: the inventory lists no nodes"))
	}
	if NormSHA(in.Target.SHA256) == "" {
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
		Target:  BuildRef{Version: in.Target.Version, SHA256: NormSHA(in.Target.SHA256)},
		Nodes:   append([]PlanNode(nil), in.Nodes...),
		Options: in.Options.withDefaults(),
	}
	for _, k := range in.Known {
		k.SHA256 = NormSHA(k.SHA256)
		p.Known = append(p.Known, k)
	}
	for i := range p.Nodes {
		p.Nodes[i].Current.SHA256 = NormSHA(p.Nodes[i].Current.SHA256)
		if p.Nodes[i].Current.Version == "" {
			p.Nodes[i].Current = p.Identify(p.Nodes[i].Current.SHA256)
		}
	}
	if v := p.Voters(); v < health.MinVoters {
		p.Warnings = append(p.Warnings, fmt.Sprintf("only %d voter(s): the pre-check will refuse; a rolling restart needs at least %d", v, health.MinVoters))
	}
	if leaders == 0 {
		p.Warnings = append(p.Warnings, "no leader at planning time: the pre-check will refuse unless one is elected")
	}
	for _, n := range p.Nodes {
		if !n.Current.Known() {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s runs %s; a rollback would restore that same build", n.Name, n.Current.Label()))
		}
	}
	p.Steps = planSteps(p)
	return p, nil
}

// planOrder is the order node steps run in: followers in inventory order,
// the leader last.
func planOrder(nodes []PlanNode, leader string) []PlanNode {
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

func planSteps(p Plan) []Step {
	o := p.Options
	leaderName := ""
	if l, ok := p.Leader(); ok {
		leaderName = l.Name
	}
	names := strings.Join(p.NodeNames(), ", ")
	var steps []Step
	add := func(s Step) {
		s.Index = len(steps) + 1
		steps = append(steps, s)
	}

	connect := []string{"ssh to " + names + " in parallel; verify host keys against known_hosts, stop on a mismatch"}
	if o.CAFromFile {
		connect = append(connect, "pin the API CA from the given CA file")
	} else {
		connect = append(connect, "fetch the API CA "+o.DataRoot+"/http-tls/ca.crt over ssh and pin it")
	}
	if o.TokenFromEnv {
		connect = append(connect, "use the admin token from NEUWERK_TOKEN")
	} else {
		connect = append(connect, "mint a short-lived admin token over ssh (neuwerk auth token mint)")
	}
	connect = append(connect, "read "+o.DataRoot+"/node_id on each node and map its UUID to the decimal API id")
	add(Step{ID: "connect", Phase: PhaseConnect, Kind: StepConnect, Title: "Connect", ReadOnly: true, Does: connect})

	var now []string
	for _, n := range p.Nodes {
		now = append(now, n.Name+" "+n.Current.Label())
	}
	add(Step{ID: "identify", Phase: PhaseIdentify, Kind: StepIdentify, Title: "Identify builds", ReadOnly: true, Does: []string{
		"sha256 of " + o.Binary + " on each node, matched against the known release manifests",
		"at planning time: " + strings.Join(now, ", "),
	}})

	add(Step{ID: "precheck", Phase: PhasePreCheck, Kind: StepPreCheck, Title: "Pre-check", ReadOnly: true,
		Does: []string{
			"refuse (exit 3) on any failure, naming the node and the check",
			"save the baseline /metrics of every node and a baseline cluster sysdump",
		},
		Gates: []string{
			"every node: /health ok and /ready with all 8 checks ok",
			"/api/v1/stats shows a leader and every follower caught up",
			fmt.Sprintf("the Raft membership equals the inventory (%d nodes)", len(p.Nodes)),
			fmt.Sprintf("at least %d voters (now %d)", health.MinVoters, p.Voters()),
		}})

	add(Step{ID: "lock", Phase: PhaseLock, Kind: StepLock, Title: "Take the lock on every node", Approval: true,
		Does: []string{"write the lock file on " + names + " naming this operator; refuse if another holder is present"}})

	add(Step{ID: "stage", Phase: PhaseStage, Kind: StepStage, Title: "Stage " + p.Target.Label(),
		Does: []string{
			"check free disk, then upload the binary to " + o.Binary + ".new on every node in parallel",
			"verify its sha256 " + ShortSHA(p.Target.SHA256) + " on each node",
		}})

	order := planOrder(p.Nodes, leaderName)
	switch o.Backup {
	case BackupReuse:
		add(Step{ID: "backup-reuse", Phase: PhaseBackup, Kind: StepBackupReuse, Title: "Reuse backup set " + o.BackupSet, ReadOnly: true,
			Does: []string{"verify that set " + o.BackupSet + " exists on every node with matching checksums; no new backup"}})
	default:
		for _, n := range order {
			role := planRole(n, leaderName)
			s := Step{ID: StepIDFor(StepBackup, n.Name), Phase: PhaseBackup, Kind: StepBackup, Node: n.Name,
				Title: fmt.Sprintf("Back up %s (%s), %s", n.Name, role, o.Backup)}
			if o.Backup == BackupQuiesced {
				s.Approval = true
				s.Quorum = planQuorum(p, n)
				s.Does = []string{
					"stop " + o.Unit,
					"tar " + o.DataRoot + " to " + o.BackupDir + " (mode 0600) and record its sha256",
					"start " + o.Unit,
				}
				s.Gates, s.Hold = planPostGates(p, n, n.Current, n.Name == leaderName), o.Window
			} else {
				s.Does = []string{"tar " + o.DataRoot + " to " + o.BackupDir + " (mode 0600) while running, and record its sha256"}
			}
			add(s)
		}
	}

	for _, n := range order {
		leader := n.Name == leaderName
		phase, role := PhaseFollowers, planRole(n, leaderName)
		if leader {
			phase = PhaseLeader
		}
		s := Step{ID: StepIDFor(StepUpgrade, n.Name), Phase: phase, Kind: StepUpgrade, Node: n.Name, Approval: true,
			Title:  fmt.Sprintf("Upgrade %s (%s): %s → %s", n.Name, role, n.Current.Label(), p.Target.Label()),
			Quorum: planQuorum(p, n),
		}
		s.Does = []string{"re-read the leader; if " + n.Name + " leads and others are left, it waits until last"}
		if leader {
			s.Does = append(s.Does, fmt.Sprintf("expect 502/503 on leader-proxied calls while a new leader is elected (tolerated for %s)", o.ElectionWindow))
		}
		s.Does = append(s.Does,
			"stop "+o.Unit,
			"keep the running binary as "+o.Binary+".prev",
			"rename "+o.Binary+".new over "+o.Binary+" (atomic)",
			"start "+o.Unit,
		)
		s.Gates, s.Hold = planPostGates(p, n, p.Target, leader), o.Window
		add(s)
	}

	add(Step{ID: "validate", Phase: PhaseValidate, Kind: StepValidate, Title: "Validate", ReadOnly: true,
		Does: []string{"re-read the sha256 of every binary", "save a post-upgrade cluster sysdump"},
		Gates: []string{
			"every node: /health ok and /ready with all 8 checks ok",
			"a leader, every follower caught up, membership equals the inventory",
			"every binary is " + p.Target.Label(),
		}})
	add(Step{ID: "release", Phase: PhaseRelease, Kind: StepRelease, Title: "Release the lock",
		Does: []string{"remove the lock file on " + names}})
	return steps
}

func planRole(n PlanNode, leader string) string {
	role := "follower"
	if n.Name == leader {
		role = "leader"
	}
	if !n.Voter {
		role += ", learner"
	}
	return role
}

// planQuorum is the arithmetic of stopping n while every voter is up, in
// the words of health.QuorumKept.
func planQuorum(p Plan, n PlanNode) string {
	voters := p.Voters()
	q := health.Quorum(voters)
	after := voters
	who := n.Name
	if n.Voter {
		after--
	} else {
		who += " (a learner)"
	}
	s := fmt.Sprintf("stopping %s: voters up %d→%d, quorum %d, failure tolerance %d→%d", who, voters, after, q, voters-q, after-q)
	if after < q {
		s += " — refused: that loses quorum"
	}
	return s
}

// planPostGates lists the gates after a restart (design §3 step 6).
func planPostGates(p Plan, n PlanNode, want BuildRef, leader bool) []string {
	o := p.Options
	var g []string
	if leader {
		g = append(g,
			fmt.Sprintf("a new leader is elected (a term above the one before the stop); no leader is tolerated for %s", o.ElectionWindow),
			"leadership stable: the same leader and term in consecutive samples")
	}
	return append(g,
		"/health 200 and /ready with all 8 checks ok on "+n.Name,
		n.Name+"'s stats row caught_up, matched_index ≥ the leader's last_log_index sampled after the restart",
		n.Name+"'s own raft_last_applied ≥ that index",
		"the leader's raft_peer_errors_total{peer_id=\""+n.NodeID+"\"} not growing between samples",
		"sha256 of "+o.Binary+" is "+want.Label()+" ("+ShortSHA(want.SHA256)+")",
	)
}

// Describe renders the plan as the runbook text `nwroll plan` prints.
func (p Plan) Describe() []string {
	o := p.Options
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	from := map[string]bool{}
	var fromList []string
	for _, n := range p.Nodes {
		if l := n.Current.Label(); !from[l] {
			from[l] = true
			fromList = append(fromList, l)
		}
	}
	add("Plan for cluster %q: %d nodes from %s to %s (sha256 %s)", p.Cluster, len(p.Nodes), strings.Join(fromList, ", "), p.Target.Label(), ShortSHA(p.Target.SHA256))
	leaderName := ""
	if l, ok := p.Leader(); ok {
		leaderName = l.Name
	}
	var order []string
	for _, n := range planOrder(p.Nodes, leaderName) {
		v := "voter"
		if !n.Voter {
			v = "learner"
		}
		r := "follower"
		if n.Name == leaderName {
			r = "leader"
		}
		order = append(order, fmt.Sprintf("%s (%s, %s, %s)", n.Name, r, v, n.Current.Label()))
	}
	add("Nodes in upgrade order, leader last: %s", strings.Join(order, ", "))
	voters := p.Voters()
	add("Quorum: %d voters, quorum %d, failure tolerance %d; one node is stopped at a time", voters, health.Quorum(voters), voters-health.Quorum(voters))
	backup := o.Backup.String()
	if o.Backup == BackupReuse {
		backup += " set " + o.BackupSet
	}
	add("Options: backup %s; gates held for %s; gate timeout %s; leader election tolerated for %s", backup, o.Window, o.GateTimeout, o.ElectionWindow)
	add("Every step marked [approval] waits for y (auto-approved with --yes). On a gate failure or timeout: a sysdump first,")
	add("then keep waiting, sysdump, roll back this node, roll back all, or abort; --yes rolls back the node (exit 4).")
	add("Leadership is re-read before every step: a node that becomes the leader is upgraded last.")
	for _, w := range p.Warnings {
		add("Warning: %s", w)
	}

	phase, phases := Phase(0), 0
	for _, s := range p.Steps {
		if s.Phase != phase {
			phase = s.Phase
			phases++
			add("")
			add("Phase %d. %s", phases, phase)
		}
		var tags []string
		if s.ReadOnly {
			tags = append(tags, "read-only")
		}
		if s.Approval {
			tags = append(tags, "approval")
		}
		tag := ""
		if len(tags) > 0 {
			tag = " [" + strings.Join(tags, ", ") + "]"
		}
		add("%3d. %s%s", s.Index, s.Title, tag)
		for _, d := range s.Does {
			add("       - %s", d)
		}
		if s.Quorum != "" {
			add("       before the stop, quorum kept: %s", s.Quorum)
		}
		switch {
		case len(s.Gates) == 0:
		case s.Hold > 0:
			add("       after the start, all held for %s (timeout %s):", s.Hold, o.GateTimeout)
		default:
			add("       gates:")
		}
		for _, g := range s.Gates {
			add("         · %s", g)
		}
	}
	return lines
}

// Render writes Describe() one line at a time.
func (p Plan) Render(w io.Writer) error {
	for _, l := range p.Describe() {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// NormSHA is a sha256 as compared: lower case, the first field of a
// sha256sum line.
func NormSHA(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// ShortSHA is the first 12 characters of a sha256, as messages show it.
func ShortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
