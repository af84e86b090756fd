package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health"
)

// TestFaults runs the never-ready, stall and failclosed releases on the third node of a
// cluster whose first two nodes elect the leader, so the faulty node stays
// a follower.
func TestFaults(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, blockFaults, 3, 300*time.Millisecond, func(s *SimSettings) { s.StallAfterMillis = 800; s.FailClosedAfterMillis = 600 })
	c.start(0, FaultNone)
	c.start(1, FaultNone)
	c.waitReady(20*time.Second, 0, 1)
	leader := c.waitLeader(5 * time.Second)
	const faulty = 2
	faultyID := c.nodes[faulty].id

	t.Run("never-ready keeps policy_replication false", func(t *testing.T) {
		c.start(faulty, FaultNeverReady)
		waitFor(t, 10*time.Second, "dataplane_config and cluster ok on the never-ready node", func() bool {
			_, r := c.ready(faulty)
			m := checksByName(r)
			return m[health.CheckDataplaneConfig].OK && m[health.CheckCluster].OK
		})
		// Several passes of the 1 s replication loop: it must never pass.
		for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			status, r := c.ready(faulty)
			if status != http.StatusServiceUnavailable || r.Ready {
				t.Fatalf("/ready = %d ready=%v, want 503", status, r.Ready)
			}
			for _, ch := range r.Checks {
				want := ch.Name != health.CheckPolicyReplication
				if ch.OK != want {
					t.Fatalf("check %s ok=%v detail=%s, want ok=%v", ch.Name, ch.OK, detail(ch), want)
				}
			}
		}
		// Replication itself works: the node applies the leader's log.
		_, s, _ := c.stats(leader)
		waitFor(t, 5*time.Second, "the never-ready node to apply the log", func() bool {
			v, ok := c.metric(faulty, "raft_last_applied")
			return ok && uint64(v) >= s.Cluster.LastLogIndex
		})
		c.stop(faulty)
	})

	t.Run("stall freezes raft_last_applied while matched_index rises", func(t *testing.T) {
		c.start(faulty, FaultStall)
		c.waitReady(15*time.Second, faulty)
		var frozen float64
		waitFor(t, 10*time.Second, "raft_last_applied to freeze on the stalled node", func() bool {
			a1, ok1 := c.metric(faulty, "raft_last_applied")
			time.Sleep(900 * time.Millisecond)
			a2, ok2 := c.metric(faulty, "raft_last_applied")
			frozen = a2
			return ok1 && ok2 && a1 == a2 && a1 > 0
		})
		matched := func() uint64 {
			_, s, _ := c.stats(leader)
			for _, r := range s.Cluster.Nodes {
				if r.NodeID == faultyID && r.MatchedIndex != nil {
					return *r.MatchedIndex
				}
			}
			return 0
		}
		m1 := matched()
		l1, _ := c.metric(faulty, "raft_last_log_index")
		time.Sleep(1500 * time.Millisecond)
		m2 := matched()
		l2, _ := c.metric(faulty, "raft_last_log_index")
		a, _ := c.metric(faulty, "raft_last_applied")
		if a != frozen {
			t.Errorf("raft_last_applied moved from %v to %v", frozen, a)
		}
		if m2 <= m1 || float64(m2) <= a {
			t.Errorf("leader's matched_index for the stalled node: %d then %d (applied %v)", m1, m2, a)
		}
		if l2 <= l1 {
			t.Errorf("stalled node's raft_last_log_index did not grow: %v then %v", l1, l2)
		}
		// Like the real bug, readiness does not notice.
		if status, _ := c.ready(faulty); status != http.StatusOK {
			t.Errorf("stalled node /ready = %d, want 200", status)
		}
		c.stop(faulty)
	})

	t.Run("failclosed is ready and caught up while svc_fail_closed_total grows", func(t *testing.T) {
		c.start(faulty, FaultFailClosed)
		c.waitReady(15*time.Second, faulty)
		if f, ok := c.metric(faulty, `svc_fail_closed_total{component="tls"}`); !ok || f != 0 {
			t.Errorf("svc_fail_closed_total %v right after ready: the fault starts 600ms later", f)
		}
		time.Sleep(800 * time.Millisecond)
		f1, ok := c.metric(faulty, `svc_fail_closed_total{component="tls"}`)
		time.Sleep(4 * failClosedInterval)
		f2, _ := c.metric(faulty, `svc_fail_closed_total{component="tls"}`)
		if !ok || f2 < f1+2 {
			t.Errorf("svc_fail_closed_total %v then %v: not growing steadily", f1, f2)
		}
		if status, _ := c.ready(faulty); status != http.StatusOK {
			t.Errorf("failclosed node /ready = %d, want 200", status)
		}
		_, s, _ := c.stats(leader)
		waitFor(t, 5*time.Second, "the failclosed node to apply the log", func() bool {
			v, ok := c.metric(faulty, "raft_last_applied")
			return ok && uint64(v) >= s.Cluster.LastLogIndex
		})
	})
}

// TestCrashloopExitsLikeAFailedJoin: the crashloop release logs eight failed
// join attempts and returns an error (Main exits 2) without listening.
func TestCrashloopExitsLikeAFailedJoin(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t, blockUnit+1, 1, time.Second, func(s *SimSettings) { s.CrashAfterMillis = 400 })
	var log syncBuffer
	start := time.Now()
	err := Run(context.Background(), c.nodes[0].root, RunOptions{Fault: FaultCrashloop, Log: &log})
	if err == nil || !strings.Contains(err.Error(), "cluster join failed after 8 attempts") {
		t.Fatalf("Run = %v", err)
	}
	if d := time.Since(start); d < 350*time.Millisecond || d > 3*time.Second {
		t.Errorf("crashloop exited after %s, want about 400ms", d)
	}
	if !strings.Contains(log.String(), "attempt=8/8") || !strings.Contains(log.String(), "[ERROR] neuwerk: neuwerk exited with error") {
		t.Errorf("log:\n%s", log.String())
	}
	var stderr strings.Builder
	self := PathsFor(c.nodes[0].root).BinDir + "/neuwerk"
	if code := mainWith([]string{"--release", "1.1.1-crashloop", "--fault", "crashloop", "--self", self}, &strings.Builder{}, &stderr); code != 2 {
		t.Errorf("Main exit code %d, want 2", code)
	}
}
