package executor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Connect (design §3 "Connect", "Token"): SSH to every node in parallel
// with strict host key checking, read each node's node_id and map it to the
// decimal API id (facts §0.3), fetch <data_root>/http-tls/ca.crt and pin it
// unless the inventory names a CA file (the copies must agree across
// nodes), mint a short-lived admin token over SSH unless one was given
// (facts §5), and build one health client per node. Read-only on every
// node. Calling it again re-checks the SSH connections only.

const (
	tokenTTL     = 30 * time.Minute
	tokenRefresh = 20 * time.Minute // mint a fresh token once the current one is this old
)

// cmdOut is a finished remote command.
type cmdOut struct {
	Stdout, Stderr string
	Code           int
}

// remoteFor returns the node's SSH handle, dialling it if needed.
func (x *Executor) remoteFor(ctx context.Context, n inventory.Node) (remote.Remote, error) {
	x.mu.Lock()
	r := x.remotes[n.Name]
	x.mu.Unlock()
	if r != nil {
		return r, nil
	}
	r, err := x.cfg.Dialer.Dial(ctx, n)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if old := x.remotes[n.Name]; old != nil {
		x.mu.Unlock()
		_ = r.Close()
		return old, nil
	}
	x.remotes[n.Name] = r
	x.mu.Unlock()
	return r, nil
}

