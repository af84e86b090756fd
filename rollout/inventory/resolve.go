package inventory

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var (
	safeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostRE     = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
	userRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	unitRE     = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+$`)
)

// resolve applies defaults and ssh_config, validates, and builds the Inventory.
func resolve(c *collector, raw *rawInventory, e *env) *Inventory {
	inv := &Inventory{Path: c.file}
	if e.sshErr != "" {
		c.add(0, "%s", e.sshErr)
	} else if e.sshConfig != nil {
		inv.SSHConfig = e.sshConfig.path
	}
	inv.Cluster = resolveCluster(c, raw)
	var khLine int
	inv.SSH, khLine = resolveSSH(c, raw, e)
	inv.API = resolveAPI(c, raw, e)
	inv.Paths = applyPaths(c, Paths{Binary: DefaultBinary, DataRoot: DefaultDataRoot, BackupDir: DefaultBackupDir}, raw.paths, "paths")
	checkPathRelations(c, inv.Paths, raw.paths, "paths", raw.firstLine)
	inv.Service = resolveService(c, raw)
	inv.Gates = resolveGates(c, raw)
	inv.Cloud = resolveCloud(c, raw.cloud)
	inv.raw, inv.env = raw, e
	if inv.Cloud != nil {
		if raw.nodesField.set && len(raw.nodes) > 0 {
			c.add(raw.nodesField.line, "with `cloud:` the nodes are the instances of group %s, discovered at each run: remove `nodes:`", inv.Cloud.Group)
		}
		checkKnownHosts(c, inv.SSH.KnownHosts, nil, khLine)
		return inv
	}
	inv.nodes = resolveNodes(c, raw, inv, e)
	// After the nodes are known, so the fix can name them.
	checkKnownHosts(c, inv.SSH.KnownHosts, inv.nodes, khLine)
	return inv
}

func resolveCluster(c *collector, raw *rawInventory) string {
	switch {
	case !raw.cluster.set || raw.cluster.v == "":
		c.add(raw.firstLine, "`cluster:` is missing: name the cluster (e.g. `cluster: prod-eu1`); it names the journal and the lock")
	case !safeNameRE.MatchString(raw.cluster.v) || raw.cluster.v == "." || raw.cluster.v == "..":
		c.add(raw.cluster.line, "cluster %q is not a safe directory name (it names $XDG_STATE_HOME/nwroll/<cluster>/): use up to 63 letters, digits, '.', '_' and '-', starting with a letter or digit", raw.cluster.v)
	default:
		return raw.cluster.v
	}
	return ""
}

// resolveSSH returns the ssh section with its defaults, and the line a
// known_hosts problem is reported on.
func resolveSSH(c *collector, raw *rawInventory, e *env) (SSHSettings, int) {
	var s SSHSettings
	s.User = e.localUser
	if raw.ssh.user.set {
		s.User = raw.ssh.user.v
		checkUser(c, raw.ssh.user.line, "ssh.user", s.User)
	}
	s.Port = DefaultSSHPort
	if raw.ssh.port.set {
		s.Port = raw.ssh.port.v
		checkPort(c, raw.ssh.port.line, "ssh.port", s.Port)
	}
	s.IdentityFiles = identityFiles(c, raw, e)
	khLine := raw.ssh.line
	if khLine == 0 {
		khLine = raw.firstLine
	}
	s.KnownHosts = e.localPath(DefaultKnownHosts)
	if raw.ssh.knownHosts.set && raw.ssh.knownHosts.v != "" {
		s.KnownHosts = e.localPath(raw.ssh.knownHosts.v)
		khLine = raw.ssh.knownHosts.line
	}
	s.Sudo = DefaultSudo
	if raw.ssh.sudo.set {
		s.Sudo = raw.ssh.sudo.v
	}
	if raw.ssh.jumpHost.set {
		s.JumpHost = strings.TrimSpace(raw.ssh.jumpHost.v)
		if _, err := parseJumpSpec(s.JumpHost); err != "" {
			c.add(raw.ssh.jumpHost.line, "ssh.jump_host %q: %s", s.JumpHost, err)
		}
	}
	return s, khLine
}

// identityFiles returns ssh.identity_files as local paths, each checked to be a file.
func identityFiles(c *collector, raw *rawInventory, e *env) []string {
	var files []string
	for i, f := range raw.ssh.identityFiles.v {
		line := raw.ssh.identityFiles.line
		if i < len(raw.ssh.identityLines) {
			line = raw.ssh.identityLines[i]
		}
		p := e.localPath(f)
		if f == "" {
			c.add(line, "ssh.identity_files lists an empty path: remove it")
			continue
		}
		if st, err := os.Stat(p); err != nil {
			c.add(line, "identity file %s does not exist: fix the path, or remove it from ssh.identity_files (keys in the agent at $SSH_AUTH_SOCK are used too)", p)
			continue
		} else if st.IsDir() {
			c.add(line, "identity file %s is a directory: name the private key file, e.g. ~/.ssh/id_ed25519", p)
			continue
		}
		files = append(files, p)
	}
	return files
}

func resolveAPI(c *collector, raw *rawInventory, e *env) API {
	api := API{Port: DefaultAPIPort, MetricsPort: DefaultMetricsPort, TokenEnv: DefaultTokenEnv}
	if raw.api.port.set {
		api.Port = raw.api.port.v
		checkPort(c, raw.api.port.line, "api.port", api.Port)
	}
	if raw.api.metricsPort.set {
		api.MetricsPort = raw.api.metricsPort.v
		checkPort(c, raw.api.metricsPort.line, "api.metrics_port", api.MetricsPort)
	}
	if raw.api.port.set && raw.api.metricsPort.set && api.Port == api.MetricsPort {
		c.add(raw.api.metricsPort.line, "api.metrics_port is the same as api.port (%d): Neuwerk serves HTTPS on 8443 and metrics on 8080 by default", api.Port)
	}
	if raw.api.caFile.set && raw.api.caFile.v != "" {
		p := e.localPath(raw.api.caFile.v)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			c.add(raw.api.caFile.line, "api.ca_file %s does not exist: fix the path, or leave ca_file empty to fetch <data_root>/http-tls/ca.crt from the node over SSH", p)
		}
		api.CAFile = p
	}
	if raw.api.tokenEnv.set {
		api.TokenEnv = raw.api.tokenEnv.v
		if !envNameRE.MatchString(api.TokenEnv) {
			c.add(raw.api.tokenEnv.line, "api.token_env %q is not an environment variable name: use letters, digits and '_' (default %s)", api.TokenEnv, DefaultTokenEnv)
		}
	}
	return api
}

func resolveService(c *collector, raw *rawInventory) Service {
	unit := DefaultUnit
	if raw.service.unit.set {
		unit = raw.service.unit.v
		if !unitRE.MatchString(unit) {
			c.add(raw.service.unit.line, "service.unit %q is not a systemd unit name such as neuwerk.service", unit)
		}
	}
	return Service{
		Unit:     unit,
		Stop:     serviceCmd(c, raw.service.stop, "service.stop", []string{"systemctl", "stop", unit}),
		Start:    serviceCmd(c, raw.service.start, "service.start", []string{"systemctl", "start", unit}),
		IsActive: serviceCmd(c, raw.service.isActive, "service.is_active", []string{"systemctl", "is-active", unit}),
	}
}

func resolveGates(c *collector, raw *rawInventory) Gates {
	g := Gates{Timeout: DefaultGateTimeout, Stabilisation: DefaultStabilisation}
	if raw.gates.timeout.set {
		g.Timeout = raw.gates.timeout.v
		if g.Timeout <= 0 {
			c.add(raw.gates.timeout.line, "gates.timeout must be positive, e.g. 5m")
		}
	}
	if raw.gates.stabilisation.set {
		g.Stabilisation = raw.gates.stabilisation.v
		if g.Stabilisation < 0 {
			c.add(raw.gates.stabilisation.line, "gates.stabilisation must not be negative, e.g. 15s")
		}
	}
	if g.Timeout > 0 && g.Stabilisation >= g.Timeout {
		line := raw.gates.timeout.line
		if line == 0 {
			line = raw.gates.stabilisation.line
		}
		c.add(line, "gates.timeout (%s) must be longer than gates.stabilisation (%s), or no gate could ever pass: raise the timeout", g.Timeout, g.Stabilisation)
	}
	return g
}

// checkKnownHosts reports a missing known_hosts file, with the commands that
// would fill it for the first nodes.
func checkKnownHosts(c *collector, knownHosts string, nodes []Node, line int) {
	st, err := os.Stat(knownHosts)
	if err == nil && !st.IsDir() {
		return
	}
	var fixes []string
	for i, n := range nodes {
		if i == 3 {
			fixes = append(fixes, "  ...")
			break
		}
		fixes = append(fixes, fmt.Sprintf("  ssh-keyscan -p %d %s >> %s", n.SSHPort, n.Host, knownHosts))
	}
	if len(fixes) == 0 {
		fixes = []string{fmt.Sprintf("  ssh-keyscan -p PORT HOST >> %s", knownHosts)}
	}
	what := "does not exist"
	if err == nil {
		what = "is a directory"
	}
	c.add(line, "known_hosts file %s %s: nwroll checks every host key strictly and never trusts a key on first use. "+
		"Verify each node's host key fingerprint out of band (on the node: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it:\n%s\n"+
		"and check what was added with `ssh-keygen -lf %s`; or point ssh.known_hosts at the file that holds them",
		knownHosts, what, strings.Join(fixes, "\n"), knownHosts)
}

// resolveNodes resolves each node, refusing a name, SSH address or API
// address that an earlier node already has.
func resolveNodes(c *collector, raw *rawInventory, inv *Inventory, e *env) []Node {
	if !raw.nodesField.set || len(raw.nodes) == 0 {
		line := raw.nodesField.line
		if line == 0 {
			line = raw.firstLine
		}
		c.add(line, "no nodes: list at least one under `nodes:` (`- name: fw-a` / `  host: 10.0.1.11`)")
		return nil
	}
	var nodes []Node
	names := map[string]int{}
	addrs := map[string]string{}
	apis := map[string]string{}
	for _, rn := range raw.nodes {
		n, ok := resolveNode(c, rn, raw, inv, e)
		if !ok {
			continue
		}
		if first, dup := names[n.Name]; dup {
			c.add(rn.name.line, "node name %q is used twice (first on line %d): node names must be unique", n.Name, first)
			continue
		}
		names[n.Name] = rn.name.line
		key := n.SSHAddr()
		if len(n.Jump) > 0 {
			key = n.Jump[len(n.Jump)-1].Addr() + " -> " + key
		}
		if other, dup := addrs[key]; dup {
			c.add(rn.host.line, "node %s connects to %s, as node %s does: every node needs its own host and ssh_port", n.Name, n.SSHAddr(), other)
		}
		addrs[key] = n.Name
		if other, dup := apis[n.APIURL]; dup {
			c.add(rn.line, "node %s has the API address %s, as node %s does: set api_host to each node's own management IP", n.Name, n.APIURL, other)
		}
		apis[n.APIURL] = n.Name
		nodes = append(nodes, n)
	}
	return nodes
}

func resolveNode(c *collector, rn rawNode, raw *rawInventory, inv *Inventory, e *env) (Node, bool) {
	n := Node{Line: rn.line}
	var ok bool
	n.Name, ok = nodeName(c, rn)
	if !rn.host.set || rn.host.v == "" {
		c.add(rn.line, "%s has no host: add `host: <IP or ssh_config alias>`", rn.label)
		return n, false
	}
	alias := strings.TrimSpace(rn.host.v)
	if msg := checkHost(alias); msg != "" {
		c.add(rn.host.line, "%s: host %q %s", rn.label, alias, msg)
		return n, false
	}
	n.Alias = alias
	r := &nodeResolver{c: c, rn: rn, raw: raw, inv: inv, e: e, sc: e.sshConfig, alias: alias, ok: ok}
	n.Host = r.hostName()
	n.SSHPort = r.sshPort()
	n.User = r.user(n.Host, n.SSHPort)
	n.IdentityFiles = r.identityFiles(n.Host, n.User, n.SSHPort)
	n.KnownHosts = inv.SSH.KnownHosts
	n.Sudo = inv.SSH.Sudo
	n.Jump = r.jumps()
	n.APIHost = r.apiHost(n.Host)
	n.APIURL = (&url.URL{Scheme: "https", Host: net.JoinHostPort(n.APIHost, strconv.Itoa(inv.API.Port))}).String()
	n.MetricsURL = (&url.URL{Scheme: "http", Host: net.JoinHostPort(n.APIHost, strconv.Itoa(inv.API.MetricsPort))}).String()

	// Paths: node over inventory-wide.
	n.Paths = applyPaths(c, inv.Paths, rn.paths, rn.label+": paths")
	checkPathRelations(c, n.Paths, rn.paths, rn.label+": paths", rn.line)
	return n, r.ok
}

func nodeName(c *collector, rn rawNode) (string, bool) {
	switch {
	case !rn.name.set || rn.name.v == "":
		c.add(rn.line, "%s has no name: add `name: fw-a` (a short name used in messages, the journal and the lock)", rn.label)
		return "", false
	case !safeNameRE.MatchString(rn.name.v):
		c.add(rn.name.line, "node name %q is not safe in file names: use up to 63 letters, digits, '.', '_' and '-'", rn.name.v)
		return "", false
	}
	return rn.name.v, true
}

// nodeResolver settles one node's connection settings from the node entry,
// the inventory-wide sections and ssh_config, in that order of precedence.
// Each problem is reported and clears ok.
type nodeResolver struct {
	c     *collector
	rn    rawNode
	raw   *rawInventory
	inv   *Inventory
	e     *env
	sc    *sshConfig
	alias string
	ok    bool
}

// hostName is ssh_config's HostName for the alias, or the alias.
func (r *nodeResolver) hostName() string {
	hn := r.sc.get(r.alias, "HostName")
	if hn == "" {
		return r.alias
	}
	hn = r.e.expandTokens(hn, r.alias, r.alias, "", "")
	if msg := checkHost(hn); msg != "" {
		r.c.add(r.rn.host.line, "%s: ssh_config %s gives HostName %q for %s, which %s", r.rn.label, r.sc.path, hn, r.alias, msg)
		r.ok = false
		return r.alias
	}
	return hn
}

// sshPort: node, ssh section, ssh_config, default.
func (r *nodeResolver) sshPort() int {
	rn := r.rn
	switch {
	case rn.sshPort.set:
		checkPort(r.c, rn.sshPort.line, rn.label+": ssh_port", rn.sshPort.v)
		return rn.sshPort.v
	case r.raw.ssh.port.set:
		return r.inv.SSH.Port
	}
	p := r.sc.get(r.alias, "Port")
	if p == "" {
		return DefaultSSHPort
	}
	v, err := strconv.Atoi(p)
	if err != nil || v < 1 || v > 65535 {
		r.c.add(rn.host.line, "%s: ssh_config %s gives Port %q for %s, which is not a port (1-65535): fix it there, or set ssh_port on the node", rn.label, r.sc.path, p, r.alias)
		r.ok = false
		return DefaultSSHPort
	}
	return v
}

// user: node, ssh section, ssh_config, $USER.
func (r *nodeResolver) user(host string, port int) string {
	rn := r.rn
	var u string
	switch {
	case rn.user.set:
		u = rn.user.v
		checkUser(r.c, rn.user.line, rn.label+": user", u)
	case r.raw.ssh.user.set:
		u = r.inv.SSH.User
	default:
		u = r.inv.SSH.User
		if cu := r.sc.get(r.alias, "User"); cu != "" {
			u = r.e.expandTokens(cu, r.alias, host, "", strconv.Itoa(port))
		}
	}
	if u == "" {
		r.c.add(rn.line, "%s: no SSH user: $USER is not set; set ssh.user (or user: on the node)", rn.label)
		r.ok = false
	}
	return u
}

// identityFiles: the inventory's, then ssh_config's that exist.
func (r *nodeResolver) identityFiles(host, user string, port int) []string {
	files := append([]string(nil), r.inv.SSH.IdentityFiles...)
	for _, f := range r.sc.getAll(r.alias, "IdentityFile") {
		if strings.EqualFold(f, "none") {
			continue
		}
		p := r.e.localPath(r.e.expandTokens(f, r.alias, host, user, strconv.Itoa(port)))
		if st, err := os.Stat(p); err != nil || st.IsDir() || contains(files, p) {
			continue // OpenSSH skips a missing IdentityFile too
		}
		files = append(files, p)
	}
	return files
}

// jumps: node, ssh section, ssh_config ProxyJump.
func (r *nodeResolver) jumps() []Jump {
	rn := r.rn
	spec, specLine, specFrom := "", rn.line, ""
	switch {
	case rn.jumpHost.set:
		spec, specLine, specFrom = rn.jumpHost.v, rn.jumpHost.line, rn.label+": jump_host"
	case r.raw.ssh.jumpHost.set:
		spec, specLine, specFrom = r.inv.SSH.JumpHost, r.raw.ssh.jumpHost.line, "ssh.jump_host"
	default:
		if pj := r.sc.get(r.alias, "ProxyJump"); pj != "" {
			spec, specLine, specFrom = pj, rn.host.line, fmt.Sprintf("ssh_config %s ProxyJump for %s", r.sc.path, r.alias)
		}
	}
	if spec == "" {
		return nil
	}
	hops, msg := parseJumpSpec(spec)
	switch {
	case msg != "" && specFrom != "ssh.jump_host": // ssh.jump_host was reported once already
		r.c.add(specLine, "%s %q: %s", specFrom, spec, msg)
		r.ok = false
	case msg != "":
		r.ok = false
	}
	var jumps []Jump
	for _, h := range hops {
		jumps = append(jumps, r.jump(h))
	}
	return jumps
}

// jump fills in a hop's host, port and user from ssh_config, as OpenSSH would.
func (r *nodeResolver) jump(h jumpHop) Jump {
	j := Jump{User: h.user, Host: h.host, Port: h.port}
	if hn := r.sc.get(h.host, "HostName"); hn != "" && checkHost(hn) == "" {
		j.Host = r.e.expandTokens(hn, h.host, h.host, "", "")
	}
	if j.Port == 0 {
		j.Port = DefaultSSHPort
		if p, err := strconv.Atoi(r.sc.get(h.host, "Port")); err == nil && p > 0 && p < 65536 {
			j.Port = p
		}
	}
	if j.User == "" {
		j.User = r.sc.get(h.host, "User")
	}
	if j.User == "" {
		j.User = r.inv.SSH.User
	}
	return j
}

// apiHost must be an IP (facts §1, §12).
func (r *nodeResolver) apiHost(host string) string {
	rn := r.rn
	switch {
	case rn.apiHost.set && rn.apiHost.v != "":
		if net.ParseIP(rn.apiHost.v) == nil {
			r.c.add(rn.apiHost.line, "%s: api_host %q is not an IP address: Neuwerk's API certificates carry IP SANs only, so name the node's management IP", rn.label, rn.apiHost.v)
			r.ok = false
		}
		return rn.apiHost.v
	case net.ParseIP(host) != nil:
		return host
	}
	r.c.add(rn.host.line, "%s: host %q is not an IP address, and the API is reached by IP (Neuwerk's certificates carry IP SANs only): add `api_host: <the node's management IP>` to the node", rn.label, host)
	r.ok = false
	return ""
}

