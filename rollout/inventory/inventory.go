// Package inventory loads an nwroll inventory: the YAML file that names a
// Neuwerk cluster and tells nwroll how to reach each node (docs/inventory.md).
//
// Load validates the whole file and resolves every node completely: SSH
// address, user, identity files, known_hosts, jump hosts, API and metrics
// URLs, and paths, with Neuwerk's real defaults and ~/.ssh/config applied.
// Every error names the file, the line and the fix.
package inventory

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Neuwerk's real defaults (neuwerk-facts.md §6, §7, §12) and nwroll's own.
const (
	DefaultBinary        = "/opt/neuwerk/bin/neuwerk"
	DefaultDataRoot      = "/var/lib/neuwerk"
	DefaultBackupDir     = "/var/backups/neuwerk"
	DefaultUnit          = "neuwerk.service"
	DefaultAPIPort       = 8443
	DefaultMetricsPort   = 8080
	DefaultTokenEnv      = "NEUWERK_TOKEN"
	DefaultGateTimeout   = 5 * time.Minute
	DefaultStabilisation = 15 * time.Second
	DefaultSSHPort       = 22
	DefaultSudo          = true
	// DefaultKnownHosts is relative to $HOME.
	DefaultKnownHosts = "~/.ssh/known_hosts"
)

// EnvSSHConfig names an ssh_config file to use instead of ~/.ssh/config;
// "none" disables ssh_config (as `ssh -F none` does).
const EnvSSHConfig = "NWROLL_SSH_CONFIG"

// maxFileSize bounds what Load reads: an inventory is a few KiB.
const maxFileSize = 4 << 20

// Inventory is a loaded, validated inventory.
type Inventory struct {
	// Path is the file the inventory was loaded from, as given to Load.
	Path string
	// Cluster names the journal directory and the lock.
	Cluster string
	// SSH holds the inventory-wide SSH settings, defaults applied.
	SSH SSHSettings
	API API
	// Paths are the inventory-wide paths; a node may override them (Node.Paths).
	Paths   Paths
	Service Service
	Gates   Gates
	// SSHConfig is the ssh_config file that was consulted, "" when none was.
	SSHConfig string
	// Cloud is the `cloud:` section, or nil: then Nodes lists the nodes;
	// with it they are discovered (Discovered).
	Cloud *Cloud

	nodes []Node
	raw   *rawInventory
	env   *env
}

// SSHSettings is the inventory's `ssh:` section with defaults applied.
// ssh_config may still refine a node's user, port and jump host when the
// inventory leaves them unset (see Node).
type SSHSettings struct {
	User          string
	Port          int
	IdentityFiles []string // absolute; may be empty (the agent is used as well)
	KnownHosts    string   // absolute; the file exists
	JumpHost      string   // as written, "" for none
	Sudo          bool
}

// API is the inventory's `api:` section.
type API struct {
	Port        int
	MetricsPort int
	CAFile      string // absolute, or "" to fetch <data_root>/http-tls/ca.crt over SSH
	TokenEnv    string
}

// Paths on a node, all absolute.
type Paths struct {
	Binary    string
	DataRoot  string
	BackupDir string
}

// Service says how the Neuwerk service is controlled. Each command is an
// argv (already split from the inventory's text); run it with the node's
// sudo setting.
type Service struct {
	Unit     string
	Stop     []string
	Start    []string
	IsActive []string
}

// Gates are the gate timings.
type Gates struct {
	Timeout       time.Duration // how long one gate may wait before the operator is asked
	Stabilisation time.Duration // how long all gates must hold after a restart
}

// Jump is one SSH jump host (ProxyJump hop).
type Jump struct {
	User string
	Host string
	Port int
}

// Addr is host:port for net.Dial.
func (j Jump) Addr() string { return net.JoinHostPort(j.Host, strconv.Itoa(j.Port)) }

// String is user@host:port.
func (j Jump) String() string { return j.User + "@" + j.Addr() }

// Node is one node with everything resolved.
//
// Precedence, for the SSH user, port and jump host: the node's own keys in
// the inventory, then the inventory's `ssh:` section when it sets the key,
// then ~/.ssh/config for the node's host, then the built-in defaults. The
// inventory is the reviewed description of the cluster, so an explicit value
// there is never overridden by a personal ssh_config; ssh_config fills in what
// the inventory leaves open. HostName always comes from ssh_config when it has
// one (the inventory has no such key), and IdentityFile entries from
// ssh_config are tried after the inventory's identity files.
type Node struct {
	Name string
	// Alias is the host as written in the inventory; ssh_config is matched against it.
	Alias string
	// Host is where SSH connects: ssh_config's HostName for Alias, or Alias.
	Host    string
	SSHPort int
	User    string
	// APIHost is an IP address (Neuwerk's certificates carry IP SANs only).
	APIHost    string
	APIURL     string // https://APIHost:api.port
	MetricsURL string // http://APIHost:api.metrics_port
	Paths      Paths
	// IdentityFiles: the inventory's, then ssh_config's that exist.
	IdentityFiles []string
	KnownHosts    string
	// Jump is the chain of jump hosts, first hop first; empty to connect directly.
	Jump []Jump
	Sudo bool
	// Line is the line of the node's entry in the inventory, for messages.
	Line int
}

