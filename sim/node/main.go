package node

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// noFlagsMessage is what Neuwerk prints for any unknown argument (facts §0.2).
const noFlagsMessage = "runtime startup no longer accepts CLI flags; configure /etc/neuwerk/config.yaml instead"

// Main is the simulated neuwerk binary. args follow the hidden __neuwerk
// command: --release V --fault F --self PATH, then Neuwerk's own CLI:
//
//	(none)                   run the daemon until SIGTERM/SIGINT
//	auth token mint ...      print a JWT
//	sysdump [--output PATH]  write a per-node sysdump and print its path
//
// Anything else prints noFlagsMessage and exits 2.
func Main(args []string) int {
	return mainWith(args, os.Stdout, os.Stderr)
}

func mainWith(args []string, stdout, stderr io.Writer) int {
	launcher, rest, err := parseLauncherFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, "__neuwerk:", err)
		return 2
	}
	self, err := filepath.Abs(launcher.self)
	if err != nil {
		fmt.Fprintln(stderr, "__neuwerk:", err)
		return 2
	}
	root := RootFromSelf(self)
	if len(rest) == 0 {
		return runDaemon(root, launcher, stderr)
	}
	switch rest[0] {
	case "auth":
		return runAuthCLI(root, rest[1:], stdout, stderr)
	case "sysdump":
		return runSysdumpCLI(root, rest[1:], stdout, stderr)
	case "cluster":
		fmt.Fprintln(stderr, "error: `neuwerk cluster` subcommands are not available in the nwroll simulator")
		return 2
	}
	fmt.Fprintln(stderr, noFlagsMessage)
	return 2
}

type launcherFlags struct {
	release string
	fault   Fault
	self    string
}

// parseLauncherFlags consumes the leading --release/--fault/--self flags
// written by the release launcher script.
func parseLauncherFlags(args []string) (launcherFlags, []string, error) {
	var l launcherFlags
	fault := ""
	for len(args) > 0 {
		name, val, inline := strings.Cut(args[0], "=")
		var dst *string
		switch name {
		case "--release":
			dst = &l.release
		case "--fault":
			dst = &fault
		case "--self":
			dst = &l.self
		}
		if dst == nil {
			break
		}
		if inline {
			args = args[1:]
		} else {
			if len(args) < 2 {
				return l, nil, fmt.Errorf("%s needs a value", name)
			}
			val, args = args[1], args[2:]
		}
		*dst = val
	}
	if l.self == "" {
		return l, nil, errors.New("--self is required (the launcher passes \"$0\")")
	}
	f, err := ParseFault(fault)
	if err != nil {
		return l, nil, err
	}
	l.fault = f
	return l, args, nil
}

func runDaemon(root string, l launcherFlags, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	if err := Run(ctx, root, RunOptions{Release: l.release, Fault: l.fault, Log: stderr}); err != nil {
		return 2
	}
	return 0
}

const mintUsage = "usage: neuwerk auth token mint --sub <subject> [--roles admin] [--ttl 90d] " +
	"[--http-tls-dir DIR | --cluster-addr IP:9600 [--cluster-tls-dir DIR]]"

