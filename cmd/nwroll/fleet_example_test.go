package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// The fleet recipe (docs/fleet.md) is a GitHub Actions workflow that only
// works if every nwroll command line in it is one nwroll accepts, and if its
// jobs keep the guarantees the recipe promises: one run per cluster at a
// time, reviewers between waves, plan before wave-1 before wave-2.
// TestFleetExample checks both against the real command tree.

const (
	fleetWorkflowPath = "../../examples/github-actions/nwroll-fleet.yml"
	automationDocPath = "../../docs/automation.md"
)

type ghWorkflow struct {
	On   yaml.Node         `yaml:"on"`
	Env  map[string]string `yaml:"env"`
	Jobs map[string]*ghJob `yaml:"jobs"`
	Rest map[string]any    `yaml:",inline"`
}

type ghJob struct {
	Needs       yaml.Node         `yaml:"needs"`
	RunsOn      yaml.Node         `yaml:"runs-on"`
	Environment yaml.Node         `yaml:"environment"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Strategy    *ghStrategy       `yaml:"strategy"`
	Env         map[string]string `yaml:"env"`
	Steps       []ghStep          `yaml:"steps"`
	Rest        map[string]any    `yaml:",inline"`
}

type ghStrategy struct {
	FailFast    *bool          `yaml:"fail-fast"`
	MaxParallel int            `yaml:"max-parallel"`
	Matrix      map[string]any `yaml:"matrix"`
}

type ghStep struct {
	Name string         `yaml:"name"`
	Uses string         `yaml:"uses"`
	Run  string         `yaml:"run"`
	Rest map[string]any `yaml:",inline"`
}

// strings of a node that is a scalar or a sequence of scalars.
func nodeStrings(n yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return nil
}

// mapValue is the value of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// matrixClusters is a job's matrix.cluster list.
func matrixClusters(j *ghJob) []string {
	if j.Strategy == nil {
		return nil
	}
	var out []string
	if l, ok := j.Strategy.Matrix["cluster"].([]any); ok {
		for _, c := range l {
			out = append(out, fmt.Sprint(c))
		}
	}
	return out
}

func loadFleetWorkflow(t *testing.T) *ghWorkflow {
	t.Helper()
	b, err := os.ReadFile(fleetWorkflowPath)
	if err != nil {
		t.Fatal(err)
	}
	var wf ghWorkflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("%s: %v", fleetWorkflowPath, err)
	}
	if len(wf.Jobs) == 0 {
		t.Fatalf("%s: no jobs", fleetWorkflowPath)
	}
	return &wf
}

// invocation is one nwroll command line found in a run: script.
type invocation struct {
	where string   // job/step
	line  string   // the command line as written (continuations joined)
	args  []string // the words after "nwroll"
}

var ghExpr = regexp.MustCompile(`\$\{\{.*?\}\}`)

// shellWords splits one line of shell into words and operators, simply:
// quotes group (and are removed), `|`, `||`, `&&`, `;`, `&`, `<`, `>`,
// `>>`, `(` and `)` are operators (returned as words of their own, with
// op=true), a word starting with # ends the line, and an fd number right
// before a redirection is dropped. No $(…), no here-documents.
func shellWords(line string) (words []string, ops []bool) {
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words, ops = append(words, cur.String()), append(ops, false)
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				end = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			inWord = true
			i++
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words, ops
		case strings.IndexByte("|&;<>()", c) >= 0:
			if (c == '>' || c == '<') && inWord && isDigits(cur.String()) {
				cur.Reset()
				inWord = false
			}
			flush()
			op := string(c)
			if i+1 < len(line) && (line[i+1] == c || (c == '>' && line[i+1] == '&')) {
				op += string(line[i+1])
				i++
			}
			words, ops = append(words, op), append(ops, true)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, ops
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// nwrollInvocations finds every `nwroll …` command line in a script: line
// continuations are joined, ${{ … }} expressions become the placeholder
// value EXPR, and a command line ends at the first operator.
func nwrollInvocations(where, script string) []invocation {
	script = strings.ReplaceAll(script, "\\\n", " ")
	script = ghExpr.ReplaceAllString(script, "EXPR")
	var out []invocation
	for _, line := range strings.Split(script, "\n") {
		words, ops := shellWords(line)
		for i := 0; i < len(words); i++ {
			if ops[i] || (words[i] != "nwroll" && !strings.HasSuffix(words[i], "/nwroll")) {
				continue
			}
			inv := invocation{where: where, line: strings.TrimSpace(line)}
			j := i + 1
			for ; j < len(words) && !ops[j]; j++ {
				inv.args = append(inv.args, words[j])
			}
			out = append(out, inv)
			i = j
		}
	}
	return out
}

// checkInvocation resolves args against the command tree under root and
// returns the command's path and every problem: a subcommand that does not
// exist, a flag the command does not have.
func checkInvocation(root *cobra.Command, args []string) (path string, problems []error) {
	cmd := root
	i := 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		var next *cobra.Command
		for _, c := range cmd.Commands() {
			if c.Name() == args[i] || slices.Contains(c.Aliases, args[i]) {
				next = c
				break
			}
		}
		if next == nil {
			if cmd == root || (cmd.HasSubCommands() && !cmd.Runnable()) {
				problems = append(problems, fmt.Errorf("%s has no subcommand %q", cmd.CommandPath(), args[i]))
				return cmd.CommandPath(), problems
			}
			break // a positional argument
		}
		cmd = next
	}
	cmd.InitDefaultHelpFlag()
	if cmd == root {
		cmd.InitDefaultVersionFlag()
	}
	find := func(name string, short bool) (takesValue, ok bool) {
		f := cmd.Flags().Lookup(name)
		if short {
			f = cmd.Flags().ShorthandLookup(name)
		}
		if f == nil {
			if short {
				f = cmd.InheritedFlags().ShorthandLookup(name)
			} else {
				f = cmd.InheritedFlags().Lookup(name)
			}
		}
		if f == nil {
			return false, false
		}
		return f.Value.Type() != "bool" && f.NoOptDefVal == "", true
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue // a positional argument or a value
		}
		name, short := strings.TrimPrefix(a, "--"), false
		if !strings.HasPrefix(a, "--") {
			name, short = a[1:], true
		}
		name, _, hasValue := strings.Cut(name, "=")
		if short && len(name) > 1 {
			name, hasValue = name[:1], true // -iFILE
		}
		takesValue, ok := find(name, short)
		if !ok {
			problems = append(problems, fmt.Errorf("%s has no flag %s", cmd.CommandPath(), strings.SplitN(a, "=", 2)[0]))
			// Assume an unknown flag takes the next word as its value
			// unless that word is a flag itself.
			takesValue = i+1 < len(args) && !strings.HasPrefix(args[i+1], "-")
		}
		if takesValue && !hasValue {
			i++
		}
	}
	return cmd.CommandPath(), problems
}

func TestFleetExample(t *testing.T) {
	wf := loadFleetWorkflow(t)

	// Every nwroll command line of every run: script, by job.
	var invs []invocation
	jobNames := make([]string, 0, len(wf.Jobs))
	for name := range wf.Jobs {
		jobNames = append(jobNames, name)
	}
	sort.Strings(jobNames)
	changes := map[string]bool{} // jobs that run upgrade, resume or rollback
	for _, name := range jobNames {
		for si, st := range wf.Jobs[name].Steps {
			if st.Run == "" {
				continue
			}
			where := fmt.Sprintf("job %s step %d (%s)", name, si+1, st.Name)
			for _, inv := range nwrollInvocations(where, st.Run) {
				invs = append(invs, inv)
				if len(inv.args) > 0 && (inv.args[0] == "upgrade" || inv.args[0] == "resume" || inv.args[0] == "rollback") {
					changes[name] = true
				}
			}
		}
	}

	t.Run("structure", func(t *testing.T) {
		if mapValue(mapValue(mapValue(&wf.On, "workflow_dispatch"), "inputs"), "release") == nil {
			t.Errorf("on.workflow_dispatch.inputs.release is missing")
		}
		if x := wf.Env["XDG_STATE_HOME"]; !filepath.IsAbs(x) || strings.Contains(x, "${{") {
			t.Errorf("env.XDG_STATE_HOME = %q: want a fixed absolute directory on the runner (the journal must persist)", x)
		}
		for _, want := range []string{"plan", "wave-1", "wave-2"} {
			if wf.Jobs[want] == nil {
				t.Fatalf("no job %q; jobs: %v", want, jobNames)
			}
		}
		for _, name := range []string{"plan", "wave-1", "wave-2"} {
			if len(matrixClusters(wf.Jobs[name])) == 0 {
				t.Errorf("job %s: no strategy.matrix.cluster list", name)
			}
		}
		needs := func(job, dep string) {
			if !slices.Contains(nodeStrings(wf.Jobs[job].Needs), dep) {
				t.Errorf("job %s: needs %v, want it to include %s (plan → wave-1 → wave-2)", job, nodeStrings(wf.Jobs[job].Needs), dep)
			}
		}
		needs("wave-1", "plan")
		needs("wave-2", "wave-1")

		// plan covers every cluster of the waves, and a cluster is in one wave.
		w1, w2 := matrixClusters(wf.Jobs["wave-1"]), matrixClusters(wf.Jobs["wave-2"])
		union := append(slices.Clone(w1), w2...)
		sort.Strings(union)
		planned := slices.Clone(matrixClusters(wf.Jobs["plan"]))
		sort.Strings(planned)
		if !slices.Equal(union, planned) {
			t.Errorf("plan's clusters %v are not wave-1's and wave-2's %v", planned, union)
		}
		for _, c := range w1 {
			if slices.Contains(w2, c) {
				t.Errorf("cluster %s is in both waves", c)
			}
		}

		for _, name := range jobNames {
			j := wf.Jobs[name]
			isWave := name == "wave-1" || name == "wave-2"
			if isWave && !changes[name] {
				t.Errorf("job %s runs no nwroll upgrade or resume", name)
			}
			if !changes[name] {
				continue
			}
			// One run per cluster at a time, never cancelled by a newer one.
			group := mapValue(&j.Concurrency, "group")
			cancel := mapValue(&j.Concurrency, "cancel-in-progress")
			if group == nil || !strings.Contains(group.Value, "matrix.cluster") {
				t.Errorf("job %s runs nwroll upgrade/resume/rollback without a concurrency group containing matrix.cluster", name)
			}
			if cancel == nil || cancel.Value != "false" {
				t.Errorf("job %s: concurrency.cancel-in-progress must be false (a running upgrade is never cancelled)", name)
			}
			if j.Environment.Kind == 0 || (j.Environment.Kind == yaml.ScalarNode && j.Environment.Value == "") {
				t.Errorf("job %s changes nodes but has no environment (its required reviewers approve it)", name)
			}
			if j.Strategy == nil || j.Strategy.MaxParallel < 1 {
				t.Errorf("job %s: no strategy.max-parallel", name)
			}
			if j.Strategy == nil || j.Strategy.FailFast == nil || *j.Strategy.FailFast {
				t.Errorf("job %s: strategy.fail-fast must be false (one failing cluster must not cancel another mid-upgrade)", name)
			}
			if !slices.Contains(nodeStrings(j.RunsOn), "self-hosted") {
				t.Errorf("job %s: runs-on %v, want a self-hosted runner (the state directory persists there)", name, nodeStrings(j.RunsOn))
			}
		}
		for _, name := range jobNames {
			for _, st := range wf.Jobs[name].Steps {
				if st.Uses != "" && !regexp.MustCompile(`^[\w.-]+/[\w.-]+@v\d+$`).MatchString(st.Uses) {
					t.Errorf("job %s: uses %q, want an action pinned by major version (owner/name@vN)", name, st.Uses)
				}
			}
		}
		// The waves run the same script, and so do their leader jobs.
		for _, pair := range [][2]string{{"wave-1", "wave-2"}, {"wave-1-leader", "wave-2-leader"}} {
			a, b := wf.Jobs[pair[0]], wf.Jobs[pair[1]]
			if a == nil || b == nil {
				continue
			}
			runs := func(j *ghJob) (out []string) {
				for _, st := range j.Steps {
					out = append(out, strings.NewReplacer("wave-1", "wave-N", "wave-2", "wave-N").Replace(st.Run))
				}
				return out
			}
			if !slices.Equal(runs(a), runs(b)) {
				t.Errorf("jobs %s and %s run different scripts; keep the waves' steps identical", pair[0], pair[1])
			}
		}
	})

	root := newRootCmd()

	t.Run("the checker reports what does not exist", func(t *testing.T) {
		for _, tc := range []struct {
			script string
			want   []string // problems, by substring
		}{
			{"nwroll upgrade --no-such-flag", []string{"nwroll upgrade has no flag --no-such-flag"}},
			{"nwroll upgrad -i x.yaml", []string{`nwroll has no subcommand "upgrad"`}},
			{"nwroll rollback -z", []string{"nwroll rollback has no flag -z"}},
			{"nwroll upgrade -i inventories/${{ matrix.cluster }}.yaml \\\n  --release \"$R\" --yes --json | tee -a log --no-such-flag", nil},
			{"nwroll sim up --dir /tmp/nw --nodes 3 && nwroll status -i /tmp/nw/inventory.yaml --json > s.json", nil},
			{"nwroll --version", nil},
			{"echo \"nwroll upgrade --no-such-flag\"  # nwroll upgrade --nor-this", nil},
		} {
			var got []string
			invs := nwrollInvocations("test", tc.script)
			for _, inv := range invs {
				_, probs := checkInvocation(root, inv.args)
				for _, p := range probs {
					got = append(got, p.Error())
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%q: problems %q, want %q", tc.script, got, tc.want)
				continue
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("%q: problem %q, want %q", tc.script, got[i], tc.want[i])
				}
			}
		}
		// The words of a continued line with an expression in it.
		invs := nwrollInvocations("test", "nwroll resume -i inventories/${{ matrix.cluster }}.yaml \\\n  --yes --json | tee x")
		if len(invs) != 1 || !slices.Equal(invs[0].args, []string{"resume", "-i", "inventories/EXPR.yaml", "--yes", "--json"}) {
			t.Errorf("continued line: %+v", invs)
		}
	})

	t.Run("every nwroll command line exists", func(t *testing.T) {
		seen := map[string]bool{}
		missing := map[string][]string{} // problem → where
		var order []string
		for _, inv := range invs {
			path, probs := checkInvocation(root, inv.args)
			seen[path] = true
			for _, p := range probs {
				if missing[p.Error()] == nil {
					order = append(order, p.Error())
				}
				missing[p.Error()] = append(missing[p.Error()], inv.where)
			}
		}
		for _, want := range []string{"nwroll status", "nwroll plan", "nwroll upgrade", "nwroll resume"} {
			if !seen[want] {
				t.Errorf("the workflow never runs %s", want)
			}
		}
		for _, p := range order {
			t.Errorf("%s (in %s)", p, strings.Join(slices.Compact(missing[p]), "; "))
		}
	})

	t.Run("exit codes are documented", func(t *testing.T) {
		if got := branchedExitCodes("case $code in\n  0) ;;\n  3|4) exit 3 ;;\n  *) ;;\nesac\n[ \"$code\" -eq 1 ] && [ \"$p\" != \"5\" ]"); !slices.Equal(got, []int{0, 1, 3, 4, 5}) {
			t.Errorf("branchedExitCodes: %v, want [0 1 3 4 5]", got)
		}
		if got := documentedExitCodes("| code | meaning |\n| --- | --- |\n| 0 | ok |\n| `4` | rolled back |\n"); len(got) != 2 || !got[0] || !got[4] {
			t.Errorf("documentedExitCodes: %v, want 0 and 4", got)
		}
		var branched []int
		for _, name := range jobNames {
			for _, st := range wf.Jobs[name].Steps {
				branched = append(branched, branchedExitCodes(st.Run)...)
			}
		}
		slices.Sort(branched)
		branched = slices.Compact(branched)
		doc, err := os.ReadFile(automationDocPath)
		if errors.Is(err, os.ErrNotExist) {
			t.Logf("%s does not exist yet: the exit codes the workflow branches on (%v) are not checked against it", automationDocPath, branched)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		documented := documentedExitCodes(string(doc))
		if len(documented) == 0 {
			t.Fatalf("%s: no exit-code table (rows whose first cell is a number)", automationDocPath)
		}
		for _, name := range jobNames {
			for _, st := range wf.Jobs[name].Steps {
				for _, code := range branchedExitCodes(st.Run) {
					if !documented[code] {
						t.Errorf("job %s step %q branches on exit code %d, which %s does not document", name, st.Name, code, automationDocPath)
					}
				}
			}
		}
	})
}

var (
	casePattern = regexp.MustCompile(`(?m)^\s*\(?\s*([0-9]+(?:\s*\|\s*[0-9]+)*)\s*\)`)
	testCompare = regexp.MustCompile(`(?:-eq|-ne|==|!=)\s*"?([0-9]+)"?`)
	tableRow    = regexp.MustCompile("(?m)^\\s*\\|\\s*`?([0-9]+)`?\\s*\\|")
)

// branchedExitCodes are the numbers a script compares an exit code with:
// the patterns of a case, and the right side of -eq, -ne, == and !=.
func branchedExitCodes(script string) []int {
	set := map[int]bool{}
	for _, m := range casePattern.FindAllStringSubmatch(script, -1) {
		for _, n := range strings.Split(m[1], "|") {
			c, _ := strconv.Atoi(strings.TrimSpace(n))
			set[c] = true
		}
	}
	for _, m := range testCompare.FindAllStringSubmatch(script, -1) {
		c, _ := strconv.Atoi(m[1])
		set[c] = true
	}
	var out []int
	for c := range set {
		out = append(out, c)
	}
	sort.Ints(out)
	return out
}

// documentedExitCodes are the first cells of the markdown table rows that
// are a number (`| 3 | … |` or “| `3` | … |”).
func documentedExitCodes(doc string) map[int]bool {
	set := map[int]bool{}
	for _, m := range tableRow.FindAllStringSubmatch(doc, -1) {
		c, _ := strconv.Atoi(m[1])
		set[c] = true
	}
	return set
}