func checkPort(c *collector, line int, name string, p int) {
	if p < 1 || p > 65535 {
		c.add(line, "%s %d is not a TCP port: use 1-65535", name, p)
	}
}

func checkUser(c *collector, line int, name, u string) {
	if !userRE.MatchString(u) {
		c.add(line, "%s %q is not a user name: use letters, digits, '.', '_' and '-'", name, u)
	}
}

// checkHost returns why s is not a usable host, or "".
func checkHost(s string) string {
	if s == "" {
		return "is empty"
	}
	if net.ParseIP(s) != nil {
		return ""
	}
	if h, p, err := net.SplitHostPort(s); err == nil && h != "" && p != "" {
		return fmt.Sprintf("includes a port: write host: %s and put the port in ssh_port", h)
	}
	if strings.Contains(s, "@") {
		return "includes a user: write the user in user: (or ssh.user)"
	}
	if !hostRE.MatchString(s) || len(s) > 253 {
		return "is not a host name or IP address"
	}
	return ""
}

// applyPaths overrides base with the paths set in rp, checking each is absolute.
func applyPaths(c *collector, base Paths, rp rawPaths, prefix string) Paths {
	set := func(dst *string, f field[string], key string) {
		if !f.set || f.v == "" {
			return
		}
		p := f.v
		switch {
		case !path.IsAbs(p):
			c.add(f.line, "%s.%s %q must be an absolute path on the node, e.g. %s", prefix, key, p, map[string]string{
				"binary": DefaultBinary, "data_root": DefaultDataRoot, "backup_dir": DefaultBackupDir}[key])
			return
		case strings.ContainsAny(p, "\x00\n\r"):
			c.add(f.line, "%s.%s contains a control character", prefix, key)
			return
		case path.Clean(p) == "/":
			c.add(f.line, "%s.%s cannot be the root directory /", prefix, key)
			return
		}
		*dst = path.Clean(p)
	}
	set(&base.Binary, rp.binary, "binary")
	set(&base.DataRoot, rp.dataRoot, "data_root")
	set(&base.BackupDir, rp.backupDir, "backup_dir")
	return base
}