// runAuthCLI implements `neuwerk auth token mint`. The keyset is read from
// <http-tls-dir>/api-auth.json (default: http.tls_dir from config.yaml).
// With --cluster-addr the simulator first checks that the node's cluster
// listener accepts an mTLS connection with the local cluster certificate,
// then signs with the local copy of the keyset, which every simulated node
// shares (real Neuwerk asks that node to sign over the cluster RPC).
func runAuthCLI(root string, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "token" || args[1] != "mint" {
		fmt.Fprintln(stderr, mintUsage)
		return 2
	}
	fs := flag.NewFlagSet("neuwerk auth token mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "token subject")
	var roles rolesFlag
	fs.Var(&roles, "roles", "roles claim (repeat or comma-separate); admin allows POST")
	ttlText := fs.String("ttl", "90d", "lifetime: Ns, Nm, Nh, Nd or bare seconds")
	tlsDir := fs.String("http-tls-dir", "", "directory holding api-auth.json")
	clusterAddr := fs.String("cluster-addr", "", "sign via this node's cluster listener")
	clusterTLS := fs.String("cluster-tls-dir", "", "cluster mTLS material (default <cluster.data_dir>/tls)")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected argument %q\n%s\n", fs.Arg(0), mintUsage)
		return 2
	}
	if *sub == "" {
		fmt.Fprintf(stderr, "error: --sub is required\n%s\n", mintUsage)
		return 2
	}
	ttl, err := ParseTTL(*ttlText)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if *tlsDir != "" && *clusterAddr != "" {
		fmt.Fprintln(stderr, "error: --http-tls-dir and --cluster-addr are mutually exclusive")
		return 2
	}
	keysetPath := ""
	if *tlsDir != "" {
		keysetPath = filepath.Join(resolveNodePath(root, *tlsDir), "api-auth.json")
	} else {
		cfg, err := LoadConfig(PathsFor(root).Config)
		if err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return 1
		}
		if *clusterAddr != "" {
			dir := cfg.ClusterTLSDir()
			if *clusterTLS != "" {
				dir = resolveNodePath(root, *clusterTLS)
			}
			if err := probeCluster(*clusterAddr, dir); err != nil {
				fmt.Fprintf(stderr, "error: cluster auth rpc to %s failed: %v\n", *clusterAddr, err)
				return 1
			}
		}
		keysetPath = cfg.APIAuthPath()
	}
	keys, err := LoadAPIKeyset(keysetPath)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	tok, err := MintToken(keys, *sub, roles, ttl, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

type rolesFlag []string

func (r *rolesFlag) String() string { return strings.Join(*r, ",") }

func (r *rolesFlag) Set(v string) error {
	for _, role := range strings.Split(v, ",") {
		if role = strings.TrimSpace(role); role != "" {
			*r = append(*r, role)
		}
	}
	return nil
}

// ParseTTL parses Neuwerk's token lifetimes: Ns, Nm, Nh, Nd or bare seconds.
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	unit := time.Second
	num := s
	if s != "" {
		switch s[len(s)-1] {
		case 's':
			num = s[:len(s)-1]
		case 'm':
			unit, num = time.Minute, s[:len(s)-1]
		case 'h':
			unit, num = time.Hour, s[:len(s)-1]
		case 'd':
			unit, num = 24*time.Hour, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid ttl %q: use Ns, Nm, Nh, Nd or seconds", s)
	}
	return time.Duration(n) * unit, nil
}

// probeCluster checks that a node's cluster listener completes an mTLS
// handshake with this node's cluster certificate.
func probeCluster(addr, tlsDir string) error {
	cert, pool, err := loadTLSDir(tlsDir)
	if err != nil {
		return err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return err
	}
	return conn.Close()
}

// runSysdumpCLI implements `neuwerk sysdump [--output PATH]`.
func runSysdumpCLI(root string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("neuwerk sysdump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "", "archive path (default /tmp/neuwerk-sysdump-<UTC stamp>.tar.gz)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	now := time.Now().UTC()
	path := *output
	if path == "" {
		path = filepath.Join(os.TempDir(), "neuwerk-sysdump-"+sysdumpFileStamp(now)+".tar.gz")
	} else {
		path = resolveNodeOutput(root, path)
	}
	data, err := buildNodeArchive(offlineSysdumpSource(root), now)
	if err != nil {
		fmt.Fprintln(stderr, "error: build sysdump:", err)
		return 1
	}
	if err := writeSysdumpFile(path, data); err != nil {
		fmt.Fprintln(stderr, "error: write sysdump:", err)
		return 1
	}
	fmt.Fprintln(stdout, path)
	return 0
}

// offlineSysdumpSource describes a node from disk, for the CLI.
func offlineSysdumpSource(root string) sysdumpSource {
	p := PathsFor(root)
	src := sysdumpSource{root: root}
	if id, err := readNodeUUID(p.NodeID); err == nil {
		src.nodeUUID = id
	}
	if cfg, err := LoadConfig(p.Config); err == nil {
		if c, err := net.DialTimeout("tcp", cfg.HTTP.Bind, 500*time.Millisecond); err == nil {
			c.Close()
			src.service.active = true
		}
	}
	src.raft = func() (clusterSummary, *storedPolicy, error) { return offlineRaftView(p.RaftDir) }
	return src
}

// resolveNodePath maps a node path such as /var/lib/neuwerk/http-tls onto
// the node root when it does not exist on the host but does under root, so
// the real Neuwerk paths work in the simulator.
func resolveNodePath(root, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if _, err := os.Stat(filepath.Join(root, p)); err == nil {
		return filepath.Join(root, p)
	}
	return p
}

// resolveNodeOutput does the same for an output file, by its directory.
func resolveNodeOutput(root, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	dir := filepath.Dir(p)
	if _, err := os.Stat(dir); err == nil {
		return p
	}
	if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
		return filepath.Join(root, p)
	}
	return p
}
