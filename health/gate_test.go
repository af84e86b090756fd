package health

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health/internal/healthtest"
)

var t0 = time.Date(2026, 4, 4, 10, 0, 0, 0, time.UTC)

// flag is a check whose verdict the test sets.
type flag struct {
	name string
	ok   *bool
}

func (f flag) Name() string     { return f.name }
func (f flag) Describe() string { return "the flag " + f.name + " is up" }
func (f flag) Judge(Sample) (Check, Verdict) {
	if *f.ok {
		return f, Verdict{Gate: f.name, OK: true}
	}
	return f, failed(f.name, f.name+": down")
}

// at is the healthy cluster sampled sec seconds after t0.
func at(t *testing.T, sec float64) Sample {
	s := healthyCluster(t)
	s.TakenAt = t0.Add(time.Duration(sec * float64(time.Second)))
	return Sample{Snap: s}
}

func TestGateHoldsForItsWindow(t *testing.T) {
	up := false
	g := Gate{Name: "stabilise", Checks: []Check{flag{"a", &up}}, Hold: 5 * time.Second, Timeout: time.Minute}.Open(t0, t0)
	if g.Deadline() != t0.Add(time.Minute) || g.Outcome() != Waiting {
		t.Fatalf("opened: %v %v", g.Deadline(), g.Outcome())
	}
	g = g.Observe(at(t, 1))
	if g.OK() || !g.HeldSince().IsZero() || g.Results()[0].OK {
		t.Fatal("a failing check holds")
	}
	up = true
	g = g.Observe(at(t, 2))
	if !g.OK() || g.HeldSince() != t0.Add(2*time.Second) || g.Outcome() != Waiting {
		t.Fatalf("held since %v, %v", g.HeldSince(), g.Outcome())
	}
	g = g.Observe(at(t, 6.9))
	if g.Outcome() != Waiting {
		t.Fatal("passed before the window")
	}
	up = false
	g = g.Observe(at(t, 7))
	if !g.HeldSince().IsZero() {
		t.Fatal("a break does not restart the window")
	}
	up = true
	g = g.Observe(at(t, 8))
	g = g.Observe(at(t, 13))
	if g.Outcome() != Passed || g.Results()[0].Since != t0.Add(8*time.Second) {
		t.Fatalf("outcome %v, since %v", g.Outcome(), g.Results()[0].Since)
	}
	// Closed: nothing changes it any more.
	up = false
	if g2 := g.Observe(at(t, 14)).Tick(t0.Add(time.Hour)); g2.Outcome() != Passed {
		t.Fatal("a passed gate reopened")
	}
}

func TestGateIgnoresOldSamples(t *testing.T) {
	up := true
	g := Gate{Name: "g", Checks: []Check{flag{"a", &up}}}.Open(t0.Add(10*time.Second), t0.Add(10*time.Second))
	if g = g.Observe(at(t, 9)); g.Outcome() != Waiting || g.Results() != nil {
		t.Fatal("a sample from before the gate was judged")
	}
	if g = g.Observe(at(t, 10)); g.Outcome() != Passed {
		t.Fatal("hold 0 passes on the first good sample")
	}
}

func TestGateTimesOutOnlyWhenNotHolding(t *testing.T) {
	up := false
	g := Gate{Name: "stabilise", Checks: []Check{flag{"a", &up}}, Hold: 10 * time.Second, Timeout: 30 * time.Second}.Open(t0, t0)
	g = g.Observe(at(t, 1))
	if g.Tick(t0.Add(30*time.Second)).Outcome() != Waiting {
		t.Fatal("timed out at the deadline, not after it")
	}
	late := g.Tick(t0.Add(31 * time.Second))
	if late.Outcome() != TimedOut || late.Failure() != "stabilise gate did not hold within 30s: a: down" {
		t.Fatalf("%v: %q", late.Outcome(), late.Failure())
	}
	// Holding at the deadline: the window may finish.
	up = true
	g = g.Observe(at(t, 25))
	if g = g.Tick(t0.Add(31 * time.Second)); g.Outcome() != Waiting {
		t.Fatal("a gate holding at its deadline timed out")
	}
	if g = g.Observe(at(t, 35)); g.Outcome() != Passed {
		t.Fatal("did not pass after the window")
	}
	// Keep waiting: another timeout from now.
	if ext := late.Extend(t0.Add(time.Minute)); ext.Outcome() != Waiting || ext.Deadline() != t0.Add(90*time.Second) || ext.Failure() != "" {
		t.Fatalf("extend: %v %v %q", ext.Outcome(), ext.Deadline(), ext.Failure())
	}
}