// run runs cmd on the node, bounded by timeout (OpTimeout when 0). With
// echo, every output line is passed on as a Note. A non-zero exit is not
// an error here.
func (x *Executor) run(ctx context.Context, n inventory.Node, op string, cmd remote.Command, echo bool, timeout time.Duration) (cmdOut, error) {
	if timeout <= 0 {
		timeout = x.cfg.OpTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := x.remoteFor(ctx, n)
	if err != nil {
		return cmdOut{}, err
	}
	var mu sync.Mutex
	var stdout, stderr strings.Builder
	res, err := r.Run(ctx, cmd, func(s remote.Stream, line string) {
		mu.Lock()
		if s == remote.Stderr {
			stderr.WriteString(line + "\n")
		} else {
			stdout.WriteString(line + "\n")
		}
		mu.Unlock()
		if echo {
			x.note(Note{Node: n.Name, Kind: NoteOutput, Op: op, Text: line})
		}
	})
	out := cmdOut{Stdout: stdout.String(), Stderr: stderr.String(), Code: res.ExitCode}
	if err != nil {
		return out, fmt.Errorf("%s on %s: %w", op, n.Name, err)
	}
	return out, nil
}

// script runs a POSIX sh script with positional arguments, with the node's
// privileges (sudo -n when the inventory says sudo). Every word is quoted.
func (x *Executor) script(ctx context.Context, n inventory.Node, op, script string, timeout time.Duration, args ...string) (cmdOut, error) {
	argv := append([]string{"sh", "-c", script, "sh"}, args...)
	return x.run(ctx, n, op, remote.Privileged(n, argv...), false, timeout)
}

// commandError describes a command that exited non-zero.
func commandError(op, node string, out cmdOut) error {
	why := lastLine(out.Stderr)
	if why == "" {
		why = lastLine(out.Stdout)
	}
	if why == "" {
		why = "no output"
	}
	return fmt.Errorf("%s on %s exited %d: %s", op, node, out.Code, why)
}

// The node-side scripts below fork as little as they can: on a node whose
// SSH sessions cost little, each fork and exec is most of the work of
// reading 25 nodes (BenchmarkStatus).

// activeScript runs the is-active command (the positional arguments) and
// keeps its exit status in $active for activeReport; with none (the
// inventory's is_active is systemd's own), "unit": the unit's ActiveState
// says it (isActiveArgs).
const activeScript = `if [ $# -gt 0 ]; then "$@" >/dev/null 2>&1; active=$?; else active=unit; fi
`

// isActiveArgs is the is-active command for the scripts: none when it is
// `systemctl is-active <unit>`, whose answer systemctl show's ActiveState
// already holds (it exits 0 for active, reloading and refreshing), which
// spares a process on every node.
func (x *Executor) isActiveArgs() []string {
	if slices.Equal(x.inv.Service.IsActive, []string{"systemctl", "is-active", x.inv.Service.Unit}) {
		return nil
	}
	return x.inv.Service.IsActive
}

const activeReport = `printf 'nwroll-active: %s\n' "$active"
`

// filesScript prints the sha256 of the binary $b, its .new and its .prev
// with one sha256sum: "nwroll-sums: KINDS" names the files present, in
// the order of sha256sum's lines up to "nwroll-sums-end".
const filesScript = `x=; y=; z=
[ -f "$b" ] && x=1; [ -f "$b.new" ] && y=1; [ -f "$b.prev" ] && z=1
printf 'nwroll-sums:%s%s%s\n' "${x:+ .bin}" "${y:+ .new}" "${z:+ .prev}"
if [ -n "$x$y$z" ]; then sha256sum -- ${x:+"$b"} ${y:+"$b.new"} ${z:+"$b.prev"} || exit 1; fi
printf 'nwroll-sums-end\n'
`

// unitScript prints the state and restart count of the unit $u as
// systemctl show reports them, one "nwroll-unit: KEY=value" line each.
const unitScript = `s=$(systemctl show -p ActiveState,SubState,NRestarts "$u" 2>&1) || { printf 'nwroll: systemctl show %s: %s\n' "$u" "$s" >&2; exit 68; }
set -f; printf 'nwroll-unit: %s\n' $s; set +f
`

// connectScript reads, in one SSH session per node: node_id, the API CA
// (when $2 names it), the binary's files and the lock ($3, $4), the free
// space by the binary, the unit $5's state, and runs the is-active
// command (the rest).
const connectScript = `IFS= read -r id < "$1" || [ -n "$id" ] || { echo "nwroll: cannot read $1" >&2; exit 66; }
printf 'nwroll-node-id: %s\n' "$id"
if [ -n "$2" ]; then
  printf 'nwroll-ca-begin\n'
  cat -- "$2" || { echo "nwroll: cannot read $2" >&2; exit 67; }
  printf '\nnwroll-ca-end\n'
fi
b=$3; l=$4; u=$5; shift 5
` + activeScript + filesScript + `if [ -f "$l" ]; then printf 'nwroll-lock-begin\n'; cat -- "$l"; printf '\nnwroll-lock-end\n'; fi
d=${b%/*}; printf 'nwroll-df-begin\n'; df -Pk -- "${d:-/}" 2>/dev/null; printf 'nwroll-df-end\n'
` + unitScript + activeReport

// Connect connects to every node (see above). Its errors are *ExitError.
func (x *Executor) Connect(ctx context.Context) error {
	x.mu.Lock()
	connected := x.connected
	x.mu.Unlock()
	if connected {
		if x.cfg.Cloud != nil {
			return nil // the instances are reached over HTTPS; SSH only for the CA and token, done
		}
		return x.recheckSSH(ctx)
	}
	if x.cfg.Cloud != nil {
		return x.connectCloud(ctx)
	}

	fetchCA := x.inv.API.CAFile == ""
	// Mint the token (one node) while every node is read.
	mintErr := make(chan error, 1)
	if x.token == "" {
		go func() { mintErr <- x.mint(ctx) }()
	} else {
		mintErr <- nil
	}
	res, err := x.readNodes(ctx, fetchCA)
	merr := <-mintErr
	if err != nil {
		return &runbook.ExitError{Code: runbook.ExitRefused, Err: err}
	}
	if merr != nil {
		return &runbook.ExitError{Code: runbook.ExitRefused, Err: merr}
	}
	if err := x.checkDistinctNodeIDs(res); err != nil {
		return err
	}
	caPEM, caSource, err := x.apiCA(res, fetchCA)
	if err != nil {
		return err
	}
	x.storeFound(res, caPEM, caSource)
	if err := x.buildClients(); err != nil {
		return err
	}
	if err := x.verifyAPI(ctx); err != nil {
		return err
	}
	x.mu.Lock()
	x.connected = true
	x.mu.Unlock()
	return nil
}

// recheckSSH dials every node again, for a Connect after the first.
func (x *Executor) recheckSSH(ctx context.Context) error {
	return x.ForEach(x.NodeNames(), func(name string) error {
		n, _ := x.node(name)
		if _, err := x.cfg.Dialer.Dial(ctx, n); err != nil {
			return &runbook.ExitError{Code: runbook.ExitRefused, Err: err}
		}
		return nil
	})
}

// readNodes runs the connect script on every node in parallel; the results
// are in x.nodes' order.
func (x *Executor) readNodes(ctx context.Context, fetchCA bool) ([]connectFound, error) {
	res := make([]connectFound, len(x.nodes))
	errs := make([]error, len(x.nodes))
	var wg sync.WaitGroup
	for i, n := range x.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = x.readNode(ctx, n, fetchCA)
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

func (x *Executor) readNode(ctx context.Context, n inventory.Node, fetchCA bool) (connectFound, error) {
	caPath := ""
	if fetchCA {
		caPath = path.Join(n.Paths.DataRoot, "http-tls", "ca.crt")
	}
	args := append([]string{path.Join(n.Paths.DataRoot, "node_id"), caPath, n.Paths.Binary, LockPathForDataRoot(n.Paths.DataRoot), x.inv.Service.Unit}, x.isActiveArgs()...)
	out, err := x.script(ctx, n, "connect", connectScript, time.Minute, args...)
	if err != nil {
		return connectFound{}, err
	}
	if out.Code != 0 {
		return connectFound{}, fmt.Errorf("node %s: %s; is paths.data_root (%s) right for this node?", n.Name, lastLine(out.Stderr), n.Paths.DataRoot)
	}
	f, err := parseConnectOutput(n.Name, out.Stdout, fetchCA)
	if err != nil {
		return connectFound{}, fmt.Errorf("node %s: %v", n.Name, err)
	}
	return f, nil
}

// checkDistinctNodeIDs refuses two inventory entries that are one machine.
func (x *Executor) checkDistinctNodeIDs(res []connectFound) error {
	ids := map[string]string{}
	for i, n := range x.nodes {
		if other, dup := ids[res[i].id]; dup {
			return &runbook.ExitError{Code: runbook.ExitRefused, Err: fmt.Errorf("nodes %s and %s have the same node_id %s: the inventory lists one machine twice, or a node's data root was copied", other, n.Name, res[i].uuid)}
		}
		ids[res[i].id] = n.Name
	}
	return nil
}

// apiCA returns the CA to pin and where it came from: the copy every node
// holds, which must be the same on all of them, or api.ca_file.
func (x *Executor) apiCA(res []connectFound, fetched bool) ([]byte, string, error) {
	if !fetched {
		b, err := os.ReadFile(x.inv.API.CAFile)
		if err != nil {
			return nil, "", &runbook.ExitError{Code: runbook.ExitUsage, Err: fmt.Errorf("%s: api.ca_file %s cannot be read: %v; fix the path, or remove api.ca_file to fetch the CA over SSH", x.inv.Path, x.inv.API.CAFile, err)}
		}
		return b, x.inv.API.CAFile, nil
	}
	first := sha256.Sum256(res[0].ca)
	var differ []string
	for i, n := range x.nodes[1:] {
		if sum := sha256.Sum256(res[i+1].ca); sum != first {
			differ = append(differ, fmt.Sprintf("%s (sha256 %s)", n.Name, hex.EncodeToString(sum[:6])))
		}
	}
	if len(differ) > 0 {
		return nil, "", &runbook.ExitError{Code: runbook.ExitRefused, Err: fmt.Errorf("the API CA differs across nodes: %s has %s/http-tls/ca.crt with sha256 %s, but %s differ; "+
			"the nodes are not one cluster, or a node's TLS material was replaced: check the inventory, or pin the right CA with api.ca_file",
			x.nodes[0].Name, x.nodes[0].Paths.DataRoot, hex.EncodeToString(first[:6]), strings.Join(differ, ", "))}
	}
	return res[0].ca, x.nodes[0].Name + ":" + path.Join(x.nodes[0].Paths.DataRoot, "http-tls", "ca.crt"), nil
}

// storeFound keeps what the nodes told: ids, binary files, free space and
// locks (the fresh survey), and the CA.
func (x *Executor) storeFound(res []connectFound, caPEM []byte, caSource string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.fresh = &Survey{Locks: map[string]LockHolder{}}
	var lockErrs []error
	for i, n := range x.nodes {
		x.uuids[n.Name], x.ids[n.Name] = res[i].uuid, res[i].id
		x.files[n.Name] = res[i].files
		if res[i].freeKB >= 0 {
			x.freeKB[n.Name] = res[i].freeKB
		}
		x.fresh.Files = append(x.fresh.Files, res[i].files)
		if res[i].lock != nil {
			x.fresh.Locks[n.Name] = *res[i].lock
		}
		if res[i].lockErr != nil {
			lockErrs = append(lockErrs, res[i].lockErr)
		}
	}
	x.fresh.LockErr = errors.Join(lockErrs...)
	x.connectFilesAt = time.Now()
	x.connectedAt = x.connectFilesAt
	x.caPEM, x.caSource = caPEM, caSource
}

// connectFound is what the connect script found on one node.
type connectFound struct {
	uuid, id string
	ca       []byte
	files    runbook.NodeFiles
	freeKB   int64 // free space in the binary's directory, -1 unknown
	lock     *LockHolder
	lockErr  error
}

func parseConnectOutput(node, out string, wantCA bool) (connectFound, error) {
	f := connectFound{freeKB: -1}
	var ca, lock bytes.Buffer
	inCA, sawEnd, inLock, inDF := false, false, false, false
	var dfLast string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "nwroll-node-id: "):
			f.uuid = strings.TrimSpace(strings.TrimPrefix(l, "nwroll-node-id: "))
		case l == "nwroll-ca-begin":
			inCA = true
		case l == "nwroll-ca-end":
			inCA, sawEnd = false, true
		case inCA:
			ca.WriteString(l + "\n")
		case l == "nwroll-df-begin":
			inDF = true
		case l == "nwroll-df-end":
			inDF = false
		case inDF:
			dfLast = l
		case l == "nwroll-lock-begin":
			inLock = true
		case l == "nwroll-lock-end":
			inLock = false
		case inLock:
			lock.WriteString(l + "\n")
		}
	}
	if fs := strings.Fields(dfLast); len(fs) >= 4 {
		if kb, err := strconv.ParseInt(fs[3], 10, 64); err == nil {
			f.freeKB = kb
		}
	}
	if f.uuid == "" {
		return f, errors.New("node_id is empty")
	}
	id, err := health.NodeIDFromUUID(f.uuid)
	if err != nil {
		return f, fmt.Errorf("node_id: %v", err)
	}
	f.id = id
	if wantCA {
		if !sawEnd || !bytes.Contains(ca.Bytes(), []byte("BEGIN CERTIFICATE")) {
			return f, errors.New("http-tls/ca.crt holds no PEM certificate")
		}
		f.ca = bytes.TrimSpace(ca.Bytes())
		f.ca = append(f.ca, '\n')
	}
	if f.files, err = parseReadFiles(node, out); err != nil {
		return f, err
	}
	if s := strings.TrimSpace(lock.String()); s != "" {
		h, err := ParseLockHolder([]byte(s))
		if err != nil {
			f.lockErr = fmt.Errorf("lock on node %s: %v", node, err)
		} else {
			f.lock = &h
		}
	}
	return f, nil
}

