package rollout

import (
	"encoding/json"
	"io"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// PlanDoc is `nwroll plan --json` (schema nwroll.plan/v1): the runbook
// this cluster would get, every step from its one definition, and the
// text `nwroll plan` prints. It is the artifact a reviewer approves.
type PlanDoc struct {
	Schema  string        `json:"schema"`
	Cluster string        `json:"cluster"`
	Mode    string        `json:"mode"` // in-place | cloud
	Target  BuildDoc      `json:"target"`
	Nodes   []PlanNodeDoc `json:"nodes"`
	Quorum  QuorumDoc     `json:"quorum"`
	Options OptionsDoc    `json:"options"`
	// Refusal is why the cluster cannot be upgraded as it stands (exit 3).
	Refusal  string    `json:"refusal,omitempty"`
	Warnings []string  `json:"warnings"`
	Steps    []StepDoc `json:"steps"`
	// Text is the plan as `nwroll plan` prints it, line by line.
	Text []string `json:"text"`
}

// BuildDoc is a build: its release version, binary sha256 or image.
type BuildDoc struct {
	Release string `json:"release"` // the version, or "unknown"
	SHA256  string `json:"sha256,omitempty"`
	Image   string `json:"image,omitempty"`
}

// PlanNodeDoc is one node as the plan found it.
type PlanNodeDoc struct {
	Name    string   `json:"name"`
	NodeID  string   `json:"node_id"`
	Role    string   `json:"role"` // leader | follower
	Voter   bool     `json:"voter"`
	Current BuildDoc `json:"current"`
}

// QuorumDoc is the quorum arithmetic the plan counts on.
type QuorumDoc struct {
	Voters    int `json:"voters"`
	Quorum    int `json:"quorum"`
	Tolerance int `json:"failure_tolerance"`
}

// OptionsDoc are the runbook's choices.
type OptionsDoc struct {
	Backup             string   `json:"backup"` // quiesced | live | reuse
	BackupSet          string   `json:"backup_set,omitempty"`
	BakeSeconds        float64  `json:"bake_seconds"`
	WindowSeconds      float64  `json:"window_seconds"`
	GateTimeoutSeconds float64  `json:"gate_timeout_seconds"`
	ElectionSeconds    float64  `json:"election_window_seconds"`
	PauseBefore        []string `json:"pause_before"`
	Observe            bool     `json:"observe,omitempty"`
}

// StepDoc is one step as its definition stands at planning time.
type StepDoc struct {
	Index    int      `json:"index"`
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Node     string   `json:"node,omitempty"`
	Title    string   `json:"title"`
	Phase    string   `json:"phase"`
	Approval bool     `json:"approval"`
	ReadOnly bool     `json:"read_only"`
	Refuses  bool     `json:"refuses"`
	Skip     string   `json:"skip,omitempty"`
	Quorum   string   `json:"quorum,omitempty"`
	Does     []string `json:"does"`
	Gate     *GateDoc `json:"gate,omitempty"`
}

// GateDoc is a step's gate: its checks and how long they must hold.
type GateDoc struct {
	Name           string   `json:"name"`
	HoldSeconds    float64  `json:"hold_seconds"`
	TimeoutSeconds float64  `json:"timeout_seconds"`
	Strict         bool     `json:"strict"`
	Heading        string   `json:"heading"`
	Checks         []string `json:"checks"`
}

func buildDoc(b runbook.BuildRef) BuildDoc {
	d := BuildDoc{Release: b.Version, SHA256: b.SHA256, Image: b.Image}
	if d.Release == "" {
		d.Release = "unknown"
	}
	return d
}

// PlanDocument is the plan as its JSON document.
func PlanDocument(p runbook.Plan) PlanDoc {
	o := p.Options
	d := PlanDoc{Schema: SchemaPlan, Cluster: p.Cluster, Mode: "in-place", Target: buildDoc(p.Target),
		Warnings: append([]string{}, p.Warnings...), Text: p.Describe(), Nodes: []PlanNodeDoc{}, Steps: []StepDoc{},
		Options: OptionsDoc{Backup: o.Backup.String(), BackupSet: o.BackupSet, BakeSeconds: o.Bake.Seconds(),
			WindowSeconds: o.Window.Seconds(), GateTimeoutSeconds: o.GateTimeout.Seconds(), ElectionSeconds: o.ElectionWindow.Seconds(),
			PauseBefore: append([]string{}, o.PauseBefore...), Observe: o.Observe}}
	if p.Cloud != nil {
		d.Mode = "cloud"
	}
	if err := p.Refusal(); err != nil {
		d.Refusal = err.Error()
	}
	for _, n := range p.Nodes {
		role := "follower"
		if n.Leader {
			role = "leader"
		}
		d.Nodes = append(d.Nodes, PlanNodeDoc{Name: n.Name, NodeID: n.NodeID, Role: role, Voter: n.Voter, Current: buildDoc(n.Current)})
	}
	v := p.Voters()
	q := health.Quorum(v)
	d.Quorum = QuorumDoc{Voters: v, Quorum: q, Tolerance: max(v-q, 0)}
	for i, t := range runbook.NewMachine(p, runbook.MachineOptions{}).Texts() {
		s := StepDoc{Index: i + 1, ID: string(t.ID), Kind: t.Kind.String(), Node: t.Node, Title: t.Title, Phase: t.Phase.String(),
			Approval: t.Approval, ReadOnly: t.ReadOnly, Refuses: t.Refuses, Skip: t.Skip, Quorum: t.Quorum, Does: append([]string{}, t.Does...)}
		if g := t.Gate; g != nil {
			s.Gate = &GateDoc{Name: g.Name, HoldSeconds: g.Hold.Seconds(), TimeoutSeconds: g.Timeout.Seconds(), Strict: g.Strict,
				Heading: g.Heading(), Checks: append([]string{}, g.Checks...)}
		}
		d.Steps = append(d.Steps, s)
	}
	return d
}

// WritePlanJSON writes the plan's document, indented.
func WritePlanJSON(w io.Writer, p runbook.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(PlanDocument(p))
}