// checkPathRelations refuses paths that would make a backup contain itself or
// the data root contain the binary.
func checkPathRelations(c *collector, p Paths, rp rawPaths, prefix string, fallback int) {
	line := func(f field[string]) int {
		if f.set && f.line > 0 {
			return f.line
		}
		return fallback
	}
	if !rp.backupDir.set && !rp.dataRoot.set {
		return // relations of inherited paths were checked where they were set
	}
	if within(p.BackupDir, p.DataRoot) {
		c.add(line(rp.backupDir), "%s: backup_dir %s is inside data_root %s, so every backup would contain the earlier ones: put backups elsewhere (default %s)",
			prefix, p.BackupDir, p.DataRoot, DefaultBackupDir)
	} else if within(p.DataRoot, p.BackupDir) {
		c.add(line(rp.dataRoot), "%s: data_root %s is inside backup_dir %s: keep them apart (defaults %s and %s)",
			prefix, p.DataRoot, p.BackupDir, DefaultDataRoot, DefaultBackupDir)
	}
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// serviceCmd splits a service command into argv, or returns def when unset.
func serviceCmd(c *collector, f field[string], name string, def []string) []string {
	if !f.set || strings.TrimSpace(f.v) == "" {
		return def
	}
	argv, msg := splitWords(f.v)
	if msg != "" {
		c.add(f.line, "%s %q: %s", name, f.v, msg)
		return def
	}
	return argv
}

// splitWords splits a simple command line into words, as a POSIX shell
// would for plain words and '…', "…" and \ quoting. Shell operators,
// substitutions and redirections are refused: nwroll runs the command
// itself (under `sudo -n` when ssh.sudo is on), without a shell in between.
func splitWords(s string) ([]string, string) {
	const fix = "write one plain command with its arguments (e.g. `systemctl stop neuwerk.service`); for anything more, put a script on the node and name it here"
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, "unterminated ' quote"
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0:
					i++
					cur.WriteByte(s[i])
				case s[i] == '$' || s[i] == '`':
					return nil, "substitutions ($, `) are not run: " + fix
				default:
					cur.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, "unterminated \" quote"
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, "ends with a backslash"
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte(";&|<>()$`\n\r#", ch) >= 0:
			return nil, fmt.Sprintf("%q is shell syntax, and service commands run without a shell: %s", string(ch), fix)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, "is empty"
	}
	return words, ""
}