func TestStrictGateBreaksAtOnce(t *testing.T) {
	up := false
	g := Gate{Name: "bake", Checks: []Check{flag{"a", &up}}, Hold: 20 * time.Second, Timeout: time.Minute, Strict: true}.Open(t0, t0)
	g = g.Observe(at(t, 1)) // failing before the first hold is waiting, not broken
	if g.Outcome() != Waiting {
		t.Fatal(g.Outcome())
	}
	up = true
	g = g.Observe(at(t, 2))
	up = false
	g = g.Observe(at(t, 9))
	if g.Outcome() != Broken || g.Failure() != "bake gate broke after holding for 7s: a: down" {
		t.Fatalf("%v %q", g.Outcome(), g.Failure())
	}
}

// aborting is a check that fails with an abort condition when down.
type aborting struct{ flag }

func (a aborting) Judge(s Sample) (Check, Verdict) {
	_, v := a.flag.Judge(s)
	v.Abort = !v.OK
	return a, v
}

func TestGateFailsAtOnceOnAnAbortCondition(t *testing.T) {
	up, fine := true, true
	g := Gate{Name: "stabilise", Checks: []Check{flag{"a", &up}, aborting{flag{"b", &fine}}}, Hold: time.Minute, Timeout: 5 * time.Minute}.Open(t0, t0)
	up = false
	if g = g.Observe(at(t, 1)); g.Outcome() != Waiting {
		t.Fatal("an ordinary failing check ended the gate")
	}
	fine = false
	if g = g.Observe(at(t, 2)); g.Outcome() != Aborted || g.Failure() != "stabilise gate: abort condition: b: down" {
		t.Fatalf("%v %q", g.Outcome(), g.Failure())
	}
}

func TestGateElectionWindow(t *testing.T) {
	up := true
	g := Gate{Name: "stabilise", Checks: []Check{flag{"a", &up}}, Hold: time.Minute, Timeout: 5 * time.Minute, Election: 3 * time.Second}.Open(t0, t0)
	none := at(t, 1)
	none.Snap.Stats, none.Snap.StatsErr = nil, &APIError{Status: 503, Message: "leader unknown"}
	g = g.Observe(none)
	if g.LeaderlessSince() != t0.Add(time.Second) {
		t.Fatal(g.LeaderlessSince())
	}
	if g.Tick(t0.Add(4*time.Second)).Outcome() != Waiting {
		t.Fatal("no leader for exactly the window is tolerated")
	}
	lost := g.Tick(t0.Add(5 * time.Second))
	if lost.Outcome() != NoLeader || lost.Failure() != "no leader for 4s (tolerated: 3s)" {
		t.Fatalf("%v %q", lost.Outcome(), lost.Failure())
	}
	if g = g.Observe(at(t, 2)); !g.LeaderlessSince().IsZero() || g.Tick(t0.Add(time.Minute)).Outcome() != Waiting {
		t.Fatal("a leader resets the election window")
	}
}

// A follower restarts; the leader writes on. The catch-up checks sample
// the leader's index after the restart and then follow it with a grace.
func TestCatchUpChecksFollowTheLeader(t *testing.T) {
	a := NodeRef{Name: "fw-a", ID: idA}
	g := Gate{Name: "stabilise", Checks: []Check{NewStatsCaughtUp(a, 0), NewApplied(a, 0)}, Hold: 3 * time.Second, Timeout: time.Minute}.Open(t0, t0)
	sample := func(sec float64, leaderIndex, matched, applied uint64) Sample {
		s := at(t, sec)
		st := *s.Snap.Stats
		st.Cluster.LastLogIndex = leaderIndex
		st.Cluster.Nodes = append([]NodeCatchup(nil), st.Cluster.Nodes...)
		for i := range st.Cluster.Nodes {
			if st.Cluster.Nodes[i].NodeID == idA {
				lag := leaderIndex - matched
				st.Cluster.Nodes[i].MatchedIndex, st.Cluster.Nodes[i].LagEntries = &matched, &lag
			}
		}
		s.Snap.Stats = &st
		s.Snap = s.Snap.with(func(c *ClusterSnapshot) { nodeIndex(c, "fw-a").Metrics = followerMetrics(t, applied) })
		return s
	}
	// Sampled at 2000; fw-a is still at 1990.
	g = g.Observe(sample(0, 2000, 1990, 1990))
	if g.OK() || !strings.Contains(g.Results()[0].Reasons[0], "below 2000") {
		t.Fatalf("%+v", g.Results())
	}
	// Caught up to the sampled index while the leader moved on: an entry
	// in flight does not break the hold.
	g = g.Observe(sample(1, 2001, 2000, 2000))
	g = g.Observe(sample(2, 2002, 2001, 2001))
	g = g.Observe(sample(3.5, 2004, 2003, 2002))
	if !g.OK() {
		t.Fatalf("a live follower an entry behind fails: %+v", g.Results())
	}
	// A stalled apply loop falls behind what the leader had 2 s earlier.
	g = g.Observe(sample(6, 2008, 2007, 2002))
	if g.OK() || g.Results()[1].OK || !strings.Contains(g.Results()[1].Reasons[0], "raft_last_applied 2002 is below 2004") {
		t.Fatalf("stall not caught: %+v", g.Results()[1])
	}
}