// mint mints an admin token over SSH on the first node that can (facts §5):
// `<binary> auth token mint --sub nwroll-<user>@<host> --roles admin --ttl
// 30m --http-tls-dir <data_root>/http-tls`. Its output is the token, so it
// is never echoed.
func (x *Executor) mint(ctx context.Context) error {
	var errs []string
	for _, n := range x.nodes {
		cmd := remote.Privileged(n, n.Paths.Binary, "auth", "token", "mint",
			"--sub", "nwroll-"+journal.CurrentOperator(), "--roles", "admin", "--ttl", "30m",
			"--http-tls-dir", path.Join(n.Paths.DataRoot, "http-tls"))
		out, err := x.run(ctx, n, "mint a token", cmd, false, time.Minute)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		tok := ""
		for _, l := range strings.Split(out.Stdout, "\n") {
			l = strings.TrimSpace(l)
			if strings.Count(l, ".") == 2 && !strings.ContainsAny(l, " \t") && strings.HasPrefix(l, "eyJ") {
				tok = l
			}
		}
		if out.Code != 0 || tok == "" {
			errs = append(errs, fmt.Sprintf("%s: `%s auth token mint` exited %d: %s", n.Name, n.Paths.Binary, out.Code, journal.ScrubString(lastLine(out.Stderr))))
			continue
		}
		x.mu.Lock()
		x.token = api.Token(tok)
		x.mintedAt = time.Now()
		x.cfg.TokenSource = "minted over SSH on " + n.Name
		x.mu.Unlock()
		return nil
	}
	return fmt.Errorf("cannot mint an admin token over SSH (%s); set %s to an admin token instead", strings.Join(errs, "; "), x.tokenEnv())
}

