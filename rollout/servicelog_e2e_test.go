package rollout

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The console's node detail reads a node's service log over real SSH:
// journalctl -u neuwerk.service -n N on the node (the simulator's serves
// the node's real log). It returns the last N lines; a node the inventory
// lacks is an error.
func TestE2EServiceLogOverSSH(t *testing.T) {
	t.Parallel()
	e := startE2E(t, 3, 2*time.Second, 30*time.Second)
	ctx := context.Background()
	x, err := e.env.executor(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := x.ServiceLog(ctx, "fw-b", 50)
	if err != nil {
		t.Fatalf("service log: %v", err)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"fw-b systemd[1]: Started neuwerk.service", "neuwerk: starting neuwerk: release=1.0.0", "fw-b"} {
		if !strings.Contains(text, want) {
			t.Errorf("fw-b's service log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "fw-a systemd") {
		t.Errorf("fw-b's service log has fw-a's lines:\n%s", text)
	}
	last, err := x.ServiceLog(ctx, "fw-b", 3)
	if err != nil || len(last) != 3 {
		t.Fatalf("-n 3 gave %d lines, %v", len(last), err)
	}
	// The log may grow between reads: the three are a run of lines of a
	// later whole read.
	after, err := x.ServiceLog(ctx, "fw-b", 50)
	if err != nil || !strings.Contains(strings.Join(after, "\n")+"\n", strings.Join(last, "\n")+"\n") {
		t.Errorf("-n 3 is not a run of the log's lines (%v):\n%s\nvs\n%s", err, strings.Join(last, "\n"), strings.Join(after, "\n"))
	}
	if _, err := x.ServiceLog(ctx, "fw-zz", 5); err == nil {
		t.Errorf("a node the inventory lacks gave no error")
	}
}
