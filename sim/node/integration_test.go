package node

import (
	"testing"
	"time"
)

func TestTerminationEventID(t *testing.T) {
	at := time.UnixMilli(1796365538717)
	ev := terminationEventID(IntegrationAWSASG, "i-0abc", at)
	if ev != "aws-asg:i-0abc:1796365538717" {
		t.Fatalf("event id %q", ev)
	}
	if id, ok := eventInstance(ev); !ok || id != "i-0abc" {
		t.Errorf("eventInstance(%q) = %q %v", ev, id, ok)
	}
	if id, ok := eventInstance("gcp-mig:neuwerk-x7k2:1796365538717"); !ok || id != "neuwerk-x7k2" {
		t.Errorf("a gcp-mig event names %q %v", id, ok)
	}
	for _, bad := range []string{"", "aws-asg::1", "aws-asg:i-0abc"} {
		if id, ok := eventInstance(bad); ok {
			t.Errorf("eventInstance(%q) = %q, want none", bad, id)
		}
	}
}

func TestHeartbeatDue(t *testing.T) {
	start := time.Unix(1000, 0)
	cases := []struct {
		timeout, since time.Duration
		due            bool
	}{
		{300 * time.Second, 269 * time.Second, false},
		{300 * time.Second, 270 * time.Second, true}, // 30 s before the deadline
		{300 * time.Second, 10 * time.Second, false},
		{30 * time.Second, time.Hour, false}, // a hook too short to heartbeat 30 s early
		{31 * time.Second, time.Second, true},
	}
	for _, c := range cases {
		if got := heartbeatDue(start, c.timeout, start.Add(c.since)); got != c.due {
			t.Errorf("timeout %v, %v since the last extension: due %v, want %v", c.timeout, c.since, got, c.due)
		}
	}
}