func (x *Executor) tokenEnv() string {
	if x.inv.API.TokenEnv != "" {
		return x.inv.API.TokenEnv
	}
	return inventory.DefaultTokenEnv
}

func (x *Executor) buildClients() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var clients []*api.Client
	for _, n := range x.nodes {
		c, err := api.NewClient(api.Config{
			Name: n.Name, NodeID: x.ids[n.Name], APIURL: n.APIURL, MetricsURL: n.MetricsURL,
			CAPEM: x.caPEM, Token: x.token, Timeouts: x.cfg.Timeouts,
		})
		if err != nil {
			code := runbook.ExitRefused
			if x.inv.API.CAFile != "" {
				code = runbook.ExitUsage
			}
			return &runbook.ExitError{Code: code, Err: fmt.Errorf("%v (CA from %s)", err, x.caSource)}
		}
		clients = append(clients, c)
	}
	for _, c := range x.clients {
		c.CloseIdleConnections()
	}
	x.clients = clients
	return nil
}

// verifyAPI checks the pinned CA against every node that answers, and the
// token against one of them. A node that does not answer at all is left
// to the pre-check, which names it.
func (x *Executor) verifyAPI(ctx context.Context) error {
	clients := x.Clients()
	answered := make([]bool, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Health(ctx)
			switch {
			case err == nil:
				answered[i] = true
			case health.IsTLS(err):
				fix := "the node's certificate is not signed by the CA fetched over SSH"
				if x.inv.API.CAFile != "" {
					fix = fmt.Sprintf("api.ca_file %s is not the cluster's CA: use the node's %s/http-tls/ca.crt, or remove api.ca_file to fetch it over SSH",
						x.inv.API.CAFile, x.nodes[i].Paths.DataRoot)
				}
				errs[i] = fmt.Errorf("%v; %s", err, fix)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		code := runbook.ExitRefused
		if x.inv.API.CAFile != "" {
			code = runbook.ExitUsage
		}
		return &runbook.ExitError{Code: code, Err: err}
	}
	for i, c := range clients {
		if !answered[i] {
			continue
		}
		who, err := c.WhoAmI(ctx)
		if err != nil {
			if health.IsUnauthorized(err) || health.IsForbidden(err) {
				return &runbook.ExitError{Code: runbook.ExitUsage, Err: fmt.Errorf("the API token (%s) is refused: %v; unset %s to mint one over SSH, or mint a fresh admin token",
					x.tokenSource(), err, x.tokenEnv())}
			}
			continue // try another node
		}
		admin := false
		for _, r := range who.Roles {
			if strings.EqualFold(r, "admin") {
				admin = true
			}
		}
		if !admin {
			return &runbook.ExitError{Code: runbook.ExitUsage, Err: fmt.Errorf("the API token (%s) has no admin role (roles: %s): sysdumps need admin; use a token minted with --roles admin",
				x.tokenSource(), strings.Join(who.Roles, ", "))}
		}
		return nil
	}
	return nil
}

func (x *Executor) tokenSource() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cfg.TokenSource != "" {
		return x.cfg.TokenSource
	}
	return "$" + x.tokenEnv()
}

