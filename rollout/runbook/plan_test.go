package runbook

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
)

var planUpdate = flag.Bool("update", false, "rewrite testdata/plan-*.txt from the current output")

// Node ids of facts §13's fixtures.
const (
	planIDA = "83887612463901818417196338898998763023"
	planIDB = "184084369126271976562412313366005177152"
	planIDC = "259059077657543621134331918787586352630"
)

func planGoldenInput() PlanInput {
	return PlanInput{
		Cluster: "prod-eu1",
		Nodes: []PlanNode{
			{Name: "fw-a", NodeID: planIDA, Voter: true, Current: mtOld},
			{Name: "fw-b", NodeID: planIDB, Voter: true, Leader: true, Current: mtOld},
			{Name: "fw-c", NodeID: planIDC, Voter: true, Current: mtOld},
		},
		Target: mtNew,
		Known:  []BuildRef{mtOld, mtNew},
	}
}

func TestPlanGolden3(t *testing.T) {
	p, err := BuildPlan(planGoldenInput())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Render(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plan-3.txt")
	if *planUpdate {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := buf.String(); got != string(want) {
		t.Fatalf("plan text differs from %s (run with -update if intended):\n%s", golden, mtLineDiff(string(want), got))
	}
}

func mtLineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, "- "+a, "+ "+b)
		}
	}
	return strings.Join(out, "\n")
}

func TestPlanOrderAndQuorum(t *testing.T) {
	in := mtPlanInput(5, 2, PlanOptions{})
	in.Nodes[4].Voter = false // fw-e is a learner
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	quorum := map[string]string{}
	m := NewMachine(p, MachineOptions{})
	for _, s := range m.Texts() {
		if s.Kind == StepUpgrade {
			order = append(order, s.Node)
			quorum[s.Node] = s.Quorum
			if !s.Approval || s.Gate == nil || s.Gate.Hold != DefaultWindow || len(s.Gate.Checks) != 7+map[bool]int{true: 2}[s.Node == "fw-c"] {
				t.Errorf("%s: approval %v gate %+v", s.ID, s.Approval, s.Gate)
			}
		}
	}
	mtEqual(t, "upgrade order", order, []string{"fw-a", "fw-b", "fw-d", "fw-e", "fw-c"})
	if q := quorum["fw-a"]; q != "stopping fw-a: voters up 4→3, quorum 3, failure tolerance 1→0" {
		t.Errorf("fw-a: %q", q)
	}
	if q := quorum["fw-e"]; q != "stopping fw-e (a learner): voters up 4→4, quorum 3, failure tolerance 1→1" {
		t.Errorf("fw-e: %q", q)
	}
	c, _ := m.Text("upgrade/fw-c")
	if c.Phase != PhaseLeader || !strings.Contains(c.Gate.Checks[0], "a new leader is elected") {
		t.Errorf("leader step %s %v", c.Phase, c.Gate.Checks)
	}
	// The plan's quorum arithmetic is what health.QuorumKept will say on
	// a healthy cluster of the same shape.
	w := newWorld(t, p, MachineOptions{})
	for _, name := range []string{"fw-a", "fw-e"} {
		n, _ := p.Node(name)
		if v := health.QuorumKept(w.snapshot(), n.NodeID); v.Summary != quorum[name] || !v.OK {
			t.Errorf("%s: gate says %q (ok %v), plan says %q", name, v.Summary, v.OK, quorum[name])
		}
	}
	var ids []StepID
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	mtEqual(t, "steps", mtStrs(ids), []string{"connect", "identify", "precheck", "lock", "stage",
		"backup/fw-a", "backup/fw-b", "backup/fw-d", "backup/fw-e", "backup/fw-c",
		"upgrade/fw-a", "upgrade/fw-b", "upgrade/fw-d", "upgrade/fw-e", "upgrade/fw-c", "validate", "release"})
	for i, s := range p.Steps {
		if s.Index != i+1 {
			t.Fatalf("step %s index %d", s.ID, s.Index)
		}
	}
}