func TestCatchUpAfterALeaderStopWaitsForTheNextTerm(t *testing.T) {
	b := NodeRef{Name: "fw-b", ID: idB}
	c := NewStatsCaughtUp(b, 7) // fw-b led in term 7
	var chk Check = c
	var v Verdict
	chk, v = chk.Judge(at(t, 0)) // still term 7 in this sample
	if v.OK || v.Reasons[0] != "fw-b: waiting for a leader to sample its last_log_index" {
		t.Fatalf("%v", v)
	}
	post := at(t, 1)
	post.Snap.Stats = mustStats(t, "stats_post_election.json") // term 8, fw-a leads, fw-b's row is null
	_, v = chk.Judge(post)
	if v.OK || !strings.Contains(v.Reasons[0], "matched_index is null") {
		t.Fatalf("%v", v)
	}
}

func TestPeerErrorsNeedTwoSamplesFromOneLeader(t *testing.T) {
	c := NodeRef{Name: "fw-c", ID: idC}
	leader := mustMetrics(t, string(healthtest.Fixture(t, "metrics_leader.prom")))
	grown := mustMetrics(t, strings.Replace(string(healthtest.Fixture(t, "metrics_leader.prom")),
		`kind="transport",peer_id="`+idC+`",rpc="append_entries"} 12`, `kind="transport",peer_id="`+idC+`",rpc="append_entries"} 13`, 1))
	withLeaderMetrics := func(sec float64, m *Metrics) Sample {
		s := at(t, sec)
		s.Snap = s.Snap.with(func(cs *ClusterSnapshot) { nodeIndex(cs, "fw-b").Metrics = m })
		return s
	}
	var chk Check = PeerErrors{Node: c}
	var v Verdict
	chk, v = chk.Judge(withLeaderMetrics(0, leader))
	if v.OK {
		t.Fatal("one sample judged steady")
	}
	chk, v = chk.Judge(withLeaderMetrics(1, leader))
	if !v.OK {
		t.Fatalf("steady: %v", v)
	}
	_, v = chk.Judge(withLeaderMetrics(2, grown))
	if v.OK || !strings.Contains(v.Reasons[0], "grew 16→17") {
		t.Fatalf("growth: %v", v)
	}
}

func TestBinaryIsReadAfterTheRestart(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	chk := BinaryIs{Node: NodeRef{Name: "fw-a", ID: idA}, Path: "/opt/neuwerk/bin/neuwerk", Want: sha, WantLabel: "1.1.0", ReadSince: t0}
	if d := chk.Describe(); d != "sha256 of /opt/neuwerk/bin/neuwerk on fw-a is 1.1.0 (abababababab)" {
		t.Errorf("describe = %q", d)
	}
	s := at(t, 1)
	_, v := chk.Judge(s)
	if v.OK {
		t.Fatal("an unread binary matches")
	}
	s.Binaries = map[string]Binary{"fw-a": {SHA256: sha, At: t0.Add(-time.Second)}}
	if _, v = chk.Judge(s); v.OK || v.Reasons[0] != "fw-a: binary not read since the restart yet" {
		t.Fatalf("a read from before the restart counts: %v", v)
	}
	s.Binaries["fw-a"] = Binary{SHA256: sha, At: t0.Add(time.Second)}
	if _, v = chk.Judge(s); !v.OK {
		t.Fatal(v)
	}
	if sv, ok := v.Values[0].Value.(SHA256); !ok || sv.Short() != "abababababab" {
		t.Errorf("sha256 value is not typed: %#v", v.Values[0])
	}
}

func TestGateValuesAndDescribe(t *testing.T) {
	g := Gate{Name: "quorum", Checks: []Check{QuorumHolds{Node: NodeRef{Name: "fw-c", ID: idC}}}}.Open(t0, t0)
	if d := g.Describe(); len(d) != 1 || !strings.Contains(d[0], "stopping fw-c keeps quorum") {
		t.Fatalf("describe = %q", d)
	}
	g = g.Observe(at(t, 0))
	if g.Outcome() != Passed || g.Summary() != "stopping fw-c: voters up 3→2, quorum 2, failure tolerance 1→0" {
		t.Fatalf("%v %q", g.Outcome(), g.Summary())
	}
	vals := map[string]string{}
	for _, v := range g.Values() {
		vals[v.Name] = v.Value.String()
	}
	if vals["quorum kept.ok"] != "true" || vals["quorum kept.quorum"] != "2" || vals["quorum kept.summary"] == "" {
		t.Errorf("values = %v", vals)
	}
}