// Clients are the health clients, in inventory order.
func (x *Executor) Clients() []*api.Client {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]*api.Client(nil), x.clients...)
}

// Poll refreshes every node (api.Refresh). A minted token is renewed
// when it gets old.
func (x *Executor) Poll(ctx context.Context) health.ClusterSnapshot {
	x.renewToken(ctx)
	snap := api.Refresh(ctx, x.Clients())
	matchMembers(&snap)
	x.mu.Lock()
	cp := snap
	x.lastSnap = &cp
	x.mu.Unlock()
	return snap
}

// LastSnapshot is the latest poll, if any.
func (x *Executor) LastSnapshot() (health.ClusterSnapshot, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.lastSnap == nil {
		return health.ClusterSnapshot{}, false
	}
	return *x.lastSnap, true
}

func (x *Executor) renewToken(ctx context.Context) {
	x.mu.Lock()
	at := x.mintedAt
	x.mu.Unlock()
	if at.IsZero() || time.Since(at) < tokenRefresh {
		return
	}
	if err := x.mint(ctx); err != nil {
		x.note(Note{Kind: NoteInfo, Text: "renewing the API token failed: " + err.Error()})
		return
	}
	if err := x.buildClients(); err != nil {
		x.note(Note{Kind: NoteInfo, Text: "renewing the API token failed: " + err.Error()})
	}
}

