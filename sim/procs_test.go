package sim

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	// argv[0] names dir, as a cluster's processes name their directory.
	cmd := &exec.Cmd{Path: sleep, Args: []string{dir + "/sleep", "60"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Until its exec, the child reads as the test binary.
	for deadline := time.Now().Add(20 * time.Second); probe(pid, dir) != procOurs; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("running child naming dir: probe %d, want procOurs", probe(pid, dir))
		}
	}
	if got := probe(pid, t.TempDir()); got != procGone {
		t.Fatalf("child naming another dir: probe %d, want procGone", got)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := probe(pid, dir); got != procGone {
		t.Fatalf("reaped child: probe %d, want procGone", got)
	}
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getpid()) + "/stat"); err != nil || kernelThread(stat) {
		t.Fatalf("the test process reads as a kernel thread (%v)", err)
	}
	// kthreadd is pid 2 outside a pid namespace of its own: a kernel thread.
	if comm, _ := os.ReadFile("/proc/2/comm"); strings.TrimSpace(string(comm)) != "kthreadd" {
		t.Skip("pid 2 is not kthreadd here (a container's own pid namespace)")
	}
	stat, err := os.ReadFile("/proc/2/stat")
	if err != nil || !kernelThread(stat) {
		t.Fatalf("kthreadd does not read as a kernel thread (%v): %s", err, stat)
	}
}