type jumpHop struct {
	user, host string
	port       int
}

// parseJumpSpec parses a ProxyJump-style list: [user@]host[:port] or
// ssh://[user@]host[:port], comma-separated, first hop first; "none" is no jump.
func parseJumpSpec(spec string) ([]jumpHop, string) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return nil, ""
	}
	var hops []jumpHop
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "ssh://"))
		var h jumpHop
		if i := strings.LastIndexByte(part, '@'); i >= 0 {
			h.user, part = part[:i], part[i+1:]
			if !userRE.MatchString(h.user) {
				return nil, fmt.Sprintf("%q is not a user name; write [user@]host[:port]", h.user)
			}
		}
		host := part
		if hh, p, err := net.SplitHostPort(part); err == nil {
			port, err := strconv.Atoi(p)
			if err != nil || port < 1 || port > 65535 {
				return nil, fmt.Sprintf("port %q is not a TCP port (1-65535)", p)
			}
			host, h.port = hh, port
		} else if strings.HasPrefix(part, "[") && strings.HasSuffix(part, "]") {
			host = part[1 : len(part)-1]
		}
		if msg := checkHost(host); msg != "" {
			return nil, fmt.Sprintf("host %q %s; write [user@]host[:port], several separated by commas", host, msg)
		}
		h.host = host
		hops = append(hops, h)
	}
	return hops, ""
}