// SSHAddr is Host:SSHPort.
func (n Node) SSHAddr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.SSHPort)) }

// Target is user@host:port, for messages.
func (n Node) Target() string { return n.User + "@" + n.SSHAddr() }

// Nodes returns every node, resolved, in inventory order. The slice is a copy.
func (inv *Inventory) Nodes() []Node {
	out := make([]Node, len(inv.nodes))
	for i, n := range inv.nodes {
		out[i] = n.clone()
	}
	return out
}

// Node returns the node called name.
func (inv *Inventory) Node(name string) (Node, bool) {
	for _, n := range inv.nodes {
		if n.Name == name {
			return n.clone(), true
		}
	}
	return Node{}, false
}

func (n Node) clone() Node {
	n.IdentityFiles = append([]string(nil), n.IdentityFiles...)
	n.Jump = append([]Jump(nil), n.Jump...)
	return n
}

// Options tune Load.
type Options struct {
	// SSHConfig is the ssh_config file to honour. "" means $NWROLL_SSH_CONFIG
	// when set, else ~/.ssh/config (a missing file is no error); "none"
	// disables ssh_config.
	SSHConfig string
}

// Load reads and validates the inventory at path, honouring ~/.ssh/config
// (or $NWROLL_SSH_CONFIG). A refused inventory gives an *Error.
func Load(path string) (*Inventory, error) {
	return LoadWith(path, Options{})
}

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &Error{Issues: []Issue{{File: path, Msg: "the inventory file does not exist: pass -i with the path of your inventory " +
				"(format: docs/inventory.md), or run `nwroll sim up --dir DIR` and use DIR/inventory.yaml"}}}
		}
		return nil, &Error{Issues: []Issue{{File: path, Msg: fmt.Sprintf("cannot read the inventory: %v", err)}}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &Error{Issues: []Issue{{File: path, Msg: fmt.Sprintf("cannot read the inventory: %v", err)}}}
	}
	if len(data) > maxFileSize {
		return nil, &Error{Issues: []Issue{{File: path, Msg: fmt.Sprintf("the file is larger than %d MiB; an inventory is a few KiB: is this the right file?", maxFileSize>>20)}}}
	}
	return Parse(path, data, opts)
}

// Parse validates inventory text. name is the file it came from: messages
// start with it, and relative local paths are resolved against its directory.
func Parse(name string, data []byte, opts Options) (*Inventory, error) {
	c := &collector{file: name}
	raw := parseYAML(c, data)
	if raw == nil {
		return nil, c.err()
	}
	env := newEnv(name, opts)
	inv := resolve(c, raw, env)
	if err := c.err(); err != nil {
		return nil, err
	}
	return inv, nil
}

// env is what resolution reads from the machine: $HOME, the local user and ssh_config.
type env struct {
	baseDir   string
	home      string
	localUser string
	sshConfig *sshConfig
	sshErr    string // ssh_config could not be read or parsed
}

func newEnv(name string, opts Options) *env {
	e := &env{baseDir: filepath.Dir(name)}
	if abs, err := filepath.Abs(e.baseDir); err == nil {
		e.baseDir = abs
	}
	e.home, _ = os.UserHomeDir()
	e.localUser = os.Getenv("USER")
	if e.localUser == "" {
		if u, err := user.Current(); err == nil {
			e.localUser = u.Username
		}
	}
	path := opts.SSHConfig
	explicit := path != ""
	if path == "" {
		if p := os.Getenv(EnvSSHConfig); p != "" {
			path, explicit = p, true
		} else if e.home != "" {
			path = filepath.Join(e.home, ".ssh", "config")
		}
	}
	if path != "" && path != "none" {
		path = e.expandHome(path)
		cfg, err := loadSSHConfig(path)
		switch {
		case err == nil:
			e.sshConfig = cfg
		case os.IsNotExist(err) && !explicit:
			// no ~/.ssh/config: nothing to honour
		default:
			e.sshErr = fmt.Sprintf("cannot use the ssh_config file %s: %v; fix it, or set %s to another file (or to none to ignore ssh_config)",
				path, err, EnvSSHConfig)
		}
	}
	return e
}

// expandHome turns a leading ~ or ~/ into $HOME.
func (e *env) expandHome(p string) string {
	if p == "~" {
		return e.home
	}
	if strings.HasPrefix(p, "~/") && e.home != "" {
		return filepath.Join(e.home, p[2:])
	}
	return p
}

// localPath expands ~ and makes a relative path absolute against the
// inventory's directory.
func (e *env) localPath(p string) string {
	p = e.expandHome(p)
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.baseDir, p)
	}
	return filepath.Clean(p)
}
