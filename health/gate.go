package health

import (
	"fmt"
	"strings"
	"time"
)

// A gate is a list of checks that must all hold, judged on samples, with
// the memory it needs: when it opened, since when every check holds, since
// when there is no leader, and each check's own memory (the index sampled
// after a restart, the previous leader sample…). It is a value: Observe and
// Tick return the next gate and never change the one they are called on,
// so the rollout machine stays pure and a view may read any copy.

// Sample is what a gate judges: one cluster snapshot, and the binaries and
// services (systemd units) read over SSH, by node name.
type Sample struct {
	Snap     ClusterSnapshot
	Binaries map[string]Binary
	Services map[string]Service
}

// Binary is a node's binary as last read over SSH.
type Binary struct {
	SHA256 string
	Image  string // cloud mode: the image its instance was launched from
	At     time.Time
}

// NodeRef names the node a check is about.
type NodeRef struct {
	Name string // inventory name
	ID   string // decimal API node id
}

// A Check is one judgement a gate makes. Judge returns the verdict on a
// sample and the check as it is after seeing it: a check with memory keeps
// it in the returned value. Describe is what the check requires, as the
// plan and the approval dialog print it.
type Check interface {
	Name() string
	Describe() string
	Judge(s Sample) (Check, Verdict)
}

// Outcome is where a gate stands.
type Outcome int

// Gate outcomes.
const (
	Waiting  Outcome = iota // open: not every check holds for long enough yet
	Passed                  // every check held for the hold window
	TimedOut                // the checks did not start to hold before the deadline
	NoLeader                // no leader for longer than the election window
	Broken                  // a strict gate's check failed after every check had held
	Aborted                 // a check saw an abort condition: no wait can mend it
)

func (o Outcome) String() string {
	return [...]string{"waiting", "passed", "timed out", "no leader", "broken", "aborted"}[o]
}

// CheckResult is a check's latest verdict and since when it holds.
type CheckResult struct {
	Verdict
	Since time.Time // holding since; zero while it fails
}

// Gate is a set of checks that must hold together. Set the exported
// fields, then Open it.
type Gate struct {
	Name   string
	Checks []Check
	// Hold is how long every check must hold together; 0 passes on the
	// first sample where they all do.
	Hold time.Duration
	// Timeout is how long the checks may take to start holding; 0 waits
	// for ever (an approval). A gate holding at its deadline may finish
	// its window.
	Timeout time.Duration
	// Strict: once every check held, a check that fails breaks the gate
	// at once instead of restarting the window (a canary soak).
	Strict bool
	// StrictElections: a strict gate's sample without a leader does not
	// break it; Election bounds how long none may be seen (a rolling
	// replacement that retires the leader).
	StrictElections bool
	// Election, when set, fails the gate after that long without a leader.
	Election time.Duration

	opened          time.Time
	notBefore       time.Time
	deadline        time.Time
	results         []CheckResult
	judgedAt        time.Time
	heldSince       time.Time
	held            bool // every check held at some sample
	leaderlessSince time.Time
	outcome         Outcome
	failure         string
}

// Open starts the gate at at. Samples taken before notBefore say nothing
// about it and are ignored (a restart's gate ignores snapshots from before
// the start; a quorum gate takes a snapshot a moment old).
func (g Gate) Open(at, notBefore time.Time) Gate {
	g.opened, g.notBefore = at, notBefore
	g.deadline = time.Time{}
	if g.Timeout > 0 {
		g.deadline = at.Add(g.Timeout)
	}
	g.results = nil
	g.judgedAt, g.heldSince, g.leaderlessSince = time.Time{}, time.Time{}, time.Time{}
	g.held, g.outcome, g.failure = false, Waiting, ""
	return g
}

// Observe judges a sample. A closed gate, or a sample older than the gate,
// leaves it as it is.
func (g Gate) Observe(s Sample) Gate {
	at := s.Snap.TakenAt
	if g.outcome != Waiting || at.Before(g.notBefore) || (!g.judgedAt.IsZero() && at.Before(g.judgedAt)) {
		return g
	}
	checks := make([]Check, len(g.Checks))
	results := make([]CheckResult, len(g.Checks))
	all := true
	for i, c := range g.Checks {
		next, v := c.Judge(s)
		checks[i] = next
		r := CheckResult{Verdict: v}
		if v.OK {
			r.Since = at
			if i < len(g.results) && g.results[i].OK && !g.results[i].Since.IsZero() {
				r.Since = g.results[i].Since
			}
		} else {
			all = false
		}
		results[i] = r
	}
	g.Checks, g.results, g.judgedAt = checks, results, at

	_, hasLeader := s.Snap.Leader()
	if hasLeader {
		g.leaderlessSince = time.Time{}
	} else if g.leaderlessSince.IsZero() {
		g.leaderlessSince = at
	}
	if !all {
		for _, r := range results {
			if r.Abort {
				g.outcome = Aborted
				g.failure = fmt.Sprintf("%s gate: abort condition: %s", g.Name, strings.Join(r.Reasons, "; "))
				return g
			}
		}
		if g.Strict && g.held && !hasLeader && g.StrictElections {
			return g // judged by the election window, not broken
		}
		if g.Strict && g.held {
			g.outcome = Broken
			g.failure = fmt.Sprintf("%s gate broke after holding for %s: %s", g.Name, fmtSince(g.heldSince, at), g.failingReasons())
		}
		g.heldSince = time.Time{}
		return g
	}
	if g.heldSince.IsZero() {
		g.heldSince = at
	}
	g.held = true
	if at.Sub(g.heldSince) >= g.Hold {
		g.outcome = Passed
	}
	return g
}

