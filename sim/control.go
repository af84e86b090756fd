package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// The supervisor's control protocol: one JSON request per connection on
// DIR/supervisor.sock, answered by one JSON response.

type ctlRequest struct {
	Op   string   `json:"op"` // ping | systemctl | kill | services | launch | terminate | down | cloud-state | cloud-group | cloud-fault | cloud-clear
	Node string   `json:"node,omitempty"`
	Args []string `json:"args,omitempty"`
	// Fault is the cloud-fault request's fault.
	Fault *CloudFault `json:"fault,omitempty"`
}

type ctlResponse struct {
	Error    string          `json:"error,omitempty"`
	Stdout   string          `json:"stdout,omitempty"`
	Stderr   string          `json:"stderr,omitempty"`
	Exit     int             `json:"exit"`
	Pid      int             `json:"pid,omitempty"` // the supervisor's pid (ping)
	Services []ServiceStatus `json:"services,omitempty"`
	SSHPids  []int           `json:"ssh_pids,omitempty"`
	Cloud    json.RawMessage `json:"cloud,omitempty"` // cloud-state: the fake's State; cloud-group: the group
}

// ServiceStatus is one node's neuwerk.service as the supervisor sees it.
type ServiceStatus struct {
	Node        string    `json:"node"`
	ActiveState string    `json:"active_state"` // active | activating | deactivating | inactive | failed
	SubState    string    `json:"sub_state"`    // running | auto-restart | stop-sigterm | dead | failed
	Result      string    `json:"result"`       // success | exit-code | signal | timeout
	MainPID     int       `json:"main_pid"`
	Since       time.Time `json:"since"`
	NRestarts   int       `json:"n_restarts"`
	LastExit    string    `json:"last_exit,omitempty"`
}

// unixSocketPathMax is a safe bound for sockaddr_un.sun_path (104 on darwin, 108 on linux).
const unixSocketPathMax = 100

// withSocketPath calls fn with a path for DIR/supervisor.sock that fits in a
// sockaddr_un. Long paths go through /proc/self/fd/N/ on Linux.
func withSocketPath(dir string, fn func(path string) error) error {
	p := filepath.Join(dir, supervisorSock)
	if len(p) <= unixSocketPathMax || runtime.GOOS != "linux" {
		return fn(p)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), supervisorSock))
}

func listenControl(dir string) (net.Listener, error) {
	_ = os.Remove(filepath.Join(dir, supervisorSock))
	var l net.Listener
	err := withSocketPath(dir, func(p string) error {
		var err error
		l, err = net.Listen("unix", p)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ul, ok := l.(*net.UnixListener); ok {
		// Removing the socket file is ours to do, by its real path.
		ul.SetUnlinkOnClose(false)
	}
	return l, nil
}

// errNoSupervisor means nothing answers on DIR/supervisor.sock.
var errNoSupervisor = errors.New("the cluster's supervisor is not running")

// callSupervisor sends one request and waits for its answer (up to ctx).
func callSupervisor(ctx context.Context, dir string, req ctlRequest) (*ctlResponse, error) {
	var conn net.Conn
	err := withSocketPath(dir, func(p string) error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "unix", p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", errNoSupervisor, filepath.Join(dir, supervisorSock), err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("supervisor: send %s: %w", req.Op, err)
	}
	var resp ctlResponse
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("supervisor: %s: %w", req.Op, ctx.Err())
		}
		return nil, fmt.Errorf("supervisor: %s: no answer: %w", req.Op, err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
