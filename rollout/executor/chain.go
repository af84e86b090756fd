package executor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// A restart's operations on a node (stop, keep .prev, swap or restore
// .prev, start) run as one command: one SSH round trip instead of one
// each. Every operation is a segment of the script, run in order in a
// subshell between "nwroll-chain: begin I" and "nwroll-chain: end I RC"
// lines; the first that fails ends the script. The journal holds every
// intent before the command starts (the Driver sees to it), and each
// operation gets its own answer.

// segment is one operation as shell text and how its failure is named.
type segment struct {
	name    string // what commandError calls it
	script  string
	echo    bool // its output goes to the log (the service's stop and start)
	timeout time.Duration
	backup  *backupJob // a backup: recorded once the chain has run
}

// segmentFor is node action a on n as a chain segment.
func (x *Executor) segmentFor(n inventory.Node, a runbook.NodeAction) (segment, error) {
	with := func(script string, args ...string) string {
		return "set -- " + remote.Shell(args...) + "\n" + script
	}
	switch a.Op {
	case runbook.OpStop, runbook.OpStart:
		verb, argv := "stop", x.inv.Service.Stop
		if a.Op == runbook.OpStart {
			verb, argv = "start", x.inv.Service.Start
		}
		if len(argv) == 0 {
			return segment{}, fmt.Errorf("%s on %s: the inventory has no service.%s command", verb, n.Name, verb)
		}
		return segment{name: strings.Join(argv, " "), script: remote.Shell(argv...), echo: true, timeout: 3 * time.Minute}, nil
	case runbook.OpBackup:
		b, err := x.newBackup(n, a.Backup)
		if err != nil {
			return segment{}, err
		}
		return segment{name: "backup", script: b.script(), timeout: backupTimeout, backup: &b}, nil
	case runbook.OpKeepPrev:
		return segment{name: "keep-prev", script: with(keepPrevScript, n.Paths.Binary), timeout: 5 * time.Minute}, nil
	case runbook.OpSwap:
		return segment{name: "swap", script: with(renameScript, n.Paths.Binary, ".new", runbook.NormSHA(a.SHA256)), timeout: 5 * time.Minute}, nil
	case runbook.OpRestorePrev:
		return segment{name: "restore .prev", script: with(renameScript, n.Paths.Binary, ".prev", runbook.NormSHA(a.SHA256)), timeout: 5 * time.Minute}, nil
	}
	return segment{}, fmt.Errorf("executor: %s cannot run in a chain", a.Op)
}

// chainScript is the one command for segs.
func chainScript(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		fmt.Fprintf(&b, "printf 'nwroll-chain: begin %d\\n'\n(\n%s\n) 2>&1\nrc=$?\nprintf 'nwroll-chain: end %d %%s\\n' \"$rc\"\n[ \"$rc\" -eq 0 ] || exit 0\n", i, s.script, i)
	}
	return b.String()
}

// PerformChain runs actions (all on one node, in order) as one command and
// answers each: those done, the first that failed, and after it "not run".
func (x *Executor) PerformChain(ctx context.Context, actions []runbook.NodeAction) []runbook.Event {
	answers := make([]runbook.Event, len(actions))
	answerAll := func(from int, err error) {
		for i := from; i < len(actions); i++ {
			answers[i] = runbook.EffectResult{ID: actions[i].ID, At: time.Now(), Err: err}
		}
	}
	n, err := x.node(actions[0].Node)
	if err != nil {
		answerAll(0, err)
		return answers
	}
	var segs []segment
	var timeout time.Duration
	for _, a := range actions {
		seg, err := x.segmentFor(n, a)
		if err == nil && a.Node != n.Name {
			err = fmt.Errorf("executor: a chain on %s holds an action on %s", n.Name, a.Node)
		}
		if err != nil {
			answerAll(0, err)
			return answers
		}
		segs = append(segs, seg)
		timeout += seg.timeout
		if a.Op == runbook.OpStop {
			x.dropIdleConnections(n.Name)
		}
	}
	ops := make([]string, len(actions))
	for i, a := range actions {
		ops[i] = a.Op.String()
	}
	label := strings.Join(ops, ", ") // "stop, keep-prev, swap, start"
	out, runErr := x.script(ctx, n, label, chainScript(segs), timeout)
	res := parseChain(out.Stdout, len(segs))
	for i, a := range actions {
		r := res[i]
		at := time.Now()
		if segs[i].echo {
			for _, l := range r.lines {
				x.note(Note{At: at, Node: n.Name, Kind: NoteOutput, Op: a.Op.String(), Text: l})
			}
		}
		switch {
		case r.ended && r.code == 0 && segs[i].backup != nil:
			// Recorded after the chain: the node is started by now.
			info, err := x.recordBackup(ctx, *segs[i].backup, strings.Join(r.lines, "\n"))
			answers[i] = runbook.EffectResult{ID: a.ID, At: time.Now(), Data: info, Err: err}
		case r.ended && r.code == 0:
			answers[i] = runbook.EffectResult{ID: a.ID, At: at}
		case r.ended:
			answers[i] = runbook.EffectResult{ID: a.ID, At: at, Err: commandError(segs[i].name, n.Name, cmdOut{Stdout: strings.Join(r.lines, "\n"), Code: r.code})}
			answerAll(i+1, fmt.Errorf("%s on %s: not run: %s failed before it", a.Op, n.Name, segs[i].name))
			return answers
		default:
			// Begun and not ended, or never begun: the command was cut off
			// (runErr names it and the node) and this operation may have
			// run or not; or sudo or the shell refused the command.
			why := runErr
			switch {
			case why == nil && out.Code != 0:
				why = commandError(label, n.Name, out)
			case why == nil:
				why = fmt.Errorf("%s on %s: the command ended before %s", label, n.Name, a.Op)
			}
			answerAll(i, why)
			return answers
		}
	}
	return answers
}

// chainResult is what the chain's output says of one segment.
type chainResult struct {
	lines []string
	ended bool
	code  int
}

func parseChain(out string, n int) []chainResult {
	res := make([]chainResult, n)
	cur := -1
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		rest, marker := strings.CutPrefix(l, "nwroll-chain: ")
		if !marker {
			if cur >= 0 && cur < n && !res[cur].ended {
				res[cur].lines = append(res[cur].lines, l)
			}
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		i, err := strconv.Atoi(f[1])
		if err != nil || i < 0 || i >= n {
			continue
		}
		switch {
		case f[0] == "begin":
			cur = i
		case f[0] == "end" && len(f) == 3:
			if code, err := strconv.Atoi(f[2]); err == nil {
				res[i].ended, res[i].code = true, code
			}
		}
	}
	return res
}