// Tick judges the clock: the deadline and the election window.
func (g Gate) Tick(now time.Time) Gate {
	if g.outcome != Waiting {
		return g
	}
	switch {
	case g.Election > 0 && !g.leaderlessSince.IsZero() && now.Sub(g.leaderlessSince) > g.Election:
		g.outcome = NoLeader
		g.failure = fmt.Sprintf("no leader for %s (tolerated: %s)", now.Sub(g.leaderlessSince).Round(time.Second), g.Election)
	case !g.deadline.IsZero() && now.After(g.deadline) && g.heldSince.IsZero():
		g.outcome = TimedOut
		g.failure = fmt.Sprintf("%s gate did not hold within %s: %s", g.Name, g.Timeout, g.failingReasons())
	}
	return g
}

// Extend reopens a failed gate for another Timeout from now (keep
// waiting). Each check keeps its memory.
func (g Gate) Extend(now time.Time) Gate {
	g.outcome, g.failure = Waiting, ""
	g.heldSince, g.leaderlessSince, g.held = time.Time{}, time.Time{}, false
	g.deadline = time.Time{}
	if g.Timeout > 0 {
		g.deadline = now.Add(g.Timeout)
	}
	return g
}

// Outcome is where the gate stands.
func (g Gate) Outcome() Outcome { return g.outcome }

// Failure says why the gate failed ("" while it has not).
func (g Gate) Failure() string { return g.failure }

// Results are the checks' latest verdicts, in the gate's order; nil before
// the first sample.
func (g Gate) Results() []CheckResult { return g.results }

// AllHold reports whether every check held on the latest sample judged.
func (g Gate) AllHold() bool {
	if len(g.results) == 0 {
		return false
	}
	for _, r := range g.results {
		if !r.OK {
			return false
		}
	}
	return true
}

// OK reports whether every check held in the latest sample.
func (g Gate) OK() bool { return g.judgedAt != (time.Time{}) && g.failingCount() == 0 }

// Opened is when the gate opened.
func (g Gate) Opened() time.Time { return g.opened }

// Deadline is when the gate times out; zero for none.
func (g Gate) Deadline() time.Time { return g.deadline }

// HeldSince is since when every check holds; zero while one fails.
func (g Gate) HeldSince() time.Time { return g.heldSince }

// LeaderlessSince is since when no sample had a leader; zero with one.
func (g Gate) LeaderlessSince() time.Time { return g.leaderlessSince }

// JudgedAt is when the latest sample judged was taken.
func (g Gate) JudgedAt() time.Time { return g.judgedAt }

// Summary is the first check's one-line summary worth showing either way
// (the quorum arithmetic), or "".
func (g Gate) Summary() string {
	for _, r := range g.results {
		if r.Summary != "" {
			return r.Summary
		}
	}
	return ""
}

// Describe lists what each check requires, in order.
func (g Gate) Describe() []string {
	out := make([]string, len(g.Checks))
	for i, c := range g.Checks {
		out[i] = c.Describe()
	}
	return out
}

// Values are every check's values for the journal: "<check>.ok", its
// summary and its inputs, each under the check's name.
func (g Gate) Values() []GateValue {
	var out []GateValue
	for _, r := range g.results {
		if r.Summary != "" {
			out = append(out, GateValue{Name: r.Gate + ".summary", Value: Text(r.Summary)})
		}
		out = append(out, GateValue{Name: r.Gate + ".ok", Value: Text(fmt.Sprint(r.OK))})
		for _, v := range r.Values {
			out = append(out, GateValue{Name: r.Gate + "." + v.Name, Value: v.Value})
		}
	}
	return out
}

func (g Gate) failingCount() int {
	n := 0
	for _, r := range g.results {
		if !r.OK {
			n++
		}
	}
	return n
}

// Reasons are the failing checks' reasons in the latest sample.
func (g Gate) Reasons() []string {
	var rs []string
	for _, r := range g.results {
		if !r.OK {
			rs = append(rs, r.Reasons...)
		}
	}
	return rs
}

func (g Gate) failingReasons() string {
	rs := g.Reasons()
	if len(rs) == 0 {
		return "no snapshot judged"
	}
	return strings.Join(rs, "; ")
}

func fmtSince(from, to time.Time) string { return to.Sub(from).Round(time.Second).String() }