func TestNoAbortSignals(t *testing.T) {
	base := string(healthtest.Fixture(t, "metrics_leader.prom"))
	before := mustMetrics(t, base)
	checkVerdict(t, NoAbortSignals("fw-b", before, before, before), true, nil)
	checkVerdict(t, NoAbortSignals("fw-b", nil, nil, before), true, nil)
	failing := mustMetrics(t, strings.NewReplacer(
		`svc_fail_closed_total{component="tls"} 0`, `svc_fail_closed_total{component="tls"} 5`,
		"dhcp_lease_active 1", "dhcp_lease_active 0",
		"raft_last_applied 1550", "raft_last_applied 500",
	).Replace(base))
	checkVerdict(t, NoAbortSignals("fw-b", before, before, failing), false, []string{
		"fw-b: svc_fail_closed_total grew 0→5 (TLS intercept failing closed)",
		"fw-b: dhcp_lease_active is 0 (no dataplane DHCP lease)",
		"fw-b: raft_last_applied 500 trails raft_last_log_index 1550 by more than 1000",
	})
	// No lease at the pre-check either: not a new signal.
	noLease := mustMetrics(t, strings.Replace(base, "dhcp_lease_active 1", "dhcp_lease_active 0", 1))
	checkVerdict(t, NoAbortSignals("fw-b", noLease, noLease, noLease), true, nil)
	checkVerdict(t, NoAbortSignals("fw-b", before, before, nil), false, []string{"fw-b: no /metrics sample"})
}

// The check follows the node's process: the first sample of a process is
// its reference, counters growing from there are signals, and a counter
// that falls is a restart (a new reference), not a signal.
func TestAbortSignalsFollowTheProcess(t *testing.T) {
	text := func(failClosed, denies int) string {
		return fmt.Sprintf("raft_is_leader 0\nraft_current_term 7\nraft_last_log_index 1544\nraft_last_applied 1544\ndhcp_lease_active 1\n"+
			"svc_fail_closed_total{component=\"tls\"} %d\nhttp_auth_total{outcome=\"deny\",reason=\"invalid_token\"} %d\n", failClosed, denies)
	}
	at := func(sec float64, failClosed, denies int) Sample {
		s := healthyCluster(t)
		s.TakenAt = t0.Add(time.Duration(sec * float64(time.Second)))
		s = s.with(func(c *ClusterSnapshot) { nodeIndex(c, "fw-a").Metrics = mustMetrics(t, text(failClosed, denies)) })
		return Sample{Snap: s}
	}
	var chk Check = AbortSignals{Node: NodeRef{Name: "fw-a", ID: idA}, Baseline: mustMetrics(t, text(4, 0))}
	judge := func(s Sample) Verdict {
		var v Verdict
		chk, v = chk.Judge(s)
		return v
	}
	// The restarted process starts its counters at 0: below the baseline's
	// 4, and no signal.
	checkVerdict(t, judge(at(0, 0, 0)), true, nil)
	checkVerdict(t, judge(at(1, 0, 0)), true, nil)
	if v := judge(at(2, 3, 0)); !v.Abort {
		t.Error("a growing svc_fail_closed_total is not an abort condition")
	} else {
		checkVerdict(t, v, false, []string{"fw-a: svc_fail_closed_total grew 0→3 (TLS intercept failing closed)"})
	}
	// Restarted again: a fresh reference.
	checkVerdict(t, judge(at(3, 0, 0)), true, nil)
	checkVerdict(t, judge(at(4, 0, 2)), false, []string{`fw-a: http_auth_total{outcome="deny"} grew 0→2 where the pre-check saw none`})
	// A node that had denies before the rollout: more of them is no signal.
	chk = AbortSignals{Node: NodeRef{Name: "fw-a", ID: idA}, Baseline: mustMetrics(t, text(0, 9))}
	checkVerdict(t, judge(at(5, 0, 9)), true, nil)
	checkVerdict(t, judge(at(6, 0, 12)), true, nil)
	if d := chk.Describe(); !strings.Contains(d, "svc_fail_closed_total") || !strings.Contains(d, "fw-a") {
		t.Errorf("describe = %q", d)
	}
}
