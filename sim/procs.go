package sim

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessRecord is one process the cluster started, from DIR/run/pids.
type ProcessRecord struct {
	Pid  int
	Kind string // supervisor | service | sshd
	Name string // the cluster or node name
}

// readPids lists DIR/run/pids.
func readPids(dir string) []ProcessRecord {
	f, err := os.Open(filepath.Join(dir, runDir, pidsFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []ProcessRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 1 {
			continue
		}
		out = append(out, ProcessRecord{Pid: pid, Kind: fields[1], Name: fields[2]})
	}
	return out
}

// pidAlive reports whether pid is a live (not zombie) process that belongs
// to the cluster in dir: on Linux its command line must mention dir, so a
// recycled pid is never mistaken for ours.
func pidAlive(pid int, dir string) bool { return probe(pid, dir) == procOurs }

type procState int

const (
	procGone    procState = iota // no such process, a zombie, or someone else's
	procOurs                     // running, and its command line names dir
	procExiting                  // past releasing its memory, not yet a zombie
)

func probe(pid int, dir string) procState {
	if pid <= 1 {
		return procGone
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return procGone
	}
	if runtime.GOOS != "linux" {
		return procOurs
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procGone
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return procGone
		}
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return procGone
	}
	if len(cmdline) == 0 && !kernelThread(stat) {
		// An exiting process reads as an empty command line for a moment
		// before it turns zombie.
		return procExiting
	}
	if bytes.Contains(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), []byte(dir+"/")) {
		return procOurs
	}
	return procGone
}

// processStart is pid's start time in clock ticks since boot (0 when it
// cannot be read: not Linux, or no such process).
func processStart(pid int) uint64 {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return statField(stat, 19)
}

// ownerGone reports whether the process o names has ended (a pid now
// running another process counts as ended).
func ownerGone(o Owner) bool {
	if err := syscall.Kill(o.Pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(o.Pid) + "/stat")
	if err != nil {
		return runtime.GOOS == "linux"
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return true
	}
	return o.Start != 0 && statField(stat, 19) != o.Start
}

// statField is field n (0: the state) after the command name of a
// /proc/PID/stat line, as a number.
func statField(stat []byte, n int) uint64 {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) <= n {
		return 0
	}
	v, _ := strconv.ParseUint(f[n], 10, 64)
	return v
}

// kernelThread reads PF_KTHREAD from a /proc/PID/stat line's flags field.
func kernelThread(stat []byte) bool { return statField(stat, 6)&0x00200000 != 0 }

// killRecorded ends every recorded process of dir that is still alive:
// SIGTERM to its process group, then SIGKILL after grace. It returns the
// records still alive afterwards.
func killRecorded(dir string, grace time.Duration) []ProcessRecord {
	var alive []ProcessRecord
	for _, r := range readPids(dir) {
		if pidAlive(r.Pid, dir) {
			alive = append(alive, r)
		}
	}
	if len(alive) == 0 {
		return nil
	}
	signalAll := func(sig syscall.Signal) {
		for _, r := range alive {
			if r.Kind != "supervisor" {
				_ = syscall.Kill(-r.Pid, sig) // the node's process group
			}
			_ = syscall.Kill(r.Pid, sig)
		}
	}
	signalAll(syscall.SIGTERM)
	if rest := waitGone(alive, dir, grace); len(rest) == 0 {
		return nil
	}
	signalAll(syscall.SIGKILL)
	return waitGone(alive, dir, 5*time.Second)
}

// waitGone waits until none of recs is alive, up to timeout, and returns those still alive.
func waitGone(recs []ProcessRecord, dir string, timeout time.Duration) []ProcessRecord {
	deadline := time.Now().Add(timeout)
	for {
		var left []ProcessRecord
		for _, r := range recs {
			if probe(r.Pid, dir) != procGone {
				left = append(left, r)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// descendants lists every process below pid (children, their children, ...),
// read from /proc; elsewhere it returns nil.
func descendants(pid int) []int {
	if runtime.GOOS != "linux" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStartTime is field 22 of /proc/PID/stat (start time in clock ticks),
// which tells a process from a later one that reuses its pid; "" when unknown.
func procStartTime(pid int) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}