const readFilesScript = `b=$1; u=$2; shift 2
` + activeScript + filesScript + unitScript + activeReport

// ReadFiles reads each node's binary, <binary>.new and <binary>.prev
// (sha256), the unit's state and restart count, and whether it is active.
// Read-only.
func (x *Executor) ReadFiles(ctx context.Context, names []string) ([]runbook.NodeFiles, error) {
	out := make([]runbook.NodeFiles, len(names))
	err := x.ForEach(names, func(name string) error {
		i := indexOf(names, name)
		n, err := x.node(name)
		if err != nil {
			return err
		}
		args := append([]string{n.Paths.Binary, x.inv.Service.Unit}, x.isActiveArgs()...)
		res, err := x.script(ctx, n, "read-files", readFilesScript, time.Minute, args...)
		if err != nil {
			return err
		}
		if res.Code != 0 {
			return commandError("read-files", name, res)
		}
		f, err := parseReadFiles(name, res.Stdout)
		if err != nil {
			return err
		}
		out[i] = f
		x.mu.Lock()
		x.files[name] = f
		x.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func parseReadFiles(node, out string) (runbook.NodeFiles, error) {
	f := runbook.NodeFiles{Node: node}
	unit := map[string]string{}
	var kinds []string
	inSums, sums, sumsEnd, active, fromUnit := false, 0, false, false, false
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "nwroll-unit: "); ok {
			k, v, found := strings.Cut(strings.TrimSpace(rest), "=")
			if _, dup := unit[k]; !found || dup {
				return f, fmt.Errorf("read-files on %s: bad systemctl show line %q", node, rest)
			}
			unit[k] = v
			continue
		}
		if rest, ok := strings.CutPrefix(l, "nwroll-sums:"); ok {
			kinds, inSums = strings.Fields(rest), true
			continue
		}
		if inSums && l == "nwroll-sums-end" {
			inSums, sumsEnd = false, true
			continue
		}
		if inSums {
			// "<sha256>  <path>", with a leading \ when sha256sum escaped the path.
			sha, _, _ := strings.Cut(strings.TrimPrefix(l, "\\"), " ")
			sha, ok := release.NormSHA(sha)
			if sums >= len(kinds) || !ok {
				return f, fmt.Errorf("read-files on %s: bad sha256sum line %q", node, l)
			}
			switch kinds[sums] {
			case ".bin":
				f.SHA256 = sha
			case ".new":
				f.NewPresent, f.NewSHA256 = true, sha
			case ".prev":
				f.PrevPresent, f.PrevSHA256 = true, sha
			}
			sums++
			continue
		}
		if rest, ok := strings.CutPrefix(l, "nwroll-active: "); ok {
			rest = strings.TrimSpace(rest)
			code, err := strconv.Atoi(rest)
			if err != nil && rest != "unit" {
				return f, fmt.Errorf("read-files on %s: bad is-active report %q", node, rest)
			}
			f.Active, active, fromUnit = err == nil && code == 0, true, rest == "unit"
		}
	}
	if !sumsEnd || sums != len(kinds) || !active {
		return f, fmt.Errorf("read-files on %s: incomplete report %q", node, lastLine(out))
	}
	u, err := parseUnit(unit)
	if err != nil {
		return f, fmt.Errorf("read-files on %s: systemctl show: %v", node, err)
	}
	f.Unit = u
	if fromUnit {
		switch u.ActiveState {
		case "active", "reloading", "refreshing":
			f.Active = true
		}
	}
	return f, nil
}

// parseUnit reads the unit's ActiveState, SubState and NRestarts from
// systemctl show's KEY=value lines; each must be there.
func parseUnit(kv map[string]string) (health.Unit, error) {
	var u health.Unit
	for _, k := range []string{"ActiveState", "SubState", "NRestarts"} {
		if kv[k] == "" {
			return u, fmt.Errorf("no %s reported (got %d properties)", k, len(kv))
		}
	}
	if len(kv) != 3 {
		return u, fmt.Errorf("%d properties reported, want ActiveState, SubState and NRestarts", len(kv))
	}
	n, err := strconv.Atoi(kv["NRestarts"])
	if err != nil || n < 0 {
		return u, fmt.Errorf("bad NRestarts %q", kv["NRestarts"])
	}
	return health.Unit{ActiveState: kv["ActiveState"], SubState: kv["SubState"], NRestarts: n}, nil
}

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}