func mtStrs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func TestPlanBackupModes(t *testing.T) {
	for _, tc := range []struct {
		mode  BackupMode
		steps []string
	}{
		{BackupLive, []string{"backup/fw-b", "backup/fw-c", "backup/fw-a"}},
		{BackupReuse, []string{"backup-reuse"}},
	} {
		p := mtPlan(t, 3, 0, PlanOptions{Backup: tc.mode, BackupSet: "20260401T1200Z"})
		var got []string
		for _, s := range NewMachine(p, MachineOptions{}).Texts() {
			if s.Phase == PhaseBackup {
				got = append(got, string(s.ID))
				if s.Approval || s.Quorum != "" {
					t.Errorf("%s %s: approval %v quorum %q: it stops nothing", tc.mode, s.ID, s.Approval, s.Quorum)
				}
			}
		}
		mtEqual(t, tc.mode.String(), got, tc.steps)
	}
	p := mtPlan(t, 3, 0, PlanOptions{Backup: BackupReuse, BackupSet: "20260401T1200Z"})
	if !slices.ContainsFunc(p.Describe(), func(l string) bool { return strings.Contains(l, "verify that set 20260401T1200Z exists on every node") }) {
		t.Fatal("reuse set not described")
	}
}

func TestPlanRefusesBadInput(t *testing.T) {
	cases := []struct {
		name string
		edit func(*PlanInput)
		want string
	}{
		{"no nodes", func(in *PlanInput) { in.Nodes = nil }, "the inventory lists no nodes"},
		{"no target", func(in *PlanInput) { in.Target.SHA256 = " " }, "the target release has no sha256"},
		{"duplicate name", func(in *PlanInput) { in.Nodes[1].Name = "fw-a" }, "node fw-a is listed twice"},
		{"duplicate id", func(in *PlanInput) { in.Nodes[2].NodeID = in.Nodes[0].NodeID }, "fw-c: node id 1000000 is used by another node"},
		{"no id", func(in *PlanInput) { in.Nodes[1].NodeID = "" }, "fw-b: node id unknown"},
		{"two leaders", func(in *PlanInput) { in.Nodes[1].Leader = true }, "2 nodes are marked leader"},
		{"reuse without a set", func(in *PlanInput) { in.Options.Backup = BackupReuse }, "--backup-reuse needs a backup set id"},
	}
	for _, tc := range cases {
		in := mtPlanInput(3, 0, PlanOptions{})
		tc.edit(&in)
		if _, err := BuildPlan(in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPlanWarnings(t *testing.T) {
	in := mtPlanInput(3, -1, PlanOptions{})
	in.Nodes[2].Voter = false
	in.Nodes[1].Current = BuildRef{SHA256: strings.Repeat("E", 64)}
	p, err := BuildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"only 2 voter(s): the pre-check will refuse; a rolling restart needs at least 3",
		"no leader at planning time: the pre-check will refuse unless one is elected",
		"fw-b runs unknown (sha256 eeeeeeeeeeee); a rollback would restore that same build",
	}
	mtEqual(t, "warnings", p.Warnings, want)
	for _, w := range want {
		if !slices.Contains(p.Describe(), "Warning: "+w) {
			t.Errorf("Describe lacks %q", w)
		}
	}
	if q, _ := NewMachine(p, MachineOptions{}).Text("upgrade/fw-a"); !strings.HasSuffix(q.Quorum, ": would lose quorum") {
		t.Errorf("two voters: %q", q.Quorum)
	}
}

func TestPlanIdentify(t *testing.T) {
	p := mtPlan(t, 3, 0, PlanOptions{})
	for sha, want := range map[string]string{
		mtOldSHA:                            "1.0.0",
		strings.ToUpper(mtNewSHA) + "  bin": "1.1.0",
		strings.Repeat("0f", 32):            "unknown (sha256 0f0f0f0f0f0f)",
		"":                                  "unknown (no sha256)",
	} {
		if got := p.Identify(sha).Label(); got != want {
			t.Errorf("Identify(%q) = %q, want %q", sha, got, want)
		}
	}
}

func TestPlanNodesFromSnapshot(t *testing.T) {
	p := mtPlan(t, 3, 0, PlanOptions{})
	w := newWorld(t, p, MachineOptions{})
	w.leader = "fw-c"
	w.node("fw-b").voter = false
	nodes := PlanNodesFromSnapshot(p.Nodes, w.snapshot())
	for _, n := range nodes {
		if n.Leader != (n.Name == "fw-c") || n.Voter != (n.Name != "fw-b") {
			t.Errorf("%s: leader %v voter %v", n.Name, n.Leader, n.Voter)
		}
	}
	if p.Nodes[0].Leader != true {
		t.Error("PlanNodesFromSnapshot changed its input")
	}
}
